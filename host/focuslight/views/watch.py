"""``focuslight watch``: the live table of agents a supervisor keeps open in a terminal.

On a terminal it redraws in place once a second (durations tick); piped
into a file or another program it prints one plain line per change, which
is what a log or ``grep`` wants.

It believes what it reads no more than a beacon does (:mod:`focuslight.protocol.trust`):
an agent whose bridge is offline, or any agent while ``watch`` has lost the
broker, shows ``unknown`` — with the published state and the reason beside it —
never a stale state as if it were live.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import TextIO

import paho.mqtt.client as mqtt

from .. import __version__
from ..mqtt.client import (
    UNREACHABLE_HINT,
    BrokerSettings,
    topic_for_log,
    topic_of,
)
from ..mqtt.follower import Follower
from ..protocol import ProtocolError, Status, Topics, trust
from ..protocol.telemetry import Telemetry
from .heard import AGENTS, BEACON_LINKS, BRIDGES, SITE_LINKS, Value, heard, site_of
from .limits import MAX_AGENTS, MAX_BEACONS, MAX_BRIDGES, CappedTable

log = logging.getLogger(__name__)

WATCH = "watch"
"""The source named on a status ``watch`` itself concluded is ``unknown`` (a site's
link dropped: what came through it is stale)."""

COLOURS = {"available": "32", "ringing": "91;5", "engaged": "91", "hold": "31",
           "wrap_up": "33", "dnd": "35", "away": "90", "unknown": "34"}
"""ANSI colours matching the beacon's light for each state."""


def format_duration(seconds: float) -> str:
    """``42s``, ``5m07s``, ``2h03m``: short enough for a narrow column."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class LiveTable:
    """Every agent's last status and every bridge's availability, as seen on the broker.

    :attr:`linked` is whether the broker link is up; :meth:`shown` applies the
    trust rule to what was heard (and :meth:`render` shows every availability
    ``unknown`` while the link is down, as the floor board does). Each table is
    capped (:mod:`focuslight.views.limits`).
    """

    def __init__(self) -> None:
        self.agents: CappedTable[Status] = CappedTable("agents", MAX_AGENTS, log, "watch")
        self.bridges: CappedTable[str] = CappedTable("bridges", MAX_BRIDGES, log, "watch")
        self.beacons: CappedTable[Telemetry] = CappedTable("beacons", MAX_BEACONS, log, "watch")
        self.beacon_links: CappedTable[str] = CappedTable("beacon links", MAX_BEACONS, log,
                                                          "watch")
        self.sites: CappedTable[bool] = CappedTable("site links", MAX_BRIDGES, log, "watch")
        self.linked = False
        self.lock = threading.Lock()

    def receive(self, topics: Topics, topic: str, payload: bytes) -> str | None:
        """Apply one message (read by :func:`~focuslight.views.heard.heard`: a status, a
        bridge's availability, a beacon's telemetry or availability; an empty payload
        forgets the id); return the line to print. ProtocolError if it is bad."""
        table, ident, value = heard(topics, topic, payload, "watch")
        now = f"{datetime.now():%H:%M:%S}"
        with self.lock:
            if table == AGENTS:
                if value is None:  # retired: its status was cleared
                    self.agents.pop(ident, None)
                    return f"{now} {ident} removed"
                assert isinstance(value, Status)
                if not trust.kept(site_of(ident), self.sites):  # stale: from before the drop
                    value = Status(trust.UNKNOWN, WATCH, time.time())
                if not self.agents.file(ident, value):
                    return None
                shown, why = self._shown(ident, value)
                return f"{now} {ident} {shown} source={value.source}" + (
                    f" ({value.state} published, {why})" if why else
                    attention_note(value, time.time(), colour=False))
            if table == BRIDGES:
                if value is None:
                    self.bridges.pop(ident, None)
                    return f"{now} bridge {ident} gone (availability cleared)"
                assert isinstance(value, str)
                if not self.bridges.file(ident, value):
                    return None
                return f"{now} bridge {ident} {value}"
            if table == SITE_LINKS:
                return f"{now} site {ident} {self._site_link(ident, value)}"
            said = _beacon_message(self, ident, table, value)
            return None if said is None else f"{now} beacon {ident} {said}"

    def _site_link(self, site: str, up: Value | None) -> str:
        """File a site's link (the caller holds the lock); down, what came through it is
        stale: its agents turn unknown until mosquitto's bridge sends them again."""
        if up is None:
            self.sites.pop(site, None)
            return "link gone (its notification was cleared)"
        self.sites.file(site, bool(up))
        if up:
            return "link up"
        for agent in self.agents:
            if site_of(agent) == site:
                self.agents[agent] = Status(trust.UNKNOWN, WATCH, time.time())
        return "link down: its agents are unknown until it is back"

    def link(self, up: bool) -> str:
        """The broker link went up or down; the line to print."""
        with self.lock:
            self.linked = up
            if not up:
                self.sites.clear()  # the retained links come again, before the statuses
        state = "connected: every state below is live" if up else (
            "lost the broker: every agent is unknown until it is back")
        return f"{datetime.now():%H:%M:%S} {state}"

    def _shown(self, agent: str, status: Status) -> tuple[str, str | None]:
        """The state to show and why it is not the published one (call with the lock)."""
        if not self.linked:
            return trust.UNKNOWN, "no connection to the broker"
        doubt = trust.site_doubt(site_of(agent), self.sites)
        if doubt:
            return trust.UNKNOWN, doubt
        blamed = trust.blamed(status, trust.offline_bridges(self.bridges))
        if blamed:
            return trust.UNKNOWN, f"bridge {', '.join(blamed)} offline"
        return status.state, None

    def shown(self) -> dict[str, tuple[Status, str, str | None]]:
        """``agent → (status heard, state to show, why they differ or None)``."""
        with self.lock:
            return {agent: (status, *self._shown(agent, status))
                    for agent, status in sorted(self.agents.items())}

    def render(self, now: float, colour: bool) -> str:
        agents = self.shown()
        with self.lock:
            bridges = [(b, trust.availability(s, linked=self.linked and trust.site_linked(
                site_of(b), self.sites))) for b, s in sorted(self.bridges.items())]
            sites = [f"{s} {'up' if up else 'down'}" for s, up in sorted(self.sites.items())]
            beacons = sorted(self.beacons.items())
            links = {b: trust.availability(s, linked=self.linked)
                     for b, s in self.beacon_links.items()}
        width = max([5, *(len(a) for a in agents)])
        lines = [f"{'AGENT':<{width}}  {'STATE':<9}  {'SOURCE':<10}  FOR"]
        for agent, (status, shown, why) in agents.items():
            state = f"{shown:<9}"
            if colour:
                state = f"\x1b[{COLOURS[shown]}m{state}\x1b[0m"
            lines.append(f"{agent:<{width}}  {state}  {status.source:<10}  "
                         f"{format_duration(now - status.since)}"
                         + (f"  ({status.state} published; {why})" if why else
                            attention_note(status, now, colour)))
        if not agents:
            lines.append("(no agents yet: is a bridge publishing to this broker and prefix?)")
        lines.append("bridges: " + (", ".join(f"{b} {s}" for b, s in bridges) or "none seen"))
        if sites:
            lines.append("site links: " + ", ".join(sites))
        if beacons:
            lines += ["", *beacon_lines(beacons, links)]
        return "\n".join(lines)


def attention_note(status: Status, now: float, colour: bool) -> str:
    """What a trusted status asks for, for a supervisor: ``ESCALATED`` first (a customer has
    waited past escalate_after_seconds), then the cue with the wait, then open chats. Empty
    when it asks nothing. Only counts and ages: the status carries nothing else."""
    words = []
    if status.escalated:
        words.append("\x1b[1;7m ESCALATED \x1b[0m" if colour else "ESCALATED")
    wait = ("" if status.waiting_since is None
            else f" {format_duration(max(0.0, now - status.waiting_since))}")
    if status.cue == "reply_due":
        words.append(f"reply due{wait}")
    elif status.cue == "customer_waiting":
        words.append(f"customer waiting{wait}")
    elif status.waiting_since is not None:
        words.append(f"waiting{wait}")
    if status.chats:
        words.append(f"{status.chats} chat{'s' if status.chats != 1 else ''}")
    return "  " + ", ".join(words) if words else ""


def beacon_lines(beacons: list[tuple[str, Telemetry]], links: dict[str, str]) -> list[str]:
    """The beacons table: what each reports about itself, outdated firmware flagged."""
    width = max(6, *(len(b) for b, _ in beacons))
    lines = [f"{'BEACON':<{width}}  {'AGENT':<10}  {'FIRMWARE':<9}  {'LINK':<7}  {'UP':<6}  "
             f"{'HEAP':<6}  {'RSSI':<4}  IP"]
    for beacon, t in beacons:
        lines.append(f"{beacon:<{width}}  {t.agent or '-':<10}  {t.firmware:<9}  "
                     f"{links.get(beacon, trust.UNKNOWN):<7}  {format_duration(t.uptime):<6}  "
                     f"{_kb(t.heap_free):<6}  {_or_dash(t.rssi):<4}  {_or_dash(t.ip)}"
                     + (f"  OUTDATED (this focuslight is {__version__})" if t.outdated else ""))
    return lines


def _kb(value: int | None) -> str:
    return "-" if value is None else f"{value // 1024}K"


def _or_dash(value: object) -> str:
    return "-" if value is None else str(value)


def read_message(table: LiveTable, topics: Topics, msg: mqtt.MQTTMessage) -> str | None:
    """Apply one MQTT message to *table*: the line to print, also for a rejected one
    (None: nothing worth a line, e.g. a beacon's routine report)."""
    try:
        return table.receive(topics, topic_of(msg), msg.payload)
    except ProtocolError as err:
        return f"{datetime.now():%H:%M:%S} ignored {topic_for_log(msg)}: {err}"


def follow(settings: BrokerSettings, topics: Topics, table: LiveTable,
           on_line: Callable[[str], None] | None = None) -> Follower:
    """Start following the broker, keeping *table* current; *on_line* gets one line per
    change (bridges are subscribed first: a status is judged against its bridge from the
    first line on)."""

    def say(line: str | None) -> None:
        if on_line and line is not None:
            on_line(line)

    def down(_why: str) -> None:
        if table.linked:
            say(table.link(False))

    return Follower(settings, topics, "watch",
                    on_message=lambda msg: say(read_message(table, topics, msg)),
                    on_up=lambda: say(table.link(True)), on_down=down,
                    on_refused=lambda reason: say(f"{datetime.now():%H:%M:%S} broker"
                                                  f" {settings.url} refused: {reason}"),
                    keepalive=30, reconnect_max_s=120).start()


def _beacon_message(table: LiveTable, beacon: str, kind: str,
                    value: Telemetry | str | None) -> str | None:
    """File a beacon's telemetry or availability (*kind*: ``beacons`` or ``beacon links``;
    the caller holds the lock); say what changed.

    A beacon reports every minute; only a report that tells something new is worth a line:
    the first one, another firmware, IP or reset cause, or a restart (its uptime went down).
    """
    if kind == BEACON_LINKS:
        if value is None:
            table.beacon_links.pop(beacon, None)
            return "availability cleared"
        assert isinstance(value, str)
        return value if table.beacon_links.file(beacon, value) else None
    if value is None:
        table.beacons.pop(beacon, None)
        return "telemetry cleared"
    assert isinstance(value, Telemetry)
    t, before = value, table.beacons.get(beacon)
    if not table.beacons.file(beacon, t):
        return None
    if (before is not None and t.uptime >= before.uptime
            and (t.firmware, t.ip, t.reset_cause) == (before.firmware, before.ip,
                                                      before.reset_cause)):
        return None
    return (f"firmware {t.firmware} up {format_duration(t.uptime)} heap {_kb(t.heap_free)}"
            f" rssi {_or_dash(t.rssi)} ip {_or_dash(t.ip)} reset {_or_dash(t.reset_cause)}"
            + (f" OUTDATED (this focuslight is {__version__})" if t.outdated else ""))


CONNECT_TIMEOUT_S = 10.0
"""``--once``: how long to wait for the broker to accept the connection (a slow TLS
handshake included) before saying it cannot be reached."""
SWEEP_TIMEOUT_S = 60.0
"""``--once``: how long, once connected, the broker may take to hand out what it retains."""


def run(settings: BrokerSettings, topics: Topics, once: bool = False,
        as_json: bool = False) -> int:
    """Follow the broker until Ctrl-C: redraw on a terminal, a line per change when piped;
    with *once*, print the retained table (*as_json*: as JSON) and return."""
    if once:
        return _print_once(settings, topics, as_json)
    table = LiveTable()
    live = sys.stdout.isatty()
    printer = None if live else lambda line: print(line, flush=True)
    client = follow(settings, topics, table, printer)
    try:
        while True:
            time.sleep(1.0)
            if live:
                _redraw(sys.stdout, settings, table, client.is_connected())
    except KeyboardInterrupt:
        return 0
    finally:
        client.stop()


def read_once(settings: BrokerSettings, topics: Topics, table: LiveTable,
              connect_timeout: float = CONNECT_TIMEOUT_S,
              sweep_timeout: float = SWEEP_TIMEOUT_S) -> str | None:
    """Fill *table* with everything the broker retains for the views, once.

    Bounded by the broker, not by a guessed pause: the :class:`Follower` sweeps
    (subscribe, and at the SUBACK unsubscribe; the UNSUBACK follows the last retained
    message), so a site of thousands of agents or a slow TLS connect gives the whole
    table. Returns None when done, or why it could not be read.
    """
    failed: list[str] = []
    connected = threading.Event()

    def up() -> None:
        table.link(True)
        connected.set()

    follower = Follower(settings, topics, "watch",
                        on_message=lambda msg: read_message(table, topics, msg),
                        on_up=up, on_down=failed.append,
                        on_refused=lambda reason: failed.append(
                            f"broker {settings.url} refused: {reason}"),
                        keepalive=30, sweep=True).start()
    try:
        started = time.monotonic()
        while not follower.swept.wait(0.05):
            if failed:
                return failed[0]
            if not connected.is_set() and time.monotonic() - started > connect_timeout:
                return (f"cannot reach broker {settings.url}: no answer within"
                        f" {connect_timeout:g} s; {UNREACHABLE_HINT}")
            if connected.is_set() and time.monotonic() - started > (connect_timeout
                                                                    + sweep_timeout):
                return (f"broker {settings.url} did not finish sending its retained"
                        f" messages within {sweep_timeout:g} s")
        return None
    finally:
        follower.stop()


def _print_once(settings: BrokerSettings, topics: Topics, as_json: bool) -> int:
    table = LiveTable()
    why = read_once(settings, topics, table)
    if why is not None:
        print(f"focuslight watch: {why}", file=sys.stderr)
        return 2
    print(json.dumps({a: {"state": shown, "source": s.source, "since": s.since}
                      | ({"published": s.state, "why": why} if why else s.attention_fields())
                      for a, (s, shown, why) in table.shown().items()}, indent=1)
          if as_json else table.render(time.time(), colour=False))
    return 0


def _redraw(out: TextIO, settings: BrokerSettings, table: LiveTable, connected: bool) -> None:
    note = "" if connected else f"  (connecting to {settings.url}…)"
    out.write(f"\x1b[H\x1b[2Jfocuslight watch — {settings.url}{note}\n\n"
              + table.render(time.time(), colour=True) + "\n")
    out.flush()
