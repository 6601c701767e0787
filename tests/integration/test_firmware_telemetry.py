"""Beacons report about themselves (issue 9.6): the firmware's version is the package's,
the real firmware (unix port) publishes retained telemetry through a real mosquitto, and
``watch`` shows it with outdated firmware flagged."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import tomllib

import pytest
from helpers.firmware import PREFIX, ROOT, Lines, beacon_factory

import focuslight
from focuslight.protocol import ProtocolError
from focuslight.protocol.telemetry import decode_telemetry, is_outdated, version_key
from focuslight.tools import update

TELEMETRY = f"{PREFIX}/beacons/alice-desk/telemetry"


@pytest.fixture
def beacons():
    yield from beacon_factory()


def firmware_version() -> str:
    """The firmware's VERSION as `focuslight update` reads it (raises if it holds none)."""
    return update.firmware_version(ROOT / "firmware")


def test_the_firmware_carries_the_package_version() -> None:
    package = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert package == "0.2.0"
    assert firmware_version() == package == focuslight.__version__


def test_the_beacon_publishes_retained_telemetry_on_connect_and_periodically(
        mosquitto, peer_factory, beacons) -> None:
    peer = peer_factory(mosquitto)
    peer.subscribe(TELEMETRY)
    beacon = beacons(mosquitto.url, PREFIX, "alice", "alice-desk", "--telemetry", "5")
    first = json.loads(peer.wait_for(TELEMETRY))
    assert first["v"] == 1 and first["agent"] == "alice"
    assert first["firmware"] == firmware_version()
    assert first["reset_cause"] == "power_on" and first["board"] == "unix"
    assert first["ip"] is None and first["rssi"] is None  # the unix port cannot tell
    assert 0 <= first["uptime"] <= 5 and 10_000 < first["heap_free"] < 200 * 1024
    assert first["mpy"] & 0xFF == 6  # .mpy v6: what `focuslight update` compiles for
    assert len(json.dumps(first)) <= 512
    decode_telemetry("alice-desk", json.dumps(first).encode())  # the host accepts it
    started = time.monotonic()
    second = json.loads(peer.wait_for(TELEMETRY, timeout=10))
    assert 4 <= time.monotonic() - started <= 7 and second["uptime"] >= first["uptime"] + 4
    # retained: a reader arriving later gets the last one at once
    late = peer_factory(mosquitto)
    late.subscribe(TELEMETRY)
    assert json.loads(late.wait_for(TELEMETRY, timeout=3))["firmware"] == firmware_version()
    # and on every new session (Wi-Fi back): published again at once, not a period later
    beacon.send("wifi off")
    beacon.logs.wait_for("wifi: lost")
    mark = time.monotonic()
    beacon.send("wifi on")
    peer.wait_for(TELEMETRY, timeout=10)
    assert time.monotonic() - mark < 4.5


def test_watch_lists_beacons_and_flags_outdated_firmware(mosquitto, peer_factory,
                                                          beacons) -> None:
    peer = peer_factory(mosquitto)
    peer.subscribe(TELEMETRY)
    beacons(mosquitto.url, PREFIX, "alice", "alice-desk")
    peer.wait_for(TELEMETRY)
    old = {"v": 1, "agent": "bob", "firmware": "0.1.0", "ip": "192.168.1.24", "rssi": -70,
           "uptime": 3700, "heap_free": 90_000, "reset_cause": "watchdog"}
    peer.publish(f"{PREFIX}/beacons/bob-desk/telemetry", json.dumps(old), retain=True)
    done = subprocess.run([sys.executable, "-m", "focuslight", "watch", "--once", "--broker",
                           mosquitto.url, "--prefix", PREFIX],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line for line in done.stdout.splitlines() if line}
    assert "BEACON" in rows
    assert rows["alice-desk"].split()[1:4] == ["alice", firmware_version(), "online"]
    assert "OUTDATED" not in rows["alice-desk"]
    # bob-desk's availability was never heard: its link is unknown (the board's rule too)
    assert rows["bob-desk"].split()[1:8] == ["bob", "0.1.0", "unknown", "1h01m", "87K", "-70",
                                             "192.168.1.24"]
    assert f"OUTDATED (this focuslight is {focuslight.__version__})" in rows["bob-desk"]


def test_watch_piped_prints_a_line_per_report(mosquitto, peer_factory) -> None:
    peer = peer_factory(mosquitto)
    report = {"v": 1, "firmware": "0.1.9", "uptime": 61, "heap_free": None}
    peer.publish(f"{PREFIX}/beacons/carol-desk/telemetry", json.dumps(report), retain=True)
    proc = subprocess.Popen([sys.executable, "-m", "focuslight", "watch", "--broker",
                             mosquitto.url, "--prefix", PREFIX],
                            stdout=subprocess.PIPE, text=True)
    try:
        out = Lines(proc.stdout)
        line = out.lines[out.wait_for("beacon carol-desk")]
        assert re.search(r"beacon carol-desk firmware 0\.1\.9 up 1m01s heap - rssi - ip -"
                         r" reset - OUTDATED", line), line
        # the routine report a minute later is no news; a restart is
        mark = out.mark()
        peer.publish(f"{PREFIX}/beacons/carol-desk/telemetry", json.dumps(report | {"uptime": 121}))
        peer.publish(f"{PREFIX}/beacons/carol-desk/telemetry", json.dumps(report | {"uptime": 3}))
        assert "up 3s" in out.lines[out.wait_for("beacon carol-desk", mark)]
        peer.publish(f"{PREFIX}/beacons/carol-desk/telemetry", b"{not json")
        out.wait_for(f"ignored {PREFIX}/beacons/carol-desk/telemetry")
        assert sum("carol-desk firmware" in line for line in out.lines) == 2
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize("payload, why", [
    (b'{"v":1,"uptime":1}', "firmware must be a version"),
    (b'{"v":1,"firmware":"0.2.0"}', "uptime must be"),
    (b'{"v":1,"firmware":"0.2.0","uptime":-1}', "uptime must be"),
    (b'{"v":1,"firmware":"0.2 0","uptime":1}', "firmware must be a version"),
    (b'{"v":1,"firmware":"0.2.0","uptime":1,"rssi":"strong"}', "rssi must be"),
    (b'{"v":1,"firmware":"0.2.0","uptime":1,"ip":"\\u001b[31m"}', "ip must be"),
    (b'{"v":2,"firmware":"0.2.0","uptime":1}', "unsupported protocol version"),
    (b'{"v":1,"firmware":"0.2.0","uptime":1,"agent":"Alice"}', "agent must match"),
])
def test_bad_telemetry_is_refused_with_a_reason(payload: bytes, why: str) -> None:
    with pytest.raises(ProtocolError, match=why):
        decode_telemetry("x", payload)


def test_version_order() -> None:
    assert version_key("0.2.1rc1") == (0, 2, 1) and version_key("custom") is None
    assert is_outdated("0.1.0", "0.2.0") and is_outdated("0.1.9", "0.2")
    assert not is_outdated("0.2", "0.2.0")
    assert not is_outdated("0.2.0", "0.2.0") and not is_outdated("0.10.0", "0.2.0")
    assert not is_outdated("custom", "0.2.0")
