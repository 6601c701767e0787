"""Running the real beacon firmware on the MicroPython unix port from tests.

``run_script`` runs a snippet with the firmware and its unix seams on the
path (for unit-level checks of firmware modules); ``BeaconProcess`` runs the
whole virtual beacon (``python -m focuslight.tools.virtual_beacon``) and records
what its LED shows, what it logs, and lets a test press its button.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from focuslight.tools.virtual_beacon import (
    VirtualBeacon,
    firmware_env,
    free_udp_port,
    micropython_binary,
)
from helpers.waiting import wait_event

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "contract" / "vectors"

PREFIX = "fwtest"
STATUS = f"{PREFIX}/agents/alice/status"
BRIDGE = f"{PREFIX}/bridges/main/availability"
AVAILABILITY = f"{PREFIX}/beacons/alice-desk/availability"
EVENT = f"{PREFIX}/beacons/alice-desk/event"


def status(state: str) -> bytes:
    """A v1 status payload as the bridge publishes it."""
    return json.dumps({"v": 1, "state": state, "source": "phone",
                       "since": round(time.time(), 3)}).encode()


def run_script(code: str, tmp_path: Path, *, frames: bool = False,
               timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run *code* on the unix port (200 KB heap, like a Pico W) with the firmware importable."""
    script = tmp_path / "script.py"
    script.write_text(code)
    result = subprocess.run([micropython_binary(), "-X", "heapsize=200k", str(script)],
                            env=firmware_env(free_udp_port(), frames), cwd=tmp_path,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr
    return result


def heap(beacon: VirtualBeacon) -> tuple[int, int]:
    """(gc.mem_alloc(), gc.mem_free()) of a virtual beacon's firmware after a gc.collect()
    (the _vhw "mem" datagram)."""
    beacon.send("mem")
    words = dict(w.split("=") for w in wait_event(beacon, "log", "mem alloc=").split() if "=" in w)
    return int(words["alloc"]), int(words["free"])


class Lines:
    """Lines from one stream, kept in order, waited on by content."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self._new = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            with self._new:
                self.lines.append(line.rstrip("\n"))
                self._new.notify_all()

    def mark(self) -> int:
        with self._new:
            return len(self.lines)

    def wait_for(self, text: str, start: int = 0, timeout: float = 15) -> int:
        """Index of the first line from *start* on that contains *text*."""
        deadline = time.monotonic() + timeout
        with self._new:
            while True:
                for i in range(start, len(self.lines)):
                    if text in self.lines[i]:
                        return i
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no line with {text!r} within {timeout} s; got "
                                         f"{self.lines[start:][-20:]}")
                self._new.wait(left)


class BeaconProcess:
    """``python -m focuslight.tools.virtual_beacon`` as a test peer: looks on stdout, logs on
    stderr."""

    def __init__(self, broker_url: str, prefix: str, agent: str = "alice",
                 beacon: str = "alice-desk", *extra: str) -> None:
        self.topic_prefix, self.beacon = prefix, beacon
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "focuslight.tools.virtual_beacon", "--agent", agent, "--beacon",
             beacon, "--broker", broker_url, "--prefix", prefix, *extra],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            bufsize=1, env=dict(os.environ, PYTHONUNBUFFERED="1"))
        self.looks = Lines(self.proc.stdout)
        self.logs = Lines(self.proc.stderr)

    def wait_look(self, look: str, start: int = 0, timeout: float = 15) -> int:
        """Wait for ``<state> <colour> <pattern>`` (or a prefix of it, e.g. the state)."""
        return self.looks.wait_for(look, start, timeout)

    def send(self, command: str) -> None:
        assert self.proc.stdin
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def beacon_factory():
    """Generator for a pytest fixture: start beacons, stop them all afterwards."""
    started: list[BeaconProcess] = []

    def start(*args: str, **kw: str) -> BeaconProcess:
        started.append(BeaconProcess(*args, **kw))
        return started[-1]

    yield start
    for beacon in started:
        beacon.stop()
