"""The bridge's MQTT side: publishes statuses, listens for ``set`` and button events.

It owns the paho client and everything protocol v1 says about the bridge:

* ``<prefix>/bridges/<id>/availability`` is ``online`` (retained) while
  connected, and the broker publishes ``offline`` through the Last Will if
  the bridge dies without saying goodbye;
* statuses go out retained at QoS 1, only when they change, through an
  :class:`~focuslight.mqtt.outbox.Outbox` (newest per topic, bounded in flight);
* after every (re)connect it re-subscribes and re-publishes every agent's
  current status, so a broker restarted without persistence heals itself;
* reconnects use paho's own capped exponential backoff (1 s … 30 s);
* a malformed ``set`` or event payload costs one log line, never the loop;
* every ``set`` for an agent this bridge owns is answered on
  ``<prefix>/agents/<agent>/reply`` (applied, outranked or rejected and why);
  a ``set`` for an agent it does not own gets no answer, since another
  bridge on the broker may own it;
* after each connect it reads the retained statuses on the broker (see
  :meth:`MqttOutput._on_status`) and retires every agent that *this* bridge (by ``bridge_id``)
  published but no longer has in its config: the retained status and the
  Home Assistant discovery configs are cleared with empty retained messages;
* it subscribes to its own agents' status topics: when someone clears one
  (``focuslight retire --force`` on a live agent) it publishes the status again
  at once; and the retained ones, which the broker sends before this session
  published anything, let a bridge with no overrides file yet (the first start
  after 0.1) adopt the manual states it published then (:meth:`MqttOutput._own_status`);
* every set of looks (:mod:`focuslight.outputs.looks`) goes out retained on
  ``<prefix>/looks/<name>`` with every session and again when night starts or ends; a set
  dropped from the config is cleared;
* Home Assistant discovery configs (:mod:`focuslight.outputs.home_assistant`) go out
  retained on every connect, paced (``[home_assistant] discovery_rate``, at their own
  rate beside the statuses), unless ``[home_assistant] enabled = false``;
  those it published last time (its state directory remembers them) and no
  longer does are cleared: a removed agent's, its beacons', or all of them
  once discovery is off;
* every paho callback catches :class:`ProtocolError` and, as a documented last
  resort (:func:`~focuslight.mqtt.client.last_resort`), anything else: no
  payload ends the network loop;
* the keepalive is :data:`KEEPALIVE_S` (5 s), so the broker fires the will of a
  frozen bridge (process stopped, socket open) and its beacons show
  ``unknown`` within 15 s;
* a liveness self-check (:class:`~focuslight.mqtt.liveness.Liveness`): every
  few seconds the bridge publishes on ``<prefix>/bridges/<id>/check`` and must
  hear it back; a bridge
  whose network thread died, or that stopped hearing its own broker while
  connected, logs why and calls ``on_dead`` — ``focuslight bridge`` then exits
  non-zero so systemd restarts it instead of leaving it idling deaf;
* a refused TLS handshake or an unreachable broker is logged once, with what
  to do; so is a session the broker closed to let another client with the
  same client id in (a second bridge with this id, or a stolen id).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace

import paho.mqtt.client as mqtt

from ..config import Config
from ..core.hub import Hub
from ..core.policy import MANUAL
from ..logs import Problem
from ..mqtt.client import (
    BrokerSettings,
    connect_failure,
    last_resort,
    make_client,
    topic_for_log,
    topic_of,
)
from ..mqtt.liveness import Liveness
from ..mqtt.outbox import Outbox
from ..protocol import (
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
from ..protocol.expected import Expected
from ..state import DiscoveryLedger
from .base import Output
from .home_assistant import Discovery
from .looks import Messages, SiteLooks

log = logging.getLogger(__name__)

RECONNECT_MIN_S, RECONNECT_MAX_S = 1, 30
KEEPALIVE_S = 5
"""MQTT keepalive, seconds. The broker fires the bridge's will after 1.5 x this
without a packet, checked on its own timer: mosquitto 2.0 fired the will of a
frozen client 7.5-12.6 s after its last packet with 5 s (16.3 s with 8), so a
frozen bridge's beacons show ``unknown`` within 15 s. Costs nothing extra: the
self-check message goes out every
:data:`~focuslight.mqtt.liveness.CHECK_S` anyway."""
TAKEOVER_WINDOW_S = 3.0
"""A healthy session closed by the broker, and a new one accepted within this
long after the reconnect delay: another client connected with our client id."""
MAX_INFLIGHT = 0
"""paho's own limit on QoS 1 messages in flight; 0 = none, because the
:class:`Outbox` window is the limit. With paho's default of 20, every PUBACK
rescans paho's queue of waiting messages (bench/bridge_throughput.py showed
5,000 agents falling from ~20,000 to ~500 changes/s)."""


class MqttOutput(Output):
    """Connects a :class:`Hub` to one broker.

    :param bridge: the core whose statuses to publish and to which commands go.
    :param config: broker, prefix, bridge id and the beacon → agent map.
    :param on_dead: called once, from the liveness thread, with the reason when
        the link can no longer hear the broker (see
        :class:`~focuslight.mqtt.liveness.Liveness`).
    """

    def __init__(self, bridge: Hub, config: Config,
                 on_dead: Callable[[str], None] | None = None) -> None:
        self.bridge, self.config = bridge, config
        self.topics = Topics(config.prefix)
        self.availability = self.topics.bridge_availability(config.bridge_id)
        self.check_topic = self.topics.bridge_check(config.bridge_id)
        self.client_id = f"focuslight-bridge-{config.bridge_id}"
        self.outbox = Outbox(self._send, paced_rate=config.discovery_rate)
        self.client = make_client(config.broker, self.client_id)
        self.client.will_set(self.availability, OFFLINE, qos=1, retain=True)
        self.client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        self.client.max_inflight_messages_set(MAX_INFLIGHT)
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self._subscription: int | None = None
        self._sweep_subscription: int | None = None
        self.ledger = DiscoveryLedger(config.state_file("discovery"))
        self.discovery = (Discovery(self.topics, config.bridge_id, config.home_assistant_prefix)
                          if config.home_assistant_prefix else None)
        """Home Assistant discovery, None when switched off; its configs depend only on
        the config, so they are built once here, not on every connect."""
        self._discovery_messages = ([] if self.discovery is None
                                    else self.discovery.messages(config.agents))
        self._expected: dict[str, bytes] = {}
        """The last ``expected`` payload per topic (walk-up counters), re-sent every session."""
        self._stale: list[tuple[str, bytes]] | None = None
        """Clears for the discovery configs this bridge dropped (:meth:`_stale_discovery`)."""
        self.retired: set[str] = set()
        """Agents this process cleared off the broker (for logs and tests)."""
        self._adopting = bridge.adoptable
        """Until the first sweep: adopt this bridge's retained manual statuses (first start
        after 0.1, see :meth:`Hub.adopt_manual`)."""
        self._problem = Problem(log, level=logging.ERROR)
        self._dropped: tuple[float, bool] | None = None
        self.network_thread: threading.Thread | None = None
        """paho's network thread, from :meth:`start` (paho forgets it when it ends; the
        liveness check must not)."""
        self.liveness = Liveness(self, on_dead)
        self.looks = SiteLooks(config)
        """The site's looks, published retained with every session and when night turns."""

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
        self.network_thread = getattr(self.client, "_thread", None)
        self.liveness.start()
        self.looks.start(self._put_all)

    def stop(self) -> None:
        """Say ``offline`` ourselves (a clean stop fires no will), then disconnect."""
        self.looks.stop()
        self.liveness.stop()
        was_connected = self.connected
        self.outbox.stop()
        if was_connected:
            self.client.publish(self.availability, OFFLINE, qos=1, retain=True).wait_for_publish(2)
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, agent: str, status: Status) -> None:
        """Output: retained QoS 1; while offline, the next session re-sends it."""
        self.outbox.put(self.topics.status(agent), self._payload(status))

    def publish_expected(self, agent: str, expected: Expected) -> None:
        """A walk-up counter's expected time (:mod:`focuslight.protocol.expected`), stamped
        with this bridge's id; retained, and re-sent by every new session."""
        topic = self.topics.expected(agent)
        payload = replace(expected, bridge_id=self.config.bridge_id).encode()
        self._expected[topic] = payload
        self.outbox.put(topic, payload)

    def _payload(self, status: Status) -> bytes:
        """The status as published here: stamped with this bridge's id."""
        return replace(status, bridge_id=self.config.bridge_id).encode()

    def _put_all(self, messages: Messages) -> None:
        for topic, payload in messages:
            self.outbox.put(topic, payload)

    def _send(self, topic: str, payload: bytes) -> bool:
        info = self.client.publish(topic, payload, qos=1, retain=True)
        if info.rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            return True  # NO_CONN: paho keeps it and re-sends it after reconnecting
        log.warning("paho refused to publish %s: %s", topic, mqtt.error_string(info.rc))
        return False

    def _everything(self) -> list[tuple[str, bytes]]:
        """What a new session publishes first: every status, ``online``, the looks (the
        discovery configs follow, paced)."""
        messages = [(self.topics.status(agent), self._payload(status))
                    for agent, status in self.bridge.snapshot().items()]
        messages.extend(list(self._expected.items()))
        messages.append((self.availability, ONLINE.encode()))
        return messages + self.looks.messages()

    def _stale_discovery(self) -> list[tuple[str, bytes]]:
        """Empty retained messages for the discovery configs published last time and not
        now: a removed agent's, a beacon no agent lists any more, all of them once
        discovery is switched off (see :class:`~focuslight.state.DiscoveryLedger`).

        The ledger is read (and rewritten) once per process, and the clears go out again
        with every session: the ledger no longer lists them, so a clear still waiting in
        the outbox when a session dropped would otherwise never be sent.
        """
        if self._stale is None:
            stale = self.ledger.replace({topic for topic, _ in self._discovery_messages})
            if stale:
                log.info("clearing %d Home Assistant discovery config(s) this bridge no"
                         " longer publishes", len(stale))
            self._stale = [(topic, b"") for topic in stale]
        return self._stale

    def _on_connect(self, client: mqtt.Client, _userdata: object, _flags: object,
                    reason: mqtt.ReasonCode, _props: object) -> None:
        with last_resort(log, "on_connect"):
            if reason.is_failure:
                self._problem.say(f"broker {self.config.broker.url} refused the bridge: {reason}"
                                  " (check username/password in [bridge] and the broker's"
                                  " password file)")
                return
            log.info("connected to %s", self.config.broker.url)
            self._problem.clear()
            self._check_takeover()
            self.liveness.session_started()
            # its own agents' statuses: to put back one that someone clears (`retire
            # --force`), and, retained, the state before this session published anything
            own = [(self.topics.status(agent), 0) for agent in self.config.agents]
            _, self._subscription = client.subscribe([(self.topics.all_set(), 1),
                                                      (self.topics.all_events(), 1),
                                                      (self.check_topic, 0), *own])

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: object) -> None:
        with last_resort(log, "on_connect_fail"):
            self._problem.say(connect_failure(self.config.broker)
                              + f"; retrying with backoff up to {RECONNECT_MAX_S} s")

    def _check_takeover(self) -> None:
        """Log when the broker closed a healthy session and let us straight back in.

        MQTT 3.1.1 gives no reason on a dropped connection, and mosquitto
        (2.0) gives none on MQTT 5 either. What a takeover looks like: the
        session was healthy (the last check message came back in time), the
        broker closed it, and it accepts the reconnect at once — because the
        other client with our id was disconnected by our return.
        """
        dropped, self._dropped = self._dropped, None
        if dropped is None:
            return
        at, healthy = dropped
        if healthy and time.monotonic() - at < RECONNECT_MIN_S + TAKEOVER_WINDOW_S:
            log.warning("the broker closed this bridge's session and took it back at once:"
                        " another client probably connected with its client id %r (a second"
                        " bridge with id %r, or an account using that id; bind client ids to"
                        " accounts, see docs/deploy-a-site.md)", self.client_id,
                        self.config.bridge_id)

    def _on_subscribe(self, _client: mqtt.Client, _userdata: object, mid: int,
                      _reasons: list[mqtt.ReasonCode], _props: object) -> None:
        """Publish the whole state only now, not in on_connect: right after
        on_connect, paho re-sends the statuses the last session left
        unacknowledged, and those are older than the snapshot."""
        with last_resort(log, "on_subscribe"):
            if mid == self._sweep_subscription:
                # every retained status of the first subscription came before this SUBACK
                self._adopting = False
                # Retained messages are already on their way; UNSUBACK comes after them.
                self.client.unsubscribe(self.topics.all_status())
            if mid != self._subscription:
                return
            self.outbox.open(self._everything, self._stale_discovery() + self._discovery_messages)
            _, self._sweep_subscription = self.client.subscribe(self.topics.all_status(), 0)

    def _on_publish(self, *_args: object) -> None:
        with last_resort(log, "on_publish"):
            self.outbox.acked()

    def _on_status(self, agent: str, msg: mqtt.MQTTMessage) -> None:
        """A retained status this bridge published for an agent it no longer has: retire it.

        The sweep: after each connect the bridge subscribes to every status at
        QoS 0 and unsubscribes as soon as the SUBACK arrives. A broker sends a
        new subscription's retained messages right behind its SUBACK, and QoS 0
        ones go straight out (no in-flight window, no queue to drop from: with
        QoS 1, mosquitto stops at 20 in flight + ``max_queued_messages``), so
        all of them precede the UNSUBACK. Only retained deliveries count: the
        bridge's own statuses may echo back live (retain flag 0) meanwhile.
        """
        if agent in self.config.agents:
            self._own_status(agent, msg)
            return
        if not msg.retain or not msg.payload:
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
        self.outbox.put(self.topics.expected(agent), b"")  # a counter's: harmless if none
        if self.discovery is not None:
            for topic in self.discovery.config_topics(agent):
                self.outbox.put(topic, b"")

    def _own_status(self, agent: str, msg: mqtt.MQTTMessage) -> None:
        """A status of an agent this bridge serves.

        Retained, in the first session of a bridge that has no overrides file yet:
        the broker sent it with the SUBACK, before this session published anything,
        so a manual state there is one this bridge (0.1, which kept no file)
        published; adopt it. Live and empty: someone cleared it (``focuslight retire
        --force``): publish the current status again at once, as the docs promise,
        rather than at the next change or reconnect.
        """
        if msg.retain:
            if not self._adopting or not msg.payload:
                return
            try:
                status = decode_status(msg.payload)
            except ProtocolError:
                return
            if status.source == MANUAL and status.bridge_id in (None, self.config.bridge_id):
                self.bridge.adopt_manual(agent, status.state, status.since)
            return
        if msg.payload:
            return  # its own status, echoed back
        status = self.bridge.snapshot().get(agent)
        if status is not None:
            log.info("the retained status of %r was cleared by someone else; publishing it"
                     " again (remove the agent from this bridge's config to retire it)", agent)
            self.publish(agent, status)

    def _on_disconnect(self, _client: mqtt.Client, _userdata: object, _flags: object,
                       reason: mqtt.ReasonCode, _props: object) -> None:
        with last_resort(log, "on_disconnect"):
            if self.connected:
                log.warning("lost broker %s (%s); reconnecting with backoff up to %d s",
                            self.config.broker.url, reason, RECONNECT_MAX_S)
            self._dropped = (time.monotonic(), self.liveness.healthy())
            self.liveness.session_ended()
            self.outbox.close()

    def _on_message(self, _client: mqtt.Client, _userdata: object,
                    msg: mqtt.MQTTMessage) -> None:
        with last_resort(log, "on_message"):
            try:
                topic = topic_of(msg)
                if topic == self.check_topic:
                    self.liveness.heard()
                    return
                family, ident, leaf = self.topics.parse(topic)
                if (family, leaf) == ("agents", "set"):
                    self._on_set(ident, msg.payload)
                elif (family, leaf) == ("agents", "status"):
                    self._on_status(ident, msg)
                elif (family, leaf) == ("beacons", "event"):
                    self._on_button(ident, decode_event(msg.payload).button)
            except ProtocolError as err:
                log.warning("ignored message on %s: %s", topic_for_log(msg), err)

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
            self.bridge.warnings.warn(("beacon", beacon), "ignored button %s from beacon %r: no"
                                      " agent lists it under beacons", action, beacon)
            return
        self.bridge.button(agent, action, beacon)


def build_outputs(config: Config, hub: Hub) -> list[Output]:
    """The registry's builder (:data:`focuslight.outputs.OUTPUT_TYPES`) for ``[bridge]``:
    every bridge has exactly one MQTT output, Home Assistant discovery included."""
    return [MqttOutput(hub, config)]
