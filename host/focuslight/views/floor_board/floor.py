"""The floor board's view model: what the board heard from the broker, and what it may
honestly show of it (the trust rule, :mod:`focuslight.protocol.trust`). No I/O."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from ...protocol import OFFLINE, Status, trust
from ...protocol.telemetry import Telemetry
from ..limits import MAX_AGENTS, MAX_BEACONS, MAX_BRIDGES, CappedTable, V

log = logging.getLogger(__name__)

BOARD = "board"
"""The source named on a status the board itself concluded is ``unknown``."""
UNKNOWN = "unknown"


class Floor:
    """What the board heard from the broker, and the view it may honestly show of it.

    :param names: display names by agent id (the ``[agents.<id>] name`` keys of
        the bridge's config); the agents named here have a tile, ``unknown``,
        before their first status arrives.

    Thread-safe: paho's thread writes, every browser's stream thread waits
    for the next version and reads the view.

    Bounded: at most :data:`~focuslight.views.limits.MAX_AGENTS` agents,
    ``MAX_BEACONS`` beacon reports and as many beacon availabilities, and ``MAX_BRIDGES``
    bridges (:mod:`focuslight.views.limits`);
    a new id past its cap is ignored, the known ones are still served.
    """

    def __init__(self, names: Mapping[str, str] | None = None) -> None:
        self._changed = threading.Condition()
        self._names = dict(names or {})
        now = time.time()
        self._agents: CappedTable[Status] = CappedTable("agents", MAX_AGENTS, log, "board")
        self._agents.update((a, Status(UNKNOWN, BOARD, now)) for a in self._names)
        self._bridges: CappedTable[tuple[str, float]] = CappedTable(
            "bridges", MAX_BRIDGES, log, "board")
        self._beacons: CappedTable[Telemetry] = CappedTable("beacons", MAX_BEACONS, log, "board")
        self._beacon_links: CappedTable[str] = CappedTable("beacon links", MAX_BEACONS, log,
                                                           "board")
        self._linked = False
        self._closed = False
        self._version = 0

    def agent(self, agent: str, status: Status | None) -> None:
        """Record *agent*'s status; None forgets the agent (its retained status was cleared)."""
        self._file(self._agents, agent, status)

    def bridge(self, bridge: str, state: str | None) -> None:
        """Record a bridge's availability; None forgets the bridge (retained will cleared)."""
        self._file(self._bridges, bridge, None if state is None else (state, time.time()))

    def beacon(self, beacon: str, telemetry: Telemetry | None) -> None:
        """Record a beacon's telemetry; None forgets the beacon (its report was cleared)."""
        self._file(self._beacons, beacon, telemetry)

    def beacon_link(self, beacon: str, state: str | None) -> None:
        """Record a beacon's availability (``online``/``offline``; None: cleared)."""
        self._file(self._beacon_links, beacon, state)

    def _file(self, table: CappedTable[V], ident: str, value: V | None) -> None:
        """File *value* under *ident* (None forgets it) and wake the streams, unless the
        table is full and *ident* new."""
        with self._changed:
            if value is None:
                table.pop(ident, None)
            elif not table.file(ident, value):
                return
            self._bump()

    def link(self, up: bool) -> None:
        """The broker link came up or went down.

        Down, everything heard so far is stale: every agent and bridge turns
        ``unknown`` and stays so until the broker hands out its retained
        messages again after the reconnect.
        """
        with self._changed:
            self._linked = up
            if not up:
                now = time.time()
                for agent, status in self._agents.items():
                    if (status.state, status.source) != (UNKNOWN, BOARD):
                        self._agents[agent] = Status(UNKNOWN, BOARD, now)
                for bridge in self._bridges:
                    self._bridges[bridge] = (UNKNOWN, now)
            self._bump()

    def close(self) -> None:
        """End every stream waiting in :meth:`next`."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def next(self, version: int, timeout: float) -> tuple[int, dict[str, Any] | None]:
        """Wait up to *timeout* s for a version newer than *version*.

        Returns the version and its view, ``(version, None)`` if nothing
        changed, or ``(-1, None)`` once the board is closing.
        """
        with self._changed:
            self._changed.wait_for(lambda: self._version != version or self._closed, timeout)
            if self._closed:
                return -1, None
            if self._version == version:
                return version, None
            return self._version, self.view()

    def view(self) -> dict[str, Any]:
        """The snapshot browsers get: ids, states, since; and why the board doubts, if it does.

        The trust rule is :mod:`focuslight.protocol.trust`'s, the beacon's. Each doubt
        names whose lights it turns ``unknown``: one offline bridge among
        several darkens only its own agents, and the banner says which.
        """
        with self._changed:
            offline = {b: at for b, (state, at) in self._bridges.items() if state == OFFLINE}
            doubts = [] if self._linked else ["no connection to the broker: every light shows"
                                              " unknown"]
            darkened: dict[str, list[str]] = {b: [] for b in offline}
            agents = []
            for agent, status in sorted(self._agents.items()):
                name = self._names.get(agent, agent)
                blamed = trust.blamed(status, offline)
                if blamed and status.state != UNKNOWN:
                    since = max(offline[b] for b in blamed)
                    status = Status(UNKNOWN, BOARD, max(status.since, since))
                for bridge in blamed:
                    darkened[bridge].append(name)
                agents.append({"id": agent, "name": name, "state": status.state,
                               "source": status.source, "since": status.since})
            for bridge, names in sorted(darkened.items()):
                doubts.append(f"bridge {bridge} is offline: " + (
                    f"{_listing(names)} show{'s' if len(names) == 1 else ''} unknown"
                    if names else "none of the agents here is its"))
            bridges = [{"id": b, "state": trust.availability(s, linked=self._linked)}
                       for b, (s, _) in sorted(self._bridges.items())]
            # which firmware each beacon runs, for the admin; no IPs or signal on a wall TV
            beacons = [{"id": b, "agent": t.agent, "firmware": t.firmware,
                        "outdated": t.outdated,
                        "link": trust.availability(self._beacon_links.get(b),
                                                   linked=self._linked)}
                       for b, t in sorted(self._beacons.items())]
            return {"v": 1, "now": time.time(), "broker": "connected" if self._linked else "down",
                    "doubts": doubts, "bridges": bridges, "agents": agents, "beacons": beacons}

    def _bump(self) -> None:
        self._version += 1
        self._changed.notify_all()


def _listing(names: list[str], most: int = 6) -> str:
    """``alice, bob and 3 more``: a banner line stays one line on a wall TV."""
    if len(names) <= most:
        return ", ".join(names)
    return f"{', '.join(names[:most])} and {len(names) - most} more"
