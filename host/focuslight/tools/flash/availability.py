"""Waiting for the flashed beacon to say ``online`` on MQTT."""

from __future__ import annotations

import sys
import threading
from typing import Any

from ...mqtt.client import BrokerSettings, make_client
from ...protocol import ONLINE
from .board import FlashError

EXIT_UNCONFIRMED = 3


class AvailabilityWatch:
    """Subscribes before the reset, then waits for a live ``online`` from the beacon.

    Retained messages are ignored: an ``online`` left over from before the
    flash proves nothing about the firmware just written. *watcher* is its own
    account (``--watch-username``): neither the bridge's, which the broker would
    push off, nor the beacon's, whose first connect would push this watch off.
    """

    def __init__(self, watcher: BrokerSettings, topic: str, timeout: float) -> None:
        self.topic, self.timeout, self.broker = topic, timeout, watcher
        self.online = threading.Event()
        subscribed = threading.Event()
        self.client = make_client(watcher)
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_message = self._message
        try:
            self.client.connect(watcher.host, watcher.port, keepalive=30)
        except OSError as err:
            raise FlashError(f"cannot reach the broker {watcher.url} to confirm the"
                             f" beacon comes online ({err}): fix --broker/-c, or pass"
                             " --no-wait") from None
        self.client.loop_start()
        if not subscribed.wait(10):
            self.close()
            raise FlashError(f"the broker {watcher.url} did not accept a subscription"
                             " (credentials?): fix --username/--password, or pass --no-wait")

    def _message(self, _client: Any, _userdata: Any, message: Any) -> None:
        if not message.retain and message.payload == ONLINE.encode():
            self.online.set()

    def wait(self, beacon: str) -> int:
        print(f"waiting up to {self.timeout:g} s for {self.topic} = online ...")
        try:
            if self.online.wait(self.timeout):
                print(f"beacon {beacon} is online")
                return 0
        finally:
            self.close()
        print(f"focuslight flash: beacon {beacon} did not come online within"
              f" {self.timeout:g} s. Check the Wi-Fi name/password and that the broker"
              f" {self.broker.host}:{self.broker.port} is reachable from the board's network;"
              " `mpremote connect PORT repl` shows the firmware's log", file=sys.stderr)
        return EXIT_UNCONFIRMED

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
