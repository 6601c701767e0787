"""The board itself: what it says it is (``mpremote exec``), and running mpremote and
mpy-cross against it."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from serial.tools import list_ports

ARCHS = (None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
         "xtensa", "xtensawin", "rv32imc", "rv64imc")
"""Native arch names by the index in bits 10.. of ``sys.implementation._mpy``."""
BOARD_PLATFORMS = {"rp2": "pico_w", "esp32": "esp32"}
BOARD_ARCHS = {"pico_w": "armv6m", "esp32": "xtensawin"}
UNIX_PLATFORMS = frozenset({"linux", "darwin", "freebsd", "windows"})
MPY_CROSS = [sys.executable, "-m", "mpy_cross"]
MPREMOTE = [sys.executable, "-m", "mpremote"]
STEP_TIMEOUT_S = 120

PROBE = ("import sys\ni=sys.implementation\n"
         "print(repr((sys.platform,tuple(i.version[:3]),getattr(i,'_mpy',0))))")


class FlashError(Exception):
    """Flashing cannot go on; the message says what to do about it."""


@dataclass(frozen=True, slots=True)
class Board:
    """What the board said about itself (or what a dry run assumes)."""

    platform: str
    version: tuple[Any, ...]
    mpy: int

    @property
    def mpy_version(self) -> tuple[int, int] | None:
        """``(major, sub)`` of the .mpy files it loads; None if it loads none."""
        return (self.mpy & 0xFF, (self.mpy >> 8) & 3) if self.mpy else None

    @property
    def arch(self) -> str | None:
        index = (self.mpy >> 10) & 0x3F
        return ARCHS[index] if index < len(ARCHS) else None

    @property
    def is_unix(self) -> bool:
        return self.platform in UNIX_PLATFORMS

    def describe(self) -> str:
        version = ".".join(str(v) for v in self.version)
        mpy = "no .mpy support" if not self.mpy_version else "mpy v{}.{}".format(
            *self.mpy_version)
        return f"MicroPython {version} on {self.platform} ({mpy}, arch {self.arch or 'none'})"

EXIT_FAILED = 1
"""``focuslight flash`` and ``update``'s exit status when a :class:`FlashError` stopped them."""


def detect_port(allow_none: bool = False) -> str:
    """The only USB serial device plugged in (what ``mpremote connect auto`` would pick)."""
    ports = [p for p in list_ports.comports() if p.vid is not None]
    micropython = [p for p in ports if p.manufacturer == "MicroPython"]
    if len(micropython) == 1:
        return micropython[0].device
    if len(ports) == 1:
        return ports[0].device
    if allow_none:
        return "auto"
    if not ports:
        raise FlashError("no board found: plug the board in with a data USB cable (some are"
                         " charge-only), check it is listed by `mpremote devs`, or pass --port")
    found = ", ".join(f"{p.device} ({p.description})" for p in ports)
    raise FlashError(f"several USB serial devices found: {found}; pick one with --port")


def read_board(port: str) -> Board:
    """Ask the board what it is (this interrupts the firmware running on it)."""
    out = mpremote([*mpremote_connect(port), "exec", PROBE], "read the board").strip()
    try:
        platform, version, mpy = ast.literal_eval(out.splitlines()[-1])
    except (ValueError, SyntaxError, IndexError):
        raise FlashError(f"{port} did not answer like MicroPython ({out[-200:]!r}): is"
                         " MicroPython installed on it? (put the UF2/bin from"
                         " micropython.org/download on it first)") from None
    return Board(platform, tuple(version), mpy)


def assumed_board(kind: str | None) -> Board:
    major, sub = mpy_cross_version()
    arch = BOARD_ARCHS[kind or "pico_w"]
    platform = {v: k for k, v in BOARD_PLATFORMS.items()}[kind or "pico_w"]
    return Board(platform, ("?",), major | sub << 8 | ARCHS.index(arch) << 10)


def mpy_cross_version() -> tuple[int, int]:
    """The ``(major, sub)`` .mpy version the installed mpy-cross emits."""
    out = run_tool([*MPY_CROSS, "--version"], "run mpy-cross")
    found = re.search(r"mpy v(\d+)(?:\.(\d+))?", out)
    if not found:
        raise FlashError(f"cannot tell which .mpy version mpy-cross emits: {out.strip()!r}")
    return int(found[1]), int(found[2] or 0)


def wants_mpy(board: Board) -> bool:
    """Compile only for a board that loads this mpy-cross's output; refuse a mismatch."""
    if board.mpy_version is None:
        print("the board cannot import .mpy files: copying .py sources")
        return False
    ours = mpy_cross_version()
    if board.mpy_version[0] != ours[0]:
        version = ".".join(str(v) for v in board.version)
        raise FlashError(
            f"the board runs MicroPython {version} (mpy v{board.mpy_version[0]}); the installed"
            f" mpy-cross emits mpy v{ours[0]}.{ours[1]}. Update MicroPython on the board to a"
            " current release (micropython.org/download), or pass --source to copy .py files")
    return True


def mpremote_connect(port: str) -> list[str]:
    return [*MPREMOTE, "connect", port, "resume"]


def run_tool(argv: list[str], what: str) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=STEP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise FlashError(f"{what}: no answer in {STEP_TIMEOUT_S} s; unplug and replug the"
                         " board, then retry") from None
    if done.returncode != 0:
        tail = (done.stderr + done.stdout).strip().splitlines()[-4:]
        raise FlashError(f"{what} failed (--dry-run shows the command):\n  "
                         + "\n  ".join(tail))
    return done.stdout


def mpremote(argv: list[str], what: str) -> str:
    """Run mpremote; turn its terse failures into what the admin should do."""
    try:
        return run_tool(argv, what)
    except FlashError as err:
        text = str(err)
        port = argv[len(MPREMOTE) + 1]
        if "failed to access" in text or "no device found" in text:
            raise FlashError(_access_problem(port)) from None
        if "could not enter raw repl" in text:
            raise FlashError(f"{port} does not answer as a MicroPython REPL: press the board's"
                             " reset button and retry; if it still fails, install MicroPython"
                             " (micropython.org/download) first") from None
        rejected = re.search(r"ConfigError: (.*)", text)
        if rejected:
            raise FlashError(f"the firmware on the board rejects {rejected[1]}; the board was"
                             " not reset: fix the flag and flash again") from None
        raise


def _access_problem(port: str) -> str:
    if os.name == "posix" and not os.path.exists(port):  # COM3 is no path on Windows
        return (f"{port} is not there: is the board plugged in? (`mpremote devs` lists"
                " boards; or leave out --port)")
    if not os.access(port, os.R_OK | os.W_OK):
        return (f"no permission to open {port}: add yourself to the dialout group"
                " (sudo usermod -aG dialout $USER, then log in again)")
    return (f"{port} is busy in another program (a serial terminal, Thonny, another mpremote,"
            " or a focuslight bridge driving it as a serial beacon): close it, then retry")
