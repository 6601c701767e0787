"""The virtual beacon on a terminal (a real pty): the LED drawn as a coloured
block from the firmware's NeoPixel frames, the state name beside it, keys as
the button."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time

import pytest
from helpers.firmware import EVENT, PREFIX, STATUS, Lines, status


class Terminal:
    def __init__(self, argv: list[str]) -> None:
        self.master, slave = os.openpty()
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                                     start_new_session=True)
        os.close(slave)
        self.screen = b""

    def wait_for(self, *texts: bytes, timeout: float = 15) -> None:
        """Read until every one of *texts* has appeared since the last wait."""
        start, deadline = len(self.screen), time.monotonic() + timeout
        while not all(t in self.screen[start:] for t in texts):
            left = deadline - time.monotonic()
            assert left > 0, f"never saw {texts}; screen ends {self.screen[-400:]!r}"
            if select.select([self.master], [], [], left)[0]:
                self.screen += os.read(self.master, 65536)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


def test_terminal_draws_the_led_and_keys_are_the_button(mosquitto, peer_factory) -> None:
    peer = peer_factory(mosquitto)
    peer.subscribe(EVENT)
    term = Terminal([sys.executable, "-m", "focuslight.tools.virtual_beacon", "--agent", "alice",
                     "--beacon", "alice-desk", "--broker", mosquitto.url, "--prefix", PREFIX])
    try:
        term.wait_for(b"virtual beacon alice-desk for agent alice", b"space = press")
        term.wait_for(b"\x1b[48;2;0;0;255m", b"unknown", b"(blue, blink)")  # lit blue ...
        term.wait_for(b"\x1b[48;2;0;0;0m")  # ... and dark: it blinks
        peer.publish(STATUS, status("engaged"), retain=True)
        term.wait_for(b"\x1b[48;2;255;0;0m", b"engaged", b"(red, solid)")
        os.write(term.master, b" ")
        assert json.loads(peer.wait_for(EVENT)) == {"v": 1, "button": "press"}
        os.write(term.master, b"q")
        assert term.proc.wait(10) == 0
    finally:
        term.close()


@pytest.mark.parametrize(("argv", "message"), [
    (["--agent", "Alice"], "--agent must match [a-z0-9_-]{1,64}"),
    (["--agent", "alice", "--brightness", "3"], "--brightness must be a number from 0 to 1"),
    (["--agent", "alice", "--keepalive", "1"], "--keepalive must be 5..3600 seconds"),
    (["--agent", "alice", "--prefix", "a/#"], "topic prefix must be plain text"),
    (["--agent", "alice", "--broker", "mqtts://127.0.0.1:8883"], "needs --ca-file"),
])
def test_bad_options_say_what_is_wrong(argv, message) -> None:
    result = subprocess.run([sys.executable, "-m", "focuslight.tools.virtual_beacon", *argv],
                            capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert message in result.stderr


def test_beacon_without_virtual_points_at_flash() -> None:
    result = subprocess.run([sys.executable, "-m", "focuslight", "beacon", "--agent", "alice"],
                            capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and "focuslight flash" in result.stderr


def test_broker_from_the_environment(mosquitto, peer_factory) -> None:
    peer_factory(mosquitto).publish(STATUS, status("hold"), retain=True)
    proc = subprocess.Popen([sys.executable, "-m", "focuslight.tools.virtual_beacon", "--agent",
                             "alice", "--prefix", PREFIX], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=dict(os.environ, FOCUSLIGHT_BROKER=mosquitto.url))
    try:
        Lines(proc.stdout).wait_for("hold red pulse")
    finally:
        proc.terminate()
        proc.wait(10)
