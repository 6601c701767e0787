"""``focuslight set AGENT STATE``: a manual state, answered by the owning bridge
(:mod:`.control` does the asking)."""

from __future__ import annotations

import argparse

from . import control
from .common import broker_settings, topics_for

HELP = "set an agent's state by hand (auto clears)"
DESCRIPTION = ("Ask the bridge that owns the agent for a manual state and print its answer; the "
               "bridge merges it like any source.")
add_arguments = control.add_set_arguments


def run(args: argparse.Namespace) -> int:
    """Validate (exit 2) before connecting, send with an id, print the owning bridge's
    answer: :func:`.control.run_set`."""
    return control.run_set(args, broker_settings(args), topics_for(args))
