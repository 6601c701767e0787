"""The last-resort guard around every paho callback (``mqtt.client.last_resort``) really
keeps the network loop alive: a bug in a view — an ordinary exception, not the
ProtocolError every reader expects — costs one log line, and the next message is
handled. paho 2.x ends its network thread when a callback raises (design, facts
measured in the field), so without the guard the view goes deaf for good.

Real mosquitto, the real floor board reading it; the bug is a small subclass."""

from __future__ import annotations

import logging
import time

from helpers.waiting import wait_until

from focuslight.mqtt.client import BrokerSettings
from focuslight.protocol import Status, Topics
from focuslight.views.floor_board import FloorBoard

TOPICS = Topics("guard")


class BuggyBoard(FloorBoard):
    """A floor board with a bug: any message about agent ``bug`` raises a KeyError."""

    def receive(self, topic: str, payload: bytes) -> None:
        if topic == TOPICS.status("bug"):
            raise KeyError("a bug in the view")
        super().receive(topic, payload)


def test_a_bug_in_a_callback_costs_one_log_line_and_the_next_message_is_handled(
        mosquitto, peer_factory, caplog) -> None:
    caplog.set_level(logging.ERROR, logger="focuslight")
    board = BuggyBoard(BrokerSettings(mosquitto.host, mosquitto.port), TOPICS,
                       ("127.0.0.1", 0)).start()
    try:
        wait_until(board.follower.is_connected)
        peer = peer_factory(mosquitto)
        peer.publish(TOPICS.status("bug"), Status("engaged", "phone", time.time()).encode())
        peer.publish(TOPICS.status("alice"), Status("dnd", "phone", time.time()).encode())
        wait_until(lambda: [a["state"] for a in board.floor.view()["agents"]] == ["dnd"])
        assert board.follower.is_connected()  # paho's network thread lives on
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1, errors
        assert errors[0].startswith("board: on_message failed with KeyError")
        peer.publish(TOPICS.status("alice"), Status("away", "phone", time.time()).encode())
        wait_until(lambda: [a["state"] for a in board.floor.view()["agents"]] == ["away"])
    finally:
        board.stop()
