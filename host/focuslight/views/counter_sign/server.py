"""``focuslight counter-sign``: a page for a tablet or screen facing a counter's queue.

The sign is an MQTT reader like the floor board, following one counter: its
retained status, its expected time (``agents/<id>/expected``, published by the
bridge that times its walk-ups) and every bridge's availability (the trust rule).
It serves, on the same asyncio engine as the board
(:class:`~focuslight.http_server.HttpServer`):

* ``GET /``: the page, in the sign's language, already saying the calm ``unknown``
  wording before any script runs (no external assets: a counter has no internet);
* ``GET /events``: Server-Sent Events, the sign's view on every change and at least
  every :data:`HEARTBEAT_S` (the page turns ``unknown`` when they stop);
* ``GET /api/sign``: the view as JSON.

The view is ``{"v":1,"now":…,"kind":"serving","ends_at":…}``: a kind
(:mod:`.wording`), never a state's source, an agent's name or a reason.

Example (``focuslight demo`` starts one the same way)::

    sign = CounterSignServer(BrokerSettings("127.0.0.1", 1883), Topics(), "counter-1",
                             built_in("de"), ("127.0.0.1", 0)).start()
    print(sign.url)
    sign.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
from collections.abc import AsyncIterator
from http import HTTPStatus
from importlib import resources

import paho.mqtt.client as mqtt

from ...http_server import HttpError, HttpServer, Request, Response, Stream, page_url
from ...logs import Problem
from ...mqtt.client import BrokerSettings, topic_for_log, topic_of
from ...mqtt.follower import Follower
from ...protocol import ProtocolError, Topics, decode_availability, decode_status
from ...protocol.expected import decode_expected
from .sign import Sign
from .wording import Wording

log = logging.getLogger(__name__)

DEFAULT_LISTEN = "127.0.0.1:8090"
HEARTBEAT_S = 5.0
"""The stream sends the view at least this often; the page trusts it for about two."""
RETRY_MS = 2000
MAX_CONNECTIONS = 64
"""A sign has a screen or two, not a floor of them."""
OUTAGE = "outage"
ASSETS = {"/sign.js": ("sign.js", "text/javascript"), "/sign.css": ("sign.css", "text/css")}


class CounterSignServer:
    """The counter sign: an MQTT reader feeding a :class:`Sign`, and the web server over it.

    :param settings: the broker to read. :param topics: the topic tree (its prefix).
    :param agent: the counter's agent id.
    :param wording: what the sign says (:mod:`.wording`).
    :param listen: ``(host, port)``; port 0 picks a free one (see :attr:`url`).
    """

    def __init__(self, settings: BrokerSettings, topics: Topics, agent: str, wording: Wording,
                 listen: tuple[str, int] = ("127.0.0.1", 8090)) -> None:
        self.settings, self.topics, self.agent, self.listen = settings, topics, agent, listen
        self.wording = wording
        self._server: HttpServer | None = None
        self._changed = asyncio.Event()
        self._closed = False
        self.sign = Sign(agent, self._wake)
        self.follower = Follower(settings, topics, "counter sign", on_message=self._on_message,
                                 on_up=self._link_up, on_down=self._link_down,
                                 subscriptions=[topics.all_bridges(), topics.status(agent),
                                                topics.expected(agent)])
        self._outage = Problem(log, "counter sign: ")
        self._page = self._render_page()
        self._assets = {path: ((resources.files(__package__) / "static" / name).read_bytes(),
                               kind) for path, (name, kind) in ASSETS.items()}

    @property
    def url(self) -> str:
        """The page's address; a wildcard listen address is shown as this machine."""
        return page_url(self.listen, self._server)

    def start(self) -> CounterSignServer:
        """Listen (raises OSError if the address is taken), then connect to the broker."""
        self._server = HttpServer(self.listen, self._respond, "counter sign",
                                  max_connections=MAX_CONNECTIONS).start()
        self.follower.start()
        log.info("counter sign for %s on %s, reading %s", self.agent, self.url,
                 self.settings.url)
        return self

    def stop(self) -> None:
        self._outage.current = OUTAGE  # our own goodbye is no outage
        if self._server:
            self._server.call_soon(self._close)
            self._server.stop()
        self.follower.stop()

    # -- MQTT side ------------------------------------------------------------------

    def _link_up(self) -> None:
        log.info("counter sign: connected to %s", self.settings.url)
        self._outage.clear()
        self.sign.link(True)

    def _link_down(self, why: str) -> None:
        self._outage.say(OUTAGE, f"{why}; the sign shows its calm 'unknown' wording until"
                                 " it answers")
        self.sign.link(False)

    def _on_message(self, msg: mqtt.MQTTMessage) -> None:
        try:
            self.receive(topic_of(msg), msg.payload)
        except ProtocolError as err:
            log.warning("counter sign: ignored message on %r: %s", topic_for_log(msg), err)

    def receive(self, topic: str, payload: bytes) -> None:
        """One message into the :class:`Sign`; ProtocolError if it is bad. An empty payload
        is a cleared retained message: the sign forgets it."""
        family, ident, leaf = self.topics.parse(topic)
        if (family, leaf) == ("bridges", "availability"):
            self.sign.bridge(ident, decode_availability(payload) if payload else None)
        elif (family, ident, leaf) == ("agents", self.agent, "status"):
            self.sign.status(decode_status(payload) if payload else None)
        elif (family, ident, leaf) == ("agents", self.agent, "expected"):
            self.sign.expected(decode_expected(payload) if payload else None)
        else:
            raise ProtocolError(f"the counter sign for {self.agent} reads no {family}/{leaf}"
                                f" of {ident}")

    # -- web side -------------------------------------------------------------------

    def _wake(self) -> None:
        """From any thread: something changed, every stream sends the new view."""
        if self._server is not None:
            self._server.call_soon(self._notify)

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _close(self) -> None:
        self._closed = True
        self._notify()

    async def _stream(self) -> AsyncIterator[bytes]:
        """The view now, then on every change, and every HEARTBEAT_S at the latest."""
        yield f"retry: {RETRY_MS}\n\n".encode()
        while not self._closed:
            changed = self._changed
            yield f"event: sign\ndata: {json.dumps(self.sign.view())}\n\n".encode()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(HEARTBEAT_S):
                    await changed.wait()

    async def _respond(self, request: Request) -> Response | Stream:
        if request.method not in ("GET", "HEAD"):
            raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED, "the counter sign only serves GET",
                            {"Allow": "GET, HEAD"})
        if request.path == "/events":
            return Stream(self._stream(), "text/event-stream; charset=utf-8",
                          {**HEADERS, "X-Accel-Buffering": "no"})
        if request.path == "/api/sign":
            body = json.dumps(self.sign.view()).encode()
            return Response(HTTPStatus.OK, body, "application/json; charset=utf-8", HEADERS)
        if request.path == "/":
            return Response(HTTPStatus.OK, self._page, "text/html; charset=utf-8", HEADERS)
        if request.path in self._assets:
            body, kind = self._assets[request.path]
            return Response(HTTPStatus.OK, body, f"{kind}; charset=utf-8", HEADERS)
        raise HttpError(HTTPStatus.NOT_FOUND, "the counter sign serves /, /events and /api/sign")

    def _render_page(self) -> bytes:
        """The page in the sign's language, saying ``unknown``'s words until the stream
        speaks; the wording rides along as a JSON data block (not a script: the CSP
        allows no inline script)."""
        page = (resources.files(__package__) / "static" / "index.html").read_text("utf-8")
        unknown = self.wording.lines["unknown"]
        data = json.dumps(self.wording.for_page(), ensure_ascii=False).replace("<", "\\u003c")
        for marker, value in (("{{lang}}", html.escape(self.wording.lang)),
                              ("{{title}}", html.escape(unknown["title"])),
                              ("{{detail}}", html.escape(unknown["detail"])),
                              ("{{wording}}", data)):
            page = page.replace(marker, value)
        return page.encode()


HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
           "Content-Security-Policy": "default-src 'self'"}
