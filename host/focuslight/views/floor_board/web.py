"""The floor board's web side: the page, ``/api/agents`` and the ``/events`` stream (SSE)
over one :class:`~focuslight.http_server.HttpServer`, fed by a :class:`~.floor.Floor`."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator
from http import HTTPStatus
from importlib import resources

from ...http_server import HttpError, HttpServer, Request, Response, Stream
from .floor import Floor

HEARTBEAT_S = 5.0
"""The stream sends a ping this often; the page trusts it for about two of these."""
RETRY_MS = 2000
"""How soon a browser reconnects a dropped stream."""
MAX_CONNECTIONS = 4096
"""Pages (and page loads) served at once; each open page holds one connection
(a coroutine and a socket, not a thread) for its event stream."""
PAGES = {"/": ("index.html", "text/html"), "/board.js": ("board.js", "text/javascript"),
         "/board.css": ("board.css", "text/css")}


def serve(listen: tuple[str, int], floor: Floor) -> HttpServer:
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
