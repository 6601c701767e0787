"""``focuslight bridge -c focuslight.toml``: the real bridge (:mod:`focuslight.app`)."""

from __future__ import annotations

import argparse

from ..app import Service, build_sources, plural, run_until_signal
from ..config import load, require_agents
from ..protocol import Topics

HELP = "run the bridge (sources → MQTT)"
DESCRIPTION = "Run the bridge: read sources, merge per agent, publish over MQTT."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", required=True, metavar="FILE",
                        help="focuslight.toml (see docs/configuration.md)")
    parser.add_argument("--check", action="store_true",
                        help="validate the config file and exit")


def run(args: argparse.Namespace) -> int:
    config = load(args.config, args.broker)
    require_agents(config)
    config.broker = config.broker.with_credentials(args.username, args.password, args.ca_file)
    if args.prefix:
        config.prefix = Topics(args.prefix).prefix
    if args.check:
        build_sources(config)  # a source's own keys are checked by building it (nothing starts)
        print(f"{args.config}: ok — {plural(len(config.agents), 'agent')},"
              f" {plural(len(config.sources), 'source')}, broker {config.broker.url}")
        return 0
    return run_until_signal(Service(config))
