"""The serial transport of the real firmware (unix port) over a real pty.

The test is the host: it writes status / bridge lines into the pty master
and reads what the beacon says back (hello, events, logs). The pty is raw,
like a USB CDC port: no echo, no line discipline.
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import time
import tty
from pathlib import Path

import pytest

from focuslight.tools.virtual_beacon import firmware_command, firmware_env, free_udp_port

ENGAGED = b'{"v":1,"state":"engaged","source":"phone","since":1}'
HOLD = b'{"v":1,"state":"hold","source":"phone","since":2}'


class SerialBeacon:
    """The firmware with ``transport: serial`` on the slave side of a raw pty."""

    def __init__(self, tmp: Path) -> None:
        (tmp / "config.json").write_text(json.dumps(
            {"agent": "alice", "beacon": "alice-usb", "board": "unix", "transport": "serial"}))
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.vhw = free_udp_port()
        self.proc = subprocess.Popen(firmware_command(), cwd=tmp, env=firmware_env(self.vhw),
                                     stdin=slave, stdout=slave, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        os.close(slave)
        self.lines: list[bytes] = []
        self._rest = b""

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def read_until(self, text: bytes, timeout: float = 10, start: int = 0) -> int:
        """Index of the first line from *start* on holding *text*, reading as needed."""
        deadline = time.monotonic() + timeout
        while True:
            for i, line in enumerate(self.lines[start:], start):
                if text in line:
                    return i
            left = deadline - time.monotonic()
            assert left > 0, f"beacon never said {text!r}; said {self.lines[-20:]}"
            if select.select([self.master], [], [], left)[0]:
                *done, self._rest = (self._rest + os.read(self.master, 4096)).split(b"\n")
                self.lines += [line.rstrip(b"\r") for line in done]

    def press(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"pin 0 0", ("127.0.0.1", self.vhw))
            time.sleep(0.15)
            s.sendto(b"pin 0 1", ("127.0.0.1", self.vhw))

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        os.close(self.master)


@pytest.fixture
def beacon(tmp_path: Path):
    b = SerialBeacon(tmp_path)
    yield b
    b.close()


def test_serial_hello_status_noise_and_button(beacon: SerialBeacon) -> None:
    hello = beacon.read_until(b'"hello"')
    assert json.loads(beacon.lines[hello]) == {"v": 1, "hello": "alice-usb", "agent": "alice"}
    beacon.read_until(b"led unknown blue blink")
    beacon.write(ENGAGED + b"\n")
    beacon.read_until(b"led engaged red solid")

    beacon.write(b"\x00\xff garbage\r\n[1,2]\n{not json\n"
                 + b'{"v":2,"bridge":"online"}\n{"v":1,"state":"busy","source":"x","since":1}\n')
    beacon.write(os.urandom(10_240).replace(b"\n", b"") + b"\n")  # a 10 KB burst
    beacon.write(HOLD[:17])  # a status line in two halves
    time.sleep(0.3)
    beacon.write(HOLD[17:] + b"\r\n")
    at = beacon.read_until(b"led hold red pulse")
    assert b"led" not in b"".join(beacon.lines[beacon.read_until(b"led engaged"):at][1:-1])
    assert beacon.read_until(b"-byte line (limit 512)") < at  # the burst, dropped whole
    assert sum(b"serial: ignored line" in line for line in beacon.lines) == 5

    beacon.write(b'{"v":1,"bridge":"offline"}\n')
    beacon.read_until(b"led unknown blue blink", 10)
    beacon.write(b'{"v":1,"bridge":"online"}\n')
    beacon.press()
    event = beacon.read_until(b'"button"')
    assert json.loads(beacon.lines[event]) == {"v": 1, "button": "press"}
    for line in beacon.lines:  # only protocol lines look like JSON objects
        assert not line.startswith(b"{") or b'"hello"' in line or b'"button"' in line, line


def test_serial_heartbeat_keeps_the_state_and_silence_means_unknown(
        beacon: SerialBeacon) -> None:
    beacon.read_until(b"led unknown")
    beacon.write(ENGAGED + b"\n")
    engaged = beacon.read_until(b"led engaged red solid")
    for _ in range(3):  # heartbeats every 5 s carry the state past the 15 s limit
        time.sleep(5)
        beacon.write(b'{"v":1,"bridge":"online"}\n')
    time.sleep(1)
    silent_from = time.monotonic()
    at = beacon.read_until(b"no line from the host for 15 s", 25, start=engaged)
    assert time.monotonic() - silent_from > 10
    assert not any(b"led unknown" in line for line in beacon.lines[engaged:at])
    assert beacon.read_until(b"led unknown blue blink", start=at) == at + 1


def test_a_cue_over_the_usb_link_shows_on_a_trusted_state_only(beacon: SerialBeacon) -> None:
    """The host writes the status as published, attention and all: the cue blips over engaged,
    goes with the host's "offline", and the next status without one clears it."""
    beacon.read_until(b"led unknown blue blink")
    beacon.write(ENGAGED[:-1] + b',"cue":"reply_due","chats":1}\n')
    at = beacon.read_until(b"led cue reply_due cyan double-blip",
                           start=beacon.read_until(b"led engaged red solid"))
    beacon.write(b'{"v":1,"bridge":"offline"}\n')
    at = beacon.read_until(b"led cue off", start=beacon.read_until(b"led unknown", start=at))
    beacon.write(b'{"v":1,"bridge":"online"}\n')
    at = beacon.read_until(b"led cue reply_due", start=at)
    beacon.write(ENGAGED + b"\n")
    beacon.read_until(b"led cue off", start=at)
