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
  ``available`` by hand also ends a running wrap-up early ("I'm done");
* working hours (the source ``schedule``) say ``away`` outside them and nothing
  inside them (their ``available`` is no evidence that anyone is free); their
  ``away`` merges as any ``away`` (every contact, ``dnd`` and ``unknown`` still
  show) and a manual state overrides it (someone working late sets ``available``).

Attention (a cue, how long a customer has waited, escalation, open chats) is
merged beside the state (:func:`merge_attention`): a person standing at the
counter (``customer_waiting``) wins over a chat waiting (``reply_due``), and an
``unknown`` agent carries none, since nothing may be asked of a light nobody
may believe. ``customer_waiting`` shows only while the agent is busy
*elsewhere*: not while they are ``available`` (they see the customer themselves)
nor while the source asking is the one that keeps them busy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..protocol import CUES, CUSTOMER_WAITING, MAX_CHATS
from ..sources.base import Attention

PRIORITY: tuple[str, ...] = ("engaged", "hold", "ringing", "wrap_up", "dnd", "away", "available")
CONTACT_STATES = frozenset({"engaged", "hold"})
"""States whose end starts the wrap-up grace."""
UNKNOWN_BEATS = frozenset({"available", "away"})
MANUAL = "manual"
"""The source name manual overrides appear under in status payloads."""
SCHEDULE = "schedule"
"""The source name of working hours (:mod:`focuslight.sources.schedule`)."""
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


NO_ATTENTION = Attention()


def merge_attention(attentions: Iterable[Attention]) -> Attention:
    """One agent's attention from what each of its sources asks.

    The strongest cue wins (``CUES`` order) and brings its own *waiting_since*
    (the oldest among the sources asking it); without a cue, the oldest wait.
    Escalated if any is; chats add up.

    >>> merge_attention([Attention("reply_due", 50.0, True, 2),
    ...                  Attention("customer_waiting", 90.0)])
    Attention(cue='customer_waiting', waiting_since=90.0, escalated=True, chats=2)
    """
    items = list(attentions)
    cue = min((a.cue for a in items if a.cue in CUES), key=CUES.index, default=None)
    waits = [a.waiting_since for a in items
             if a.waiting_since is not None and (cue is None or a.cue == cue)]
    counts = [a.chats for a in items if a.chats is not None]
    return Attention(cue, min(waits, default=None), any(a.escalated for a in items),
                     min(sum(counts), MAX_CHATS) if counts else None)


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
        self.asks: dict[str, Attention] = {}
        """What each source asks of the agent beside its state (absent: nothing)."""
        self.state, self.source, self.since = "unknown", "bridge", wall

    def set_attention(self, source: str, attention: Attention | None) -> None:
        """Record what *source* asks of the agent; None (or an empty Attention) clears it."""
        if attention is None or attention == NO_ATTENTION:
            self.asks.pop(source, None)
        else:
            self.asks[source] = attention

    def attention(self) -> Attention:
        """The merged attention to publish: none while the agent is ``unknown``, and none
        from a source that cannot see (its reading is ``unknown``)."""
        if self.state == "unknown" or not self.asks:
            return NO_ATTENTION
        return merge_attention(a for s, a in self.asks.items() if self._shows(s, a))

    def _shows(self, source: str, ask: Attention) -> bool:
        """Whether *source*'s ask counts now: never from a source that cannot see; a
        ``customer_waiting`` only while the agent is busy on another channel (the phone,
        a chat, away: a coworker should step in), not while free to see the customer."""
        if source in self.readings and self.readings[source].state == "unknown":
            return False
        if ask.cue == CUSTOMER_WAITING:
            return self.state != "available" and self.source != source
        return True

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

    def _counted(self) -> dict[str, Reading]:
        """The readings the merge weighs: the schedule's only outside hours and when no
        manual state overrides it."""
        schedule = self.readings.get(SCHEDULE)
        if schedule is None or (schedule.state != "available" and MANUAL not in self.readings):
            return self.readings
        return {s: r for s, r in self.readings.items() if s != SCHEDULE}

    def _remerge(self, wall: float) -> None:
        counted = self._counted()
        state = merge(r.state for r in counted.values())
        winners = sorted((r.since, s) for s, r in counted.items() if r.state == state)
        source = winners[0][1] if winners else "bridge"
        if (state, source) != (self.state, self.source):
            if state != self.state:
                self.since = wall
            self.state, self.source = state, source
