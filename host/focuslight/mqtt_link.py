"""The bridge's MQTT side: publishes statuses, listens for ``set`` and button events.

It owns the paho client and everything protocol v1 says about the bridge:

* ``<prefix>/bridges/<id>/availability`` is ``online`` (retained) while
  connected, and the broker publishes ``offline`` through the Last Will if
  the bridge dies without saying goodbye;
* statuses go out retained at QoS 1, only when they change, through an
  :class:`~focuslight.outbox.Outbox` (newest per topic, bounded in flight);
* after every (re)connect it re-subscribes and re-publishes every agent's
  current status, so a broker restarted without persistence heals itself;
* reconnects use paho's own capped exponential backoff (1 s … 30 s);
* a malformed ``set`` or event payload costs one log line, never the loop;
* every ``set`` for an agent this bridge owns is answered on
  ``<prefix>/agents/<agent>/reply`` (applied, outranked or rejected and why);
  a ``set`` for an agent it does not own gets no answer, since another
  bridge on the broker may own it;
* after each connect it reads the retained statuses on the broker for a few
  seconds and retires every agent that *this* bridge (by ``bridge_id``)
  published but no longer has in its config: the retained status and the
  Home Assistant discovery configs are cleared with empty retained messages;
* Home Assistant discovery configs (:mod:`focuslight.home_assistant`) go out
  retained on every connect, unless ``[home_assistant] enabled = false``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace

import paho.mqtt.client as mqtt

from .bridge import Bridge
from .config import Config
from .connection import BrokerSettings, make_client
from .home_assistant import Discovery
from .outbox import Outbox
from .protocol import (
    OFFLINE,
    ONLINE,
    ProtocolError,
    SetReply,
    Status,
    Topics,
    decode_event,
    decode_set,
    decode_status,
    set_request_id,
)

log = logging.getLogger(__name__)

RECONNECT_MIN_S, RECONNECT_MAX_S = 1, 30
KEEPALIVE_S = 30
MAX_INFLIGHT = 0
"""paho's own limit on QoS 1 messages in flight; 0 = none, because the
:class:`Outbox` window is the limit. With paho's default of 20, every PUBACK
rescans paho's queue of waiting messages (bench/bridge_throughput.py showed
5,000 agents falling from ~20,000 to ~500 changes/s)."""
SWEEP_S = 5.0
"""How long after each connect the bridge reads retained statuses, looking for
agents it published and no longer owns. Retained messages arrive right after
the SUBACK; the window only bounds how long its own statuses echo back."""


class MqttLink:
    """Connects a :class:`Bridge` to one broker.

    :param bridge: the core whose statuses to publish and to which commands go.
    :param config: broker, prefix, bridge id and the beacon → agent map.
    """

    def __init__(self, bridge: Bridge, config: Config) -> None:
        self.bridge, self.config = bridge, config
        self.topics = Topics(config.prefix)
        self.availability = self.topics.bridge_availability(config.bridge_id)
        self.outbox = Outbox(self._send)
        self.client = make_client(config.broker, f"focuslight-bridge-{config.bridge_id}")
        self.client.will_set(self.availability, OFFLINE, qos=1, retain=True)
        self.client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        self.client.max_inflight_messages_set(MAX_INFLIGHT)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = lambda *_args: self.outbox.acked()
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self._subscription: int | None = None
        self._sweep: threading.Timer | None = None
        self.retired: set[str] = set()
        """Agents this process cleared off the broker (for logs and tests)."""

    @property
    def connected(self) -> bool:
        """Connected, subscribed, and publishing (set once the broker confirmed the
        subscription, see :meth:`_on_subscribe`)."""
        return self.outbox.is_open

    def start(self) -> None:
        """Connect in the background; an unreachable broker is retried, not fatal."""
        broker: BrokerSettings = self.config.broker
        log.info("connecting to %s as bridge %r", broker.url, self.config.bridge_id)
        self.outbox.start()
        self.client.connect_async(broker.host, broker.port, keepalive=KEEPALIVE_S)
        self.client.loop_start()

    def stop(self) -> None:
        """Say ``offline`` ourselves (a clean stop fires no will), then disconnect."""
        if self._sweep is not None:
            self._sweep.cancel()
        was_connected = self.connected
        self.outbox.stop()
        if was_connected:
            self.client.publish(self.availability, OFFLINE, qos=1, retain=True).wait_for_publish(2)
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, agent: str, status: Status) -> None:
        """StatusOutput: retained QoS 1; while offline, the next session re-sends it."""
        self.outbox.put(self.topics.status(agent), self._payload(status))

    def _payload(self, status: Status) -> bytes:
        """The status as published here: stamped with this bridge's id."""
        return replace(status, bridge_id=self.config.bridge_id).encode()

    def _send(self, topic: str, payload: bytes) -> bool:
        info = self.client.publish(topic, payload, qos=1, retain=True)
        if info.rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            return True  # NO_CONN: paho keeps it and re-sends it after reconnecting
        log.warning("paho refused to publish %s: %s", topic, mqtt.error_string(info.rc))
        return False

    def _everything(self) -> list[tuple[str, bytes]]:
        """What a new session publishes: every status, ``online``, the discovery configs."""
        messages = [(self.topics.status(agent), self._payload(status))
                    for agent, status in self.bridge.snapshot().items()]
        messages.append((self.availability, ONLINE.encode()))
        discovery = self._discovery()
        if discovery is not None:
            messages += discovery.messages(self.config.agents)
        return messages

    def _discovery(self) -> Discovery | None:
        if not self.config.home_assistant_prefix:
            return None
        return Discovery(self.topics, self.config.bridge_id, self.config.home_assistant_prefix)

    def _on_connect(self, client: mqtt.Client, _userdata: object, _flags: object,
                    reason: mqtt.ReasonCode, _props: object) -> None:
        if reason.is_failure:
            log.error("broker %s refused the bridge: %s", self.config.broker.url, reason)
            return
        log.info("connected to %s", self.config.broker.url)
        _, self._subscription = client.subscribe([(self.topics.all_set(), 1),
                                                  (self.topics.all_events(), 1)])

    def _on_subscribe(self, _client: mqtt.Client, _userdata: object, mid: int,
                      _reasons: list[mqtt.ReasonCode], _props: object) -> None:
        """Publish the whole state only now, not in on_connect: right after
        on_connect, paho re-sends the statuses the last session left
        unacknowledged, and those are older than the snapshot."""
        if mid != self._subscription:
            return
        self.outbox.open(self._everything)
        self._start_sweep()

    def _start_sweep(self) -> None:
        """Read the retained statuses for :data:`SWEEP_S` (see :meth:`_on_status`)."""
        if self._sweep is not None:
            self._sweep.cancel()
        self.client.subscribe(self.topics.all_status(), 1)
        self._sweep = threading.Timer(SWEEP_S, self.client.unsubscribe,
                                      [self.topics.all_status()])
        self._sweep.daemon = True
        self._sweep.start()

    def _on_status(self, agent: str, msg: mqtt.MQTTMessage) -> None:
        """A retained status this bridge published for an agent it no longer has: retire it.

        Only retained deliveries count: the bridge's own statuses echo back
        live (retain flag 0) while the sweep subscription lasts.
        """
        if not msg.retain or not msg.payload or agent in self.config.agents:
            return
        try:
            status = decode_status(msg.payload)
        except ProtocolError:
            return
        if status.bridge_id != self.config.bridge_id:
            return
        log.info("retiring agent %r: bridge %r published its status but it is no longer "
                 "configured; clearing its retained status and Home Assistant configs",
                 agent, self.config.bridge_id)
        self.retired.add(agent)
        self.outbox.put(self.topics.status(agent), b"")
        discovery = self._discovery()
        if discovery is not None:
            for topic in discovery.config_topics(agent):
                self.outbox.put(topic, b"")

    def _on_disconnect(self, _client: mqtt.Client, _userdata: object, _flags: object,
                       reason: mqtt.ReasonCode, _props: object) -> None:
        if self.connected:
            log.warning("lost broker %s (%s); reconnecting with backoff up to %d s",
                        self.config.broker.url, reason, RECONNECT_MAX_S)
        self.outbox.close()

    def _on_message(self, _client: mqtt.Client, _userdata: object,
                    msg: mqtt.MQTTMessage) -> None:
        try:
            family, ident, leaf = self.topics.parse(msg.topic)
            if (family, leaf) == ("agents", "set"):
                self._on_set(ident, msg.payload)
            elif (family, leaf) == ("agents", "status"):
                self._on_status(ident, msg)
            elif (family, leaf) == ("beacons", "event"):
                self._on_button(ident, decode_event(msg.payload).button)
        except ProtocolError as err:
            log.warning("ignored message on %s: %s", msg.topic, err)

    def _on_set(self, agent: str, payload: bytes) -> None:
        """Apply a ``set`` for an agent this bridge owns and answer it; stay silent otherwise."""
        origin = f"set topic for {agent}"
        if not self.bridge.owns(agent, origin):
            return
        try:
            command = decode_set(payload)
        except ProtocolError as err:
            log.warning("rejected set for %s: %s", agent, err)
            self._reply(agent, SetReply("rejected", set_request_id(payload), reason=str(err)))
            return
        self.bridge.apply_set(agent, command, origin, lambda reply: self._reply(agent, reply))

    def _reply(self, agent: str, reply: SetReply) -> None:
        """Not retained: an answer is for whoever is waiting now. (Its PUBACK also
        reaches the outbox's count, which at worst lets one extra message fly.)"""
        log.info("set for %s: %s%s", agent, reply.result,
                 f" ({reply.reason})" if reply.reason else "")
        self.client.publish(self.topics.reply(agent), reply.encode(), qos=1, retain=False)

    def _on_button(self, beacon: str, action: str) -> None:
        agent = self.config.agent_for_beacon(beacon)
        if agent is None:
            log.warning("ignored button %s from beacon %r: no agent lists it under beacons",
                        action, beacon)
            return
        self.bridge.button(agent, action, beacon)
