"""The SIP BLF source against sipp playing the PBX (scenarios in tests/sip/)."""

from __future__ import annotations

import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from sip_helpers import CALLER_NUMBER, Sipp
from source_helpers import RecordingSink

from focuslight.embedded_broker import free_port
from focuslight.sources.sip import SipSettings, SipSource


@pytest.fixture
def sipp(tmp_path: Path) -> Iterator:
    """Start sipp scenarios on free ports; every one is killed at the end of the test."""
    started: list[Sipp] = []

    def start(scenario: str, *, port: int | None = None, transport: str = "udp",
              calls: int = 1) -> Sipp:
        started.append(Sipp(scenario, port or free_port(), tmp_path, transport=transport,
                            calls=calls).start())
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
    sink = watch(pbx.port)
    # no live subscription carries a state between the two: unknown, never the old engaged
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
