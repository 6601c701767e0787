"""SIP busy lamp field: the PBX's dialog events as agent states, from any PBX.

IP phones light their BLF keys by SUBSCRIBE-ing to the dialog event package
(RFC 6665 + RFC 4235): Asterisk/FreePBX hints, FreeSWITCH, 3CX, Kamailio and
Cisco all serve it. This source does the same for each configured extension
and reports what it sees:

=========================================  ===========
dialog state                               reported
=========================================  ===========
trying, proceeding, early                  ``ringing``
confirmed                                  ``engaged``
confirmed, local ``+sip.rendering="no"``   ``hold``
early, local rendering no, once confirmed  ``hold`` (FreeSWITCH)
terminated / no dialog                     ``available`` (the bridge adds wrap-up)
active, no body                            ``available`` (``empty_notify``)
PBX unreachable, refused, unreadable       ``unknown``
subscription lost or ended                 ``unknown``
=========================================  ===========

A new subscription starts from nothing known. If the one it replaced had
calls (a PBX restart forgets them), its "no calls" counts as ``unknown``
for ``restart_grace`` seconds or until a call shows; one subscription is
refreshed early every ``probe`` seconds so such a restart is noticed.

Several dialogs on one extension (call waiting, transfer) merge as
engaged > hold > ringing; several extensions of one agent merge the same way.
Caller numbers and names in the XML are never read out of it (see
:mod:`.dialog`) and never logged.

Config (one ``[[sources]]`` table)::

    [[sources]]
    type = "sip"
    name = "phone"                  # source id in status payloads (default "sip")
    server = "pbx.example.com"
    port = 5060                     # default 5060
    transport = "udp"               # or "tcp"
    username = "focuslight"         # digest auth user, optional (needs password)
    password = "secret"
    domain = "pbx.example.com"      # SIP domain of the URIs; default: server
    expires = 600                   # requested subscription lifetime, seconds
    timeout = 8                     # seconds without an answer before "unknown"
    keepalive = 30                  # OPTIONS ping interval, seconds; 0 turns it off
    empty_notify = "idle"           # an active subscription's NOTIFY without a body means
                                    # "no calls" (Kamailio); "unknown": means "not known yet"
    restart_grace = 120             # seconds an empty state counts as unknown after a
                                    # subscription that had calls was lost (PBX restart)
    probe = 30                      # every probe seconds one subscription is refreshed, so a
                                    # PBX that restarted and forgot us is noticed; 0 turns it off
    [sources.extensions]            # extension → agent
    "201" = "alice"
    "202" = "bob"
"""

from __future__ import annotations

import logging
import re
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ...config_section import Section
from ...core.policy import merge
from ...worker import Worker
from ..base import Source, StatusSink, configured_agents
from .auth import authorization, best_challenge
from .dialog import DialogInfoError, DialogView, parse_dialog_info
from .message import (
    MAX_MESSAGE,
    SipMessage,
    SipParseError,
    is_decimal,
    new_token,
    parse_message,
    response_to,
    split_params,
    tag_of,
    uri_of,
)
from .transport import TRANSPORTS, Oversized, Transport, TransportError

log = logging.getLogger("focuslight.sources.sip")  # the package's, as docs/sources.md shows

T1, T2 = 0.5, 4.0
"""RFC 3261 retransmission timers for non-INVITE requests over UDP (seconds)."""
BACKOFF_MIN, BACKOFF_MAX = 1.0, 60.0
"""Retry delays after a failure (seconds): doubled each time, capped."""
CHURN_S = 60.0
"""A subscription the PBX ends sooner than this after it began counts as churn: the first
new one starts at once, the next ones wait (doubling from :data:`BACKOFF_MIN` to
:data:`BACKOFF_MAX`), so a PBX that keeps answering ``terminated`` is not flooded."""
MAX_WAIT_S = 86_400.0
"""Longest lifetime or pause a PBX may set with a header (a day, as the ``expires``
setting's own limit); larger values are read as a day."""
RECHECK_PACE = 0.002
"""Seconds between the refreshes of a recheck wave (500 SUBSCRIBEs/s): after one
subscription got ``481`` the PBX has probably restarted and forgotten all of them."""
EMPTY_NOTIFY = ("idle", "unknown")
USER_AGENT = "focuslight"
EXTENSION = re.compile(r"[A-Za-z0-9*#+._!~-]{1,64}")


@dataclass(frozen=True)
class SipSettings:
    """Everything the source needs to reach the PBX, validated by :func:`from_config`."""

    server: str
    extensions: dict[str, str]
    port: int = 5060
    transport: str = "udp"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    domain: str = ""
    expires: int = 600
    timeout: float = 8.0
    keepalive: float = 30.0
    empty_notify: str = "idle"
    restart_grace: float = 120.0
    probe: float = 30.0

    @property
    def sip_domain(self) -> str:
        return self.domain or self.server


@dataclass
class _Request:
    """A request in flight (a SUBSCRIBE or the OPTIONS ping): what to resend, when to give up."""

    message: SipMessage
    branch: str
    deadline: float
    resend_at: float
    interval: float = T1
    challenges: int = 0


@dataclass
class _Subscription:
    """One extension's subscription dialog (RFC 6665) and what it last showed."""

    extension: str
    agent: str
    expires: int
    call_id: str = ""
    local_tag: str = ""
    remote_tag: str | None = None
    remote_target: str | None = None
    route: list[str] = field(default_factory=list)
    cseq: int = 0
    active: bool = False
    view: DialogView = field(default_factory=DialogView)
    known: bool = False
    lost_calls: bool = False
    doubt_until: float | None = None
    started: float = 0.0
    churn: float = 0.0
    state: str = "unknown"
    """What this extension shows; ``unknown`` until its subscription delivers a state."""
    request: _Request | None = None
    due: float | None = 0.0
    backoff: float = BACKOFF_MIN
    error: str | None = None

    def reset(self) -> None:
        """Forget the dialog; the next SUBSCRIBE starts a new one (new Call-ID, versions).

        Nothing of what it showed survives: a new subscription starts from
        nothing known. Only the fact that calls were going on is kept
        (``lost_calls``): a restarted PBX has forgotten calls that may still
        be going on, so the next subscription's "no calls" is doubted for a grace.
        """
        self.lost_calls = self.lost_calls or bool(self.view.dialogs)
        self.active, self.request, self.remote_tag, self.remote_target = False, None, None, None
        self.call_id, self.local_tag, self.route, self.view = "", "", [], DialogView()
        self.known, self.doubt_until = False, None

    def begin(self, now: float) -> None:
        """Start a new dialog: fresh Call-ID and tag, CSeq and versions from scratch."""
        self.reset()
        self.call_id, self.local_tag, self.cseq = new_token() + "@focuslight", new_token(), 0
        self.started = now


class BlfClient:
    """The SUBSCRIBE/NOTIFY state machine for all extensions on one PBX.

    Runs in the caller's thread (:meth:`run`); talks to the PBX through one
    :class:`~.transport.Transport` and calls ``report(agent, state)``
    whenever an agent's merged state changes.
    """

    def __init__(self, settings: SipSettings, report: Callable[[str, str], None],
                 label: str = "sip") -> None:
        self.settings, self.report, self.label = settings, report, label
        self.subs = [_Subscription(ext, agent, settings.expires)
                     for ext, agent in settings.extensions.items()]
        self.of_agent: dict[str, list[_Subscription]] = {}
        """Each agent's subscriptions (one per extension), fixed: merging an agent's state
        looks at its own few, not at every extension on the PBX."""
        for sub in self.subs:
            self.of_agent.setdefault(sub.agent, []).append(sub)
        self.transport: Transport | None = None
        self.reported: dict[str, str] = {}
        self.reconnect_at = 0.0
        self.backoff = BACKOFF_MIN
        self.healthy: bool | None = None  # None until the first success or failure
        self.ping: _Request | None = None
        self.ping_due: float | None = None
        self.probe_due: float | None = None
        self.probe_next = 0
        self.recheck_until = 0.0

    # -- main loop ----------------------------------------------------------------------------

    def run(self, stopping: threading.Event) -> None:
        while not stopping.is_set():
            now = time.monotonic()
            try:
                if self.transport is None:
                    if now < self.reconnect_at:
                        stopping.wait(min(0.25, self.reconnect_at - now))
                        continue
                    self._connect()
                self._tick(now)
                assert self.transport is not None
                for data in self.transport.receive(min(0.25, self._next_due(now) - now)):
                    self._handle(data, time.monotonic())
            except TransportError as exc:
                self._down(str(exc), time.monotonic())
            except Exception as exc:  # a bug must not freeze the lamps on a stale state
                self._down(f"internal error {_where(exc)}, please report it", time.monotonic())
        self._unsubscribe_all()

    def _connect(self) -> None:
        transport = TRANSPORTS[self.settings.transport](self.settings.server, self.settings.port,
                                                        self.settings.timeout)
        transport.open()
        self.transport = transport
        now = time.monotonic()
        for sub in self.subs:
            sub.reset()
            sub.due = now
        self.ping = None
        self.ping_due = now + self.settings.keepalive if self.settings.keepalive else None
        self.probe_due = now + self.settings.probe if self.settings.probe else None

    def _down(self, why: str, now: float) -> None:
        """The PBX can't be reached: every agent unknown, one log line, retry with backoff."""
        if self.transport is not None:
            self.transport.close()
            self.transport = None
        if self.healthy is not False:
            log.warning("sip source %r: PBX %s:%s/%s unreachable (%s); reporting unknown for %s "
                        "and retrying with backoff up to %.0f s", self.label,
                        self.settings.server, self.settings.port,
                        self.settings.transport.upper(), why,
                        ", ".join(sorted({s.agent for s in self.subs})), BACKOFF_MAX)
        self.healthy = False
        self.reconnect_at = now + self.backoff
        self.backoff = min(self.backoff * 2, BACKOFF_MAX)
        for sub in self.subs:
            sub.reset()
            self._update(sub)

    def _up(self) -> None:
        if self.healthy is False:
            log.warning("sip source %r: PBX %s:%s reachable again", self.label,
                        self.settings.server, self.settings.port)
        self.healthy = True
        self.backoff = BACKOFF_MIN

    def _next_due(self, now: float) -> float:
        times = [now + 0.25]
        for request, due in [(s.request, s.due) for s in self.subs] + [(self.ping,
                                                                        self.ping_due)]:
            if request is not None:
                times += [request.deadline, request.resend_at]
            elif due is not None:
                times.append(due)
        times += [s.doubt_until for s in self.subs if s.doubt_until is not None]
        if self.probe_due is not None:
            times.append(self.probe_due)
        return min(times)

    def _tick(self, now: float) -> None:
        for sub in self.subs:
            if sub.request is not None:
                self._progress(sub.request, now, f"SUBSCRIBE for {sub.extension}")
            elif sub.due is not None and now >= sub.due:
                if not sub.active:
                    sub.begin(now)
                self._subscribe(sub, now)
            if sub.doubt_until is not None and now >= sub.doubt_until:
                sub.doubt_until = None  # the grace is over: the empty state counts as idle
                self._update(sub)
        if self.probe_due is not None and now >= self.probe_due:
            self._probe(now)
        if self.ping is not None:
            self._progress(self.ping, now, "the OPTIONS keep-alive")
        elif self.ping_due is not None and now >= self.ping_due:
            self._ping(now)

    def _probe(self, now: float) -> None:
        """Refresh the next active subscription (round robin) ahead of its time.

        A PBX that keeps subscriptions in memory (Kamailio) forgets them all
        when it restarts, and nothing tells us: on UDP it answers the OPTIONS
        keep-alive as before, and without this probe the loss shows only at
        each subscription's own refresh (up to 0.8 * expires). One refresh per
        ``probe`` seconds, whatever the number of extensions, notices it; the
        ``481`` it gets starts a recheck of all the others (:meth:`_recheck`).
        """
        assert self.settings.probe
        self.probe_due = now + self.settings.probe
        count = len(self.subs)
        for step in range(count):
            sub = self.subs[(self.probe_next + step) % count]
            if sub.active and sub.request is None:
                self.probe_next = (self.probe_next + step + 1) % count
                sub.due = now
                return

    def _recheck(self, now: float) -> None:
        """One subscription was forgotten: refresh every other one soon, paced."""
        if now < self.recheck_until:
            return  # a wave is already under way
        waiting = [s for s in self.subs if s.active and s.request is None]
        for i, sub in enumerate(waiting):
            sub.due = min(sub.due if sub.due is not None else now, now + i * RECHECK_PACE)
        self.recheck_until = now + len(waiting) * RECHECK_PACE + self.settings.timeout

    def _progress(self, request: _Request, now: float, what: str) -> None:
        """Give up on an unanswered request, or retransmit it (UDP, RFC 3261 timer E)."""
        assert self.transport is not None
        if now >= request.deadline:
            raise TransportError(f"no answer to {what} within {self.settings.timeout:g} s")
        if not self.transport.reliable and now >= request.resend_at:
            self.transport.send(request.message.encode())
            request.interval = min(request.interval * 2, T2)
            request.resend_at = now + request.interval

    # -- sending ------------------------------------------------------------------------------

    def _subscribe(self, sub: _Subscription, now: float, *, expires: int | None = None,
                   auth: tuple[str, str] | None = None, challenges: int = 0) -> None:
        assert self.transport is not None
        sub.cseq += 1
        sub.due = None
        target = f"sip:{sub.extension}@{self.settings.sip_domain}"
        to_tag = f";tag={sub.remote_tag}" if sub.remote_tag else ""
        message = self._request("SUBSCRIBE", sub.remote_target or target, sub.local_tag,
                                f"<{target}>{to_tag}", sub.call_id, sub.cseq, sub.route)
        message.add("event", "dialog")
        message.add("accept", "application/dialog-info+xml")
        message.add("expires", str(sub.expires if expires is None else expires))
        if auth:
            message.add(*auth)
        sub.request = self._send(message, now, challenges)

    def _ping(self, now: float) -> None:
        """An OPTIONS outside any dialog: any answer, even an error, shows the PBX is alive.

        Without it a PBX that dies silently on UDP (no ICMP, no FIN) would go
        unnoticed until the next refresh, and the lamp would show stale states.
        """
        domain = self.settings.sip_domain
        message = self._request("OPTIONS", f"sip:{domain}", new_token(), f"<sip:{domain}>",
                                new_token() + "@focuslight", 1)
        self.ping, self.ping_due = self._send(message, now), None

    def _send(self, message: SipMessage, now: float, challenges: int = 0) -> _Request:
        assert self.transport is not None
        branch = split_params(message.get("via") or "")[1]["branch"]
        self.transport.send(message.encode())
        return _Request(message, branch, now + self.settings.timeout, now + T1,
                        challenges=challenges)

    def _request(self, method: str, uri: str, from_tag: str, to: str, call_id: str, cseq: int,
                 route: Sequence[str] = ()) -> SipMessage:
        assert self.transport is not None
        s, (host, port) = self.settings, self.transport.local
        host = f"[{host}]" if ":" in host else host
        user = s.username or USER_AGENT
        message = SipMessage(method=method, uri=uri)
        message.add("via", f"SIP/2.0/{self.transport.name} {host}:{port};"
                           f"branch=z9hG4bK{new_token()};rport")
        message.add("max-forwards", "70")
        for hop in route:
            message.add("route", hop)
        message.add("from", f"<sip:{user}@{s.sip_domain}>;tag={from_tag}")
        message.add("to", to)
        message.add("call-id", call_id)
        message.add("cseq", f"{cseq} {method}")
        transport = ";transport=tcp" if self.transport.reliable else ""
        message.add("contact", f"<sip:{user}@{host}:{port}{transport}>")
        message.add("allow", "NOTIFY, OPTIONS")
        message.add("user-agent", USER_AGENT)
        return message

    def _unsubscribe_all(self) -> None:
        """Best effort on shutdown: tell the PBX to stop sending (Expires: 0), don't wait."""
        if self.transport is None:
            return
        now = time.monotonic()
        for sub in self.subs:
            if sub.active:
                try:
                    self._subscribe(sub, now, expires=0)
                except TransportError:
                    break
        self.transport.close()
        self.transport = None

    # -- receiving ----------------------------------------------------------------------------

    def _handle(self, data: bytes, now: float) -> None:
        try:
            if isinstance(data, Oversized):
                self._on_oversized(parse_message(data, head_only=True), now)
                return
            message = parse_message(data)
            if message.method is not None:
                self._on_request(message, now)
            else:
                self._on_response(message, now)
        except SipParseError as exc:
            log.warning("sip source %r: ignored an unreadable SIP message from the PBX (%s)",
                        self.label, exc)

    def _on_oversized(self, message: SipMessage, now: float) -> None:
        """A message over the size limit on TCP: its body was skipped, the link stays up.

        A NOTIFY for one of our subscriptions gets ``413``; that extension is
        unknown until a refresh brings a full state (which may be small again).
        """
        log.warning("sip source %r: dropped a SIP message over %d bytes from the PBX",
                    self.label, MAX_MESSAGE)
        if message.method is None or message.method == "ACK":
            return
        self._reply(message, 413, "Request Entity Too Large")
        sub = self._subscription_of(message)
        if sub is not None and message.method == "NOTIFY":
            sub.known = False
            self._update(sub)
            self._refresh_soon(sub, now)

    def _subscription_of(self, message: SipMessage) -> _Subscription | None:
        call_id, to_tag = message.get("call-id"), tag_of(message.get("to"))
        return next((s for s in self.subs if s.call_id == call_id and s.local_tag == to_tag
                     and s.local_tag), None)

    def _reply(self, request: SipMessage, status: int, reason: str) -> None:
        assert self.transport is not None
        reply = response_to(request, status, reason)
        if status == 405:
            reply.add("allow", "NOTIFY, OPTIONS")
        self.transport.send(reply.encode())

    def _on_request(self, message: SipMessage, now: float) -> None:
        if message.method == "NOTIFY":
            self._on_notify(message, now)
        elif message.method == "OPTIONS":
            self._reply(message, 200, "OK")
        elif message.method != "ACK":
            self._reply(message, 405, "Method Not Allowed")

    def _on_response(self, message: SipMessage, now: float) -> None:
        branch = split_params(message.get("via") or "")[1].get("branch")
        if self.ping is not None and self.ping.branch == branch and (message.status or 0) >= 200:
            self.ping, self.ping_due = None, now + self.settings.keepalive
            self._up()
            return
        sub = next((s for s in self.subs if s.request and s.request.branch == branch), None)
        if sub is None or sub.request is None:
            return  # a late retransmission of something already answered
        status, request = message.status or 0, sub.request
        if status < 200:
            request.resend_at = now + T2
        elif status < 300:
            self._on_accepted(sub, message, now)
        elif status in (401, 407):
            self._on_challenge(sub, message, now)
        elif status == 423 and (least := _seconds(message.get("min-expires"))) is not None:
            sub.expires = int(least)
            self._resend(sub, now, challenges=request.challenges)
        elif status == 403 and request.challenges:
            self._failed(sub, f"the PBX refused username {self.settings.username!r} and its "
                              "password (403 Forbidden)", now)
        elif status == 481 and sub.active:
            sub.begin(now)  # the PBX forgot us: start a new subscription right away
            if sub.lost_calls:
                self._update(sub)  # never the old calls: unknown until the new one speaks
            self._subscribe(sub, now)
            self._recheck(now)  # it has probably forgotten the others too
        else:
            self._failed(sub, f"SUBSCRIBE answered {status} {message.reason}".strip(), now,
                         _seconds(message.get("retry-after")))

    def _on_accepted(self, sub: _Subscription, message: SipMessage, now: float) -> None:
        request_expires = int(sub.request.message.get("expires") or 0) if sub.request else 0
        sub.request = None
        self._up()
        if request_expires == 0:
            return
        sub.remote_tag = tag_of(message.get("to")) or sub.remote_tag
        if message.get("contact"):
            sub.remote_target = uri_of(message.get("contact") or "")
        if not sub.active:
            sub.route = list(reversed(message.get_all("record-route")))
        sub.active, sub.backoff, sub.error = True, BACKOFF_MIN, None
        expires = _seconds(message.get("expires"))
        self._schedule_refresh(sub, now, sub.expires if expires is None else expires)

    def _schedule_refresh(self, sub: _Subscription, now: float, expires: float) -> None:
        if expires <= 0:
            sub.reset()
            sub.due = now
        else:
            sub.due = now + _refresh_delay(expires)

    def _on_challenge(self, sub: _Subscription, message: SipMessage, now: float) -> None:
        assert sub.request is not None
        s, request = self.settings, sub.request
        header = "www-authenticate" if message.status == 401 else "proxy-authenticate"
        challenge = best_challenge(message.get_all(header))
        if s.username is None or s.password is None:
            self._failed(sub, f"the PBX asks for authentication ({message.status}): "
                              "set username and password", now)
        elif challenge is None:
            self._failed(sub, f"the PBX asks for an unsupported authentication "
                              f"({message.status})", now)
        elif request.challenges >= (2 if challenge.stale else 1):
            self._failed(sub, f"the PBX rejected username {s.username!r} and its password "
                              f"({message.status})", now)
        else:
            value = authorization(challenge, username=s.username, password=s.password,
                                  method="SUBSCRIBE", uri=request.message.uri)
            name = "authorization" if message.status == 401 else "proxy-authorization"
            self._resend(sub, now, auth=(name, value), challenges=request.challenges + 1)

    def _resend(self, sub: _Subscription, now: float, *, auth: tuple[str, str] | None = None,
                challenges: int = 0) -> None:
        """Send the same SUBSCRIBE again with a new CSeq (after a challenge or a 423)."""
        assert sub.request is not None
        unsubscribing = sub.request.message.get("expires") == "0"
        self._subscribe(sub, now, expires=0 if unsubscribing else sub.expires, auth=auth,
                        challenges=challenges)

    def _failed(self, sub: _Subscription, why: str, now: float,
                retry_after: float | None = None) -> None:
        """This extension's subscription failed: unknown, one log line per new reason, retry."""
        self._up()  # the PBX answered, so it is reachable
        if why != sub.error:
            log.warning("sip source %r: extension %s (agent %s): %s; reporting unknown, "
                        "retrying", self.label, sub.extension, sub.agent, why)
        sub.error = why
        sub.reset()
        sub.due = now + (retry_after if retry_after is not None else sub.backoff)
        sub.backoff = min(sub.backoff * 2, BACKOFF_MAX)
        self._update(sub)

    def _on_notify(self, message: SipMessage, now: float) -> None:
        sub = self._subscription_of(message)
        if sub is None:
            self._reply(message, 481, "Subscription Does Not Exist")
            return
        if split_params(message.get("event") or "")[0].lower() != "dialog":
            self._reply(message, 489, "Bad Event")
            return
        # The lamp first, the 200 OK after it: building and sending the answer took
        # 0.1-0.5 ms that the state waited for (bench/sip_latency.py), and the PBX
        # retransmits only after 500 ms (T1) without one.
        try:
            if sub.remote_tag is None:
                sub.remote_tag = tag_of(message.get("from"))
            if message.get("contact"):
                sub.remote_target = uri_of(message.get("contact") or "")
            sub.active = True
            state = split_params(message.get("subscription-state") or "")[0].lower()
            if message.body.strip():
                self._apply_body(sub, message, now)
            elif state == "active" and self.settings.empty_notify == "idle":
                # Kamailio (force_dummy_dialog = 0) says "no calls" this way
                sub.view.dialogs, sub.view.answered = {}, set()
                self._known(sub, False, now)
            self._on_subscription_state(sub, message.get("subscription-state") or "", now)
        finally:
            self._reply(message, 200, "OK")

    def _known(self, sub: _Subscription, calls: bool, now: float) -> None:
        """The subscription delivered a state; *calls*: it named at least one dialog.

        If the subscription this one replaced had calls and this one names
        none, the PBX may have restarted and forgotten them: ``unknown`` for
        ``restart_grace`` seconds or until a dialog event, never ``available``.
        """
        first = not sub.known
        sub.known = True
        if calls:
            sub.lost_calls, sub.doubt_until = False, None
        elif first and sub.lost_calls:
            sub.lost_calls = False
            if self.settings.restart_grace > 0:
                sub.doubt_until = now + self.settings.restart_grace
        self._update(sub)

    def _apply_body(self, sub: _Subscription, message: SipMessage, now: float) -> None:
        kind = split_params(message.get("content-type") or "")[0].lower()
        try:
            if kind != "application/dialog-info+xml":
                raise DialogInfoError("the body is not application/dialog-info+xml")
            info = parse_dialog_info(message.body)
            outcome = sub.view.apply(info)
        except DialogInfoError as exc:
            log.warning("sip source %r: extension %s: unusable NOTIFY body (%s); reporting "
                        "unknown until a full state arrives", self.label, sub.extension, exc)
            sub.known = False
            self._update(sub)
            self._refresh_soon(sub, now)
            return
        if outcome == "gap":
            self._refresh_soon(sub, now)  # RFC 4235 4.4: ask for a full state
        if outcome != "stale":
            # Kamailio's force_dummy_dialog body is one "terminated" dialog: no call
            self._known(sub, any(state is not None for state in info.dialogs.values()), now)

    def _refresh_soon(self, sub: _Subscription, now: float) -> None:
        if sub.request is None:
            sub.due = min(sub.due if sub.due is not None else now + 1.0, now + 1.0)

    def _on_subscription_state(self, sub: _Subscription, header: str, now: float) -> None:
        value, params = split_params(header)
        if value.lower() != "terminated":
            expires = _seconds(params.get("expires"))
            if expires and sub.request is None:  # the PBX may shorten it, never lengthen it
                sub.due = min(sub.due or float("inf"), now + _refresh_delay(expires))
            return
        reason, retry_after = params.get("reason", "").lower(), _seconds(params.get("retry-after"))
        lived = now - sub.started
        sub.reset()
        self._update(sub)  # no live subscription carries a state now
        if reason in ("", "deactivated", "timeout"):
            # RFC 6665 4.1.3: subscribe again at once (or after retry-after), but a PBX
            # that keeps ending new subscriptions gets a capped, doubling pause
            if retry_after is not None:
                delay = retry_after
            elif lived >= CHURN_S:
                delay, sub.churn = 0.0, BACKOFF_MIN
            else:  # at once the first time, then 1, 2, 4 ... 60 s
                delay, sub.churn = sub.churn, min(max(sub.churn * 2, BACKOFF_MIN), BACKOFF_MAX)
            sub.due = now + delay
            log.info("sip source %r: extension %s: PBX ended the subscription (%s); "
                     "reporting unknown, subscribing again in %.0f s", self.label,
                     sub.extension, reason or "no reason", delay)
            return
        self._failed(sub, f"PBX ended the subscription ({reason or 'no reason'})", now,
                     retry_after)

    # -- states -------------------------------------------------------------------------------

    def _update(self, sub: _Subscription) -> None:
        """Report what *sub* shows now: its dialogs once known, else ``unknown``."""
        known = sub.known and (sub.doubt_until is None or bool(sub.view.dialogs))
        self._set_state(sub, sub.view.state if known else "unknown")

    def _set_state(self, sub: _Subscription, state: str) -> None:
        sub.state = state
        states = [s.state for s in self.of_agent[sub.agent]]
        # several extensions of one agent: the core's ranking, so a call on any of them
        # shows, and one extension in doubt makes an otherwise available agent unknown
        merged = merge(states)
        if self.reported.get(sub.agent) != merged:
            self.reported[sub.agent] = merged
            self.report(sub.agent, merged)


def _where(exc: BaseException) -> str:
    """Exception type and innermost file:line; never its message, which may quote caller data."""
    frames = traceback.extract_tb(exc.__traceback__)
    place = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return type(exc).__name__ + place


def _refresh_delay(expires: float) -> float:
    """Refresh at 80 % of the granted lifetime: early enough for a retry or two."""
    return max(1.0, expires * 0.8)


def _seconds(value: str | None) -> float | None:
    """A delta-seconds header value (``Expires``, ``Min-Expires``, ``Retry-After``), at most
    :data:`MAX_WAIT_S`; None if absent or bad.

    RFC 3261 allows up to 2**32-1 s and a hostile PBX may send 400 digits: capped, such a
    value can neither overflow a refresh time nor park a subscription for a century.
    """
    number = split_params(value)[0].split("(")[0].strip() if value else ""
    return min(float(number), MAX_WAIT_S) if is_decimal(number) else None


class SipSource(Source):
    """A :class:`~.base.Source` watching extensions on one PBX through a :class:`BlfClient`."""

    def __init__(self, name: str, settings: SipSettings) -> None:
        super().__init__(name, dict.fromkeys(settings.extensions.values()))
        self.settings = settings
        self._worker = Worker(f"sip-{name}", self._serve)

    def start(self, sink: StatusSink) -> None:
        client = BlfClient(self.settings, lambda agent, state: sink.report(agent, self.name,
                                                                           state), self.name)
        self._worker.start(client)

    def stop(self) -> None:
        self._worker.stop()

    def _serve(self, client: BlfClient) -> None:
        client.run(self._worker.stopping)


def from_config(section: Section, agents: tuple[str, ...]) -> SipSource:
    """Build a :class:`SipSource` from its ``[[sources]]`` table (see the module docstring)."""
    name = section.id("name", "sip")
    server = section.str("server")
    if not server.strip():
        raise section.error("server", "the PBX host name or address", server)
    username = section.str("username", None)
    password = section.str("password", None)
    if (username is None) != (password is None):
        missing = "password" if password is None else "username"
        raise section.error(missing, "a string: username and password go together")
    settings = SipSettings(
        server=server, port=section.int("port", 5060, lo=1, hi=65535),
        transport=section.str("transport", "udp", choices=TRANSPORTS),
        username=username, password=password, domain=section.str("domain", server),
        expires=section.int("expires", 600, lo=10, hi=86400),
        timeout=section.float("timeout", 8.0, lo=0.5, hi=64),
        keepalive=section.float("keepalive", 30.0, lo=0, hi=3600),
        empty_notify=section.str("empty_notify", "idle", choices=EMPTY_NOTIFY),
        restart_grace=section.float("restart_grace", 120.0, lo=0, hi=86400),
        probe=section.float("probe", 30.0, lo=0, hi=86400),
        extensions=_extensions(section, agents))
    return SipSource(name, settings)


def _extensions(section: Section, agents: tuple[str, ...]) -> dict[str, str]:
    table = section.section("extensions")
    if not table.data:
        raise section.error("extensions", 'at least one extension = agent pair ("201" = "alice")',
                            table.data)
    extensions = {}
    for extension in table.data:
        if not EXTENSION.fullmatch(extension):
            raise table.error(extension, "an extension (SIP user part, e.g. \"201\")", extension)
        extensions[extension] = configured_agents(table, extension, agents)[0]
    table.finish()
    return extensions
