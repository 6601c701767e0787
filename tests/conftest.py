"""Shared fixtures: real brokers on free ports, real MQTT clients.

``mosquitto`` starts the Debian mosquitto binary; ``broker`` is parametrized
over mosquitto and the embedded amqtt broker so the zero-setup default is
tested with the same cases. Both are real processes that tests may kill
and restart (``BrokerProcess.kill`` / ``.start``).
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from focuslight.tools.embedded_broker import free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent


class BrokerProcess:
    """A real broker process on a free port that a test can kill and restart."""

    def __init__(self, kind: str, tmp: Path) -> None:
        self.kind, self.tmp = kind, tmp
        self.host, self.port = "127.0.0.1", free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def command(self) -> list[str]:
        if self.kind == "embedded":
            return [sys.executable, "-m", "focuslight.tools.embedded_broker",
                    "--port", str(self.port)]
        conf = self.tmp / f"mosquitto-{self.port}.conf"
        conf.write_text(f"listener {self.port} {self.host}\nallow_anonymous true\n"
                        "persistence false\nmax_keepalive 65535\n")
        return [shutil.which("mosquitto") or "mosquitto", "-c", str(conf)]

    def start(self) -> None:
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_for_port(self.host, self.port)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _broker(kind: str, tmp_path: Path) -> Iterator[BrokerProcess]:
    if kind == "mosquitto" and not shutil.which("mosquitto"):
        pytest.fail("mosquitto is not installed: run tests/run, which installs it")
    broker = BrokerProcess(kind, tmp_path)
    broker.start()
    yield broker
    broker.kill()


@pytest.fixture(autouse=True)
def private_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test's bridges (in process or child processes) keep their saved manual
    overrides in the test's own directory, never in the user's ~/.local/state."""
    state = tmp_path / "xdg-state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    return state / "focuslight"


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[BrokerProcess]:
    yield from _broker("mosquitto", tmp_path)


@pytest.fixture(params=["mosquitto", "embedded"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BrokerProcess]:
    yield from _broker(request.param, tmp_path)


class Peer:
    """A plain paho client on the other side of the broker, recording what it sees."""

    def __init__(self, broker: BrokerProcess) -> None:
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"peer-{uuid.uuid4().hex[:8]}")
        self.client.on_message = lambda _c, _u, msg: self.messages.put(msg)
        self.client.connect(broker.host, broker.port, keepalive=30)
        self.client.loop_start()

    def subscribe(self, topic: str, qos: int = 1) -> None:
        done = queue.Queue()
        self.client.on_subscribe = lambda *a: done.put(a)
        self.client.subscribe(topic, qos)
        done.get(timeout=5)

    def publish(self, topic: str, payload: bytes | str, *, retain: bool = False,
                qos: int = 1) -> None:
        self.client.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(5)

    def wait_for(self, topic: str, predicate=lambda payload: True,
                 timeout: float = 10.0) -> bytes:
        """Return the first payload on *topic* for which *predicate* holds."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = self.messages.get(timeout=left)
            except queue.Empty:
                break
            if mqtt.topic_matches_sub(topic, msg.topic) and predicate(msg.payload):
                return msg.payload
        raise AssertionError(f"nothing matching on {topic} within {timeout} s")

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


@pytest.fixture
def peer_factory() -> Iterator:
    peers: list[Peer] = []

    def make(broker: BrokerProcess) -> Peer:
        peers.append(Peer(broker))
        return peers[-1]

    yield make
    for peer in peers:
        peer.close()
