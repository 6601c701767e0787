"""``focuslight board``: the floor board web page (:mod:`focuslight.views.floor_board`)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from ..config import load
from ..mqtt.client import BrokerSettings
from ..protocol import Topics
from ..views.floor_board.server import DEFAULT_LISTEN, FloorBoard
from .common import broker_settings, topics_for

HELP = "the floor board web page"
DESCRIPTION = "Every agent's light, live."


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::]:8080`` for IPv6) → ``(host, port)``; argparse-friendly errors."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, e.g. 0.0.0.0:8080, got {text!r}")
    return host, int(port)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", metavar="FILE",
                        help="the bridge's focuslight.toml: agent names, a tile for every "
                             "agent, and the broker and prefix unless given here")
    parser.add_argument("--listen", type=parse_listen, default=parse_listen(DEFAULT_LISTEN),
                        metavar="HOST:PORT",
                        help=f"where to serve the page (default {DEFAULT_LISTEN}; "
                             "0.0.0.0:8080 for the wall TV across the room)")


def run(args: argparse.Namespace) -> int:
    settings, topics, names = _broker_and_names(args)
    board = FloorBoard(settings, topics, args.listen, names)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        board.start()
    except OSError as err:
        host, port = args.listen
        print(f"focuslight board: cannot listen on {host}:{port}: {err.strerror}; pass"
              " --listen HOST:PORT with a free port (or stop what holds this one: another"
              " board?)", file=sys.stderr)
        return 2
    print(f"floor board: {board.url} (broker {board.settings.url})", flush=True)
    try:
        stop.wait()
    finally:
        board.stop()
    return 0


def _broker_and_names(args: argparse.Namespace) -> tuple[BrokerSettings, Topics, dict[str, str]]:
    """Flags and $FOCUSLIGHT_BROKER win over the config file, as for the bridge."""
    if not args.config:
        return broker_settings(args), topics_for(args), {}
    config = load(args.config, args.broker)
    settings = config.broker.with_credentials(args.username, args.password, args.ca_file)
    return (settings, Topics(args.prefix or config.prefix),
            {agent.id: agent.name for agent in config.agents.values()})
