"""The ``focuslight`` command: one entry point, one subcommand per job.

Every subcommand takes the broker the same way: ``--broker URL`` beats
``$FOCUSLIGHT_BROKER`` beats the config file beats ``mqtt://127.0.0.1:1883``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable

import paho.mqtt.client as mqtt

from .. import __version__
from ..app import Service, plural, run_until_signal
from ..config import load, require_agents
from ..config_section import ConfigError
from ..mqtt.client import (
    BrokerError,
    BrokerSettings,
    BrokerURLError,
    broker_from_env,
)
from ..protocol import ProtocolError, Topics
from . import control

log = logging.getLogger("focuslight")

EXIT_USAGE = 2

EXTERNAL_COMMANDS = {
    "beacon": ("focuslight.tools.virtual_beacon", "run the real beacon firmware on this machine",
               "Run the real firmware on the MicroPython unix port with a terminal LED."),
    "flash": ("focuslight.tools.flash", "put the firmware and its config on a board",
              "Compile the firmware with mpy-cross, copy it with mpremote, write config.json."),
    "update": ("focuslight.tools.update",
               "new firmware (and config) onto a beacon over the network",
               "Offer a firmware to a beacon over MQTT; it checks, installs, restarts and rolls"
               " back if the new firmware does not come up."),
    "demo": ("focuslight.tools.demo", "everything on one machine, no hardware, no setup",
             "Embedded broker + bridge with simulated agents + a virtual beacon."),
    "board": ("focuslight.views.floor_board.server", "the floor board web page",
              "Every agent's light, live."),
}
"""Subcommands whose code lives in its own module: ``add_arguments`` + ``run``."""


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

    bridge = _command(sub, "bridge", "run the bridge (sources → MQTT)",
                      "Run the bridge: read sources, merge per agent, publish over MQTT.")
    bridge.add_argument("-c", "--config", required=True, metavar="FILE",
                        help="focuslight.toml (see docs/configuration.md)")
    bridge.add_argument("--check", action="store_true",
                        help="validate the config file and exit")
    bridge.set_defaults(handler=cmd_bridge)

    setter = _command(sub, "set", "set an agent's state by hand (auto clears)",
                      "Ask the bridge that owns the agent for a manual state and print its "
                      "answer; the bridge merges it like any source.")
    control.add_set_arguments(setter)
    setter.set_defaults(handler=cmd_set)

    retire = _command(sub, "retire", "clear a removed agent's retained status and HA configs",
                      "For agents whose bridge is gone: list, then with --yes clear, their "
                      "retained status and Home Assistant discovery configs.")
    control.add_retire_arguments(retire)
    retire.set_defaults(handler=cmd_retire)

    watcher = _command(sub, "watch", "live table of agents, states and how long",
                       "Live view: redraws in place on a terminal, one line per change when "
                       "piped.")
    importlib.import_module("focuslight.views.watch").add_arguments(watcher)
    watcher.set_defaults(handler=cmd_watch)

    for name, (module, short, description) in EXTERNAL_COMMANDS.items():
        command = _command(sub, name, short, description)
        importlib.import_module(module).add_arguments(command)
        command.set_defaults(handler=_external(module))
    return parser


def _command(sub: argparse._SubParsersAction, name: str, short: str,
             description: str) -> argparse.ArgumentParser:
    command = sub.add_parser(name, help=short, description=description)
    group = command.add_argument_group("broker")
    group.add_argument("--broker", metavar="URL",
                       help="HOST[:PORT], mqtt://HOST:PORT or mqtts://HOST:PORT (env "
                            "FOCUSLIGHT_BROKER)")
    group.add_argument("--username", help="broker username")
    group.add_argument("--password", help="broker password")
    group.add_argument("--ca-file", metavar="PEM", help="CA bundle for mqtts:// (default: system)")
    group.add_argument("--prefix", default=None, help="topic prefix (default focuslight)")
    command.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return command


def broker_settings(args: argparse.Namespace, configured: str | None = None) -> BrokerSettings:
    """The broker from flags/env/config with credentials applied."""
    settings = BrokerSettings.parse(broker_from_env(args.broker, configured))
    return settings.with_credentials(args.username, args.password, args.ca_file)


def topics_for(args: argparse.Namespace) -> Topics:
    return Topics(args.prefix or "focuslight")


def cmd_bridge(args: argparse.Namespace) -> int:
    config = load(args.config, args.broker)
    require_agents(config)
    config.broker = config.broker.with_credentials(args.username, args.password, args.ca_file)
    if args.prefix:
        config.prefix = Topics(args.prefix).prefix
    if args.check:
        print(f"{args.config}: ok — {plural(len(config.agents), 'agent')},"
              f" {plural(len(config.sources), 'source')}, broker {config.broker.url}")
        return 0
    return run_until_signal(Service(config))


def cmd_set(args: argparse.Namespace) -> int:
    """Validate here (exit 2), send with an id, print the owning bridge's answer."""
    control.check_set(args.agent, args.state, args.minutes)
    return control.run_set(args, broker_settings(args), topics_for(args))


def cmd_retire(args: argparse.Namespace) -> int:
    return control.run_retire(args, broker_settings(args), topics_for(args))


def cmd_watch(args: argparse.Namespace) -> int:
    watch = importlib.import_module("focuslight.views.watch")
    return int(watch.run(args, broker_settings(args), topics_for(args)))


def _close(client: mqtt.Client) -> None:
    client.disconnect()
    client.loop_stop()


def _external(module: str) -> Callable[[argparse.Namespace], int]:
    return lambda args: importlib.import_module(module).run(args)


if __name__ == "__main__":
    sys.exit(main())
