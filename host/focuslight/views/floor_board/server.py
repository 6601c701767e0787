"""``focuslight board``: the floor board, every agent's light live on a web page.

The board is an MQTT client like any beacon: it reads the retained
``<prefix>/agents/+/status`` and ``<prefix>/bridges/+/availability`` topics
and pushes every change to browsers with Server-Sent Events. It follows the
beacon's rule for honesty: a tile shows ``unknown`` unless the broker link is
up, a status has arrived and the bridge that published it is not offline —
and the page itself turns every tile ``unknown`` when its event stream goes
quiet.

It serves ``GET /`` (the page, no external assets: sites have no internet),
``GET /events`` (the SSE stream) and ``GET /api/agents`` (a JSON snapshot).
Only ids, staff names, states, source ids, times and beacon firmware versions
leave the board: it
rebuilds each status from the validated fields, so nothing else a publisher
puts in a payload ever reaches a browser.

Example (``focuslight demo`` starts one the same way)::

    board = FloorBoard(BrokerSettings("127.0.0.1", 1883), Topics(), ("127.0.0.1", 0)).start()
    print(board.url)
    board.stop()
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Mapping
from http import HTTPStatus
from importlib import resources
from typing import Any

import paho.mqtt.client as mqtt

from ...http_server import HttpError, HttpServer, Request, Response, Stream
from ...logs import Problem
from ...mqtt.client import (
    BrokerSettings,
    topic_for_log,
    topic_of,
)
from ...mqtt.follower import Follower
from ...protocol import (
    OFFLINE,
    ProtocolError,
    Status,
    Topics,
    decode_availability,
    decode_status,
    trust,
)
from ...protocol.telemetry import (
    Telemetry,
    decode_telemetry,
)

log = logging.getLogger(__name__)

DEFAULT_LISTEN = "127.0.0.1:8080"
HEARTBEAT_S = 5.0
"""The stream sends a ping this often; the page trusts it for about two of these."""
RETRY_MS = 2000
"""How soon a browser reconnects a dropped stream."""
MAX_CONNECTIONS = 4096
"""Pages (and page loads) served at once; each open page holds one connection
(a coroutine and a socket, not a thread) for its event stream."""
BOARD = "board"
"""The source named on a status the board itself concluded is ``unknown``."""
UNKNOWN = "unknown"
OUTAGE = "outage"
PAGES = {"/": ("index.html", "text/html"), "/board.js": ("board.js", "text/javascript"),
         "/board.css": ("board.css", "text/css")}


class Floor:
    """What the board heard from the broker, and the view it may honestly show of it.

    :param names: display names by agent id (the ``[agents.<id>] name`` keys of
        the bridge's config); the agents named here have a tile, ``unknown``,
        before their first status arrives.

    Thread-safe: paho's thread writes, every browser's stream thread waits
    for the next version and reads the view.
    """

    def __init__(self, names: Mapping[str, str] | None = None) -> None:
        self._changed = threading.Condition()
        self._names = dict(names or {})
        now = time.time()
        self._agents: dict[str, Status] = {a: Status(UNKNOWN, BOARD, now) for a in self._names}
        self._bridges: dict[str, tuple[str, float]] = {}
        self._beacons: dict[str, Telemetry] = {}
        self._beacon_links: dict[str, str] = {}
        self._linked = False
        self._closed = False
        self._version = 0

    def agent(self, agent: str, status: Status | None) -> None:
        """Record *agent*'s status; None forgets the agent (its retained status was cleared)."""
        with self._changed:
            if status is None:
                self._agents.pop(agent, None)
            else:
                self._agents[agent] = status
            self._bump()

    def bridge(self, bridge: str, state: str | None) -> None:
        """Record a bridge's availability; None forgets the bridge (retained will cleared)."""
        with self._changed:
            if state is None:
                self._bridges.pop(bridge, None)
            else:
                self._bridges[bridge] = (state, time.time())
            self._bump()

    def beacon(self, beacon: str, telemetry: Telemetry | None) -> None:
        """Record a beacon's telemetry; None forgets the beacon (its report was cleared)."""
        with self._changed:
            if telemetry is None:
                self._beacons.pop(beacon, None)
            else:
                self._beacons[beacon] = telemetry
            self._bump()

    def beacon_link(self, beacon: str, state: str | None) -> None:
        """Record a beacon's availability (``online``/``offline``; None: cleared)."""
        with self._changed:
            if state is None:
                self._beacon_links.pop(beacon, None)
            else:
                self._beacon_links[beacon] = state
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
                self._bridges = {b: (UNKNOWN, now) for b in self._bridges}
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
            bridges = [{"id": b, "state": s} for b, (s, _) in sorted(self._bridges.items())]
            # which firmware each beacon runs, for the admin; no IPs or signal on a wall TV
            beacons = [{"id": b, "agent": t.agent, "firmware": t.firmware,
                        "outdated": t.outdated,
                        "link": self._beacon_links.get(b, UNKNOWN) if self._linked else UNKNOWN}
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


class FloorBoard:
    """The floor board: an MQTT reader feeding a :class:`Floor`, and the web server over it.

    :param settings: the broker to read.
    :param topics: the topic tree (its prefix).
    :param listen: ``(host, port)`` to serve on; port 0 picks a free one (see :attr:`url`).
    :param names: display names by agent id, see :class:`Floor`.
    """

    def __init__(self, settings: BrokerSettings, topics: Topics,
                 listen: tuple[str, int] = ("127.0.0.1", 8080),
                 names: Mapping[str, str] | None = None) -> None:
        self.settings, self.topics, self.listen = settings, topics, listen
        self.floor = Floor(names)
        self._server: HttpServer | None = None
        self.follower = Follower(settings, topics, "board", on_message=self._on_message,
                                 on_up=self._link_up, on_down=self._link_down,
                                 on_refused=self._refused)
        """The MQTT reader (connects in :meth:`start`)."""
        self._outage = Problem(log, "board: ")

    @property
    def url(self) -> str:
        """The page's address; a wildcard listen address is shown as this machine."""
        host, port = self.listen
        if self._server:
            port = self._server.port
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
        return f"http://{f'[{host}]' if ':' in host else host}:{port}/"

    def start(self) -> FloorBoard:
        """Listen (raises OSError if the address is taken), then connect to the broker."""
        self._server = _serve(self.listen, self.floor)
        self.follower.start()
        log.info("floor board on %s, reading %s", self.url, self.settings.url)
        return self

    def stop(self) -> None:
        self._outage.current = OUTAGE  # our own goodbye is no outage
        self.floor.close()
        if self._server:
            self._server.stop()
        self.follower.stop()

    def _link_up(self) -> None:
        log.info("board: connected to %s", self.settings.url)
        self._outage.clear()
        self.floor.link(True)

    def _refused(self, reason: str) -> None:
        log.warning("board: broker %s refused the connection: %s", self.settings.url, reason)

    def _link_down(self, why: str) -> None:
        """One log line per outage, however many reconnect attempts it takes."""
        self._outage.say(OUTAGE, f"{why}; every tile shows unknown until it answers")
        self.floor.link(False)

    def _on_message(self, msg: mqtt.MQTTMessage) -> None:
        try:
            self.receive(topic_of(msg), msg.payload)
        except ProtocolError as err:
            log.warning("board: ignored message on %r: %s", topic_for_log(msg), err)

    def receive(self, topic: str, payload: bytes) -> None:
        """One message from the broker into the :class:`Floor`; ProtocolError if it is bad.

        Only the subscribed families count: a status on ``agents/<id>/status``,
        an availability on ``bridges/<id>/availability`` or
        ``beacons/<id>/availability``, a beacon's ``telemetry``; an empty payload
        is a cleared retained message and forgets the agent, bridge or beacon.
        """
        family, ident, leaf = self.topics.parse(topic)
        if (family, leaf) == ("agents", "status"):
            self.floor.agent(ident, decode_status(payload) if payload else None)
        elif (family, leaf) == ("bridges", "availability"):
            self.floor.bridge(ident, decode_availability(payload) if payload else None)
        elif (family, leaf) == ("beacons", "telemetry"):
            self.floor.beacon(ident, decode_telemetry(ident, payload) if payload else None)
        elif (family, leaf) == ("beacons", "availability"):
            self.floor.beacon_link(ident, decode_availability(payload) if payload else None)
        else:
            raise ProtocolError(f"the board reads no {leaf!r} topics")


# -- the web side: pages, the JSON view and the event stream over one HttpServer ------------

def _serve(listen: tuple[str, int], floor: Floor) -> HttpServer:
    """Start the board's web server over *floor* (raises OSError if *listen* is taken)."""
    pages = _Pages(floor)
    server = HttpServer(listen, pages.respond, "board", max_connections=MAX_CONNECTIONS)
    server.start()
    pages.feed.start(server)
    return server


class _Feed:
    """Carries the floor's changes into the server's event loop, encoded once for every page.

    One thread waits on :meth:`Floor.next` and hands each new snapshot (as
    its SSE frame) to the loop; every page's stream waits on the feed. A page
    that reads slowly skips to the newest snapshot instead of queueing older
    ones: each frame is the whole floor, so only the newest matters.
    """

    def __init__(self, floor: Floor) -> None:
        self.floor = floor
        self.version = 0
        self.frame = b""
        self.closed = False
        self._changed = asyncio.Event()

    def start(self, server: HttpServer) -> None:
        threading.Thread(target=self._follow, args=(server,), name="board-feed",
                         daemon=True).start()

    def _follow(self, server: HttpServer) -> None:
        version = -1
        while True:
            version, view = self.floor.next(version, HEARTBEAT_S)
            if version < 0:
                server.call_soon(self._publish, None)
                return
            if view is not None:
                frame = f"event: snapshot\ndata: {json.dumps(view)}\n\n".encode()
                server.call_soon(self._publish, frame)

    def _publish(self, frame: bytes | None) -> None:
        """On the loop: the newest frame (None: the board is closing); wake every stream."""
        if frame is None:
            self.closed = True
        else:
            self.frame, self.version = frame, self.version + 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def stream(self) -> AsyncIterator[bytes]:
        """One page's stream: the newest snapshot on every change, a ping when quiet."""
        yield f"retry: {RETRY_MS}\n\n".encode()
        sent = 0
        while not self.closed:
            if self.version != sent:
                sent = self.version
                yield self.frame
                continue
            changed = self._changed
            try:
                async with asyncio.timeout(HEARTBEAT_S):
                    await changed.wait()
            except TimeoutError:
                yield f"event: ping\ndata: {json.dumps({'now': time.time()})}\n\n".encode()


class _Pages:
    """The board's HTTP application: pages, ``/api/agents`` and ``/events``."""

    def __init__(self, floor: Floor) -> None:
        self.floor = floor
        self.feed = _Feed(floor)
        self.pages = {path: ((resources.files(__package__) / "static" / name).read_bytes(), kind)
                      for path, (name, kind) in PAGES.items()}

    async def respond(self, request: Request) -> Response | Stream:
        if request.method not in ("GET", "HEAD"):
            raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED, "the board only serves GET",
                            {"Allow": "GET, HEAD"})
        if request.path == "/events":
            return Stream(self.feed.stream(), "text/event-stream; charset=utf-8",
                          {**_HEADERS, "X-Accel-Buffering": "no"})  # nginx: don't hold events
        if request.path == "/api/agents":
            view = json.dumps(self.floor.view()).encode()
            return Response(HTTPStatus.OK, view, "application/json; charset=utf-8", _HEADERS)
        if request.path in self.pages:
            body, kind = self.pages[request.path]
            return Response(HTTPStatus.OK, body, f"{kind}; charset=utf-8", _HEADERS)
        raise HttpError(HTTPStatus.NOT_FOUND, "the board serves /, /events and /api/agents")


_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'self'"}
