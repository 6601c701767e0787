"""Manual overrides that outlive the bridge process: a small JSON file in its state directory.

A supervisor's ``focuslight set bob dnd --minutes 30``, a Home Assistant
select, or a press on bob's beacon button is a promise to bob: "nobody
interrupts you for the next half hour". An upgrade or a reboot of the
bridge must not break it. The bridge therefore writes every agent's manual
override, with its expiry as Unix time, to ``overrides-<bridge id>.json``
in its state directory after each change, and reads it back at start:

* an override whose expiry passed while the bridge was down is dropped;
* an override for an agent no longer configured is dropped;
* a missing file is a first start; an unreadable or corrupt one costs one
  log line and the bridge starts with no overrides (never a crash loop).

Writes are atomic (a temporary file in the same directory, flushed, then
renamed over the old one), so a crash or a power cut mid-write leaves the
previous file, never half of one.

Example::

    store = OverrideStore(Path("/var/lib/focuslight/overrides-main.json"))
    store.save({"bob": Override("dnd", since=1732356902.1, until=1732358702.1)})
    store.load(now=time.time())   # {"bob": Override(...)} until 1732358702.1, then {}
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

from .logs import Problem
from .protocol import ID_PATTERN, MANUAL_STATES
from .state import write_json_atomically

log = logging.getLogger(__name__)

FORMAT = 1
"""Version of the file layout; a file of another version is ignored (logged)."""


@dataclass(frozen=True, slots=True)
class Override:
    """One agent's manual state: what, since when, until when (Unix seconds; None = until
    ``auto``)."""

    state: str
    since: float
    until: float | None = None


def default_state_dir() -> Path:
    """Where a bridge keeps its state when the config does not say.

    ``$STATE_DIRECTORY`` (set by systemd for ``StateDirectory=focuslight``:
    ``/var/lib/focuslight``), else ``$XDG_STATE_HOME/focuslight``, else
    ``~/.local/state/focuslight``.
    """
    systemd = os.environ.get("STATE_DIRECTORY")
    if systemd:
        return Path(systemd.split(":")[0])
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "focuslight"


class OverrideStore:
    """Reads and atomically rewrites one bridge's override file.

    :param path: the JSON file; its directory is created on the first save.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._problem = Problem(log)

    def load(self, now: float) -> dict[str, Override]:
        """The overrides still running at Unix time *now*; ``{}`` when there is nothing usable."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as err:
            log.warning("cannot read manual overrides from %s (%s); starting with none",
                        self.path, err)
            return {}
        try:
            return self._parse(json.loads(text), now)
        except (ValueError, TypeError, KeyError) as err:
            log.warning("ignored corrupt manual overrides file %s (%s); starting with none",
                        self.path, err)
            return {}

    def save(self, overrides: dict[str, Override]) -> bool:
        """Replace the file with *overrides*; False (and one log line per outage) on failure."""
        body = {"v": FORMAT, "overrides": {
            agent: {"state": o.state, "since": o.since, "until": o.until}
            for agent, o in sorted(overrides.items())}}
        try:
            write_json_atomically(self.path, body)
        except OSError as err:
            self._problem.say("unsaved", f"cannot save manual overrides to {self.path} ({err});"
                              " they will not survive a restart until this is fixed")
            return False
        if self._problem.clear():
            log.info("manual overrides saved to %s again", self.path)
        return True

    @staticmethod
    def _parse(body: object, now: float) -> dict[str, Override]:
        if not isinstance(body, dict) or body.get("v") != FORMAT:
            raise ValueError(f"expected a JSON object with \"v\": {FORMAT}")
        result = {}
        for agent, entry in body["overrides"].items():
            state, since, until = entry["state"], entry["since"], entry["until"]
            if not ID_PATTERN.fullmatch(agent) or state not in MANUAL_STATES:
                raise ValueError(f"bad entry for {agent!r}")
            if not _finite(since) or not (until is None or _finite(until)):
                raise ValueError(f"bad times for {agent!r}")
            if until is None or until > now:
                result[agent] = Override(state, float(since), None if until is None
                                         else float(until))
        return result


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
