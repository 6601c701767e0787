"""outputs.base: the queued output never blocks the hub, sends in order, keeps the newest."""

from __future__ import annotations

import threading
import time

import pytest

from focuslight import outputs
from focuslight.outputs.base import Output, QueuedOutput
from focuslight.protocol import Status

WAIT_S = 5.0


class GatedOutput(QueuedOutput):
    """A peer that answers only when the test opens the gate: a slow chat API."""

    def __init__(self, maxsize: int = 8) -> None:
        super().__init__("gated", maxsize)
        self.gate = threading.Event()
        self.sent: list[tuple[str, str]] = []
        self.fail_next = False
        self.changed = threading.Condition()

    def send(self, agent: str, status: Status) -> None:
        self.gate.wait(WAIT_S)
        with self.changed:
            if self.fail_next:
                self.fail_next = False
                raise ConnectionError("peer went away")
            self.sent.append((agent, status.state))
            self.changed.notify_all()

    def wait_sent(self, count: int) -> list[tuple[str, str]]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.sent) >= count, WAIT_S), self.sent
            return list(self.sent)


def status(state: str) -> Status:
    return Status(state, "phone", 1732356902.1)


def test_publish_returns_at_once_while_the_peer_is_stuck_and_sends_in_order() -> None:
    output = GatedOutput()
    output.start()
    try:
        began = time.monotonic()
        for state in ("engaged", "wrap_up", "available"):
            output.publish("alice", status(state))
        assert time.monotonic() - began < 0.5  # the gate is shut: nothing could be sent yet
        output.gate.set()
        assert output.wait_sent(3) == [("alice", "engaged"), ("alice", "wrap_up"),
                                       ("alice", "available")]
    finally:
        output.stop()


def test_a_full_queue_drops_the_oldest_and_says_so_once(caplog) -> None:
    output = GatedOutput(maxsize=2)  # not started: nothing drains the queue
    for state in ("engaged", "wrap_up", "available", "dnd"):
        output.publish("alice", status(state))
    full = [r for r in caplog.records if "dropping the oldest" in r.getMessage()]
    assert len(full) == 1
    output.gate.set()
    output.start()
    try:
        assert output.wait_sent(2) == [("alice", "available"), ("alice", "dnd")]
    finally:
        output.stop()


def test_a_failing_send_is_logged_and_the_next_change_still_goes(caplog) -> None:
    output = GatedOutput()
    output.fail_next = True
    output.gate.set()
    output.start()
    try:
        output.publish("alice", status("engaged"))
        output.publish("bob", status("available"))
        assert output.wait_sent(1) == [("bob", "available")]
        assert any("peer went away" in r.getMessage() for r in caplog.records)
    finally:
        output.stop()


def test_stop_ends_the_thread_even_with_an_empty_queue() -> None:
    output = GatedOutput()
    output.start()
    output.stop()
    thread = output._worker.thread
    assert thread is not None and not thread.is_alive()


def test_every_registered_output_module_has_a_builder() -> None:
    import importlib
    for table, module in outputs.OUTPUT_TYPES.items():
        assert callable(importlib.import_module(module).build_outputs), table


def test_output_is_abstract() -> None:
    with pytest.raises(TypeError):
        Output()  # type: ignore[abstract]
