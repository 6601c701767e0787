"""Shared fixtures: real brokers on free ports, real MQTT clients.

``mosquitto`` starts the Debian mosquitto binary; ``broker`` is parametrized
over mosquitto and the embedded amqtt broker so the zero-setup default is
tested with the same cases. Both are real processes that tests may kill
and restart (``BrokerProcess.kill`` / ``.start``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.mqtt_peer import Peer

from focuslight.tools.embedded_broker import free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent


class BrokerProcess:
    """A real broker process on a free port that a test can kill and restart."""

    def __init__(self, kind: str, tmp: Path, extra: str = "") -> None:
        self.kind, self.tmp, self.extra = kind, tmp, extra
        """*extra*: more mosquitto config after the test's listener (a bridge to another
        broker, an ACL: ``tests/integration/test_views_sites.py``)."""
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
                        f"persistence false\nmax_keepalive 65535\n{self.extra}")
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


@pytest.fixture
def peer_factory() -> Iterator:
    peers: list[Peer] = []

    def make(broker: BrokerProcess) -> Peer:
        peers.append(Peer(broker.host, broker.port))
        return peers[-1]

    yield make
    for peer in peers:
        peer.close()
