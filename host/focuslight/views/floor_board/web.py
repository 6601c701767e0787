"""The floor board's web side: the page, ``/api/agents`` and the ``/events`` stream (SSE)
over one :class:`~focuslight.http_server.HttpServer`, fed by a :class:`~.floor.Floor`.

The stream is a snapshot, then deltas: the feed thread takes the floor's changes at
most once per :data:`TICK_S` (so 200 changes a second cost a few frames, not 200),
encodes each delta once, and every page's stream writes the same bytes. A page that
falls further behind than the last :data:`RING_FRAMES` deltas skips to a fresh snapshot
instead of queueing them (docs/board.md, "How the stream scales").
"""

from __future__ import annotations

import asyncio
import hmac
import json
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from importlib import resources
from urllib.parse import parse_qs

from ...http_server import Frame, HttpError, HttpServer, Outlet, Request, Response, Stream
from .floor import Floor

HEARTBEAT_S = 5.0
"""The stream sends a ping this often; the page trusts it for about two of these."""
RETRY_MS = 2000
"""How soon a browser reconnects a dropped stream."""
TICK_S = 0.2
"""Changes within this long go out as one delta: the latency added, at most."""
RING_FRAMES = 32
"""The newest deltas kept for pages a little behind; further behind, a fresh snapshot."""
RING_BYTES = 4 * 1024 * 1024
"""...and at most this many bytes of them (a delta after a bridge change holds every tile)."""
PIECE_BYTES = 16 * 1024
"""A snapshot goes out in pieces this big, each drained before the next: a page being
sent the whole floor holds one piece in the board, not the floor."""
MAX_CONNECTIONS = 4096
"""Pages (and page loads) served at once; each open page holds one connection
(a coroutine and a socket, not a thread) for its event stream."""
COOKIE = "focuslight_board"
"""The cookie a ``?token=`` visit sets, so a wall TV's browser opens the board from then on."""
COOKIE_MAX_AGE_S = 400 * 24 * 3600
PAGES = {"/": ("index.html", "text/html"), "/board.js": ("board.js", "text/javascript"),
         "/board.css": ("board.css", "text/css")}


def serve(listen: tuple[str, int], floor: Floor, token: str | None = None) -> HttpServer:
    """Start the board's web server over *floor* (raises OSError if *listen* is taken).

    With *token*, every request must carry it (see :class:`_Pages`)."""
    pages = _Pages(floor, token)
    server = HttpServer(listen, pages.respond, "board", max_connections=MAX_CONNECTIONS)
    server.start()
    pages.feed.start(server)
    return server


def _event(kind: str, data: object, seq: int | None = None) -> bytes:
    ident = "" if seq is None else f"id: {seq}\n"
    return f"event: {kind}\n{ident}data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class _Viewer:
    """One page whose stream has caught up: the feed writes each new frame to it directly."""

    __slots__ = ("behind", "outlet", "sent")

    def __init__(self, outlet: Outlet, sent: int) -> None:
        self.outlet, self.sent = outlet, sent
        self.behind = asyncio.Event()
        """Set when the page stops keeping up (or the board closes): its own coroutine
        takes over again."""


class _Feed:
    """Carries the floor's changes into the server's event loop, encoded once for every page.

    A thread waits on the floor, takes its changes as a numbered delta, hands
    the encoded frame to the loop and sleeps :data:`TICK_S` so that what changes
    meanwhile joins the next one. On the loop, each frame is written at once to
    every page that has caught up (one write per page, no coroutine switch);
    a page whose socket holds more than a few KB stops being written to, and its
    own coroutine waits until it drained, then sends the deltas it missed from
    the ring of the newest ones (bounded by count and bytes), or a fresh snapshot
    when the next one it needs has left the ring. The ring is a few seconds of
    the present, never a history: it is only appended to and trimmed, and nothing
    of it is written anywhere.
    """

    def __init__(self, floor: Floor) -> None:
        self.floor = floor
        self.frames: deque[tuple[int, bytes]] = deque()
        self.ring_bytes = 0
        self.ping = b""
        self.pings = 0
        self.closed = False
        self.live: set[_Viewer] = set()
        self._snapshot: tuple[int, bytes] | None = None
        self._wake = asyncio.Event()

    def start(self, server: HttpServer) -> None:
        threading.Thread(target=self._follow, args=(server,), name="board-feed",
                         daemon=True).start()
        server.call_soon(self._heartbeat)

    def _follow(self, server: HttpServer) -> None:
        while self.floor.wait(HEARTBEAT_S):
            taken = self.floor.changes()
            if taken is not None:
                seq, delta = taken
                server.call_soon(self._publish, seq, _event("delta", delta, seq))
                time.sleep(TICK_S)
        server.call_soon(self._close)

    def _publish(self, seq: int, frame: bytes) -> None:
        """On the loop: the new delta to every live page, and into the ring for the others."""
        self.frames.append((seq, frame))
        self.ring_bytes += len(frame)
        while len(self.frames) > RING_FRAMES or (
                self.ring_bytes > RING_BYTES and len(self.frames) > 1):
            self.ring_bytes -= len(self.frames.popleft()[1])
        self._push(Frame(frame), seq)

    def _heartbeat(self) -> None:
        """On the loop, every HEARTBEAT_S: one ping frame for every stream."""
        if self.closed:
            return
        self.ping = _event("ping", {"now": time.time()})
        self.pings += 1
        self._push(Frame(self.ping))
        asyncio.get_running_loop().call_later(HEARTBEAT_S, self._heartbeat)

    def _push(self, frame: Frame, seq: int | None = None) -> None:
        """Write *frame* to every live page; hand the ones falling behind back to their
        own coroutines, and wake the coroutines of the pages catching up."""
        lagging = []
        for viewer in self.live:
            if not viewer.outlet.write(frame):
                lagging.append(viewer)
            if seq is not None:
                viewer.sent = seq
        for viewer in lagging:
            self.live.discard(viewer)
            viewer.behind.set()
        wake, self._wake = self._wake, asyncio.Event()
        wake.set()

    def _close(self) -> None:
        self.closed = True
        for viewer in self.live:
            viewer.behind.set()
        self.live.clear()
        self._wake.set()

    def snapshot(self) -> tuple[int, bytes]:
        """The whole floor as a frame, and the last delta it holds. Encoded at most once per
        delta, however many pages (re)connect meanwhile."""
        if self._snapshot is None or self._snapshot[0] != self.floor.seq:
            seq, view = self.floor.snapshot()
            self._snapshot = seq, _event("snapshot", view, seq)
        return self._snapshot

    def following(self, sent: int) -> tuple[int, bytes] | None:
        """The delta after number *sent* and its number (``(sent, b"")``: none yet); None
        when it has already left the ring: the page must start again from a snapshot."""
        if not self.frames or self.frames[-1][0] <= sent:
            return sent, b""
        first = self.frames[0][0]
        return None if first > sent + 1 else self.frames[sent + 1 - first]

    async def stream(self, outlet: Outlet) -> AsyncIterator[bytes]:
        """One page's stream: a snapshot and what it missed, yielded by this coroutine (in
        pieces, each drained before the next); once caught up, the feed writes the
        deltas and pings until the page falls behind."""
        yield f"retry: {RETRY_MS}\n\n".encode()
        sent: int | None = None
        pinged = self.pings
        viewer = None
        try:
            while not self.closed:
                due = None if sent is None else self.following(sent)
                if due is None or due[1]:
                    sent, frame = self.snapshot() if due is None else due
                    for at in range(0, len(frame), PIECE_BYTES):
                        yield frame[at:at + PIECE_BYTES]
                elif pinged != self.pings:
                    pinged = self.pings
                    yield self.ping
                else:
                    viewer = _Viewer(outlet, sent)
                    self.live.add(viewer)
                    await viewer.behind.wait()
                    sent, pinged = viewer.sent, self.pings
                    await outlet.drained()
        finally:
            if viewer is not None:
                self.live.discard(viewer)


class _Pages:
    """The board's HTTP application: pages, ``/api/agents`` and ``/events``.

    With a *token*, a request is served only if it carries the token: as
    ``Authorization: Bearer <token>`` (scripts), as the cookie a visit to
    ``/?token=<token>`` sets (browsers: the page's own requests and its event
    stream send it by themselves), compared in constant time.
    """

    def __init__(self, floor: Floor, token: str | None = None) -> None:
        self.floor = floor
        self.feed = _Feed(floor)
        self.token = token.encode() if token else None
        self.pages = {path: ((resources.files(__package__) / "static" / name).read_bytes(), kind)
                      for path, (name, kind) in PAGES.items()}

    async def respond(self, request: Request) -> Response | Stream:
        if request.method not in ("GET", "HEAD"):
            raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED, "the board only serves GET",
                            {"Allow": "GET, HEAD"})
        if self.token is not None:
            signed_in = self._sign_in(request)
            if signed_in is not None:
                return signed_in
        if request.path == "/events":
            return Stream(self.feed.stream, "text/event-stream; charset=utf-8",
                          {**_HEADERS, "X-Accel-Buffering": "no"})  # nginx: don't hold events
        if request.path == "/api/agents":
            view = json.dumps(self.floor.view()).encode()
            return Response(HTTPStatus.OK, view, "application/json; charset=utf-8", _HEADERS)
        if request.path in self.pages:
            body, kind = self.pages[request.path]
            return Response(HTTPStatus.OK, body, f"{kind}; charset=utf-8", _HEADERS)
        raise HttpError(HTTPStatus.NOT_FOUND, "the board serves /, /events and /api/agents")

    def _sign_in(self, request: Request) -> Response | None:
        """None when *request* carries the token; a redirect that sets the cookie for a
        right ``?token=``; raises 401 otherwise."""
        offered = parse_qs(request.query).get("token", [])
        if offered and self._is_token(offered[0]):
            # Drop the token from the address bar (and from what a screenshot shows).
            page = request.path.rsplit("/", 1)[1] or "./"
            return Response(HTTPStatus.SEE_OTHER, b"", "text/plain", {
                **_HEADERS, "Location": page,
                "Set-Cookie": f"{COOKIE}={offered[0]}; Max-Age={COOKIE_MAX_AGE_S}; HttpOnly;"
                              " SameSite=Strict"})
        scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and self._is_token(bearer.strip()):
            return None
        try:
            cookie = SimpleCookie(request.headers.get("cookie", "")).get(COOKIE)
        except CookieError:
            cookie = None
        if cookie is not None and self._is_token(cookie.value):
            return None
        raise HttpError(HTTPStatus.UNAUTHORIZED, "this board needs its token: open the "
                        "board's address with ?token=... once, or send Authorization: "
                        "Bearer ...", {"WWW-Authenticate": 'Bearer realm="focuslight board"'})

    def _is_token(self, offered: str) -> bool:
        assert self.token is not None
        return hmac.compare_digest(offered.encode(), self.token)


_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'self'"}
