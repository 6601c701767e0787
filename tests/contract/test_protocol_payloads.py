"""The host decoder against the shared protocol vectors (the firmware runs the same file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from focuslight import protocol
from focuslight.protocol.expected import decode_expected

VECTORS = Path(__file__).parent / "vectors"


def cases(name: str) -> list[dict]:
    return json.loads((VECTORS / f"{name}.json").read_text())["cases"]


def payload_of(case: dict) -> bytes:
    if "payload_hex" in case:
        return bytes.fromhex(case["payload_hex"])
    return case["payload"].encode()


def check_rejected(decode, case: dict) -> None:
    with pytest.raises(protocol.ProtocolError) as err:
        decode(payload_of(case))
    assert case["reason"].lower() in str(err.value).lower()


@pytest.mark.parametrize("case", cases("status"), ids=lambda c: c["name"])
def test_status_vectors(case: dict) -> None:
    if not case["ok"]:
        check_rejected(protocol.decode_status, case)
        return
    status = protocol.decode_status(payload_of(case))
    assert (status.state, status.source, status.since, status.bridge_id) == (
        case["state"], case["source"], case["since"], case.get("bridge_id"))
    assert (status.cue, status.waiting_since, status.escalated, status.chats) == (
        case.get("cue"), case.get("waiting_since"), case.get("escalated", False),
        case.get("chats"))
    assert protocol.decode_status(status.encode()) == status


def test_an_unknown_status_is_encoded_without_its_cue() -> None:
    """A status nobody may believe asks nothing of the agent, whoever built it."""
    body = json.loads(protocol.Status("unknown", "chat", 1.0, cue="reply_due", chats=1).encode())
    assert "cue" not in body and body["chats"] == 1


@pytest.mark.parametrize("case", cases("set"), ids=lambda c: c["name"])
def test_set_vectors(case: dict) -> None:
    if not case["ok"]:
        check_rejected(protocol.decode_set, case)
        return
    command = protocol.decode_set(payload_of(case))
    assert (command.state, command.minutes) == (case["state"], case["minutes"])
    assert command.id == case.get("id")
    assert protocol.decode_set(command.encode()) == command


def test_set_reply_round_trip() -> None:
    reply = protocol.SetReply("outranked", "r1", "dnd", "engaged", "engaged outranks dnd", 5.5)
    assert protocol.decode_reply(reply.encode()) == reply
    assert json.loads(reply.encode())["v"] == 1
    with pytest.raises(protocol.ProtocolError, match="result"):
        protocol.decode_reply(b'{"v":1,"result":"maybe"}')
    assert protocol.set_request_id(b'{"state":"busy","id":"r9"}') == "r9"
    assert protocol.set_request_id(b'not json') is None


@pytest.mark.parametrize("case", cases("event"), ids=lambda c: c["name"])
def test_event_vectors(case: dict) -> None:
    if not case["ok"]:
        check_rejected(protocol.decode_event, case)
        return
    event = protocol.decode_event(payload_of(case))
    assert event.button == case["button"]
    assert protocol.decode_event(event.encode()) == event


@pytest.mark.parametrize("case", cases("ids"), ids=lambda c: repr(c["id"]))
def test_id_vectors(case: dict) -> None:
    if case["ok"]:
        assert protocol.check_id(case["id"]) == case["id"]
    else:
        with pytest.raises(protocol.ProtocolError):
            protocol.check_id(case["id"])


@pytest.mark.parametrize("case", cases("availability"), ids=lambda c: repr(c["payload"]))
def test_availability_vectors(case: dict) -> None:
    if case["ok"]:
        assert protocol.decode_availability(case["payload"].encode()) == case["value"]
    else:
        with pytest.raises(protocol.ProtocolError):
            protocol.decode_availability(case["payload"].encode())


@pytest.mark.parametrize("case", cases("site_link"), ids=lambda c: repr(payload_of(c)[:8]))
def test_site_link_vectors(case: dict) -> None:
    if case["ok"]:
        assert protocol.decode_site_link(payload_of(case)) is case["value"]
    else:
        with pytest.raises(protocol.ProtocolError, match="site link"):
            protocol.decode_site_link(payload_of(case))


def test_topics_round_trip() -> None:
    topics = protocol.Topics("site-a/focuslight")
    assert topics.parse(topics.set("alice")) == ("agents", "alice", "set")
    assert topics.parse(topics.beacon_event("desk-3")) == ("beacons", "desk-3", "event")
    assert topics.parse(topics.bridge_availability("main")) == ("bridges", "main", "availability")


@pytest.mark.parametrize("topic", ["focuslight/agents/Alice/set", "other/agents/a/set",
                                   "focuslight/agents/a/b/set", "focuslight/people/a/set"])
def test_topics_reject_foreign(topic: str) -> None:
    with pytest.raises(protocol.ProtocolError):
        protocol.Topics().parse(topic)


@pytest.mark.parametrize("prefix", ["", "a/#", "a/+/b", "trailing/"])
def test_prefix_must_be_plain(prefix: str) -> None:
    with pytest.raises(protocol.ProtocolError):
        protocol.Topics(prefix)


@pytest.mark.parametrize("case", cases("expected"), ids=lambda c: c["name"])
def test_expected_vectors(case: dict) -> None:
    """A walk-up counter's expected time (host only: no beacon subscribes to it)."""
    if not case["ok"]:
        check_rejected(decode_expected, case)
        return
    expected = decode_expected(payload_of(case))
    assert (expected.typical_s, expected.contacts, expected.serving_since,
            expected.bridge_id) == (case["typical_s"], case["contacts"], case["serving_since"],
                                    case["bridge_id"])
    assert expected.ends_at() == pytest.approx(case["ends_at"])
    assert decode_expected(expected.encode()) == expected
