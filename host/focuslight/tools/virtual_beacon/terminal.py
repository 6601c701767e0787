"""What ``focuslight beacon --virtual`` shows: the LED as lines when piped, as a coloured
block with keys on a terminal."""

from __future__ import annotations

import contextlib
import os
import queue
import select
import sys
import termios
import threading
import tty
from collections.abc import Iterator
from typing import Any

from .config import EXIT_CONFIG
from .process import RESET_LINE, Look, VirtualBeacon


class LineView:
    """Piped mode: one line per look (and ``cue <name>`` / ``cue off``) on stdout, logs on
    stderr, commands from stdin."""

    def __init__(self, beacon: VirtualBeacon) -> None:
        self.beacon = beacon

    def run(self) -> int:
        threading.Thread(target=self._commands, daemon=True).start()
        for kind, value in _drain(self.beacon.events):
            if kind == "exit":
                return value
            if kind == "look":
                print(value, flush=True)
            elif kind == "cue":
                print(f"cue {value or 'off'}", flush=True)
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
        self.cue: str | None = None
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
                elif kind == "cue":
                    self.cue = value
                elif kind == "px":
                    self.rgb = value
                else:
                    print(f"\r\x1b[2K\x1b[2m{RESET_LINE if kind == 'reset' else value}\x1b[0m")
                kind, value = self.beacon.events.get_nowait()
        return None

    def _draw(self) -> None:
        r, g, b = self.rgb
        block = f"\x1b[48;2;{r};{g};{b}m{' ' * 8}\x1b[0m"
        cue = f"  + cue {self.cue}" if self.cue else ""
        sys.stdout.write(f"\r\x1b[2K {block}  {self.look.state:<10} "
                         f"({self.look.colour}, {self.look.pattern}){cue}")
        sys.stdout.flush()


def _drain(events: queue.Queue[tuple[str, Any]]) -> Iterator[tuple[str, Any]]:
    while True:
        yield events.get()
