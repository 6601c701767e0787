"""The SIP BLF source against sipp playing the PBX (scenarios in tests/helpers/sip/)."""

from __future__ import annotations

import contextlib
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from helpers.sipp import CALLER_NUMBER, Sipp
from helpers.sources import RecordingSink

from focuslight.sources.sip import SipSettings, SipSource
from focuslight.sources.sip.blf import BlfClient
from focuslight.sources.sip.message import SipMessage
from focuslight.tools.embedded_broker import free_port


@pytest.fixture
def sipp(tmp_path: Path) -> Iterator:
    """Start sipp scenarios on free ports; every one is killed at the end of the test."""
    started: list[Sipp] = []

    def start(scenario: str, *, port: int | None = None, transport: str = "udp",
              calls: int = 1, keys: dict[str, str] | None = None) -> Sipp:
        started.append(Sipp(scenario, port or free_port(), tmp_path, transport=transport,
                            calls=calls, keys=keys).start())
        return started[-1]

    yield start
    for proc in started:
        proc.kill()


@pytest.fixture
def watch() -> Iterator:
    """Run a SipSource into a RecordingSink; stopped at the end of the test."""
    sources: list[SipSource] = []

    def start(port: int, *, transport: str = "udp", extensions: dict | None = None,
              **settings) -> RecordingSink:
        sink = RecordingSink()
        source = SipSource("phone", SipSettings(
            server="127.0.0.1", port=port, transport=transport,
            extensions=extensions or {"201": "alice"}, timeout=settings.pop("timeout", 3.0),
            **settings))
        source.start(sink)
        sources.append(source)
        return sink

    yield start
    for source in sources:
        source.stop()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_ringing_confirmed_terminated(sipp, watch, transport: str) -> None:
    pbx = sipp("basic", transport=transport)
    sink = watch(pbx.port, transport=transport)
    # version 2 comes again after version 3: stale, so no second "engaged"
    sink.wait_for_sequence("alice", ["available", "ringing", "engaged", "available", "ringing"])
    assert pbx.finish() == 0, pbx.log()
    assert {source for _, source, _ in sink.reports} == {"phone"}
    if transport == "tcp":  # the PBX closed the connection: it can't be seen any more
        sink.wait_for_sequence("alice", ["available", "ringing", "engaged", "available", "ringing",
                                "unknown"])


def test_hold_and_resume(sipp, watch) -> None:
    pbx = sipp("hold")
    sink = watch(pbx.port)
    sink.wait_for_sequence("alice", ["engaged", "hold", "engaged", "hold", "available"])
    assert pbx.finish() == 0, pbx.log()


def test_two_dialogs_with_partial_notifications(sipp, watch) -> None:
    pbx = sipp("two_dialogs")
    sink = watch(pbx.port)
    sink.wait_for_sequence("alice", ["engaged", "ringing", "engaged", "hold", "available"])
    assert pbx.finish() == 0, pbx.log()


def test_digest_auth_on_subscribe_and_refresh(sipp, watch) -> None:
    pbx = sipp("auth")
    sink = watch(pbx.port, username="focuslight", password="s3cret")
    sink.wait_for_sequence("alice", ["available", "engaged"])
    assert pbx.finish() == 0, pbx.log()


def test_subscription_terminated_by_the_pbx_subscribes_again(sipp, watch) -> None:
    pbx = sipp("terminated", calls=2)
    sink = watch(pbx.port, restart_grace=0.5)
    # no live subscription carries a state between the two: unknown, never the old engaged;
    # the new one says "no calls", which after lost calls counts only after the grace
    sink.wait_for_sequence("alice", ["engaged", "unknown", "available"])
    assert pbx.finish() == 0, pbx.log()  # both subscriptions went as scripted


def test_wrong_password_is_unknown_with_one_clear_log_line(sipp, watch, caplog) -> None:
    pbx = sipp("auth")
    sink = watch(pbx.port, username="focuslight", password="wrong")
    sink.wait_for_sequence("alice", ["unknown"])
    refused = [r.getMessage() for r in caplog.records if "403" in r.getMessage()]
    assert len(refused) == 1, refused
    assert "extension 201" in refused[0] and "refused username 'focuslight'" in refused[0]
    assert "wrong" not in refused[0]  # the password is never logged


def test_pbx_not_answering_is_unknown_then_recovers(sipp, watch, caplog) -> None:
    """A PBX that swallows SUBSCRIBEs, then one that answers on the same port."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    port = silent.getsockname()[1]
    try:
        sink = watch(port, extensions={"201": "alice", "202": "bob"}, timeout=1.0)
        sink.wait_for_sequence("alice", ["unknown"])
        sink.wait_for_sequence("bob", ["unknown"])
        assert silent.recv(4096).startswith(b"SUBSCRIBE sip:20")
    finally:
        silent.close()
    pbx = sipp("basic", port=port, calls=2)  # serves alice's and bob's subscriptions
    sink.wait_for_sequence("alice", ["unknown", "available", "ringing", "engaged"], timeout=15)
    assert pbx.finish() == 0, pbx.log()
    lines = [r.getMessage() for r in caplog.records if r.name == "focuslight.sources.sip"]
    down = [line for line in lines if "unreachable" in line]
    assert len(down) == 1, lines  # one line for the outage, however many retries
    assert "no answer to SUBSCRIBE" in down[0] and "alice, bob" in down[0]
    assert any("reachable again" in line for line in lines)


def test_pbx_refusing_tcp_is_unknown(watch, caplog) -> None:
    sink = watch(free_port(), transport="tcp")
    sink.wait_for_sequence("alice", ["unknown"])
    assert any("Connection refused" in r.getMessage() for r in caplog.records)


def test_unreadable_body_is_unknown_until_a_refresh_brings_a_full_state(sipp, watch,
                                                                        caplog) -> None:
    pbx = sipp("bad_body")
    sink = watch(pbx.port)
    sink.wait_for_sequence("alice", ["unknown", "engaged"])
    assert pbx.finish() == 0, pbx.log()
    lines = [r.getMessage() for r in caplog.records if r.name == "focuslight.sources.sip"]
    assert any("unusable NOTIFY body" in line for line in lines), lines
    assert not any(CALLER_NUMBER[4:] in line or "Mustermann" in line for line in lines)


def test_hung_pbx_is_noticed_by_the_keepalive(sipp, watch, caplog) -> None:
    pbx = sipp("keepalive", calls=1000)
    sink = watch(pbx.port, keepalive=0.3, timeout=1.0)
    sink.wait_for_sequence("alice", ["engaged"])
    pbx.proc.send_signal(signal.SIGSTOP)  # hung: no answers, no ICMP, socket still bound
    try:
        sink.wait_for_sequence("alice", ["engaged", "unknown"])
    finally:
        pbx.proc.send_signal(signal.SIGCONT)
    sink.wait_for_sequence("alice", ["engaged", "unknown", "engaged"])
    down = [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(down) == 1 and "no answer to the OPTIONS keep-alive" in down[0], down


def test_empty_notify_on_an_active_subscription_is_idle_by_default(sipp, watch) -> None:
    """Kamailio's idle extension: active, no body. Idle, not unknown until the first call."""
    pbx = sipp("empty_body")
    sink = watch(pbx.port)
    sink.wait_for_sequence("alice", ["available", "engaged"])
    assert pbx.finish() == 0, pbx.log()


def test_empty_notify_setting_unknown_reads_it_as_not_known_yet(sipp, watch) -> None:
    pbx = sipp("empty_body")
    sink = watch(pbx.port, empty_notify="unknown")
    assert sink.wait_for_sequence("alice", ["engaged"]) == ["engaged"]
    assert pbx.finish() == 0, pbx.log()


def test_freeswitch_hold_is_hold_and_early_media_is_ringing(sipp, watch) -> None:
    pbx = sipp("freeswitch_hold")
    sink = watch(pbx.port)
    sink.wait_for_sequence("alice", ["ringing", "engaged", "hold", "engaged", "available"])
    assert pbx.finish() == 0, pbx.log()


def test_doctype_is_refused_unknown_and_refreshed(sipp, watch, caplog) -> None:
    pbx = sipp("doctype", keys={"doctype": '<!DOCTYPE dialog-info [<!ENTITY s "confirmed">]>'})
    sink = watch(pbx.port)
    sink.wait_for_sequence("alice", ["unknown", "engaged"])
    assert pbx.finish() == 0, pbx.log()
    assert any("DOCTYPE" in r.getMessage() for r in caplog.records)


@contextlib.contextmanager
def engaged_over_tcp(watch) -> Iterator[tuple[StreamPbx, str, RecordingSink]]:
    """A plain TCP peer plays the PBX (sipp can't send what these tests need); the source
    subscribes and its first NOTIFY is an answered call. Yields the PBX, the SUBSCRIBE its
    NOTIFYs answer, and the sink once alice shows ``engaged``."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        sink = watch(server.getsockname()[1], transport="tcp")
        server.settimeout(5)
        conn, _ = server.accept()
        with conn:
            pbx = StreamPbx(conn)
            subscribe = pbx.expect("SUBSCRIBE")
            pbx.answer(subscribe, 200)
            pbx.notify(subscribe, 1, _full(0, "confirmed"))
            assert pbx.expect("SIP/2.0").startswith("SIP/2.0 200")
            sink.wait_for_sequence("alice", ["engaged"])
            yield pbx, subscribe, sink


def test_oversized_notify_on_tcp_drops_the_message_not_the_link(watch, caplog) -> None:
    """sipp cannot send a message over 64 KiB, so a plain TCP peer plays this PBX."""
    with engaged_over_tcp(watch) as (pbx, subscribe, sink):
        pbx.notify(subscribe, 2, _full(1, "confirmed", pad=70000))
        assert pbx.expect("SIP/2.0").startswith("SIP/2.0 413")
        sink.wait_for_sequence("alice", ["engaged", "unknown"])
        refresh = pbx.expect("SUBSCRIBE")  # on the same connection
        pbx.answer(refresh, 200)
        pbx.notify(subscribe, 3, _full(2, "confirmed"))
        assert pbx.expect("SIP/2.0").startswith("SIP/2.0 200")
        sink.wait_for_sequence("alice", ["engaged", "unknown", "engaged"])
        lines = [r.getMessage() for r in caplog.records]  # before we hang up
    assert any("over 65536 bytes" in line for line in lines), lines
    assert not any("unreachable" in line for line in lines), lines


def _full(version: int, state: str, pad: int = 0) -> bytes:
    return (f'<?xml version="1.0"?><dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" '
            f'version="{version}" state="full" entity="sip:201@pbx"><!-- {"x" * pad} -->'
            f'<dialog id="d1"><state>{state}</state></dialog></dialog-info>').encode()


class StreamPbx:
    """Just enough of a PBX on one TCP connection: read framed messages, answer, NOTIFY."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn, self.buffer = conn, b""
        conn.settimeout(5)

    def expect(self, start: str) -> str:
        while True:
            head, sep, rest = self.buffer.partition(b"\r\n\r\n")
            if sep:
                length = int(re.search(rb"(?im)^content-length:\s*(\d+)", head).group(1))
                if len(rest) >= length:
                    self.buffer = rest[length:]
                    text = head.decode()
                    assert text.startswith(start), text
                    return text
            chunk = self.conn.recv(65536)
            assert chunk, "the client closed the connection"
            self.buffer += chunk

    @staticmethod
    def header(message: str, name: str) -> str:
        return re.search(rf"(?im)^{name}:\s*(.*)$", message).group(1).strip()

    def answer(self, request: str, status: int, *, reason: str = "OK",
               extra: Sequence[str] = ("Expires: 600",)) -> None:
        lines = [f"SIP/2.0 {status} {reason}"] + [
            f"{name}: {self.header(request, name)}" for name in ("Via", "From", "Call-ID", "CSeq")]
        lines += [f"To: {self.header(request, 'To').split(';tag=')[0]};tag=pbx",
                  "Contact: <sip:pbx@127.0.0.1;transport=tcp>", *extra, "Content-Length: 0"]
        self.conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())

    def notify(self, subscribe: str, cseq: int, body: bytes,
               state: str = "active;expires=600") -> None:
        contact = re.search(r"<([^>]*)>", self.header(subscribe, "Contact")).group(1)
        head = [f"NOTIFY {contact} SIP/2.0",
                f"Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKn{cseq}",
                f"From: {self.header(subscribe, 'To').split(';tag=')[0]};tag=pbx",
                f"To: {self.header(subscribe, 'From')}",
                f"Call-ID: {self.header(subscribe, 'Call-ID')}", f"CSeq: {cseq} NOTIFY",
                "Event: dialog", f"Subscription-State: {state}",
                "Content-Type: application/dialog-info+xml", f"Content-Length: {len(body)}"]
        self.conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)


def test_terminated_with_retry_after_waits_that_long_showing_unknown(watch) -> None:
    """RFC 6665 4.1.3: "timeout" alone means subscribe again at once; with retry-after=2 the
    source waits 2 s, and no live subscription carries a state meanwhile: unknown."""
    with engaged_over_tcp(watch) as (pbx, subscribe, sink):
        ended = time.monotonic()  # before the NOTIFY leaves: the source can't see it sooner
        pbx.notify(subscribe, 2, b"", state="terminated;reason=timeout;retry-after=2")
        assert pbx.expect("SIP/2.0").startswith("SIP/2.0 200")
        sink.wait_for_sequence("alice", ["engaged", "unknown"])
        pbx.expect("SUBSCRIBE")
        waited = time.monotonic() - ended
        assert sink.states("alice") == ["engaged", "unknown"]  # unknown all along
    assert 1.95 <= waited < 8, waited  # the upper bound only guards a hang on a busy machine


def test_absurd_lifetimes_from_the_pbx_are_read_as_a_day(watch) -> None:
    """A 423 whose Min-Expires has 400 digits, then a 200 without Expires: the source asks
    for a day (the longest it accepts) and keeps serving; it used to overflow converting the
    granted lifetime to a refresh time and drop every lamp to unknown."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        sink = watch(server.getsockname()[1], transport="tcp")
        server.settimeout(5)
        conn, _ = server.accept()
        with conn:
            pbx = StreamPbx(conn)
            pbx.answer(pbx.expect("SUBSCRIBE"), 423, reason="Interval Too Brief",
                       extra=["Min-Expires: " + "9" * 400])
            subscribe = pbx.expect("SUBSCRIBE")
            assert pbx.header(subscribe, "Expires") == "86400"
            pbx.answer(subscribe, 200, extra=())
            pbx.notify(subscribe, 1, _full(0, "confirmed"), state="active;expires=" + "9" * 400)
            assert pbx.expect("SIP/2.0").startswith("SIP/2.0 200")
            sink.wait_for_sequence("alice", ["engaged"])
            pbx.notify(subscribe, 2, _full(1, "terminated"))
            assert pbx.expect("SIP/2.0").startswith("SIP/2.0 200")
            sink.wait_for_sequence("alice", ["engaged", "available"])
            # checked while the PBX still holds the connection: closing it is news (unknown)
            assert sink.states("alice") == ["engaged", "available"]


class BuggyClient(BlfClient):
    """A :class:`BlfClient` with a bug its body reader trips over on one dialog id.

    The subclass is the seam: what is under test is :meth:`BlfClient.run`'s
    last resort, which every real bug would reach the same way. The exception's
    message quotes the caller, as a real one might; the log must not.
    """

    def _apply_body(self, sub, message: SipMessage, now: float) -> None:
        if b'id="trip"' in message.body:
            raise ValueError(f"a bug while reading the call from {CALLER_NUMBER}")
        super()._apply_body(sub, message, now)


def test_a_bug_in_a_handler_turns_lamps_unknown_logs_once_and_keeps_serving(caplog) -> None:
    sink = RecordingSink()
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = BuggyClient(SipSettings(server="127.0.0.1", port=server.getsockname()[1],
                                         transport="tcp", extensions={"201": "alice"},
                                         timeout=3.0),
                             lambda agent, state: sink.report(agent, "phone", state), "phone")
        stopping = threading.Event()
        thread = threading.Thread(target=client.run, args=(stopping,), daemon=True)
        thread.start()
        try:
            server.settimeout(5)
            for version, conn_no in ((0, 1), (2, 2)):
                conn, _ = server.accept()  # the second: the source connects again by itself
                with conn:
                    pbx = StreamPbx(conn)
                    subscribe = pbx.expect("SUBSCRIBE")
                    pbx.answer(subscribe, 200)
                    pbx.notify(subscribe, 1, _full(version, "confirmed"))
                    assert pbx.expect("SIP/2.0").startswith("SIP/2.0 200")
                    if conn_no == 1:
                        sink.wait_for_sequence("alice", ["engaged"])
                        pbx.notify(subscribe, 2, _full(1, "confirmed").replace(
                            b'id="d1"', b'id="trip"'))
                        assert pbx.expect("SIP/2.0").startswith("SIP/2.0 200")
                        sink.wait_for_sequence("alice", ["engaged", "unknown"])
                    else:
                        sink.wait_for_sequence("alice", ["engaged", "unknown", "engaged"])
        finally:
            stopping.set()
            thread.join(10)
    assert not thread.is_alive()
    lines = [r.getMessage() for r in caplog.records if r.name == "focuslight.sources.sip"]
    bug = [line for line in lines if "internal error" in line]
    assert len(bug) == 1, lines
    assert "ValueError" in bug[0] and "please report it" in bug[0], bug
    assert not any(CALLER_NUMBER[1:] in line for line in lines), lines


@pytest.mark.parametrize("state", ["terminated;reason=timeout", "terminated;reason=deactivated",
                                   "terminated"])
def test_pbx_ending_every_subscription_gets_a_capped_backoff_and_unknown(sipp, watch,
                                                                         state: str) -> None:
    """RFC 6665 4.1.3: subscribe again at once, then 1, 2, 4 ... s apart, not in a tight loop."""
    pbx = sipp("terminated_loop", calls=100, keys={"state": state})
    sink = watch(pbx.port)
    sink.wait_for_sequence("alice", ["unknown"])
    deadline = time.monotonic() + 10
    while pbx.received("SUBSCRIBE") < 3:  # at once, then after 1 s
        assert time.monotonic() < deadline, pbx.received("SUBSCRIBE")
        time.sleep(0.05)
    started = time.monotonic()
    while time.monotonic() - started < 1.5:  # the next one is 2 s away
        assert pbx.received("SUBSCRIBE") == 3
        time.sleep(0.05)
    assert set(sink.states("alice")) == {"unknown"}


def test_an_agent_with_two_extensions_starts_without_an_internal_error(sipp, watch,
                                                                       caplog) -> None:
    """The first NOTIFY of one of an agent's two extensions arrives before the other's:
    the silent one counts as ``unknown`` (it was None, which the merge could not rank: an
    'internal error' and a reconnect at every start)."""
    pbx = sipp("basic", calls=2)  # serves both of alice's subscriptions
    sink = watch(pbx.port, extensions={"201": "alice", "202": "alice"})
    assert pbx.finish() == 0, pbx.log()  # every NOTIFY answered: its state was handed on
    assert "engaged" in sink.states("alice"), sink.states("alice")
    # the first NOTIFY (available) came while the other extension had not spoken: unknown
    assert sink.states("alice")[0] == "unknown", sink.states("alice")
    lines = [r.getMessage() for r in caplog.records if r.name == "focuslight.sources.sip"]
    assert not [line for line in lines if "internal error" in line], lines
