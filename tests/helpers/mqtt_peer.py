"""A plain paho client on the other side of the broker: what a test uses to publish, and
to wait for what a bridge, a beacon or a command published."""

from __future__ import annotations

import json
import queue
import time
import uuid

import paho.mqtt.client as mqtt


class Peer:
    """A plain paho client on the other side of the broker, recording what it sees
    (every message, retain flag and all, in :attr:`messages`)."""

    def __init__(self, host: str, port: int) -> None:
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"peer-{uuid.uuid4().hex[:8]}")
        self.client.on_message = lambda _c, _u, msg: self.messages.put(msg)
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()

    def subscribe(self, *topics: str, qos: int = 1) -> None:
        """Subscribe and wait for the broker's SUBACK."""
        done: queue.Queue[object] = queue.Queue()
        self.client.on_subscribe = lambda *a: done.put(a)
        self.client.subscribe([(topic, qos) for topic in topics])
        done.get(timeout=5)

    def publish(self, topic: str, payload: bytes | str, *, retain: bool = False,
                qos: int = 1) -> None:
        self.client.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(5)

    def next_on(self, topic: str, predicate=lambda payload: True,
                timeout: float = 10.0) -> mqtt.MQTTMessage:
        """The first message on *topic* (a filter) whose payload *predicate* accepts."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = self.messages.get(timeout=left)
            except queue.Empty:
                break
            if mqtt.topic_matches_sub(topic, msg.topic) and predicate(msg.payload):
                return msg
        raise AssertionError(f"nothing matching on {topic} within {timeout} s")

    def wait_for(self, topic: str, predicate=lambda payload: True,
                 timeout: float = 10.0) -> bytes:
        """The payload of :meth:`next_on`."""
        return self.next_on(topic, predicate, timeout).payload

    def wait_for_state(self, topic: str, state: str, timeout: float = 10.0) -> dict:
        payload = self.wait_for(topic, lambda p: _state_of(p) == state, timeout)
        return json.loads(payload)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _state_of(payload: bytes) -> str | None:
    try:
        return json.loads(payload).get("state")
    except (ValueError, AttributeError):
        return None
