"""``focuslight beacon --virtual``: the real firmware on the MicroPython unix port, its LED
in the terminal (:mod:`focuslight.tools.virtual_beacon`)."""

from __future__ import annotations

import argparse
import signal
import sys

from ..tools.virtual_beacon import (
    EXIT_CONFIG,
    LineView,
    TerminalView,
    VirtualBeacon,
    ca_files,
    firmware_config,
)
from .common import broker_settings

HELP = "run the real beacon firmware on this machine"
DESCRIPTION = "Run the real firmware on the MicroPython unix port with a terminal LED."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--virtual", action="store_true",
                        help="run the firmware on the MicroPython unix port (the only mode here;"
                             " real boards get it with `focuslight flash`)")
    parser.add_argument("--agent", required=True, help="agent whose status the beacon shows")
    parser.add_argument("--beacon", help="beacon id (default: AGENT-virtual)")
    parser.add_argument("--brightness", type=float, default=1.0,
                        help="LED brightness 0..1 (default 1)")
    parser.add_argument("--available-off", action="store_true",
                        help="show 'available' as dark instead of dim green")
    parser.add_argument("--looks", default="default", metavar="NAME",
                        help="the site's set of looks to follow (default %(default)s;"
                             " docs/looks.md)")
    parser.add_argument("--keepalive", type=int, default=30,
                        help="MQTT keepalive in seconds (default 30)")
    parser.add_argument("--telemetry", type=int, default=60, metavar="S",
                        help="publish telemetry every S seconds (default 60)")


def run(args: argparse.Namespace) -> int:
    """Run until Ctrl-C / SIGTERM (or the firmware stops); return the exit code."""
    if not args.virtual:
        print("focuslight beacon: only --virtual runs here; put the firmware on a board with"
              " `focuslight flash`", file=sys.stderr)
        return EXIT_CONFIG
    try:
        broker = broker_settings(args)
        config = firmware_config(broker, args.agent, beacon=args.beacon, prefix=args.prefix,
                                 brightness=args.brightness,
                                 available_off=args.available_off, keepalive=args.keepalive,
                                 telemetry=args.telemetry, looks=args.looks)
    except ValueError as err:
        print(f"focuslight beacon: {err}", file=sys.stderr)
        return EXIT_CONFIG
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    signal.signal(signal.SIGTERM, _raise_interrupt)
    with VirtualBeacon(config, frames=interactive, files=ca_files(broker)) as beacon:
        try:
            if interactive:
                return TerminalView(beacon).run()
            return LineView(beacon).run()
        except KeyboardInterrupt:
            return 0


def _raise_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt
