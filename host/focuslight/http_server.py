"""The one HTTP engine behind every focuslight web endpoint: asyncio + h11.

The CTI webhook, the floor board (and its Server-Sent Events stream) and any
later page (the counter sign) are served by :class:`HttpServer`. It exists
because the endpoints must keep answering legitimate callers while hostile or
broken ones are connected:

* **Whole-request deadlines.** A request's head and body must arrive within
  ``request_timeout`` (10 s) *in total*, counted from the moment the server
  starts waiting for it — not per read, so a caller sending a byte a second
  (slowloris) is answered ``408`` and dropped after 10 s however it trickles.
* **Cheap idle connections.** Each connection is a coroutine on one event
  loop, not a thread: 200 trickling connections cost a few hundred KB and no
  scheduler time, and the loop answers everyone else in between.
* **A real listen backlog** (1024, the kernel caps it at
  ``net.core.somaxconn``): a burst of hundreds of connects queues in the
  kernel instead of being dropped and retried by the callers' TCP after 1, 3,
  7 … s.
* **Bounded everything.** Connections are capped (past the cap a connection
  gets ``503`` + ``Retry-After: 1`` and is closed); the request head is
  capped (16 KiB, ``431``); a body is read only after the application has
  checked its ``Content-Length`` against its own limit (``413``); a streaming
  response (SSE) waits for each chunk to drain into the socket, so a reader
  that stops reading holds at most one chunk plus a small socket buffer, and
  is dropped after ``write_timeout``.
* **No secret in any log.** Access lines are at debug level and carry the
  method, the path without its query string, the status and the peer; the
  engine never logs a header, a query string, a body or a parser message
  (h11's messages quote the request line).

HTTP parsing is h11 (python-hyper, the parser under httpx's and uvicorn's
HTTP/1.1): a pure-Python, dependency-free, well-tested state machine that
validates request lines, headers and ``Content-Length``/chunked framing and
picks keep-alive and response framing. The I/O is the standard library's
asyncio. A framework (aiohttp, uvicorn + starlette) would bring the same and
more, at the price of several compiled dependencies on a Raspberry Pi; see
docs/http.md for the comparison.

The server runs its event loop in a thread of its own, so the bridge and the
board (threaded programs around paho) start and stop it like any other part.

Example::

    async def hello(request: Request) -> Response:
        return Response(200, b"hello", "text/plain")

    server = HttpServer(("127.0.0.1", 0), hello, "example").start()
    print(server.port)
    server.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import resource
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import h11

log = logging.getLogger(__name__)

BACKLOG = 1024
"""Connections the kernel queues before the server accepts them."""
REQUEST_TIMEOUT_S = 10.0
"""Head and body of one request must arrive within this, in total."""
WRITE_TIMEOUT_S = 30.0
"""A reader that takes longer than this to accept one chunk is dropped."""
MAX_HEAD_BYTES = 16 * 1024
"""Largest request line + headers; past it the answer is 431."""
STREAM_BUFFER_BYTES = 16 * 1024
"""Bytes a connection's socket buffer in the process may hold before a write waits."""
LINGER_S = 1.0
"""How long a closing connection keeps reading so its last answer is not reset."""
READ_CHUNK = 64 * 1024
COMPLAINT_EVERY_S = 60.0
"""At most one warning line per this many seconds about malformed or slow requests."""


class HttpError(Exception):
    """A request answered with an error status; ``str()`` is the reason sent as
    ``{"error": "..."}`` (never a secret: it goes back to the caller and may be logged).

    :param status: the HTTP status (400, 401, 404, 411, 413 …).
    :param reason: one sentence saying what to change.
    :param headers: extra response headers (``Allow``, ``WWW-Authenticate``).
    """

    def __init__(self, status: int, reason: str, headers: Mapping[str, str] | None = None):
        super().__init__(reason)
        self.status, self.headers = HTTPStatus(status), dict(headers or {})


@dataclass
class Response:
    """A complete answer: status, body and its type, extra headers."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, data: Any, headers: Mapping[str, str] | None = None) -> Response:
        return cls(status, json.dumps(data).encode(), "application/json", dict(headers or {}))


class Frame:
    """Bytes sent as they are to many streams (one event to every page), framed once for
    all the HTTP/1.1 streams (chunked) rather than once per stream."""

    __slots__ = ("_chunked", "data")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._chunked: bytes | None = None

    def chunked(self) -> bytes:
        if self._chunked is None:
            self._chunked = b"%x\r\n%b\r\n" % (len(self.data), self.data)
        return self._chunked


class Outlet:
    """Direct writes into one open :class:`Stream`, for a producer that sends the same
    :class:`Frame` to thousands of streams: one write each, no coroutine switch.

    :meth:`write` never waits; it says when the socket is not keeping up (more
    than ``STREAM_BUFFER_BYTES`` queued), and the producer then stops writing
    to this stream until :meth:`drained`, which ends the stream (``TimeoutError``)
    when the reader takes longer than ``write_timeout``. Write only while the
    stream's chunk iterator is parked in an ``await`` of its own, never while the
    engine is writing a chunk it yielded: the bytes would interleave.
    """

    def __init__(self, writer: asyncio.StreamWriter, chunked: bool, write_timeout: float):
        self._writer, self._chunked, self._timeout = writer, chunked, write_timeout

    def write(self, frame: Frame) -> bool:
        """Queue *frame*; False when the stream is closed or now holds too much to take more."""
        transport = self._writer.transport
        if transport.is_closing():
            return False
        transport.write(frame.chunked() if self._chunked else frame.data)
        return transport.get_write_buffer_size() <= STREAM_BUFFER_BYTES

    async def drained(self) -> None:
        """Wait until the socket took what was queued (TimeoutError past write_timeout)."""
        async with asyncio.timeout(self._timeout):
            await self._writer.drain()


@dataclass
class Stream:
    """An answer sent as it is produced (Server-Sent Events): headers now, then each chunk.

    The engine writes one chunk, waits until the socket took it (at most
    ``write_timeout``), then asks for the next, so a slow reader slows its own
    stream and never grows a buffer. The stream ends when *chunks* ends, the
    caller closes the connection, or the server stops. *chunks* may also be a
    function of the stream's :class:`Outlet` returning the iterator, for a
    producer that writes to many streams at once.
    """

    chunks: AsyncIterator[bytes] | Callable[[Outlet], AsyncIterator[bytes]]
    content_type: str = "text/event-stream"
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 200


App = Callable[["Request"], Awaitable["Response | Stream"]]


class Request:
    """One request's head, and its body on demand.

    :attr method: ``"GET"``, ``"POST"`` …
    :attr path: the target's path, without the query string (safe to log).
    :attr query: the query string (may hold a secret: never log it).
    :attr headers: lower-case header name → value (repeats joined by ``", "``).
    :attr client: the caller's address.
    """

    def __init__(self, event: h11.Request, exchange: _Exchange, client: str) -> None:
        self.method = event.method.decode("ascii", "replace")
        target = event.target.decode("latin-1")
        self.path, _, self.query = target.partition("?")
        headers: dict[str, str] = {}
        for name, value in event.headers:
            key, text = name.decode("latin-1"), value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        self.headers: Mapping[str, str] = headers
        self.client = client
        self._exchange = exchange

    async def body(self, limit: int) -> bytes:
        """Read the whole body, at most *limit* bytes, within the request's deadline.

        Raises :class:`HttpError`: 411 without ``Content-Length`` (chunked
        bodies are not accepted), 413 when ``Content-Length`` exceeds *limit*
        (nothing is read), 400 when the caller closes before sending it all.
        The engine answers 408 if the deadline passes first.
        """
        if "transfer-encoding" in self.headers or "content-length" not in self.headers:
            raise HttpError(HTTPStatus.LENGTH_REQUIRED, "send a Content-Length header "
                            "(chunked bodies are not accepted)")
        # h11 checked the value: digits, repeated only as the same number.
        length = int(self.headers["content-length"].split(",")[0])
        if length > limit:
            raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                            f"body is {length} bytes, limit is {limit}")
        return await self._exchange.read_body()


class _Exchange:
    """One connection's h11 state and socket, shared by the engine and its :class:`Request`."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        self.deadline = 0.0

    async def next_event(self) -> Any:
        """The next h11 event, reading as needed (deadline applied by the caller)."""
        while True:
            event = self.conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            self.conn.receive_data(await self.reader.read(READ_CHUNK))

    async def read_body(self) -> bytes:
        if self.conn.they_are_waiting_for_100_continue:
            self.send(h11.InformationalResponse(status_code=100, headers=[]))
        parts = []
        async with asyncio.timeout_at(self.deadline):
            try:
                while not isinstance(event := await self.next_event(), h11.EndOfMessage):
                    if isinstance(event, h11.Data):
                        parts.append(bytes(event.data))
            except h11.RemoteProtocolError:
                raise HttpError(HTTPStatus.BAD_REQUEST,
                                "body ended before its Content-Length") from None
        return b"".join(parts)

    def send(self, event: Any) -> None:
        data = self.conn.send(event)
        if data:
            self.writer.write(data)


class HttpServer:
    """An HTTP/1.1 server on its own event-loop thread, serving one application.

    :param address: ``(host, port)``; port 0 picks a free one (see :attr:`port`).
    :param app: ``async def app(request) -> Response | Stream``; an
        :class:`HttpError` it raises is answered as JSON ``{"error": reason}``.
    :param what: names the server in log lines and in the 503 ("webhook cti", "board").
    :param max_connections: connections served at once; past it, 503.
    :param request_timeout: seconds for the head and body of one request, in total
        (default :data:`REQUEST_TIMEOUT_S`).
    :param write_timeout: seconds a reader may take to accept one chunk of an answer
        (default :data:`WRITE_TIMEOUT_S`).
    :param backlog: the listen queue.
    """

    def __init__(self, address: tuple[str, int], app: App, what: str, *,
                 max_connections: int = 1024, request_timeout: float | None = None,
                 write_timeout: float | None = None, backlog: int = BACKLOG) -> None:
        self.address, self.app, self.what = address, app, what
        self.max_connections, self.backlog = max_connections, backlog
        self.request_timeout = REQUEST_TIMEOUT_S if request_timeout is None else request_timeout
        self.write_timeout = WRITE_TIMEOUT_S if write_timeout is None else write_timeout
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._served: set[asyncio.Task] = set()   # counted against max_connections
        self._others: set[asyncio.Task] = set()   # busy answers, lingering closes
        self._writers: set[asyncio.StreamWriter] = set()
        self._said_full = False
        self._complaints: dict[str, int] = {}
        self._complained_at = -COMPLAINT_EVERY_S

    # -- life cycle -------------------------------------------------------------------

    def start(self) -> HttpServer:
        """Bind and listen (raises OSError if the address is taken), then serve."""
        host, port = self.address
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(self.backlog)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        _room_for_files(self.max_connections + 64)
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,),
                                        name=f"http-{self.what.replace(' ', '-')}", daemon=True)
        self._thread.start()
        ready.wait(10)
        if self._server is None:
            raise OSError(f"{self.what}: the HTTP server did not start")
        return self

    @property
    def server_address(self) -> tuple[str, int]:
        assert self._sock is not None, "start() first"
        return self._sock.getsockname()[:2]

    @property
    def port(self) -> int:
        return self.server_address[1]

    def call_soon(self, callback: Callable[..., object], *args: object) -> None:
        """Run *callback* on the server's loop (the way other threads hand it data)."""
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # loop closing under us
                self._loop.call_soon_threadsafe(callback, *args)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening, end every connection, end the thread."""
        loop = self._loop
        if loop is None or not loop.is_running():
            return
        with contextlib.suppress(TimeoutError, RuntimeError):
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout)
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(loop.stop)
        if self._thread:
            self._thread.join(timeout)

    def stats(self) -> dict[str, int]:
        """Open connections and the bytes queued for them in this process (for tests)."""
        loop = self._loop
        if loop is None or not loop.is_running():
            return {"connections": 0, "buffered": 0}
        return asyncio.run_coroutine_threadsafe(self._stats(), loop).result(5)

    async def _stats(self) -> dict[str, int]:
        buffered = sum(w.transport.get_write_buffer_size() for w in self._writers
                       if not w.transport.is_closing())
        return {"connections": len(self._served), "buffered": buffered}

    def _run(self, ready: threading.Event) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            self._server = loop.run_until_complete(asyncio.start_server(
                self._accept, sock=self._sock, backlog=self.backlog))
            ready.set()
            loop.run_forever()
        finally:
            ready.set()
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.close()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = self._served | self._others
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- connections ------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        peer = writer.get_extra_info("peername")
        client = str(peer[0]) if peer else "?"
        if len(self._served) >= self.max_connections:
            self._others.add(task)
            try:
                await self._busy(reader, writer, client)
            except asyncio.CancelledError:  # stopping: 3.11's asyncio logs a cancelled
                writer.transport.abort()    # connection task as an error, so end quietly
            finally:
                self._others.discard(task)
            return
        self._served.add(task)
        self._writers.add(writer)
        writer.transport.set_write_buffer_limits(high=STREAM_BUFFER_BYTES)
        try:
            await self._serve(_Exchange(reader, writer), client)
        except (ConnectionError, TimeoutError):
            writer.transport.abort()
        except asyncio.CancelledError:  # stopping (see _busy)
            writer.transport.abort()
        except Exception:  # a bug in an app must cost one connection, not the server
            log.exception("%s: unexpected error serving %s", self.what, client)
            writer.transport.abort()
        finally:
            self._served.discard(task)
            self._writers.discard(writer)
            if not self._served:
                self._said_full = False
            if not writer.transport.is_closing():
                await self._linger(reader, writer)

    async def _busy(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    client: str) -> None:
        """Past the cap: answer 503 at once, without reading the request, and close."""
        if not self._said_full:  # one line per busy spell, not one per connection
            self._said_full = True
            log.warning("%s: %d connections open; answering 503 until one closes "
                        "(latest from %s)", self.what, self.max_connections, client)
        body = json.dumps({"error": f"too many connections to the {self.what}; "
                                    "retry in a second"}).encode()
        writer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                     b"Retry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
                     % (len(body), body))
        await self._linger(reader, writer)

    async def _linger(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Close after the caller has read our answer: send FIN, read and drop what it
        still sends (closing on unread bytes would reset the connection and could
        destroy the answer), at most LINGER_S."""
        try:
            async with asyncio.timeout(LINGER_S):
                await writer.drain()
                if writer.can_write_eof():
                    writer.write_eof()
                while await reader.read(READ_CHUNK):
                    pass
        except (OSError, TimeoutError):
            pass
        finally:
            if reader.at_eof():
                writer.close()
            else:
                writer.transport.abort()

    async def _serve(self, exchange: _Exchange, client: str) -> None:
        """Requests on one connection, one after another (keep-alive), each under its deadline."""
        loop = asyncio.get_running_loop()
        conn = exchange.conn
        while True:
            exchange.deadline = loop.time() + self.request_timeout
            try:
                async with asyncio.timeout_at(exchange.deadline):
                    event = await exchange.next_event()
            except TimeoutError:
                if conn.their_state is h11.IDLE and not conn.trailing_data[0]:
                    # Nothing of a request arrived: an idle keep-alive connection.
                    return
                self._complain("408 request not complete in time", client)
                await self._refuse(exchange, HTTPStatus.REQUEST_TIMEOUT,
                                   f"the request did not arrive within "
                                   f"{self.request_timeout:g} s")
                return
            except h11.RemoteProtocolError as err:
                status = HTTPStatus(err.error_status_hint)
                self._complain(f"{status.value} malformed request", client)
                await self._refuse(exchange, status, _PROTOCOL_REASONS.get(
                    status.value, "malformed HTTP request"))
                return
            if not isinstance(event, h11.Request):  # ConnectionClosed: the caller is done
                return
            if len(event.target) + sum(len(n) + len(v) + 4 for n, v in event.headers) \
                    > MAX_HEAD_BYTES:  # h11's own limit bends with how the bytes arrived
                self._complain("431 request head too large", client)
                await self._refuse(exchange, HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                                   _PROTOCOL_REASONS[431])
                return
            request = Request(event, exchange, client)
            answer = await self._call_app(request)
            if isinstance(answer, Stream):
                await self._stream(exchange, request, answer)
                return
            await self._respond(exchange, request, answer)
            if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
                conn.start_next_cycle()
                continue
            return  # close: the caller asked to, or the body was never read

    async def _call_app(self, request: Request) -> Response | Stream:
        try:
            return await self.app(request)
        except HttpError as err:
            return Response.json(err.status, {"error": str(err)}, err.headers)
        except TimeoutError:  # the body did not arrive by the deadline
            self._complain("408 request not complete in time", request.client)
            return Response.json(HTTPStatus.REQUEST_TIMEOUT, {"error": (
                f"the request did not arrive within {self.request_timeout:g} s")})
        except (ConnectionError, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("%s: error answering %s %s", self.what, request.method,
                          request.path[:80])
            return Response.json(HTTPStatus.INTERNAL_SERVER_ERROR,
                                 {"error": "internal error; see the server's log"})

    async def _respond(self, exchange: _Exchange, request: Request, answer: Response) -> None:
        head = [("Content-Type", answer.content_type), *answer.headers.items(),
                ("Content-Length", str(len(answer.body)))]
        exchange.send(h11.Response(status_code=answer.status, headers=head))
        if answer.body and request.method != "HEAD":
            exchange.send(h11.Data(data=answer.body))
        exchange.send(h11.EndOfMessage())
        log.debug("%s: %s %s -> %d from %s", self.what, request.method, request.path[:80],
                  answer.status, request.client)
        async with asyncio.timeout(self.write_timeout):
            await exchange.writer.drain()

    async def _stream(self, exchange: _Exchange, request: Request, answer: Stream) -> None:
        """Send *answer* chunk by chunk until it ends or the caller leaves."""
        head = exchange.conn.send(h11.Response(status_code=answer.status, headers=[
            ("Content-Type", answer.content_type), *answer.headers.items()]))
        exchange.writer.write(head or b"")
        log.debug("%s: %s %s -> %d stream from %s", self.what, request.method,
                  request.path[:80], answer.status, request.client)
        if request.method == "HEAD":
            exchange.send(h11.EndOfMessage())
            await exchange.writer.drain()
            return
        chunks = answer.chunks(Outlet(exchange.writer, b"transfer-encoding: chunked"
                                      in (head or b"").lower(), self.write_timeout)) \
            if callable(answer.chunks) else answer.chunks
        streaming = asyncio.current_task()
        assert streaming is not None

        async def hang_up_watch() -> None:
            with contextlib.suppress(OSError):
                while await exchange.reader.read(READ_CHUNK):
                    pass  # a pipelined request is not served on a stream
            streaming.cancel()

        watch = asyncio.create_task(hang_up_watch())
        try:
            async for chunk in chunks:
                exchange.send(h11.Data(data=chunk))
                async with asyncio.timeout(self.write_timeout):
                    await exchange.writer.drain()
            exchange.send(h11.EndOfMessage())
            await exchange.writer.drain()
        except TimeoutError:  # here or in an Outlet's drained()
            log.info("%s: dropped %s, it read nothing for %g s", self.what, request.client,
                     self.write_timeout)
            raise
        except asyncio.CancelledError:
            if watch.done():  # the caller hung up: normal end of a stream
                streaming.uncancel()
                return
            raise
        finally:
            watch.cancel()
            with contextlib.suppress(Exception):
                await chunks.aclose()  # type: ignore[attr-defined]

    async def _refuse(self, exchange: _Exchange, status: int, reason: str) -> None:
        """Answer an error the caller caused before the app saw a request, and close."""
        body = json.dumps({"error": reason}).encode()
        try:
            exchange.send(h11.Response(status_code=status, headers=[
                ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                ("Connection", "close")]))
            exchange.send(h11.Data(data=body))
            exchange.send(h11.EndOfMessage())
        except h11.LocalProtocolError:  # h11 cannot frame an answer here: just close
            return
        async with asyncio.timeout(self.write_timeout):
            await exchange.writer.drain()

    def _complain(self, what: str, client: str) -> None:
        """Log malformed and slow requests as one line a minute at most, with counts,
        so a flood of them cannot flood the log (and never with what they sent)."""
        self._complaints[what] = self._complaints.get(what, 0) + 1
        now = time.monotonic()
        if now - self._complained_at < COMPLAINT_EVERY_S:
            return
        counts = ", ".join(f"{n} x {kind}" for kind, n in sorted(self._complaints.items()))
        log.warning("%s: refused %s (latest from %s); next summary in %g s at the earliest",
                    self.what, counts, client, COMPLAINT_EVERY_S)
        self._complaints.clear()
        self._complained_at = now


_PROTOCOL_REASONS = {
    400: "malformed HTTP request",
    431: f"request line and headers larger than {MAX_HEAD_BYTES} bytes",
    501: "transfer coding not supported; send a Content-Length",
}


def page_url(listen: tuple[str, int], server: HttpServer | None) -> str:
    """The address of a page served on *listen* (by *server*, once started, whose port
    replaces a 0); a wildcard listen address is shown as this machine. The floor board's
    and the counter sign's ``url``."""
    host, port = listen
    if server:
        port = server.port
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


def _room_for_files(wanted: int) -> None:
    """Raise this process's open-file limit towards *wanted* (systemd's default soft
    limit is 1024, too few for a board's viewers); the hard limit stays as it is."""
    with contextlib.suppress(ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if soft != resource.RLIM_INFINITY and soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
