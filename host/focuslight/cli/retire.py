"""``focuslight retire``: clear what a removed agent left on the broker (:mod:`.control`)."""

from __future__ import annotations

import argparse

from . import control
from .common import broker_settings, topics_for

HELP = "clear a removed agent's retained status and HA configs"
DESCRIPTION = ("For agents whose bridge is gone: list, then with --yes clear, their retained "
               "status and Home Assistant discovery configs.")
add_arguments = control.add_retire_arguments


def run(args: argparse.Namespace) -> int:
    return control.run_retire(args, broker_settings(args), topics_for(args))
