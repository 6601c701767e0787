"""``focuslight desk --agent alice``: the focus guard on an agent's PC (:mod:`focuslight.desk`)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from .. import desk
from ..desk.journal import Busy
from ..desk.light import LightError
from ..desk.settings import LightSettings, load
from ..desk.silencers import BACKENDS
from ..mqtt.client import BrokerSettings
from ..protocol import ID_PATTERN
from .common import EXIT_USAGE, topics_for

HELP = "silence desktop notifications while with a customer; drive a USB busy light"
DESCRIPTION = ("Follow one agent's status and, while ringing, engaged or on hold, silence the "
               "desktop's notifications (dunst, GNOME, KDE Plasma), giving them back exactly "
               "as they were afterwards, also after a crash. Optionally drive a USB busy "
               "light (needs focuslight[desk]). Settings: ~/.config/focuslight/desk.toml "
               "(see docs/desk.md).")

log = logging.getLogger(__name__)


def _notifications(text: str) -> tuple[str, ...] | None:
    """``auto`` → None; ``none`` → (); ``dunst,kde`` → the names."""
    if text == "auto":
        return None
    names = () if text == "none" else tuple(n.strip() for n in text.split(","))
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"expected auto, none or a comma list of {', '.join(BACKENDS)}; got {text!r}")
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--agent", metavar="ID", help="whose status to follow (or agent = in"
                                                      " the file)")
    parser.add_argument("-c", "--config", metavar="FILE", type=Path,
                        help="settings file (default ~/.config/focuslight/desk.toml if it"
                             " exists)")
    parser.add_argument("--notifications", type=_notifications, metavar="WHICH",
                        default=argparse.SUPPRESS,
                        help="auto (default), none, or a comma list of dunst, gnome, kde")
    parser.add_argument("--light", action="store_true",
                        help="drive every USB busy light found (as [light] in the file)")


def run(args: argparse.Namespace) -> int:
    settings = load(args.config)
    agent = args.agent or settings.agent
    if agent is None:
        print("focuslight desk: whose desk? pass --agent ID (or agent = \"ID\" in"
              f" {settings.file or 'the settings file'})", file=sys.stderr)
        return EXIT_USAGE
    if not ID_PATTERN.fullmatch(agent):
        print(f"focuslight desk: --agent must match [a-z0-9_-]{{1,64}}, got {agent!r}",
              file=sys.stderr)
        return EXIT_USAGE
    if hasattr(args, "notifications"):  # given: it beats the file ("auto" is None)
        settings.notifications = args.notifications
    broker = BrokerSettings.resolve(args.broker, settings.broker).with_credentials(
        settings.username, settings.password, settings.ca_file).with_credentials(
        args.username, args.password, args.ca_file)
    try:
        guard = desk.build(settings, agent, broker, topics_for(args, settings.prefix),
                           LightSettings() if args.light and settings.light is None else None)
    except LightError as err:
        print(f"focuslight desk: {err}", file=sys.stderr)
        return EXIT_USAGE
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("received %s, giving back the notifications and stopping",
                 signal.Signals(signum).name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # HUP: the session ended
        signal.signal(sig, on_signal)
    try:
        guard.start()
    except Busy as err:
        print(f"focuslight desk: {err}", file=sys.stderr)
        return EXIT_USAGE
    try:
        stop.wait()
    finally:
        guard.stop()
    return 0
