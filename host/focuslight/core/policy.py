"""The merge policy: many per-source states in, one status per agent out.

This is the heart of "never lie on the light": it decides what a coworker
sees when the phone says one thing, the counter another and the agent has
pressed the button. It is pure (no I/O, the clock is passed in), so every
rule is unit-tested directly.

Rules (``../shared/design.md``, "States"):

* highest first: engaged > hold > ringing > wrap_up > dnd > away > available;
* ``unknown`` wins over ``available`` and ``away`` only: a certain
  ``engaged`` from any live source still shows;
* an agent with no information at all is ``unknown``;
* when a source's contact ends (``engaged``/``hold`` → ``available``) that
  source reads ``wrap_up`` for the grace period (default 30 s);
* a manual state (button, CLI, ``set`` topic) takes part in the merge as the
  source ``manual``, optionally expires, and is cleared by ``auto``; setting
  ``available`` by hand also ends a running wrap-up early ("I'm done").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

PRIORITY: tuple[str, ...] = ("engaged", "hold", "ringing", "wrap_up", "dnd", "away", "available")
CONTACT_STATES = frozenset({"engaged", "hold"})
"""States whose end starts the wrap-up grace."""
UNKNOWN_BEATS = frozenset({"available", "away"})
MANUAL = "manual"
"""The source name manual overrides appear under in status payloads."""
DEFAULT_WRAP_UP_S = 30.0

_RANK = {state: rank for rank, state in enumerate(PRIORITY)}


def merge(states: Iterable[str]) -> str:
    """Merge per-source states into the one state the light shows.

    >>> merge(["available", "engaged", "unknown"])
    'engaged'
    >>> merge(["away", "unknown"])
    'unknown'
    >>> merge([])
    'unknown'
    """
    seen = set(states)
    known = seen - {"unknown"}
    if not known:
        return "unknown"
    best = min(known, key=_RANK.__getitem__)
    if "unknown" in seen and best in UNKNOWN_BEATS:
        return "unknown"
    return best


@dataclass(slots=True)
class Reading:
    """What one source currently says about one agent."""

    state: str
    since: float
    until: float | None = None
    """Monotonic deadline after which the reading is dropped (wrap-up, manual expiry)."""
    after: str | None = None
    """State the reading falls back to at *until*; None drops the reading."""


class AgentPolicy:
    """Per-agent bookkeeping: every source's reading, wrap-up timers, the manual override.

    :param agent: the agent id.
    :param wrap_up_s: seconds an agent stays ``wrap_up`` after a contact ends.
    :param sources: sources expected to report on this agent; each reads
        ``unknown`` until its first report, so a silent source is never
        mistaken for a free agent.

    ``now`` arguments are monotonic seconds; ``wall`` arguments are Unix time
    for the ``since`` field of the published status.
    """

    def __init__(self, agent: str, wrap_up_s: float = DEFAULT_WRAP_UP_S,
                 sources: Iterable[str] = (), wall: float = 0.0) -> None:
        self.agent = agent
        self.wrap_up_s = wrap_up_s
        self.readings: dict[str, Reading] = {s: Reading("unknown", wall) for s in sources}
        self.state, self.source, self.since = "unknown", "bridge", wall

    def report(self, source: str, state: str, now: float, wall: float) -> None:
        """Record *source*'s new *state*, starting a wrap-up grace when a contact ends."""
        old = self.readings.get(source)
        if old is not None and old.state == state and old.until is None:
            return
        ended = old is not None and old.state in CONTACT_STATES and state == "available"
        if ended and self.wrap_up_s > 0:
            self.readings[source] = Reading("wrap_up", wall, now + self.wrap_up_s, "available")
        elif old is not None and old.state == "wrap_up" and old.until and state == "available":
            return  # still inside the grace: the timer ends it
        else:
            self.readings[source] = Reading(state, wall)
        self._remerge(wall)

    def set_manual(self, state: str, minutes: float | None, now: float, wall: float) -> None:
        """Apply a manual override; ``auto`` clears it."""
        if state == "auto":
            self.readings.pop(MANUAL, None)
        else:
            until = now + minutes * 60 if minutes else None
            self.readings[MANUAL] = Reading(state, wall, until)
            if state == "available":
                self._end_wrap_ups(wall)
        self._remerge(wall)

    def manual(self, now: float, wall: float) -> tuple[str, float, float | None] | None:
        """The running manual override as ``(state, since, until)``, *until* in Unix
        seconds (None = until ``auto``); None when there is none. For persisting it."""
        reading = self.readings.get(MANUAL)
        if reading is None:
            return None
        until = None if reading.until is None else wall + (reading.until - now)
        return reading.state, reading.since, until

    def restore_manual(self, state: str, since: float, until: float | None, now: float,
                       wall: float) -> None:
        """Put back an override saved by an earlier run (*since*, *until*: Unix seconds).

        The agent's ``since`` stays the moment the override began, not the restart.
        """
        deadline = None if until is None else now + max(0.0, until - wall)
        self.readings[MANUAL] = Reading(state, since, deadline)
        self._remerge(wall)
        if (self.state, self.source) == (state, MANUAL):
            self.since = since

    def button(self, action: str, now: float, wall: float) -> None:
        """A beacon button: ``press`` toggles dnd ↔ auto, ``hold`` clears to auto."""
        manual = self.readings.get(MANUAL)
        toggle_off = action == "hold" or (manual is not None and manual.state == "dnd")
        self.set_manual("auto" if toggle_off else "dnd", None, now, wall)

    def expire(self, now: float, wall: float) -> None:
        """Drop or fall back every reading whose deadline has passed."""
        changed = False
        for source, reading in list(self.readings.items()):
            if reading.until is not None and reading.until <= now:
                changed = True
                if reading.after is None:
                    del self.readings[source]
                else:
                    self.readings[source] = Reading(reading.after, wall)
        if changed:
            self._remerge(wall)

    def next_deadline(self) -> float | None:
        deadlines = [r.until for r in self.readings.values() if r.until is not None]
        return min(deadlines, default=None)

    def _end_wrap_ups(self, wall: float) -> None:
        for source, reading in list(self.readings.items()):
            if reading.state == "wrap_up" and reading.after is not None:
                self.readings[source] = Reading(reading.after, wall)

    def _remerge(self, wall: float) -> None:
        state = merge(r.state for r in self.readings.values())
        winners = sorted((r.since, s) for s, r in self.readings.items() if r.state == state)
        source = winners[0][1] if winners else "bridge"
        if (state, source) != (self.state, self.source):
            if state != self.state:
                self.since = wall
            self.state, self.source = state, source
