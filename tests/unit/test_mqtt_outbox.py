"""The outbox in front of paho: newest per topic, a bounded window awaiting PUBACK."""

from __future__ import annotations

import threading

from focuslight.mqtt.outbox import Outbox


class Wire:
    """Records what the sender thread publishes; acknowledges only when told."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []
        self.changed = threading.Condition()

    def send(self, topic: str, payload: bytes) -> bool:
        with self.changed:
            self.sent.append((topic, payload))
            self.changed.notify_all()
        return True

    def wait_for(self, count: int) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.sent) >= count, timeout=5), self.sent


def started(window: int) -> tuple[Outbox, Wire]:
    wire = Wire()
    outbox = Outbox(wire.send, window)
    outbox.start()
    return outbox, wire


def test_a_full_window_keeps_only_the_newest_message_per_topic():
    outbox, wire = started(window=2)
    try:
        outbox.open(lambda: [("a", b"1"), ("b", b"1")])
        wire.wait_for(2)
        for n in (b"2", b"3", b"4"):
            outbox.put("a", n)
        outbox.put("c", b"1")
        assert outbox.backlog() == (2, 2)  # a=4 and c=1 wait; nothing more goes out
        outbox.acked()
        outbox.acked()
        wire.wait_for(4)
        assert wire.sent == [("a", b"1"), ("b", b"1"), ("a", b"4"), ("c", b"1")]
        outbox.acked()
        outbox.acked()
        assert outbox.drain(5)
    finally:
        outbox.stop()


def test_nothing_is_sent_while_closed_and_open_sends_the_whole_state():
    outbox, wire = started(window=10)
    try:
        outbox.put("a", b"lost")  # no session yet: the next open covers it
        outbox.open(lambda: [("a", b"now")])
        wire.wait_for(1)
        outbox.close()
        outbox.put("a", b"while closed")
        outbox.open(lambda: [("a", b"again")])
        wire.wait_for(2)
        assert wire.sent == [("a", b"now"), ("a", b"again")]
    finally:
        outbox.stop()


def test_a_message_paho_refuses_frees_its_place_in_the_window():
    sent: list[str] = []

    def refuse(topic: str, _payload: bytes) -> bool:
        sent.append(topic)
        return False

    outbox = Outbox(refuse, window=1)
    outbox.start()
    try:
        outbox.open(lambda: [("a", b"1"), ("b", b"1"), ("c", b"1")])
        assert outbox.drain(5)
        assert sent == ["a", "b", "c"]
    finally:
        outbox.stop()


def test_behind_a_stalled_link_a_flood_holds_one_message_per_agent_and_keeps_the_order():
    """One agent's change never waits behind a flood of others': with the window full
    and no acknowledgement coming (the link stalled), 1,000 agents changing five times
    each leave one message per agent waiting, and alice, who changed before the flood
    and again during it, keeps her place: her newest status goes out first."""
    outbox, wire = started(window=2)
    try:
        outbox.open(lambda: [("a", b"1"), ("b", b"1")])
        wire.wait_for(2)  # the window is full; nothing is acknowledged from here on
        outbox.put("alice", b"engaged")
        for round_ in range(5):
            for n in range(1000):
                outbox.put(f"agent-{n}", str(round_).encode())
            outbox.put("alice", f"ringing {round_}".encode())
        assert outbox.backlog() == (1001, 2)
        outbox.acked()
        wire.wait_for(3)
        assert wire.sent[2] == ("alice", b"ringing 4")
        for _ in range(1002):
            outbox.acked()
        assert outbox.drain(5)
        flood = wire.sent[3:]
        assert len(flood) == 1000 and all(payload == b"4" for _, payload in flood)
    finally:
        outbox.stop()


def test_a_change_does_not_wait_behind_the_state_a_new_session_publishes():
    """After a connect the whole state goes out again (50,000 statuses at a large site);
    a change made meanwhile takes turns with it instead of queueing behind it."""
    outbox, wire = started(window=1)
    try:
        outbox.open(lambda: [(f"agent-{n}", b"snapshot") for n in range(10_000)])
        wire.wait_for(1)
        outbox.put("alice", b"engaged")
        outbox.acked()
        wire.wait_for(2)
        outbox.acked()
        wire.wait_for(3)
        assert ("alice", b"engaged") in wire.sent[1:3]
    finally:
        outbox.stop()


def test_paced_messages_trickle_out_beside_the_state():
    """Discovery configs (paced) go out at their rate beside the statuses: never all at
    once, never holding the statuses or a change up."""
    wire = Wire()
    outbox = Outbox(wire.send, window=1000, paced_rate=10)
    outbox.start()
    try:
        outbox.open(lambda: [(f"agent-{n}", b"status") for n in range(50)],
                    paced=[(f"config-{n}", b"{}") for n in range(100)])
        with wire.changed:
            assert wire.changed.wait_for(
                lambda: sum(topic.startswith("agent-") for topic, _ in wire.sent) == 50, 5)
        statuses = [topic for topic, _ in wire.sent if topic.startswith("agent-")]
        assert statuses == [f"agent-{n}" for n in range(50)]
        assert len(wire.sent) < 150  # the configs follow at 10 a second
        outbox.put("alice", b"engaged")
        with wire.changed:
            assert wire.changed.wait_for(lambda: ("alice", b"engaged") in wire.sent, 5)
    finally:
        outbox.stop()


def test_paced_messages_keep_going_when_nothing_else_is_sent():
    """The last status acknowledged, nothing waits but paced messages: they still go."""
    wire = Wire()
    outbox = Outbox(wire.send, window=10, paced_rate=200)
    outbox.start()
    try:
        outbox.open(lambda: [("status", b"1")], paced=[(f"config-{n}", b"{}") for n in range(20)])
        wire.wait_for(1)
        for sent in range(1, 22):
            wire.wait_for(sent)
            outbox.acked()
        assert outbox.drain(5)
        assert len(wire.sent) == 21
    finally:
        outbox.stop()
