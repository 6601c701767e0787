"""``focuslight watch``: the live table (:mod:`focuslight.views.watch`)."""

from __future__ import annotations

import argparse

from ..views import watch
from .common import broker_settings, topics_for

HELP = "live table of agents, states and how long"
DESCRIPTION = ("Live view: redraws in place on a terminal, one line per change when piped.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--once", action="store_true",
                        help="print the current (retained) table once and exit, for scripts")
    parser.add_argument("--json", action="store_true",
                        help="with --once: print {agent: {state, source, since}} as JSON;"
                             " a state watch may not believe is 'unknown', with 'published'"
                             " and 'why' beside it")


def run(args: argparse.Namespace) -> int:
    return watch.run(broker_settings(args), topics_for(args), once=args.once, as_json=args.json)
