"""USB serial beacons over real pseudo-terminals.

The host side is ``SerialBeacon`` with pyserial; the other side is either a
raw pty the test writes to (for what the firmware would never send: noise,
garbage bursts, split lines) or the real firmware on the MicroPython unix
port, which says what its LED shows in log lines (``beacon: led engaged red
solid``) that the host logs at debug level.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial
from helpers.pty_peers import FirmwareBeacon, PeerPort, pty_pair
from serial.tools.list_ports_common import ListPortInfo

from focuslight.config_section import ConfigError, Section
from focuslight.outputs.serial_beacon import SerialBeacon, from_config
from focuslight.protocol import Status

ENGAGED = Status("engaged", "phone", 1700000000.0)
AVAILABLE = Status("available", "phone", 1700000060.0)


class LogWatch(logging.Handler):
    """Collects the serial beacon output's log lines so tests can wait for what the host saw."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self.changed:
            self.lines.append(record.getMessage())
            self.changed.notify_all()

    def mark(self) -> int:
        with self.changed:
            return len(self.lines)

    def wait_for(self, text: str, since: int = 0, timeout: float = 20) -> None:
        with self.changed:
            if not self.changed.wait_for(
                    lambda: any(text in line for line in self.lines[since:]), timeout):
                raise AssertionError(f"no log line with {text!r}; got {self.lines[since:]}")

    def count(self, text: str, since: int = 0) -> int:
        with self.changed:
            return sum(text in line for line in self.lines[since:])


@pytest.fixture
def logs() -> Iterator[LogWatch]:
    watch, logger = LogWatch(), logging.getLogger("focuslight.outputs.serial_beacon")
    level = logger.level
    logger.addHandler(watch)
    logger.setLevel(logging.DEBUG)
    yield watch
    logger.removeHandler(watch)
    logger.setLevel(level)


@pytest.fixture
def events() -> queue.Queue[tuple[str, str, str]]:
    return queue.Queue()


def make_beacon(port: Path, events: queue.Queue, **kwargs) -> SerialBeacon:
    kwargs = {"agent": "alice", "beacon": "alice-usb", "heartbeat_s": 1, **kwargs}
    beacon = SerialBeacon(port=str(port), on_event=lambda *e: events.put(e), **kwargs)
    beacon.start()
    return beacon


def read_lines(peer: PeerPort, n: int) -> list[dict]:
    lines = [peer.readline() for _ in range(n)]
    assert all(line.endswith(b"\n") for line in lines), lines
    return [json.loads(line) for line in lines]


def next_status(peer: PeerPort) -> tuple[dict, int]:
    """The next status line, and how many bridge heartbeats came before it."""
    heartbeats = 0
    while True:
        (line,) = read_lines(peer, 1)
        if "state" in line:
            return line, heartbeats
        assert line == {"v": 1, "bridge": "online"}
        heartbeats += 1


# -- against a raw pty: what the firmware would never send ---------------------------


def test_status_heartbeat_and_events_survive_noise(tmp_path: Path, events, logs) -> None:
    link, peer_path = pty_pair(tmp_path)
    beacon = make_beacon(link.link, events)
    try:
        with PeerPort(peer_path) as peer:
            assert read_lines(peer, 1) == [{"v": 1, "bridge": "online"}]
            beacon.show(ENGAGED)
            assert next_status(peer)[0]["state"] == "engaged"
            beacon.show(ENGAGED)  # unchanged: not written again
            time.sleep(2.5)
            beacon.show(AVAILABLE)
            status, heartbeats = next_status(peer)
            assert status["state"] == "available"
            assert heartbeats >= 2  # heartbeat_s=1

            peer.write(b"\x00\xff\xfe garbage \x1b[2J\r\n" + b"x" * 10240 + b"\n"
                       + b"[" * 2000 + b"\n" + b'{"v":1,"button":"smash"}\n'
                       + b'{"v":2,"button":"press"}\n' + b'{"v":1,"but')
            time.sleep(0.3)  # the partial line waits in the host's buffer
            peer.write(b'ton":"press"}\r\nbeacon: a log line\n{"v":1,"button":"hold"}\n')
            assert events.get(timeout=5) == ("alice", "press", "alice-usb")
            assert events.get(timeout=5) == ("alice", "hold", "alice-usb")
            assert events.empty()
            assert logs.count("longer than 1024 bytes") == 2
            logs.wait_for(r"says: \x00\xff\xfe garbage \x1b[2J")
            assert logs.count("ignoring bad event line") == 2

            peer.write(b'{"v":1,"hello":"bob-usb","agent":"bob"}\n')  # a reboot: resend all
            resent = read_lines(peer, 2)
            assert {"v": 1, "bridge": "online"} in resent
            assert any(line.get("state") == "available" for line in resent)
            logs.wait_for("calls itself 'bob-usb'")
        beacon.stop()
    finally:
        beacon.stop()
        link.stop()


def test_stop_and_bridge_offline_reach_the_beacon(tmp_path: Path, events) -> None:
    link, peer_path = pty_pair(tmp_path)
    beacon = make_beacon(link.link, events, heartbeat_s=5)
    try:
        with PeerPort(peer_path) as peer:
            assert read_lines(peer, 1) == [{"v": 1, "bridge": "online"}]
            beacon.set_bridge_online(False)
            assert read_lines(peer, 1) == [{"v": 1, "bridge": "offline"}]
            beacon.set_bridge_online(True)
            assert read_lines(peer, 1) == [{"v": 1, "bridge": "online"}]
            beacon.stop()
            assert read_lines(peer, 1) == [{"v": 1, "bridge": "offline"}]
            assert not beacon.connected.is_set()
            beacon.start()  # a restarted bridge is online again
            assert read_lines(peer, 1) == [{"v": 1, "bridge": "online"}]
    finally:
        beacon.stop()
        link.stop()


def test_unplug_and_replug_at_the_same_path(tmp_path: Path, events, logs) -> None:
    link, peer_path = pty_pair(tmp_path)
    beacon = make_beacon(link.link, events, heartbeat_s=5)
    try:
        assert beacon.connected.wait(5)
        beacon.show(ENGAGED)
        link.stop()  # unplug: both ends of the pty go away
        logs.wait_for("lost")
        assert not link.link.exists()
        time.sleep(2.5)  # a few re-open attempts while it is away
        mark = logs.mark()
        link.start()
        with PeerPort(peer_path) as peer:
            got = read_lines(peer, 2)
        assert {"v": 1, "bridge": "online"} in got
        assert any(line.get("state") == "engaged" for line in got)
        assert logs.count("connected on") == 2
        assert logs.count("lost") + logs.count("not plugged in") == 1  # one line for the loss
        assert logs.count("connected on", mark) == 1
    finally:
        beacon.stop()
        link.stop()


def test_serial_number_follows_the_board_to_another_port(tmp_path: Path, events) -> None:
    """The USB serial number is looked up again on every re-open."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, first_peer = pty_pair(tmp_path / "a")
    plugged: list[ListPortInfo] = []

    def ports() -> list[ListPortInfo]:
        return list(plugged)

    def plug(device: Path) -> None:
        info = ListPortInfo(str(device), skip_link_detection=True)
        info.serial_number, info.vid, info.pid = "E6614103E7452D2F", 0x2E8A, 0x0005
        plugged[:] = [ListPortInfo("/dev/ttyS0", skip_link_detection=True), info]

    plug(first.link)
    beacon = SerialBeacon(serial_number="E6614103E7452D2F", agent="alice", beacon="alice-usb",
                          on_event=lambda *e: events.put(e), ports=ports)
    beacon.show(ENGAGED)
    beacon.start()
    second = None
    try:
        with PeerPort(first_peer) as peer:
            assert any(line.get("state") == "engaged" for line in read_lines(peer, 2))
        first.stop()
        plugged.clear()
        second, second_peer = pty_pair(tmp_path / "b")
        plug(second.link)
        with PeerPort(second_peer) as peer:
            assert any(line.get("state") == "engaged" for line in read_lines(peer, 2))
            peer.write(b'{"v":1,"button":"press"}\n')
            assert events.get(timeout=5) == ("alice", "press", "alice-usb")
    finally:
        beacon.stop()
        first.stop()
        if second:
            second.stop()


def test_config_section() -> None:
    good = from_config(Section({"serial_number": "E661", "agent": "alice", "beacon": "a-usb",
                                "heartbeat_s": 2}, "focuslight.toml", "serial_beacons[0]"))
    assert (good.serial_number, good.port, good.baudrate, good.heartbeat_s) == (
        "E661", None, 115200, 2.0)
    bad = [({"port": "/dev/ttyACM0", "serial_number": "E661"}, "serial_beacons[0].port"),
           ({"port": "/dev/ttyACM0", "heartbeat_s": 20}, "serial_beacons[0].heartbeat_s"),
           ({"port": "/dev/ttyACM0", "agent": "Alice!"}, "serial_beacons[0].agent"),
           ({"port": "/dev/ttyACM0", "baud": 9600}, "serial_beacons[0].baud")]
    for extra, key in bad:
        table = {"agent": "alice", "beacon": "a-usb", **extra}
        with pytest.raises(ConfigError, match=rf"^focuslight.toml: {key.replace('[', '.')}"):
            from_config(Section(table, "focuslight.toml", "serial_beacons[0]"))


# -- against the real firmware on the MicroPython unix port --------------------------


@pytest.fixture
def firmware(tmp_path: Path) -> Iterator[FirmwareBeacon]:
    beacon = FirmwareBeacon(tmp_path)
    yield beacon
    beacon.socat.stop()


def test_firmware_shows_status_button_comes_back_and_replug(firmware, events, logs) -> None:
    beacon = make_beacon(firmware.link, events, heartbeat_s=5)
    try:
        beacon.show(ENGAGED)
        logs.wait_for("says: beacon: led engaged red solid")
        firmware.press_button()
        assert events.get(timeout=10) == ("alice", "press", "alice-usb")

        mark = logs.mark()
        time.sleep(17)  # longer than the beacon's 15 s silence limit: heartbeats keep it
        assert logs.count("led unknown", mark) == 0, logs.lines[mark:]

        firmware.socat.stop()  # unplug: the board loses power with its cable
        logs.wait_for("lost", mark)
        firmware.socat.start()  # re-plug: the firmware boots again, shows unknown first
        logs.wait_for("says: beacon: led engaged red solid", mark)
        assert logs.count("connected on", mark) == 1
    finally:
        beacon.stop()


def test_firmware_ignores_noise_and_goes_unknown_when_the_host_is_silent(
        firmware) -> None:
    """A raw host: line noise and a 10 KB burst are ignored; then silence → unknown."""
    with serial.Serial(str(firmware.link), timeout=1) as host:
        host.write(b"\x00\xff garbage\r\n" + bytes(range(256)) * 40 + b"\n"
                   + b'{"v":1,"state":"sleepy","source":"x","since":1}\n'
                   + b'{"v":1,"bridge":"on')
        host.flush()
        time.sleep(0.3)
        host.write(b'line"}\n{"v":1,"bridge":"online"}\n' + ENGAGED.encode()[:20])
        host.flush()
        time.sleep(0.3)
        host.write(ENGAGED.encode()[20:] + b"\n")
        seen = _read_until(host, b"led engaged red solid", 10)
        assert b"ignored" in seen
        silent_from = time.monotonic()
        seen = _read_until(host, b"led unknown blue blink", 25)
        assert time.monotonic() - silent_from > 10  # not before the silence limit
        assert b"no line from the host" in seen


def _read_until(host: serial.Serial, text: bytes, timeout: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while text not in seen:
        assert time.monotonic() < deadline, f"beacon never said {text!r}; said {seen[-2000:]!r}"
        seen += host.readline()
    return seen
