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
