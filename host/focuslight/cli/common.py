"""What every subcommand shares: the broker options and the one rule for which broker.

The broker is ``--broker URL``, else ``$FOCUSLIGHT_BROKER``, else the config
file's ``[bridge] broker``, else ``mqtt://127.0.0.1:1883``; ``--username``,
``--password`` and ``--ca-file`` override what the URL or the file says
(:meth:`~focuslight.mqtt.client.BrokerSettings.resolve`, which the config
file's reader uses too).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Protocol

from ..mqtt.client import BrokerSettings
from ..protocol import Topics

EXIT_USAGE = 2


class Page(Protocol):
    """A web view a command serves (the floor board, the counter sign)."""

    url: str
    settings: BrokerSettings

    def start(self) -> object: ...

    def stop(self) -> None: ...


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


def serve_until_signal(command: str, page: Page, listen: tuple[str, int], what: str,
                       taken: str = "") -> int:
    """Start *page* and serve it until SIGINT/SIGTERM: ``focuslight board`` and
    ``focuslight counter-sign``. Prints ``<what>: <url> (broker …)`` once listening; an
    address already taken is exit 2 with what to do (*taken*: who may hold it)."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        page.start()
    except OSError as err:
        host, port = listen
        print(f"focuslight {command}: cannot listen on {host}:{port}: {err.strerror}; pass"
              f" --listen HOST:PORT with a free port{taken}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{what}: {page.url} (broker {page.settings.url})", flush=True)
    try:
        stop.wait()
    finally:
        page.stop()
    return 0
