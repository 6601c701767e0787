"""The ``focuslight`` command: one entry point, one module per subcommand.

Every subcommand is a module in this package with ``HELP`` (one line for
``focuslight --help``), ``DESCRIPTION``, ``add_arguments(parser)`` and
``run(args) -> int``, listed once in :data:`COMMANDS`. Every subcommand takes
the broker the same way (:mod:`.common`): ``--broker URL`` beats
``$FOCUSLIGHT_BROKER`` beats the config file beats ``mqtt://127.0.0.1:1883``.

Adding a command: write ``cli/<name>.py`` with those four names (its work lives
in a library module elsewhere: a view, a tool, the app), add its name to
:data:`COMMANDS`, and a test in ``tests/integration/test_cli*.py``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from .. import __version__
from ..config_section import ConfigError
from ..mqtt.client import BrokerError, BrokerURLError
from ..protocol import ProtocolError
from .common import EXIT_USAGE, add_broker_options

COMMANDS = ("bridge", "set", "retire", "watch", "beacon", "flash", "update", "demo", "board",
            "desk", "counter-sign")
"""Every subcommand, in ``--help`` order; each is the module ``focuslight.cli.<name>``
(a dash in the command is an underscore in the module: ``counter_sign``)."""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    try:
        return int(args.handler(args) or 0)
    except (ConfigError, BrokerURLError, BrokerError, ProtocolError) as err:
        print(f"focuslight {args.command}: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="focuslight",
        description="A status light for people who serve customers: merges telephony and "
                    "walk-up state per agent and publishes it over MQTT.",
        epilog="Broker: --broker, then $FOCUSLIGHT_BROKER, then the config file, then "
               "mqtt://127.0.0.1:1883. Each command has its own --help.")
    parser.add_argument("--version", action="version", version=f"focuslight {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"{__name__}.{name.replace('-', '_')}")
        command = sub.add_parser(name, help=module.HELP, description=module.DESCRIPTION)
        add_broker_options(command)
        module.add_arguments(command)
        command.set_defaults(handler=module.run)
    return parser


if __name__ == "__main__":
    sys.exit(main())
