"""The floor board's view model: what the board heard from the broker, and what it may
honestly show of it (the trust rule, :mod:`focuslight.protocol.trust`). No I/O."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from ...protocol import OFFLINE, Status, trust
from ...protocol.telemetry import Telemetry
from ..heard import local_id, site_of
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

    :param groups: the team of each agent (``[agents.<id>] group``), on its tile.

    Thread-safe: paho's thread writes; the board's feed thread waits for changes and
    takes them as numbered deltas (:meth:`changes`); the web side reads numbered
    snapshots (:meth:`snapshot`). A snapshot numbered *n* already holds everything in
    the deltas up to *n*: a page applies only the later ones.

    Bounded: at most :data:`~focuslight.views.limits.MAX_AGENTS` agents,
    ``MAX_BEACONS`` beacon reports and as many beacon availabilities, and ``MAX_BRIDGES``
    bridges (:mod:`focuslight.views.limits`);
    a new id past its cap is ignored, the known ones are still served.
    """

    def __init__(self, names: Mapping[str, str] | None = None,
                 groups: Mapping[str, str] | None = None) -> None:
        self._changed = threading.Condition()
        self._names = dict(names or {})
        self._groups = dict(groups or {})
        now = time.time()
        self._agents: CappedTable[Status] = CappedTable("agents", MAX_AGENTS, log, "board")
        self._agents.update((a, Status(UNKNOWN, BOARD, now)) for a in self._names)
        self._bridges: CappedTable[tuple[str, float]] = CappedTable(
            "bridges", MAX_BRIDGES, log, "board")
        self._beacons: CappedTable[Telemetry] = CappedTable("beacons", MAX_BEACONS, log, "board")
        self._beacon_links: CappedTable[str] = CappedTable("beacon links", MAX_BEACONS, log,
                                                           "board")
        self._sites: CappedTable[bool] = CappedTable("site links", MAX_BRIDGES, log, "board")
        self._linked = False
        self._closed = False
        self._dirty: set[str] = set()
        """Agents whose tile may have changed since the last :meth:`changes`."""
        self._everything = True
        """Every tile may have changed (the link or a bridge did): the next delta has all."""
        self._beacons_changed = True
        self._seq = 0
        """The number of the last delta taken."""

    @property
    def seq(self) -> int:
        """The number of the last delta taken (:meth:`changes`)."""
        return self._seq

    def agent(self, agent: str, status: Status | None) -> None:
        """Record *agent*'s status; None forgets the agent (its retained status was cleared).
        One that came through a site link that is down is stale (:func:`trust.kept`)."""
        if status is not None and not trust.kept(site_of(agent), self._sites):
            status = Status(UNKNOWN, BOARD, time.time())
        with self._changed:
            if self._file(self._agents, agent, status):
                self._dirty.add(agent)
                self._bump()

    def bridge(self, bridge: str, state: str | None) -> None:
        """Record a bridge's availability; None forgets the bridge (retained will cleared).

        Any of the floor's tiles may follow a bridge (a status that names none
        trusts every bridge), so the next delta carries them all; bridges change
        rarely."""
        if state is not None and not trust.kept(site_of(bridge), self._sites):
            state = UNKNOWN
        with self._changed:
            if self._file(self._bridges, bridge,
                          None if state is None else (state, time.time())):
                self._everything = True
                self._bump()

    def beacon(self, beacon: str, telemetry: Telemetry | None) -> None:
        """Record a beacon's telemetry; None forgets the beacon (its report was cleared)."""
        self._beacon(self._beacons, beacon, telemetry)

    def beacon_link(self, beacon: str, state: str | None) -> None:
        """Record a beacon's availability (``online``/``offline``; None: cleared)."""
        self._beacon(self._beacon_links, beacon, state)

    def _beacon(self, table: CappedTable[V], ident: str, value: V | None) -> None:
        with self._changed:
            if self._file(table, ident, value):
                self._beacons_changed = True
                self._bump()

    @staticmethod
    def _file(table: CappedTable[V], ident: str, value: V | None) -> bool:
        """File *value* under *ident* (None forgets it); False if the table is full and
        *ident* new. Call it under the lock."""
        if value is None:
            table.pop(ident, None)
            return True
        return table.file(ident, value)

    def site_link(self, site: str, up: bool | None) -> None:
        """Record a site's link (None: its notification was cleared). Down, what came
        through it is stale: its agents and bridges turn ``unknown`` until mosquitto's
        bridge sends them again, right after the link's ``1``."""
        with self._changed:
            if up is None:
                self._sites.pop(site, None)
            elif not self._sites.file(site, up):
                return
            if up is False:
                self._forget(lambda key: site_of(key) == site)
            self._everything = True
            self._bump()

    def _forget(self, stale: Callable[[str], bool]) -> None:
        """Every agent and bridge whose key *stale* accepts turns ``unknown`` (call with
        the lock)."""
        now = time.time()
        for agent, status in self._agents.items():
            if stale(agent) and (status.state, status.source) != (UNKNOWN, BOARD):
                self._agents[agent] = Status(UNKNOWN, BOARD, now)
        for bridge in self._bridges:
            if stale(bridge):
                self._bridges[bridge] = (UNKNOWN, now)

    def link(self, up: bool) -> None:
        """The broker link came up or went down.

        Down, everything heard so far is stale: every agent and bridge turns
        ``unknown`` and stays so until the broker hands out its retained
        messages again after the reconnect.
        """
        with self._changed:
            self._linked = up
            if not up:
                self._forget(lambda _key: True)
                self._sites.clear()  # the retained links come again, before the statuses
            self._everything = self._beacons_changed = True
            self._bump()

    def close(self) -> None:
        """End every stream waiting in :meth:`next`."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def wait(self, timeout: float) -> bool:
        """Wait up to *timeout* s for a change since the last :meth:`changes`; False once
        the board is closing."""
        with self._changed:
            self._changed.wait_for(lambda: self._pending() or self._closed, timeout)
            return not self._closed

    def _pending(self) -> bool:
        return bool(self._dirty) or self._everything or self._beacons_changed

    def changes(self) -> tuple[int, dict[str, Any]] | None:
        """What changed since the last call, as the next numbered delta a page applies to
        its snapshot (None: nothing did).

        ``agents`` holds the tiles that may have changed (every tile after the link or
        a bridge changed), ``gone`` the ids forgotten; the header (``broker``,
        ``doubts``, ``bridges``) comes whole, ``beacons`` whole when one changed.
        The board keeps no list of past changes: only which ids are due.
        """
        with self._changed:
            if not self._pending():
                return None
            offline = self._offline()
            due = self._agents.keys() if self._everything else self._dirty
            delta = {**self._head(offline),
                     "agents": [self._tile(a, self._agents[a], offline)
                                for a in sorted(due) if a in self._agents],
                     "gone": sorted(a for a in self._dirty if a not in self._agents)}
            if self._beacons_changed:
                delta["beacons"] = self._beacon_list()
            self._dirty.clear()
            self._everything = self._beacons_changed = False
            self._seq += 1
            return self._seq, delta

    def view(self) -> dict[str, Any]:
        """The snapshot browsers get: ids, states, since; and why the board doubts, if it does.

        The trust rule is :mod:`focuslight.protocol.trust`'s, the beacon's. Each doubt
        names whose lights it turns ``unknown``: one offline bridge or one site's dropped
        link among several darkens only its own agents, and the banner says which. A tile
        that came through a site's link names it (``site``).
        """
        return self.snapshot()[1]

    def snapshot(self) -> tuple[int, dict[str, Any]]:
        """:meth:`view` and the number of the last delta it already holds."""
        with self._changed:
            offline = self._offline()
            return self._seq, {**self._head(offline),
                               "agents": [self._tile(agent, status, offline)
                                          for agent, status in sorted(self._agents.items())],
                               "beacons": self._beacon_list()}

    def _offline(self) -> dict[str, float]:
        """The offline bridges, each with when it went offline."""
        return {b: at for b, (state, at) in self._bridges.items() if state == OFFLINE}

    def _head(self, offline: dict[str, float]) -> dict[str, Any]:
        """The snapshot's and every delta's header: the links and the doubts."""
        return {"v": 1, "now": time.time(), "broker": "connected" if self._linked else "down",
                "doubts": self._doubts(offline),
                "bridges": [{"id": b, "state": trust.availability(s, linked=self._linked and (
                    trust.site_linked(site_of(b), self._sites)))}
                            for b, (s, _) in sorted(self._bridges.items())],
                "sites": [{"id": s, "link": "up" if up else "down"}
                          for s, up in sorted(self._sites.items())]}

    def _doubts(self, offline: dict[str, float]) -> list[str]:
        doubts = [] if self._linked else ["no connection to the broker: every light shows"
                                          " unknown"]
        cut: dict[str, list[str]] = {s: [] for s, up in self._sites.items() if not up}
        if not offline and not cut:  # the common case: no walk over the floor
            return doubts
        darkened: dict[str, list[str]] = {b: [] for b in offline}
        for agent, status in sorted(self._agents.items()):
            if site_of(agent) in cut:
                cut[site_of(agent)].append(self._name(agent))
                continue
            for bridge in trust.blamed(status, offline):
                darkened[bridge].append(self._name(agent))
        for site, names in sorted(cut.items()):
            doubts.append(f"site {site}'s link to the centre is down: " + (
                f"{_listing(names)} show{'s' if len(names) == 1 else ''} unknown"
                if names else "none of the agents here came through it"))
        for bridge, names in sorted(darkened.items()):
            doubts.append(f"bridge {bridge} is offline: " + (
                f"{_listing(names)} show{'s' if len(names) == 1 else ''} unknown"
                if names else "none of the agents here is its"))
        return doubts

    def _tile(self, agent: str, status: Status, offline: dict[str, float]) -> dict[str, Any]:
        """One agent's tile: what it may show, and on an unknown tile, why."""
        reason = None
        site = site_of(agent)
        doubt = trust.site_doubt(site, self._sites)
        blamed = trust.blamed(status, offline)
        if not self._linked:
            reason = "no connection to the broker"
        elif doubt:
            reason = doubt
            status = Status(UNKNOWN, BOARD, status.since)
        elif blamed:
            reason = f"bridge {', '.join(blamed)} offline"
            if status.state != UNKNOWN:
                status = Status(UNKNOWN, BOARD, max(status.since, *(offline[b] for b in blamed)))
        elif status.state == UNKNOWN:
            reason = ("no status yet" if status.source == BOARD
                      else f"{status.source} reports unknown")
        tile: dict[str, Any] = {"id": agent, "name": self._name(agent),
                                "state": status.state, "source": status.source,
                                "since": status.since}
        if site is not None:
            tile["site"] = site
        if agent in self._groups:
            tile["group"] = self._groups[agent]
        if reason is None:  # trusted: what it asks of the agent (a cue, waits, chats)
            tile.update(status.attention_fields())
        elif status.state == UNKNOWN:
            tile["reason"] = reason
        return tile

    def _name(self, agent: str) -> str:
        """An agent's display name: the config's, else its id at its own site."""
        return self._names.get(agent, local_id(agent))

    def _beacon_list(self) -> list[dict[str, Any]]:
        """Which firmware each beacon runs, for the admin; no IPs or signal on a wall TV.
        ``link`` is the beacon's own availability: an offline beacon never makes its agent
        unknown (the agent's status comes from the bridge, not from the beacon)."""
        return [{"id": b, "agent": t.agent, "firmware": t.firmware, "outdated": t.outdated,
                 "link": trust.availability(self._beacon_links.get(b), linked=self._linked)}
                for b, t in sorted(self._beacons.items())]

    def _bump(self) -> None:
        self._changed.notify_all()


def _listing(names: list[str], most: int = 6) -> str:
    """``alice, bob and 3 more``: a banner line stays one line on a wall TV."""
    if len(names) <= most:
        return ", ".join(names)
    return f"{', '.join(names[:most])} and {len(names) - most} more"

