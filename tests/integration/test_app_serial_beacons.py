"""A USB serial beacon end to end: the real bridge process drives the real firmware.

The firmware runs on the MicroPython unix port behind a pty (``transport:
serial``); the bridge opens that pty from ``[[serial_beacons]]``; a paho peer
on a real mosquitto sets states and sees the button's effect.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.pty_peers import FirmwareBeacon


@pytest.fixture
def firmware(tmp_path: Path) -> Iterator[FirmwareBeacon]:
    beacon = FirmwareBeacon(tmp_path)
    yield beacon
    beacon.socat.stop()


class ProcessLog:
    """Collects a process's stderr lines on a thread, for waiting on what it logged."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self.changed = threading.Condition()
        threading.Thread(target=self._pump, args=(proc,), daemon=True).start()

    def _pump(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            with self.changed:
                self.lines.append(line)
                self.changed.notify_all()

    def wait_for(self, text: str, timeout: float = 20) -> None:
        with self.changed:
            found = self.changed.wait_for(lambda: any(text in line for line in self.lines),
                                          timeout)
            assert found, f"no line with {text!r}:\n{''.join(self.lines[-40:])}"


def test_bridge_drives_a_serial_beacon(firmware, mosquitto, peer_factory, tmp_path) -> None:
    """The real bridge process, the real firmware behind a pty, a real broker; the beacon
    shows the set of looks its table names (written on the link as on MQTT)."""
    config = tmp_path / "focuslight.toml"
    config.write_text(f"""
[bridge]
broker = "{mosquitto.url}"
prefix = "ser"
[agents.alice]
beacons = ["alice-usb"]
[[serial_beacons]]
port = "{firmware.link}"
agent = "alice"
beacon = "alice-usb"
looks = "desk"
[looks.desk]
engaged = "vermillion solid"
""")
    peer = peer_factory(mosquitto)
    peer.subscribe("ser/agents/alice/status")
    bridge = subprocess.Popen([sys.executable, "-m", "focuslight", "bridge", "-c", str(config),
                               "-v"], stderr=subprocess.PIPE, text=True)
    try:
        log = ProcessLog(bridge)
        log.wait_for("connected on")
        peer.wait_for("ser/agents/alice/status")  # the bridge is on the broker
        peer.publish("ser/agents/alice/set", '{"state":"engaged","minutes":5}')
        log.wait_for("says: beacon: led engaged vermillion solid")
        peer.publish("ser/agents/alice/set", '{"state":"auto"}')
        firmware.press_button()  # acts for alice like an MQTT button event: dnd
        assert peer.wait_for_state("ser/agents/alice/status", "dnd")["source"]
        log.wait_for("says: beacon: led dnd purple solid")
    finally:
        bridge.terminate()
        bridge.wait(timeout=10)
