"""The ``focuslight`` command: one entry point, one subcommand per job.

Every subcommand takes the broker the same way: ``--broker URL`` beats
``$FOCUSLIGHT_BROKER`` beats the config file beats ``mqtt://127.0.0.1:1883``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
import threading
from collections.abc import Callable

import paho.mqtt.client as mqtt

from . import __version__
from .config import load
from .config_section import ConfigError
from .connection import (
    BrokerError,
    BrokerSettings,
    BrokerURLError,
    broker_from_env,
    connect_blocking,
)
from .protocol import AUTO, MANUAL_STATES, ProtocolError, SetCommand, Topics, check_id
from .service import Service, run_until_signal

log = logging.getLogger("focuslight")

EXIT_USAGE, EXIT_UNCONFIRMED = 2, 3

EXTERNAL_COMMANDS = {
    "beacon": ("focuslight.virtual_beacon", "run the real beacon firmware on this machine",
               "Run the real firmware on the MicroPython unix port with a terminal LED."),
    "flash": ("focuslight.flash", "put the firmware and its config on a board",
              "Compile the firmware with mpy-cross, copy it with mpremote, write config.json."),
    "demo": ("focuslight.demo", "everything on one machine, no hardware, no setup",
             "Embedded broker + bridge with simulated agents + a virtual beacon."),
    "board": ("focuslight.board", "the floor board web page", "Every agent's light, live."),
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
                      "Publish a manual override; the bridge merges it like any source.")
    setter.add_argument("agent", help="agent id, e.g. alice")
    setter.add_argument("state", help=f"one of {', '.join(sorted(MANUAL_STATES))} or auto")
    setter.add_argument("--minutes", type=float, metavar="N",
                        help="expire after N minutes (default: until 'auto')")
    setter.add_argument("--no-wait", action="store_true",
                        help="don't wait for the bridge to confirm the new status")
    setter.set_defaults(handler=cmd_set)

    watcher = _command(sub, "watch", "live table of agents, states and how long",
                       "Live view: redraws in place on a terminal, one line per change when "
                       "piped.")
    importlib.import_module("focuslight.watch").add_arguments(watcher)
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
                       help="mqtt://HOST:PORT or mqtts://HOST:PORT (env FOCUSLIGHT_BROKER)")
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
    config.broker = config.broker.with_credentials(args.username, args.password, args.ca_file)
    if args.prefix:
        config.prefix = Topics(args.prefix).prefix
    if args.check:
        print(f"{args.config}: ok — {len(config.agents)} agents, {len(config.sources)} sources,"
              f" broker {config.broker.url}")
        return 0
    run_until_signal(Service(config))
    return 0


def cmd_set(args: argparse.Namespace) -> int:
    agent = check_id(args.agent, "agent")
    if args.state not in MANUAL_STATES | {AUTO}:
        raise ProtocolError(f"unknown state {args.state!r}, expected one of "
                            f"{', '.join(sorted(MANUAL_STATES | {AUTO}))}")
    command = SetCommand(args.state, args.minutes)
    topics = topics_for(args)
    client = connect_blocking(broker_settings(args))
    confirmed = threading.Event()
    client.on_message = lambda _c, _u, msg: _confirm(msg, command, confirmed)
    client.subscribe(topics.status(agent), 1)
    client.publish(topics.set(agent), command.encode(), qos=1).wait_for_publish(5)
    if args.no_wait:
        _close(client)
        return 0
    ok = confirmed.wait(3.0)
    _close(client)
    if not ok:
        print(f"focuslight set: sent, but no bridge confirmed {agent} within 3 s "
              "(is `focuslight bridge` running on this broker and prefix?)", file=sys.stderr)
        return EXIT_UNCONFIRMED
    until = f" for {args.minutes:g} min" if args.minutes else ""
    print(f"{agent}: {args.state}{until}")
    return 0


def _confirm(msg: mqtt.MQTTMessage, command: SetCommand, confirmed: threading.Event) -> None:
    """The bridge confirms by publishing a status with source ``manual`` (or leaving it)."""
    try:
        body = json.loads(msg.payload)
    except ValueError:
        return
    source = body.get("source")
    if (command.state == AUTO and source != "manual") or source == "manual":
        confirmed.set()


def cmd_watch(args: argparse.Namespace) -> int:
    watch = importlib.import_module("focuslight.watch")
    return int(watch.run(args, broker_settings(args), topics_for(args)))


def _close(client: mqtt.Client) -> None:
    client.disconnect()
    client.loop_stop()


def _external(module: str) -> Callable[[argparse.Namespace], int]:
    return lambda args: importlib.import_module(module).run(args)


if __name__ == "__main__":
    sys.exit(main())
