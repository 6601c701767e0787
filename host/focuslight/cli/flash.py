"""``focuslight flash``: firmware and config onto a board (:mod:`focuslight.tools.flash`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..tools import flash

HELP = "put the firmware and its config on a board"
DESCRIPTION = "Compile the firmware with mpy-cross, copy it with mpremote, write config.json."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    board = parser.add_argument_group("board")
    board.add_argument("--port", help="serial device, e.g. /dev/ttyACM0 (default: the only"
                       " USB serial device plugged in)")
    board.add_argument("--board", choices=sorted(flash.BOARD_ARCHS), help="board kind (default:"
                       " from the board's sys.platform)")
    board.add_argument("--firmware", type=Path, default=flash.FIRMWARE_DIR, metavar="DIR",
                       help="firmware folder (default: %(default)s)")
    board.add_argument("--source", action="store_true", help="copy .py sources instead of"
                       " compiling to .mpy (slower imports, more RAM)")
    board.add_argument("--no-reset", action="store_true", help="leave the board as it is"
                       " after the copy: no reset, main.py not started, no wait")
    board.add_argument("--dry-run", action="store_true", help="print the steps, touch nothing")
    device = parser.add_argument_group("device config (config.json)")
    device.add_argument("-c", "--config", metavar="FILE", help="focuslight.toml: broker,"
                        " credentials and prefix from its [bridge] table")
    device.add_argument("--agent", required=True, help="agent whose status the beacon shows")
    device.add_argument("--beacon", help="this beacon's id (default: <agent>-beacon)")
    device.add_argument("--wifi-ssid", help="Wi-Fi network (needed for --transport mqtt)")
    device.add_argument("--wifi-password", default="", help="Wi-Fi password")
    device.add_argument("--transport", choices=("mqtt", "serial"), default="mqtt",
                        help="mqtt over Wi-Fi, or serial: driven by the bridge over USB")
    device.add_argument("--led", choices=("neopixel", "rgb"), default="neopixel",
                        help="LED kind (default %(default)s)")
    device.add_argument("--brightness", type=float, default=None, metavar="0..1",
                        help="LED brightness (default: firmware's)")
    device.add_argument("--led-pin", type=int, metavar="GPIO", help="NeoPixel data pin"
                        " (default: the board's, see hardware/)")
    device.add_argument("--led-count", type=int, metavar="N", help="NeoPixels on the ring")
    device.add_argument("--rgb-pins", metavar="R,G,B", help="GPIOs of an RGB LED")
    device.add_argument("--button-pin", type=int, metavar="GPIO", help="button GPIO")
    device.add_argument("--ntp-host", metavar="HOST", help="NTP server a board with an"
                        " mqtts:// broker sets its clock from, for certificate dates"
                        " (default: the firmware's, pool.ntp.org)")
    device.add_argument("--available-off", action="store_true",
                        help="LED off instead of dim green when available")
    device.add_argument("--looks", metavar="NAME", help="the site's set of looks the beacon"
                        " follows, e.g. public or colour_blind (default: the firmware's,"
                        " default; docs/looks.md)")
    wait = parser.add_argument_group("after flashing")
    wait.add_argument("--no-wait", action="store_true",
                      help="do not wait for the beacon to come online on MQTT")
    wait.add_argument("--watch-username", metavar="USER", help="broker account the wait"
                      " connects with: an admin account, never the bridge's (the broker would"
                      " push the running bridge off) nor the beacon's (--username)")
    wait.add_argument("--watch-password", metavar="PW", help="its password")
    wait.add_argument("--timeout", type=float, default=90, metavar="S",
                      help="seconds to wait for online (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    try:
        return flash.flash(args)
    except flash.FlashError as err:
        print(f"focuslight flash: {err}", file=sys.stderr)
        return flash.EXIT_FAILED


