"""Real pseudo-terminals for serial tests: socat links that tests plug and unplug.

``Socat(link, peer)`` makes ``link`` a serial device whose other end is
*peer* (another pty, or the MicroPython unix port running a program), the
way a USB beacon appears as ``/dev/ttyACM0``. ``stop()`` is an unplug: the
link disappears and the reader gets an I/O error; ``start()`` again is a
re-plug at the same path.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from focuslight.tools.embedded_broker import free_port

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
MICROPYTHON = Path(sys.executable).with_name("micropython")
RAW = "raw,echo=0"


class Socat:
    """One socat process serving *link*; *peer* is a socat address."""

    def __init__(self, link: Path, peer: str, *, cwd: Path | None = None,
                 env: dict[str, str] | None = None, peer_link: Path | None = None) -> None:
        self.link, self.peer, self.cwd = link, peer, cwd
        self.links = [link] + ([peer_link] if peer_link else [])
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [shutil.which("socat") or "socat", f"PTY,link={self.link},{RAW}", self.peer],
            cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(lambda: all(p.exists() for p in self.links) or self.proc.poll() is not None)
        assert all(p.exists() for p in self.links), f"socat did not create {self.links}"

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        _wait(lambda: not any(p.exists() for p in self.links))


def pty_pair(tmp: Path) -> tuple[Socat, Path]:
    """A host-side device ``tmp/tty`` wired to a test-side device ``tmp/peer``."""
    peer = tmp / "peer"
    return Socat(tmp / "tty", f"PTY,link={peer},{RAW}", peer_link=peer), peer


class PeerPort:
    """The test's end of a pty pair, read with plain ``os.read``.

    Not pyserial: its ``open()`` flushes the input, which would throw away
    whatever the host wrote before the test got round to opening its end.
    """

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        self.pending = b""

    def readline(self, timeout: float = 5) -> bytes:
        """One line with its newline, or whatever came before *timeout* (like pyserial)."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.pending:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                break
            self.pending += os.read(self.fd, 4096)
        line, newline, self.pending = self.pending.partition(b"\n")
        if not newline:
            self.pending, line = line, b""
        return line + newline

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]

    def __enter__(self) -> PeerPort:
        return self

    def __exit__(self, *_exc: object) -> None:
        os.close(self.fd)


def micropython_env(*paths: Path) -> dict[str, str]:
    """MICROPYPATH for the unix port: the cwd ("") and frozen modules, then *paths*."""
    return {"MICROPYPATH": ":".join(["", ".frozen", *map(str, paths)])}


def micropython_peer(*argv: str) -> str:
    """A socat address running the MicroPython unix port on the pty, like a board."""
    command = " ".join([str(MICROPYTHON), *argv])
    return f"EXEC:{command},pty,{RAW},setsid,ctty"


def _wait(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)


class FirmwareBeacon:
    """The real firmware with ``transport: serial`` on a pty at *tmp/tty*."""

    def __init__(self, tmp: Path) -> None:
        board = tmp / "board"
        board.mkdir()
        (board / "config.json").write_text(json.dumps(
            {"agent": "alice", "beacon": "alice-usb", "board": "unix", "transport": "serial"}))
        self.vhw_port = free_port()
        env = {**micropython_env(FIRMWARE, FIRMWARE / "unix"),
               "FOCUSLIGHT_VHW_PORT": str(self.vhw_port)}
        self.socat = Socat(tmp / "tty", micropython_peer(str(FIRMWARE / "main.py")),
                           cwd=board, env=env)
        self.link = self.socat.link

    def press_button(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"pin 0 0", ("127.0.0.1", self.vhw_port))
            time.sleep(0.15)
            s.sendto(b"pin 0 1", ("127.0.0.1", self.vhw_port))
