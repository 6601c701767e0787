"""Chat: a chat platform's conversation webhooks make agents ``engaged`` and cue a reply due.

The platform (Chatwoot, Intercom: one module each, ``PLATFORMS``) calls::

    POST /v1/chat/<platform>
    Content-Type: application/json
    Authorization: Bearer <token>          (if a token is configured)
    <the platform's signature headers>     (if a secret is configured)

Its mapping reads the payload into conversation events (assigned/opened,
customer message, agent reply, transferred, closed); :class:`~.book.ChatBook`
keeps each agent's open conversations and the oldest unanswered customer
message. An agent with an open chat reads ``open_chat_state`` (``engaged`` by
default) from this source, ``available`` with none. Beside the state it reports
attention (``sink.attention``): the open count, since when a customer waits, the
``reply_due`` cue once that wait reaches ``reply_after_seconds`` and
``escalated`` at ``escalate_after_seconds``. Its own timer turns a wait due
without any new event, and the cue clears the moment the agent replies or the
chat closes.

Privacy: only counts and times leave this module. Message text, customer
names, e-mails and ids are never read past the mapping, never logged, never
reported; the platform's conversation key stays in the book's memory.

Every refusal is a JSON ``{"error": ...}`` with a 4xx status and one log line
(never the body, the query string or a secret). An event the source has no use
for (another webhook type, an agent's private note) is answered 200, so the
platform does not retry or disable the webhook.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from types import ModuleType
from typing import Any

from ...config_section import Section
from ...http_server import HttpError, HttpServer, Request, Response
from ...logs import OnceLog, Problem
from ...protocol import STATES
from ...worker import Worker
from ..base import Attention, Source, StatusSink, configured_agents
from ..http_endpoint import check_bearer, json_object, listen
from ..timing import Clock
from . import chatwoot, intercom
from .book import ChatBook, ChatEvent

log = logging.getLogger(__name__)

PLATFORMS: dict[str, ModuleType] = {chatwoot.NAME: chatwoot, intercom.NAME: intercom}
"""``platform`` in the config → its mapping: ``verify(headers, raw, secret, wall)`` and
``events(body) -> list[ChatEvent]``."""
JSON_TYPE = "application/json"
MIN_SECRET_CHARS = 16
OPEN_CHAT_STATES = tuple(s for s in STATES if s != "unknown")


class ChatSource(Source):
    """An HTTP endpoint for one chat platform's webhooks, and the timer that makes a
    waiting customer's message due.

    :param platform: the platform's mapping module (a value of :data:`PLATFORMS`).
    :param users: the platform's user id of each agent → the focuslight agent id.
    :param token: the bearer token callers must send (None: none asked).
    :param secret: the platform's signing secret (None: signatures not checked).
    :param book: the conversations' memory, with the reply/escalate times and caps.
    :param open_chat_state: what an agent with an open chat reads from this source.
    """

    def __init__(self, name: str, agents: tuple[str, ...], *, platform: ModuleType,
                 users: Mapping[str, str], token: str | None = None,
                 secret: str | None = None, book: ChatBook | None = None,
                 open_chat_state: str = "engaged", bind: str = "127.0.0.1", port: int = 8788,
                 max_body: int = 262_144, retry_s: float = 30.0, clock: Clock | None = None,
                 wall: Callable[[], float] = time.time) -> None:
        super().__init__(name, agents)
        if token is None and secret is None:
            raise ValueError("a chat source needs a token, a secret or both")
        self.platform, self.users = platform, dict(users)
        self.path = f"/v1/chat/{platform.NAME}"
        self._token = None if token is None else token.encode()
        self._secret = None if secret is None else secret.encode()
        self.book = book if book is not None else ChatBook()
        self.open_chat_state = open_chat_state
        self.bind, self.port, self.max_body, self.retry_s = bind, port, max_body, retry_s
        self.clock, self.wall = clock or Clock(), wall
        self._sink: StatusSink | None = None
        self._sent: dict[str, tuple[str, Attention | None]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._refused = Problem(log, f"chat {name}: ")
        self._unmapped = OnceLog(log)
        self._worker = Worker(f"chat-{name}", self._run, wake=(self._wake.set,))
        self.server: HttpServer | None = None
        """The HTTP server while listening (its port for tests)."""

    def start(self, sink: StatusSink) -> None:
        self._sink = sink
        self._worker.start()

    def stop(self) -> None:
        self._worker.stop()

    # -- the worker: listen, then fire the timers -------------------------------------

    def _run(self) -> None:
        self.server = server = listen(f"chat {self.name}", (self.bind, self.port), self.respond,
                                      retry_s=self.retry_s, clock=self.clock,
                                      stopping=self._worker.stopping, blind=self._blind)
        if server is None:
            return
        log.info("chat %s: listening on http://%s:%d%s for %s webhooks", self.name, self.bind,
                 server.port, self.path, self.platform.NAME)
        while not self._worker.stopping.is_set():
            with self._lock:
                now = self.clock.now()
                self.book.expire(now)
                self._publish(now)
                due = self.book.next_deadline(now)
            self.clock.sleep_until(due, self._wake)
            self._wake.clear()
        server.stop()

    def _blind(self, why: str) -> None:
        log.error("chat %s: %s; %s read unknown from it, retrying every %g s", self.name, why,
                  ", ".join(self.agents) or "no agents", self.retry_s)
        with self._lock:
            for agent in self.agents:
                self._send(agent, "unknown", None)

    def _publish(self, now: float) -> None:
        """Report each agent's state and attention where they changed (under the lock)."""
        for agent in self.agents:
            state = self.open_chat_state if self.book.chats(agent) else "available"
            self._send(agent, state, self.book.attention(agent, now))

    def _send(self, agent: str, state: str, attention: Attention | None) -> None:
        old = self._sent.get(agent)
        self._sent[agent] = (state, attention)
        if self._sink is None:
            return
        if old is None or old[0] != state:
            self._sink.report(agent, self.name, state)
        if old is None or old[1] != attention:
            self._sink.attention(agent, self.name, attention)

    # -- one request --------------------------------------------------------------------

    async def respond(self, request: Request) -> Response:
        """Answer one webhook call; each refusal is one log line (status, method, path, peer)."""
        try:
            self._check_head(request.method, request.path, request.headers)
            raw = await request.body(self.max_body)
            if self._secret is not None:
                self.platform.verify(request.headers, raw, self._secret, self.wall())
            applied = self.apply(self.platform.events(json_object(raw)))
        except HttpError as err:
            log.warning("chat %s: %d for %s %s from %s: %s", self.name, err.status,
                        request.method, request.path[:80], request.client, err)
            return Response.json(err.status, {"error": str(err)}, err.headers)
        return Response.json(HTTPStatus.OK, {"events": applied})

    def _check_head(self, method: str, path: str, headers: Mapping[str, str]) -> None:
        if path != self.path:
            raise HttpError(HTTPStatus.NOT_FOUND, f"no such path; POST {self.path}")
        if method != "POST":
            raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED, f"{method} not allowed; use POST",
                            {"Allow": "POST"})
        if self._token is not None:
            check_bearer(headers.get("authorization", ""), self._token)
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != JSON_TYPE:
            raise HttpError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                            f"Content-Type must be {JSON_TYPE}, got {content_type[:60]!r}")

    def apply(self, events: list[ChatEvent]) -> int:
        """Apply a webhook's events to the book and report what changed; how many applied."""
        applied = 0
        with self._lock:
            now, wall, held = self.clock.now(), self.wall(), len(self.book)
            for event in events:
                if event.owner is None and event.conversation not in self.book:
                    continue  # about a conversation nobody here holds
                refused = self.book.apply(event, self._agent(event), now, wall)
                if refused:
                    self._refused.say(refused, f"refused a new conversation: {refused}; it"
                                      " is not counted until one closes")
                else:
                    applied += 1
            if len(self.book) > held:  # one was taken again: the next refusal is news
                self._refused.clear()
            self._publish(now)
        self._wake.set()  # a new wait: the timer's next deadline may be sooner
        return applied

    def _agent(self, event: ChatEvent) -> str | None:
        """The focuslight agent that owns the conversation after *event*, or None."""
        if event.owner is None:
            return self.book.owner(event.conversation)
        if not event.owner:
            return None
        agent = self.users.get(event.owner)
        if agent is None:
            self._unmapped.warn(event.owner, "chat %s: a conversation is assigned to %s user"
                                " id %s, which is not under [sources.users]; not shown",
                                self.name, self.platform.NAME, event.owner[:32])
        return agent


# -- config ---------------------------------------------------------------------------

def from_config(section: Section, agents: tuple[str, ...]) -> ChatSource:
    """Build the chat source from its ``[[sources]]`` table (keys in docs/sources.md)."""
    name = section.id("name", "chat")
    platform = PLATFORMS[section.str("platform", choices=PLATFORMS)]
    users = _users(section, agents)
    token, secret = _secret(section, "token"), _secret(section, "secret")
    if token is None and secret is None:
        raise section.error("token", "a token, a secret (the platform's signing secret) or"
                            " both: an unauthenticated chat webhook is refused")
    reply_after = section.float("reply_after_seconds", 60.0, lo=1, hi=86400)
    book = ChatBook(
        reply_after,
        section.float("escalate_after_seconds", max(300.0, reply_after), lo=reply_after,
                      hi=86400),
        max_per_agent=section.int("max_conversations_per_agent", 50, lo=1, hi=1000),
        max_total=section.int("max_conversations", 5000, lo=1, hi=100_000),
        forget_after_s=section.float("forget_after_seconds", 4 * 3600.0, lo=60, hi=7 * 86400))
    return ChatSource(
        name, tuple(dict.fromkeys(users.values())), platform=platform, users=users,
        token=token, secret=secret, book=book,
        open_chat_state=section.str("open_chat_state", "engaged", choices=OPEN_CHAT_STATES),
        bind=section.str("bind", "127.0.0.1"),
        port=section.int("port", 8788, lo=1, hi=65535),
        max_body=section.int("max_body", 262_144, lo=1024, hi=4_194_304),
        retry_s=section.float("retry_s", 30.0, lo=1, hi=3600))


def _secret(section: Section, key: str) -> str | None:
    value = section.str(key, None)
    if value is not None and len(value) < MIN_SECRET_CHARS:
        raise section.error(key, f"a secret of at least {MIN_SECRET_CHARS} characters",
                            f"{len(value)} characters")
    return value


def _users(section: Section, agents: tuple[str, ...]) -> dict[str, str]:
    """``[sources.users]``: the platform's user id (as a string) → a focuslight agent."""
    table = section.section("users")
    users: dict[str, Any] = {}
    for platform_id in list(table.data):
        users[platform_id] = configured_agents(table, platform_id, agents)[0]
    table.finish()
    if not users:
        raise section.error("users", "a table of platform user id = agent id, not empty", {})
    return users
