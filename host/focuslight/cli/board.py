"""``focuslight board``: the floor board web page (:mod:`focuslight.views.floor_board`)."""

from __future__ import annotations

import argparse
import os
import re
import sys

from ..config import load
from ..mqtt.client import BrokerSettings
from ..protocol import Topics
from ..views.floor_board.server import DEFAULT_LISTEN, FloorBoard
from .common import broker_settings, serve_until_signal, topics_for

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
    parser.add_argument("--token-file", metavar="FILE",
                        help="a file holding the board's token (or set $FOCUSLIGHT_BOARD_TOKEN):"
                             " only requests carrying it are served; open the board once as "
                             "http://HOST:PORT/?token=... (see docs/board.md)")


TOKEN_ENV = "FOCUSLIGHT_BOARD_TOKEN"
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_.~-]{16,256}")
"""URL- and cookie-safe, and long enough not to guess (``secrets.token_urlsafe(24)``)."""


def read_token(args: argparse.Namespace) -> str | None:
    """The board's token from ``--token-file`` or ``$FOCUSLIGHT_BOARD_TOKEN`` (None: open
    board); ValueError saying what to fix when it is unreadable or too weak."""
    if args.token_file:
        try:
            with open(args.token_file, encoding="utf-8") as fh:
                token = fh.read().strip()
        except OSError as err:
            raise ValueError(f"cannot read --token-file {args.token_file}: {err.strerror}") \
                from None
    else:
        token = os.environ.get(TOKEN_ENV, "").strip()
        if not token:
            return None
    if not TOKEN_PATTERN.fullmatch(token):
        raise ValueError("the board token must be 16 to 256 of A-Z a-z 0-9 _ . ~ -; make one "
                         "with: python3 -c 'import secrets; print(secrets.token_urlsafe(24))'")
    return token


def run(args: argparse.Namespace) -> int:
    try:
        token = read_token(args)
    except ValueError as err:
        print(f"focuslight board: {err}", file=sys.stderr)
        return 2
    settings, topics, names, groups = _broker_and_names(args)
    board = FloorBoard(settings, topics, args.listen, names, groups=groups, token=token)
    return serve_until_signal("board", board, args.listen, "floor board",
                              " (or stop what holds this one: another board?)")

def _broker_and_names(args: argparse.Namespace) -> tuple[BrokerSettings, Topics,
                                                       dict[str, str], dict[str, str]]:
    """Flags and $FOCUSLIGHT_BROKER win over the config file, as for the bridge. The board
    learns names and groups from the bridge's own file: they are the site's config, not
    something the broker carries (docs/board.md, "Teams")."""
    if not args.config:
        return broker_settings(args), topics_for(args), {}, {}
    config = load(args.config, args.broker)
    settings = config.broker.with_credentials(args.username, args.password, args.ca_file)
    agents = config.agents.values()
    return (settings, Topics(args.prefix or config.prefix),
            {agent.id: agent.name for agent in agents},
            {agent.id: agent.group for agent in agents if agent.group})
