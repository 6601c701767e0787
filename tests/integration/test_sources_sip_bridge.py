"""End to end: sipp as the PBX → the real `focuslight bridge` process → a real mosquitto."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.sipp import CALLER_NAME, CALLER_NUMBER, Sipp
from helpers.sources import BridgeProcess

from focuslight.tools.embedded_broker import free_port

PREFIX = "fl-sip"
STATUS = f"{PREFIX}/agents/alice/status"


def digit_runs(text: str, shortest: int) -> set[str]:
    """Every run of *shortest* or more consecutive digits of *text*'s digits."""
    digits = re.sub(r"\D", "", text)
    return {digits[i:j] for i in range(len(digits))
            for j in range(i + shortest, len(digits) + 1)}


@pytest.fixture
def bridge(tmp_path: Path):
    """Start `focuslight bridge -c` with one SIP source; killed at the end of the test."""
    bridges: list[BridgeProcess] = []

    def start(broker_url: str, pbx_port: int, *options: str) -> tuple[subprocess.Popen, Path]:
        bridges.append(BridgeProcess(tmp_path, f"""
[bridge]
id = "sip-site"
broker = "{broker_url}"
prefix = "{PREFIX}"
[policy]
wrap_up_seconds = 30
[agents.alice]
[[sources]]
type = "sip"
name = "phone"
server = "127.0.0.1"
port = {pbx_port}
transport = "tcp"
timeout = 3
[sources.extensions]
"201" = "alice"
""", command=[sys.executable, "-m", "focuslight", "bridge", *options]).start())
        return bridges[-1].proc, bridges[-1].log

    yield start
    for bridge in bridges:
        bridge.kill()


@pytest.mark.parametrize("options", [(), ("--verbose",)], ids=["info", "debug"])
def test_phone_states_reach_mqtt_without_caller_data(mosquitto, peer_factory, bridge,
                                                     tmp_path: Path, options: tuple) -> None:
    """No caller number or name on any topic, in any payload, or in the bridge's log."""
    everything = peer_factory(mosquitto)  # never waited on: keeps every message
    everything.subscribe(f"{PREFIX}/#")
    watcher = peer_factory(mosquitto)
    watcher.subscribe(STATUS)
    pbx = Sipp("e2e_call", free_port(), tmp_path, transport="tcp").start()
    try:
        proc, log = bridge(mosquitto.url, pbx.port, *options)
        for state in ("ringing", "engaged", "wrap_up"):
            assert watcher.wait_for_state(STATUS, state, timeout=15)["source"] == "phone"
        assert pbx.finish() == 0, pbx.log()
    finally:
        pbx.kill()
    # the PBX closed its TCP connection: the light must not claim anything now
    watcher.wait_for_state(STATUS, "unknown", timeout=15)
    assert proc.poll() is None, log.read_text()  # PBX gone is no reason to crash
    outage = [line for line in log.read_text().splitlines() if "unreachable" in line]
    assert len(outage) == 1, log.read_text()

    logged = log.read_text(errors="replace")
    assert "sip source" in logged  # the log was captured: the outage line above is in it
    digits = CALLER_NUMBER.lstrip("+")
    for i in range(len(digits) - 6):  # any 7 digits of the number, as the log would write them
        assert digits[i:i + 7] not in logged, f"caller digits in the log ({digits[i:i + 7]})"
    for word in CALLER_NAME.split():
        assert word not in logged, f"caller name in the log ({word})"

    published = list(everything.messages.queue)
    assert any(m.topic == STATUS for m in published)
    secrets = digit_runs(CALLER_NUMBER, 7)
    for message in published:
        text = message.topic + " " + message.payload.decode("utf-8", "replace")
        assert not secrets & digit_runs(text, 7), f"caller digits in {message.topic}"
        assert CALLER_NAME.split()[1] not in text
        if message.topic.endswith("/status"):
            assert set(json.loads(message.payload)) == {"v", "state", "source", "since",
                                                         "bridge_id"}
