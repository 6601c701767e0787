"""``focuslight update``: new firmware (and config) onto a beacon over the network
(:mod:`focuslight.tools.update`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..protocol import ProtocolError
from ..tools import update
from ..tools.flash import FIRMWARE_DIR, FlashError

HELP = "new firmware (and config) onto a beacon over the network"
DESCRIPTION = ("Offer a firmware to a beacon over MQTT; it checks, installs, restarts and rolls"
               " back if the new firmware does not come up.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--beacon", required=True, help="the beacon's id, e.g. alice-desk")
    parser.add_argument("-c", "--config", metavar="FILE", help="focuslight.toml: broker"
                        " and prefix from its [bridge] table (its account is refused: pass"
                        " --username/--password of an admin account)")
    parser.add_argument("--firmware", type=Path, default=FIRMWARE_DIR, metavar="DIR",
                        help="firmware folder (default: %(default)s)")
    parser.add_argument("--source", action="store_true", help="send .py sources instead of"
                        " compiling to .mpy for the beacon")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        dest="changes", help="change a key of the beacon's config.json with"
                        " the update (VALUE is JSON, else text; null restores the default);"
                        " repeatable")
    parser.add_argument("--beacon-ca", metavar="PEM", help="a new site CA for the beacon's"
                        " MQTT over TLS (its ca.pem), e.g. with --set tls=true --set port=8883")
    parser.add_argument("--force", action="store_true",
                        help="offer the firmware even if the beacon already runs its version")
    parser.add_argument("--trial", type=int, default=90, metavar="S",
                        help="seconds the new firmware has to reach the broker before the"
                             " beacon rolls it back (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=300, metavar="S",
                        help="seconds to wait for the beacon's result (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    try:
        return update.update(args)
    except (update.UpdateError, FlashError, ProtocolError) as err:
        print(f"focuslight update: {err}", file=sys.stderr)
        return update.EXIT_FAILED


