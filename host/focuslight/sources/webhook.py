"""CTI / CCaaS webhook: contact-centre platforms push agent states over HTTP.

Amazon Connect, Genesys Cloud, Twilio Flex and most CTI middleware can call
a URL when an agent's activity changes. This source listens on the bridge::

    POST /v1/agents/<agent>/state
    Authorization: Bearer <token>
    Content-Type: application/json

    {"state": "engaged", "source": "cti"}

``state`` is a focuslight state or a platform activity name mapped in the
``[sources.states]`` table (``"AFTER_CONTACT_WORK" = "wrap_up"``);
``source``, if sent, must be this source's name, so a request aimed at
another endpoint is refused instead of quietly lighting the wrong lamp.

Every refusal is a JSON ``{"error": "..."}`` with a 4xx status (401 token,
400 body, 404 path or agent, 405 method, 411/413 length, 415 content type)
and one log line, never the token, the query string or the body. The HTTP
side is :mod:`focuslight.http_server` (asyncio + h11): a request must arrive
whole within 10 s, connections are cheap and capped (``http_endpoint.MAX_CONNECTIONS``;
past it 503), so callers trickling bytes cannot crowd out the platform.
If the port is taken the source logs one line, its agents read
``unknown`` and it retries every ``retry_s``; the bridge keeps running.
With ``stale_s``, an agent nobody posted about for that long reads
``unknown``: a relay that died must not leave yesterday's state on the light.

Put a TLS reverse proxy in front when the platform calls from outside the site.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from ..config_section import Section
from ..http_server import HttpError, HttpServer, Request, Response
from ..protocol import STATES
from ..worker import Worker
from .base import Source, StatusSink, configured_agents
from .http_endpoint import check_bearer, json_object, listen
from .timing import Clock

log = logging.getLogger(__name__)

PATH = re.compile(r"/v1/agents/([^/?#]+)/state")
JSON_TYPE = "application/json"
MIN_TOKEN_CHARS = 16


class WebhookSource(Source):
    """An HTTP endpoint that turns platform callbacks into per-agent states.

    :param name: source id in status payloads (default ``"webhook"``).
    :param agents: agents a caller may speak about; others get 404.
    :param bind: address to listen on (default ``127.0.0.1``).
    :param port: TCP port (default 8787).
    :param token: the bearer token callers must send (16+ characters).
    :param max_body: largest request body in bytes (default 4096).
    :param states: platform activity name → focuslight state.
    :param retry_s: seconds between attempts to listen when the port is taken.
    :param stale_s: an agent nobody posted about for this long reads ``unknown``
        (0 = never; use it with platforms that repeat the state as a heartbeat).
    """

    def __init__(self, name: str, agents: tuple[str, ...], *, token: str,
                 bind: str = "127.0.0.1", port: int = 8787, max_body: int = 4096,
                 states: dict[str, str] | None = None, retry_s: float = 30.0,
                 stale_s: float = 0.0, clock: Clock | None = None) -> None:
        super().__init__(name, agents)
        self.bind, self.port, self.max_body, self.retry_s = bind, port, max_body, retry_s
        self.states = dict(states or {})
        self.stale_s = stale_s
        self.clock = clock or Clock()
        self._token = token.encode()
        self._sink: StatusSink | None = None
        self._heard: dict[str, float] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._worker = Worker(f"webhook-{self.name}", self._run, wake=(self._wake.set,))
        self.server: HttpServer | None = None
        """The HTTP server while listening (its :meth:`~HttpServer.stats` for tests)."""

    def start(self, sink: StatusSink) -> None:
        self._sink = sink
        self._worker.start()

    def stop(self) -> None:
        self._worker.stop()

    # -- listening ------------------------------------------------------------------

    def _run(self) -> None:
        self.server = server = self._listen()
        if server is None:
            return
        self._watch_silence()
        server.stop()

    def _listen(self) -> HttpServer | None:
        """Bind, retrying every ``retry_s`` while the port is taken; None once stopped."""
        server = listen(f"webhook {self.name}", (self.bind, self.port), self.respond,
                        retry_s=self.retry_s, clock=self.clock,
                        stopping=self._worker.stopping, blind=self._blind)
        if server is not None:
            log.info("webhook %s: listening on http://%s:%d/v1/agents/<agent>/state",
                     self.name, self.bind, server.port)
        return server

    def _blind(self, why: str) -> None:
        log.error("webhook %s: %s; %s read unknown from it, retrying every %g s",
                  self.name, why, ", ".join(self.agents) or "no agents", self.retry_s)
        for agent in self.agents:
            self._deliver(agent, "unknown")

    def _watch_silence(self) -> None:
        """With ``stale_s``: an agent nobody posted about for that long reads ``unknown``."""
        while not self._worker.stopping.is_set():
            now = self.clock.now()
            with self._lock:
                for agent in [a for a, t in self._heard.items() if now >= t + self.stale_s]:
                    del self._heard[agent]
                    log.warning("webhook %s: nothing about %s for %g s; it reads unknown",
                                self.name, agent, self.stale_s)
                    self._deliver(agent, "unknown")
                due = min(self._heard.values(), default=None)
            self.clock.sleep_until(None if due is None else due + self.stale_s, self._wake)
            self._wake.clear()

    def _deliver(self, agent: str, state: str) -> None:
        if self._sink is not None:
            self._sink.report(agent, self.name, state)

    def _apply(self, agent: str, state: str) -> None:
        """Deliver a posted state; under the lock so a silence expiry cannot overtake it."""
        with self._lock:
            self._deliver(agent, state)
            if self.stale_s:
                self._heard[agent] = self.clock.now()
                self._wake.set()

    # -- one request ----------------------------------------------------------------

    async def respond(self, request: Request) -> Response:
        """Answer one HTTP request (the application :class:`HttpServer` serves).

        Each refusal is logged as one line naming the status, method, path
        (never the query string: callers put tokens there) and peer.
        """
        try:
            agent = self.check(request.method, request.path, request.headers)
            result = self.apply(agent, await request.body(self.max_body))
        except HttpError as err:
            log.warning("webhook %s: %d for %s %s from %s: %s", self.name, err.status,
                        request.method, request.path[:80], request.client, err)
            return Response.json(err.status, {"error": str(err)}, err.headers)
        return Response.json(HTTPStatus.OK, result)

    def check(self, method: str, path: str, headers: Mapping[str, str]) -> str:
        """Check a request's head before its body is read; the agent named in *path*.

        *headers* has lower-case names. Raises :class:`HttpError` with the reason.
        """
        match = PATH.fullmatch(path)
        if match is None:
            raise HttpError(HTTPStatus.NOT_FOUND,
                          "no such path; POST /v1/agents/<agent>/state")
        if method != "POST":
            raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED, f"{method} not allowed; use POST",
                          {"Allow": "POST"})
        check_bearer(headers.get("authorization", ""), self._token)
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != JSON_TYPE:
            raise HttpError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                          f"Content-Type must be {JSON_TYPE}, got {content_type[:60]!r}")
        return match.group(1)

    def apply(self, agent: str, raw: bytes) -> dict[str, str]:
        """Check the body posted about *agent* and deliver its state; the 200 answer."""
        body = json_object(raw)
        if agent not in self.agents:
            raise HttpError(HTTPStatus.NOT_FOUND, f"unknown agent {agent[:64]!r}")
        state = self._state(body.get("state"))
        source = body.get("source", self.name)
        if source != self.name:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"source must be {self.name!r} on this "
                          f"endpoint, got {str(source)[:64]!r}")
        self._apply(agent, state)
        return {"agent": agent, "source": self.name, "state": state}

    def _state(self, value: Any) -> str:
        if isinstance(value, str) and value in self.states:
            return self.states[value]
        if isinstance(value, str) and value in STATES:
            return value
        names = ", ".join([*STATES, *sorted(self.states)])
        raise HttpError(HTTPStatus.BAD_REQUEST,
                      f"unknown state {str(value)[:64]!r}; expected one of {names}")


# -- config ---------------------------------------------------------------------------

def from_config(section: Section, agents: tuple[str, ...]) -> WebhookSource:
    """Build the webhook from its ``[[sources]]`` table (keys in docs/sources.md)."""
    name = section.id("name", "webhook")
    served = configured_agents(section, "agents", agents, many=True)
    token = section.str("token")
    if len(token) < MIN_TOKEN_CHARS:
        raise section.error("token", f"a secret of at least {MIN_TOKEN_CHARS} characters",
                            f"{len(token)} characters")
    return WebhookSource(
        name, served, token=token,
        bind=section.str("bind", "127.0.0.1"),
        port=section.int("port", 8787, lo=1, hi=65535),
        max_body=section.int("max_body", 4096, lo=64, hi=1_048_576),
        states=_states(section.section("states", optional=True)),
        retry_s=section.float("retry_s", 30.0, lo=1, hi=3600),
        stale_s=section.float("stale_s", 0.0, lo=0, hi=86400),
    )


def _states(table: Section) -> dict[str, str]:
    mapping = {}
    for platform_name in list(table.data):
        mapping[platform_name] = table.str(platform_name, choices=STATES)
    table.finish()
    return mapping

