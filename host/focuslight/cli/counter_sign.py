"""``focuslight counter-sign``: the page facing a walk-up counter's queue
(:mod:`focuslight.views.counter_sign`)."""

from __future__ import annotations

import argparse

from ..config import load
from ..protocol import check_id
from ..views.counter_sign import CounterSignServer, Wording, built_in, load_wording
from ..views.counter_sign.server import DEFAULT_LISTEN
from ..views.counter_sign.wording import BUILT_IN
from .board import parse_listen
from .common import broker_settings, serve_until_signal, topics_for

HELP = "the customer-facing sign of a walk-up counter"
DESCRIPTION = ("A page for a tablet or screen facing a counter's queue: 'Next please', or "
               "'Serving a customer — we'll be with you shortly (about N min)'.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--agent", required=True, metavar="ID",
                        help="the counter's agent id (e.g. counter-1)")
    parser.add_argument("--lang", default="en", choices=sorted(BUILT_IN),
                        help="built-in wording (default en)")
    parser.add_argument("--wording", metavar="FILE",
                        help="a wording file (TOML, see docs/counter-sign.md); overrides --lang")
    parser.add_argument("-c", "--config", metavar="FILE",
                        help="a bridge's focuslight.toml, for the broker and prefix unless given"
                             " here")
    parser.add_argument("--listen", type=parse_listen, default=parse_listen(DEFAULT_LISTEN),
                        metavar="HOST:PORT",
                        help=f"where to serve the page (default {DEFAULT_LISTEN}; 0.0.0.0:8090"
                             " for a tablet on the LAN)")


def run(args: argparse.Namespace) -> int:
    wording: Wording = load_wording(args.wording) if args.wording else built_in(args.lang)
    if args.config:
        config = load(args.config, args.broker)
        settings = config.broker.with_credentials(args.username, args.password, args.ca_file)
        topics = topics_for(args, config.prefix)
    else:
        settings, topics = broker_settings(args), topics_for(args)
    sign = CounterSignServer(settings, topics, check_id(args.agent, "--agent"), wording,
                             args.listen)
    return serve_until_signal("counter-sign", sign, args.listen,
                              f"counter sign for {args.agent}")
