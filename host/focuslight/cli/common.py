"""What every subcommand shares: the broker options and the one rule for which broker.

The broker is ``--broker URL``, else ``$FOCUSLIGHT_BROKER``, else the config
file's ``[bridge] broker``, else ``mqtt://127.0.0.1:1883``; ``--username``,
``--password`` and ``--ca-file`` override what the URL or the file says
(:meth:`~focuslight.mqtt.client.BrokerSettings.resolve`, which the config
file's reader uses too).
"""

from __future__ import annotations

import argparse

from ..mqtt.client import BrokerSettings
from ..protocol import Topics

EXIT_USAGE = 2


def add_broker_options(parser: argparse.ArgumentParser) -> None:
    """``--broker``, ``--username``, ``--password``, ``--ca-file``, ``--prefix``, ``-v``."""
    group = parser.add_argument_group("broker")
    group.add_argument("--broker", metavar="URL",
                       help="HOST[:PORT], mqtt://HOST:PORT or mqtts://HOST:PORT (env "
                            "FOCUSLIGHT_BROKER)")
    group.add_argument("--username", help="broker username")
    group.add_argument("--password", help="broker password")
    group.add_argument("--ca-file", metavar="PEM", help="CA bundle for mqtts:// (default: system)")
    group.add_argument("--prefix", default=None, help="topic prefix (default focuslight)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def broker_settings(args: argparse.Namespace, configured: str | None = None) -> BrokerSettings:
    """The broker from flags/env/*configured* with the flags' credentials applied."""
    return BrokerSettings.resolve(args.broker, configured).with_credentials(
        args.username, args.password, args.ca_file)


def topics_for(args: argparse.Namespace, configured: str | None = None) -> Topics:
    """The topic tree: ``--prefix``, else *configured* (the config file's), else the default."""
    return Topics(args.prefix or configured or "focuslight")
