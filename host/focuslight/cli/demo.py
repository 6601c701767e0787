"""``focuslight demo``: everything on one machine (:mod:`focuslight.tools.demo`)."""

from __future__ import annotations

import argparse
import os

from ..mqtt.client import ENV_BROKER
from ..tools import demo, embedded_broker
from .common import broker_settings

HELP = "everything on one machine, no hardware, no setup"
DESCRIPTION = "Embedded broker + bridge with simulated agents + a virtual beacon."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    most = len(demo.DEMO_AGENTS)
    parser.add_argument("--agents", type=int, default=4, choices=range(1, most + 1),
                        metavar="N", help=f"agents on the floor, 1..{most} (default 4)")
    parser.add_argument("--duration", type=float, metavar="S",
                        help="stop by itself after S seconds (unattended runs)")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="time multiplier for the simulated agents, the tour and the "
                             "wrap-up grace (default 1)")
    parser.add_argument("--no-tour", action="store_true",
                        help="piped: don't play alice's tour, only obey stdin commands")
    parser.add_argument("--local-broker", choices=embedded_broker.KINDS, default="auto",
                        help="without --broker: which local broker to start (default auto: "
                             "mosquitto when installed, else amqtt from the demo extra)")


def run(args: argparse.Namespace) -> int:
    yours = broker_settings(args) if args.broker or os.environ.get(ENV_BROKER) else None
    return demo.run(yours, agents=args.agents, duration=args.duration, speed=args.speed,
                    tour=not args.no_tour, local_broker=args.local_broker, prefix=args.prefix)
