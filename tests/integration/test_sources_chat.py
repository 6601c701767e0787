"""The chat source over real HTTP: the platforms' published payloads, signed as the platforms
sign them, posted to the running source; its timer driven by a hand clock."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator

import pytest
from helpers.chat import SECRET, TOKEN, payload, post, signed_headers
from helpers.sources import FakeClock, RecordingSink

from focuslight.config_section import Section
from focuslight.sources.base import Attention
from focuslight.sources.chat import ChatSource, from_config, intercom
from focuslight.tools.embedded_broker import free_port, wait_for_port

AGENTS = ("alice", "bob")
WALL = 1_795_000_100.0  # the fixtures' conversation began waiting at 1795000030
USERS = {"chatwoot": {"7": "alice", "9": "bob"}, "intercom": {"814860": "alice", "991": "bob"}}


def start(platform: str, **keys: object) -> tuple[ChatSource, RecordingSink, FakeClock]:
    clock = FakeClock(1000.0)
    table = {"platform": platform, "secret": SECRET, "port": free_port(),
             "users": USERS[platform], **keys}
    source = from_config(Section(table, "site.toml", "sources[0]"), AGENTS)
    source.clock = clock
    source.wall = lambda: WALL + clock.now() - 1000.0
    sink = RecordingSink()
    source.start(sink)
    wait_for_port("127.0.0.1", source.port)
    clock.settle()
    return source, sink, clock


@pytest.fixture
def chatwoot() -> Iterator[tuple[ChatSource, RecordingSink, FakeClock]]:
    served = start("chatwoot")
    yield served
    served[0].stop()


def send(source: ChatSource, name: str, **headers: str) -> int:
    raw = json.dumps(payload(source.platform.NAME, name)).encode()
    sign = signed_headers(source.platform.NAME, raw, stamp=int(source.wall()))
    status, _ = post(source.port, source.platform.NAME, raw, {**sign, **headers}, sign=False)
    return status


def test_a_chatwoot_chat_engages_its_agent_cues_a_reply_and_clears_it(chatwoot) -> None:
    """Every agent reads available once the source listens; a customer message engages
    alice; 60 s later, with no new event, the cue; 300 s, escalated; her reply clears the
    cue; a transfer moves the chat to bob; resolving it frees him."""
    source, sink, clock = chatwoot
    assert sink.reports == [("alice", "chat", "available"), ("bob", "chat", "available")]
    assert send(source, "message_created_incoming") == 200
    assert sink.reports[-1] == ("alice", "chat", "engaged")
    assert sink.attention_of("alice") == Attention(None, WALL, False, 1)
    clock.advance(59.9)
    assert sink.attention_of("alice").cue is None
    clock.advance(0.1)
    assert sink.attention_of("alice") == Attention("reply_due", WALL, False, 1)
    clock.advance(240)
    assert sink.attention_of("alice") == Attention("reply_due", WALL, True, 1)
    assert send(source, "message_created_outgoing") == 200
    assert sink.attention_of("alice") == Attention(chats=1)
    assert send(source, "message_created_incoming") == 200
    assert send(source, "conversation_updated_transfer") == 200
    assert sink.reports[-2:] == [("alice", "chat", "available"), ("bob", "chat", "engaged")]
    assert sink.attention_of("alice") is None
    assert sink.attention_of("bob") == Attention(None, source.wall(), False, 1)
    assert send(source, "conversation_status_changed_resolved") == 200
    assert sink.reports[-1] == ("bob", "chat", "available") and sink.attention_of("bob") is None


def test_an_intercom_conversation_assigned_after_waiting_is_due_at_once() -> None:
    """conversation.user.created (unassigned) shows nobody; assigned to alice, it has waited
    since 1795000030 by Intercom's clock, 70 s: due at once; her reply clears it; closing it
    after a transfer frees bob. A ping is answered 200."""
    source, sink, _ = start("intercom")
    try:
        assert send(source, "conversation.user.created") == 200
        assert sink.attention_of("alice") is None
        assert send(source, "conversation.admin.assigned") == 200
        assert sink.attention_of("alice") == Attention("reply_due", WALL - 70, False, 1)
        assert send(source, "conversation.admin.replied") == 200
        assert sink.attention_of("alice") == Attention(chats=1)
        assert send(source, "conversation.admin.assigned_transfer") == 200
        assert send(source, "conversation.admin.closed") == 200
        assert sink.states("bob")[-2:] == ["engaged", "available"]
        assert send(source, "ping") == 200
    finally:
        source.stop()


def test_refusals_are_4xx_with_one_log_line_and_never_the_body(
        chatwoot, caplog: pytest.LogCaptureFixture) -> None:
    source, sink, _ = chatwoot
    raw = json.dumps(payload("chatwoot", "message_created_incoming")).encode()
    good = signed_headers("chatwoot", raw, stamp=int(source.wall()))
    cases = [
        ({**good, "X-Chatwoot-Signature": "sha256=" + "0" * 64}, raw, 401),
        (signed_headers("chatwoot", raw, stamp=int(source.wall()) - 301), raw, 401),
        ({**good, "X-Chatwoot-Timestamp": "9" * 400}, raw, 401),
        ({}, raw, 401),
        ({**good, "Content-Type": "text/plain"}, raw, 415),
        (signed_headers("chatwoot", b"[1]", stamp=int(source.wall())), b"[1]", 400),
        (signed_headers("chatwoot", b"\xff", stamp=int(source.wall())), b"\xff", 400),
    ]
    with caplog.at_level(logging.INFO, logger="focuslight.sources.chat"):
        for headers, body, status in cases:
            assert post(source.port, "chatwoot", body, headers, sign=False)[0] == status
        assert post(source.port, "chatwoot", raw, path="/v1/chat/intercom")[0] == 404
        assert post(source.port, "chatwoot", raw, method="PUT")[0] == 405
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == len(cases) + 2
    assert not any(word in caplog.text for word in ("Jane", "4411", SECRET))
    assert sink.reports[-1] == ("bob", "chat", "available")  # nothing was applied
    other = json.dumps(payload("chatwoot", "message_created_incoming",
                               event="contact_updated")).encode()
    sign = signed_headers("chatwoot", other, stamp=int(source.wall()))
    assert post(source.port, "chatwoot", other, sign, sign=False) == (200, {"events": 0})


def test_a_token_is_asked_beside_the_signature_when_configured() -> None:
    source, sink, _ = start("chatwoot", token=TOKEN)
    try:
        assert send(source, "message_created_incoming") == 401
        assert send(source, "message_created_incoming", Authorization=f"Bearer {TOKEN}") == 200
        assert sink.reports[-1] == ("alice", "chat", "engaged")
    finally:
        source.stop()


def test_past_the_cap_a_new_conversation_is_refused_with_one_line(
        caplog: pytest.LogCaptureFixture) -> None:
    source, sink, _ = start("intercom", max_conversations_per_agent=1)
    try:
        with caplog.at_level(logging.WARNING, logger="focuslight.sources.chat"):
            for n in range(5):
                item = payload("intercom", "conversation.admin.assigned")
                item["data"]["item"]["id"] = str(3000 + n)
                assert post(source.port, "intercom", item)[0] == 200
        refusals = [r for r in caplog.records if "max_conversations_per_agent" in r.getMessage()]
        assert len(refusals) == 1 and "3001" not in refusals[0].getMessage()
        assert sink.attention_of("alice").chats == 1
    finally:
        source.stop()


def test_port_taken_reads_unknown_then_available_once_free(
        caplog: pytest.LogCaptureFixture) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    clock, sink = FakeClock(), RecordingSink()
    source = ChatSource("chat", AGENTS, platform=intercom, users=USERS["intercom"],
                        secret=SECRET, port=port, retry_s=5, clock=clock)
    try:
        with caplog.at_level(logging.ERROR, logger="focuslight.sources.chat"):
            source.start(sink)
            clock.settle()
            clock.advance(5)
        assert sink.reports == [("alice", "chat", "unknown"), ("bob", "chat", "unknown")]
        [line] = [r.getMessage() for r in caplog.records]
        assert f"cannot listen on 127.0.0.1:{port}" in line and "alice, bob read unknown" in line
        holder.close()
        clock.advance(5)
        sink.wait_for("available", "bob")
        assert sink.states("alice") == ["unknown", "available"]
    finally:
        holder.close()
        source.stop()
