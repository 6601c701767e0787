"""``focuslight watch``: the live table (:mod:`focuslight.views.watch`)."""

from __future__ import annotations

import argparse
import sys

from ..views import watch
from .common import EXIT_USAGE, broker_settings, topics_for

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
    if args.json and not args.once:  # the live table has no JSON form: say so, not ignore it
        print("focuslight watch: --json prints the table once: add --once", file=sys.stderr)
        return EXIT_USAGE
    return watch.run(broker_settings(args), topics_for(args), once=args.once, as_json=args.json)
