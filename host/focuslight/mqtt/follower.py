"""A reader of the site: one paho client following what views show, guarded and re-subscribed.

The floor board, ``focuslight watch`` and ``focuslight desk`` read the broker the same
way: subscribe to :meth:`~focuslight.protocol.Topics.views` (or the few topics a reader of
one agent needs) after every (re)connect, hand each
message to the view, and tell it when the link comes up, goes down or is refused —
so the view can apply the trust rule (:mod:`focuslight.protocol.trust`), which
says nothing may be believed while the link is down. Every paho callback runs
under :func:`~focuslight.mqtt.client.last_resort`, so no message ends paho's
network thread.

Example::

    follower = Follower(settings, topics, "board", on_message=floor_reader,
                        on_up=lambda: floor.link(True), on_down=lambda why: floor.link(False))
    follower.start()
    ...
    follower.stop()
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import paho.mqtt.client as mqtt

from ..protocol import Topics
from .client import BrokerSettings, connect_failure, last_resort, make_client

log = logging.getLogger(__name__)


class Follower:
    """Follows the view topics of one broker for a view named *name*.

    :param on_message: each message, from paho's thread (a view catches its own
        :class:`~focuslight.protocol.ProtocolError`).
    :param on_up: the link is up and the subscriptions are asked for.
    :param on_down: ``on_down(why)``: the link was lost, or a connect attempt failed.
    :param on_refused: ``on_refused(reason)``: the broker refused the connection
        (default: a warning in the log).
    :param keepalive: MQTT keepalive, seconds.
    :param reconnect_max_s: the longest wait between reconnect attempts (paho's backoff).
    :param subscriptions: the topic filters to follow (default :meth:`Topics.views`, the
        whole site); a reader of one agent (``focuslight desk``) asks for its bridges and
        that agent's status only, so a site of thousands costs it nothing.
    :param sweep: read what the broker retains once, instead of following: subscribe at
        QoS 0, unsubscribe as soon as the SUBACK arrives, and set :attr:`swept` at the
        UNSUBACK. A broker sends the retained messages right behind the SUBACK, and at
        QoS 0 straight out (no in-flight window to queue them behind), so every one of
        them is in before the UNSUBACK — however large the site or slow the link, with
        no guessed quiet spell (``cli/control.read_retained`` sweeps the same way).
    """

    def __init__(self, settings: BrokerSettings, topics: Topics, name: str, *,
                 on_message: Callable[[mqtt.MQTTMessage], None],
                 on_up: Callable[[], None], on_down: Callable[[str], None],
                 on_refused: Callable[[str], None] | None = None, keepalive: int = 15,
                 reconnect_max_s: int = 10, subscriptions: list[str] | None = None,
                 sweep: bool = False) -> None:
        self.settings, self.topics, self.name = settings, topics, name
        self.subscriptions = subscriptions or topics.views()
        self._on_message_cb, self._on_up, self._on_down = on_message, on_up, on_down
        self._on_refused = on_refused or (lambda reason: log.warning(
            "%s: broker %s refused the connection: %s", name, settings.url, reason))
        self.keepalive = keepalive
        self.client = make_client(settings)
        self.client.reconnect_delay_set(1, reconnect_max_s)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_unsubscribe = self._on_unsubscribe
        self._started = False
        self.sweep = sweep
        self.swept = threading.Event()
        """With *sweep*: every retained message was handed to ``on_message``."""

    def start(self) -> Follower:
        """Connect in the background; an unreachable broker is retried, not fatal."""
        self.client.connect_async(self.settings.host, self.settings.port,
                                  keepalive=self.keepalive)
        self.client.loop_start()
        self._started = True
        return self

    def stop(self) -> None:
        if self._started:
            self._started = False
            self.client.disconnect()
            self.client.loop_stop()

    def is_connected(self) -> bool:
        return self.client.is_connected()

    def _on_connect(self, client: mqtt.Client, _u: object, _f: object,
                    reason: mqtt.ReasonCode, _p: object) -> None:
        with last_resort(log, f"{self.name}: on_connect"):
            if reason.is_failure:
                self._on_refused(str(reason))
                return
            client.subscribe([(topic, 0 if self.sweep else 1) for topic in self.subscriptions])
            self._on_up()

    def _on_subscribe(self, client: mqtt.Client, _u: object, _mid: int,
                      _codes: object, _p: object) -> None:
        with last_resort(log, f"{self.name}: on_subscribe"):
            if self.sweep:
                client.unsubscribe(self.subscriptions)

    def _on_unsubscribe(self, _c: mqtt.Client, _u: object, _mid: int,
                        _codes: object, _p: object) -> None:
        with last_resort(log, f"{self.name}: on_unsubscribe"):
            self.swept.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object,
                       reason: mqtt.ReasonCode, _p: object) -> None:
        with last_resort(log, f"{self.name}: on_disconnect"):
            self._on_down(f"lost the broker {self.settings.url} ({reason})")

    def _on_connect_fail(self, _c: mqtt.Client, _u: object) -> None:
        with last_resort(log, f"{self.name}: on_connect_fail"):
            self._on_down(connect_failure(self.settings))

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with last_resort(log, f"{self.name}: on_message"):
            self._on_message_cb(msg)
