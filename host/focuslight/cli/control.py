"""``focuslight set`` and ``focuslight retire``: an admin changing what the site shows.

``set`` asks the bridge that owns an agent for a manual state and prints the
bridge's answer (``<prefix>/agents/<agent>/reply``, see docs/protocol.md).
Its exit status says what happened, so scripts can act on it:

====  ==========================================================================
0     applied: the light shows it now (``--no-wait``: sent, nothing checked)
2     refused here before sending: bad agent, state or minutes, unreachable broker
3     no answer: no running bridge owns the agent, or the broker's ACL denied it
4     outranked: recorded, but a higher state shows until it ends (dnd in a call)
5     rejected by the bridge, which says why
====  ==========================================================================

``retire`` clears what a removed agent left on the broker when the bridge
that published it is gone (a running bridge retires its own removed agents
at start): the retained status, and the Home Assistant discovery configs.
It lists what it would clear and only clears with ``--yes``.
"""

from __future__ import annotations

import argparse
import json
import math
import queue
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime

import paho.mqtt.client as mqtt

from ..mqtt.client import BrokerSettings, connect_blocking
from ..outputs.home_assistant import DEFAULT_DISCOVERY_PREFIX, Discovery
from ..protocol import (
    AUTO,
    MANUAL_STATES,
    MAX_MINUTES,
    ONLINE,
    ProtocolError,
    SetCommand,
    SetReply,
    Status,
    Topics,
    check_id,
    decode_availability,
    decode_reply,
    decode_status,
)
from ..protocol.telemetry import decode_telemetry

EXIT_APPLIED, EXIT_NO_ANSWER, EXIT_OUTRANKED, EXIT_REJECTED = 0, 3, 4, 5
EXIT_NOT_CLEARED = 1
SET_TIMEOUT_S = 3.0


# -- set ---------------------------------------------------------------------------------

def add_set_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("agent", help="agent id, e.g. alice")
    parser.add_argument("state", help=f"one of {', '.join(sorted(MANUAL_STATES))} or auto")
    parser.add_argument("--minutes", type=float, metavar="N",
                        help=f"expire after N minutes, 0 < N <= {MAX_MINUTES} (a week); "
                             "default: until 'auto'")
    parser.add_argument("--timeout", type=float, default=SET_TIMEOUT_S, metavar="S",
                        help=f"seconds to wait for the bridge's answer (default {SET_TIMEOUT_S:g})")
    parser.add_argument("--no-wait", action="store_true",
                        help="send and exit 0 without waiting for the bridge's answer")
    parser.epilog = ("exit status: 0 applied, 2 refused before sending, 3 no bridge answered, "
                     "4 outranked (recorded, shows once a higher state ends), 5 rejected by "
                     "the bridge")


def check_set(agent: str, state: str, minutes: float | None) -> SetCommand:
    """Refuse a bad ``set`` here, before it reaches the broker (exit 2 in the CLI)."""
    check_id(agent, "agent")
    if state not in MANUAL_STATES | {AUTO}:
        raise ProtocolError(f"unknown state {state!r}, expected one of "
                            f"{', '.join(sorted(MANUAL_STATES | {AUTO}))}")
    if minutes is not None:
        if state == AUTO:
            raise ProtocolError("--minutes makes no sense with auto (it clears the manual state)")
        if not math.isfinite(minutes) or not 0 < minutes <= MAX_MINUTES:
            raise ProtocolError(f"--minutes must be more than 0 and at most {MAX_MINUTES} "
                                f"(a week), got {minutes:g}")
    return SetCommand(state, minutes, uuid.uuid4().hex[:16])


def run_set(args: argparse.Namespace, settings: BrokerSettings, topics: Topics) -> int:
    command = check_set(args.agent, args.state, args.minutes)
    if not (math.isfinite(args.timeout) and args.timeout > 0):
        raise ProtocolError(f"--timeout must be a positive number of seconds, got {args.timeout:g}")
    agent = args.agent
    client = connect_blocking(settings)
    try:
        replies: queue.Queue[SetReply] = queue.Queue()
        client.on_message = lambda _c, _u, msg: _collect_reply(msg, command, replies)
        if not args.no_wait:
            _subscribe(client, topics.reply(agent))
        client.publish(topics.set(agent), command.encode(), qos=1).wait_for_publish(5)
        if args.no_wait:
            print(f"{agent}: {args.state} sent (not waiting for an answer)")
            return EXIT_APPLIED
        try:
            reply = replies.get(timeout=args.timeout)
        except queue.Empty:
            print(f"focuslight set: no bridge answered for {agent} within {args.timeout:g} s: "
                  f"no running bridge owns agent {agent} on {settings.url} (prefix "
                  f"{topics.prefix}), or the broker's ACL denies this account writing "
                  f"{topics.set(agent)} or reading {topics.reply(agent)}", file=sys.stderr)
            return EXIT_NO_ANSWER
    finally:
        client.disconnect()
        client.loop_stop()
    return _report(agent, reply)


def _subscribe(client: mqtt.Client, *topics: str, qos: int = 1) -> None:
    done = threading.Event()
    client.on_subscribe = lambda *_: done.set()
    client.subscribe([(topic, qos) for topic in topics])
    if not done.wait(5):
        raise ProtocolError(f"the broker did not confirm the subscription to {topics[0]}")


def _collect_reply(msg: mqtt.MQTTMessage, command: SetCommand,
                   replies: queue.Queue[SetReply]) -> None:
    try:
        reply = decode_reply(msg.payload)
    except ProtocolError:
        return
    if reply.id == command.id:
        replies.put(reply)


def _report(agent: str, reply: SetReply) -> int:
    until = f" for {_duration(reply.until)} (until {_clock(reply.until)})" if reply.until else ""
    if reply.result == "applied":
        if reply.state == AUTO:
            print(f"{agent}: auto, manual state cleared; shows {reply.shown}")
        else:
            print(f"{agent}: {reply.state}{until}")
        return EXIT_APPLIED
    if reply.result == "outranked":
        print(f"{agent}: {reply.state}{until} recorded, but it shows {reply.shown} for now: "
              f"{reply.reason}")
        return EXIT_OUTRANKED
    print(f"focuslight set: the bridge rejected it: {reply.reason}", file=sys.stderr)
    return EXIT_REJECTED


def _clock(when: float) -> str:
    """``14:35`` today, ``Tue 08 Dec 14:35`` on another day."""
    moment = datetime.fromtimestamp(when)
    if moment.date() == datetime.now().date():
        return f"{moment:%H:%M}"
    return f"{moment:%a %d %b %H:%M}"


def _duration(until: float) -> str:
    """``30 min``, ``2.5 min``, ``45 s``: what is left of an override, as a person says it."""
    seconds = max(0.0, until - time.time())
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    return f"{minutes:.0f} min" if minutes >= 10 else f"{round(minutes, 1):g} min"


# -- retire ------------------------------------------------------------------------------

def add_retire_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("agents", nargs="*", metavar="AGENT",
                        help="agent ids to retire")
    parser.add_argument("--bridge", metavar="ID",
                        help="retire every agent whose retained status this (gone) bridge "
                             "published, every Home Assistant config it left (also after a "
                             "rename), and the bridge's own availability")
    parser.add_argument("--beacon", action="append", default=[], metavar="ID",
                        help="also retire this beacon: its retained telemetry, availability, "
                             "update topics and Home Assistant configs; repeatable")
    parser.add_argument("--discovery-prefix", default=DEFAULT_DISCOVERY_PREFIX,
                        metavar="PREFIX", help="Home Assistant discovery prefix "
                                               f"(default {DEFAULT_DISCOVERY_PREFIX})")
    parser.add_argument("--yes", action="store_true",
                        help="clear them (without it: only list what would be cleared)")
    parser.add_argument("--force", action="store_true",
                        help="even when the agent's bridge (or the beacon) is online (it "
                             "re-publishes whatever it still owns)")
    parser.epilog = ("Use the admin account (focuslight-admin in docs/deploy-a-site.md), not "
                     "the bridge's. exit status: 0 cleared or listed, 1 something was refused "
                     "or stayed, 2 usage")


@dataclass(frozen=True, slots=True)
class DiscoveryConfig:
    """A retained Home Assistant config focuslight published: which bridge, for what.

    The bridge is read from the object id (``<prefix>_<bridge>_<agent>`` or
    ``<prefix>_<bridge>_beacon_<beacon>``, ``-`` written ``_``:
    :class:`~focuslight.outputs.home_assistant.Discovery`), the agent or beacon
    from the config's ``state_topic``, so a bridge that was renamed, whose
    statuses name it no more, is still found by its old id.
    """

    topic: str
    family: str
    ident: str
    bridge: str

    @classmethod
    def parse(cls, topics: Topics, topic: str, payload: bytes) -> DiscoveryConfig | None:
        parts = topic.split("/")
        try:
            body = json.loads(payload)
            family, ident, _leaf = topics.parse(str(body.get("state_topic")))
        except (ValueError, AttributeError, ProtocolError):
            return None
        if len(parts) < 4 or parts[-1] != "config":
            return None
        object_id = parts[-2]
        head = _object_part(topics.prefix.replace("/", "_")) + "_"
        tail = _object_part(("_beacon_" if family == "beacons" else "_") + ident)
        if (not object_id.startswith(head) or not object_id.endswith(tail)
                or len(object_id) <= len(head) + len(tail)):
            return None
        return cls(topic, family, ident, object_id[len(head):-len(tail)])

    def of_bridge(self, bridge: str) -> bool:
        return self.bridge == _object_part(bridge)


def _object_part(text: str) -> str:
    return text.replace("-", "_")


@dataclass
class Retained:
    """What the broker holds: statuses, bridge availabilities, each beacon's retained
    topics, and the Home Assistant discovery configs."""

    statuses: dict[str, Status | None] = field(default_factory=dict)
    expected: set[str] = field(default_factory=set)
    """Agents with a retained expected time (walk-up counters, docs/counter-sign.md)."""
    bridges: dict[str, str] = field(default_factory=dict)
    beacons: dict[str, dict[str, bytes]] = field(default_factory=dict)
    configs: dict[str, bytes] = field(default_factory=dict)

    def topics(self, topics: Topics) -> set[str]:
        """Every retained topic seen."""
        held = {topics.status(a) for a in self.statuses}
        held |= {topics.expected(a) for a in self.expected}
        held |= {topics.bridge_availability(b) for b in self.bridges}
        held |= {t for by_topic in self.beacons.values() for t in by_topic}
        return held | set(self.configs)


def read_retained(settings: BrokerSettings, topics: Topics, timeout: float = 10.0,
                  discovery_prefix: str | None = None) -> Retained:
    """Every retained status, bridge availability and beacon topic under the prefix, and
    the discovery configs under *discovery_prefix* (when the account may read them).

    Subscribes at QoS 0 and unsubscribes as soon as the broker confirms: the
    retained messages come right behind the SUBACK and, at QoS 0, straight
    out, so all of them arrive before the UNSUBACK (no waiting for a quiet
    spell, no in-flight window or queue to cut a large site short).
    """
    seen = Retained()
    finished = threading.Event()
    beacons_head = f"{topics.prefix}/beacons/"

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        if not msg.retain or not msg.payload:
            return
        if discovery_prefix and msg.topic.startswith(discovery_prefix + "/"):
            seen.configs[msg.topic] = msg.payload
            return
        if msg.topic.startswith(beacons_head):
            beacon = msg.topic[len(beacons_head):].split("/")[0]
            try:
                check_id(beacon, "beacon")
            except ProtocolError:
                return
            seen.beacons.setdefault(beacon, {})[msg.topic] = msg.payload
            return
        try:
            family, ident, leaf = topics.parse(msg.topic)
        except ProtocolError:
            return
        if (family, leaf) == ("agents", "expected"):
            seen.expected.add(ident)  # whatever it holds, it goes with its agent
            return
        try:
            if family == "agents":
                seen.statuses[ident] = decode_status(msg.payload)
            elif family == "bridges":
                seen.bridges[ident] = decode_availability(msg.payload)
        except ProtocolError:
            if family == "agents":
                seen.statuses[ident] = None  # unreadable, still retained: clear it too

    filters = [topics.all_bridges(), topics.all_status(), topics.expected("+"),
               beacons_head + "#"]
    if discovery_prefix:
        filters.append(f"{discovery_prefix}/+/+/config")
    client = connect_blocking(settings)
    try:
        client.on_message = on_message
        client.on_unsubscribe = lambda *_: finished.set()
        _subscribe(client, *filters, qos=0)
        client.unsubscribe(filters)
        if not finished.wait(timeout):
            raise ProtocolError(f"the broker did not confirm unsubscribing within {timeout:g} s")
    finally:
        client.disconnect()
        client.loop_stop()
    return seen


def run_retire(args: argparse.Namespace, settings: BrokerSettings, topics: Topics) -> int:
    """List (and with ``--yes`` clear) what is actually retained for the agents, beacons
    and bridge named: read from the broker, not computed from a config that is gone."""
    agents = [check_id(a, "agent") for a in args.agents]
    beacons = [check_id(b, "beacon") for b in getattr(args, "beacon", [])]
    if args.bridge:
        check_id(args.bridge, "bridge")
    if not agents and not args.bridge and not beacons:
        raise ProtocolError("name the agents to retire, or --bridge ID for all of a bridge's"
                            " (or --beacon ID)")
    retained = read_retained(settings, topics, discovery_prefix=args.discovery_prefix)
    configs = [c for c in (DiscoveryConfig.parse(topics, t, p)
                           for t, p in sorted(retained.configs.items())) if c]
    if args.bridge:
        agents += sorted(a for a, s in retained.statuses.items()
                         if s is not None and s.bridge_id == args.bridge and a not in agents)
    plan: list[str] = []
    refused = False

    def add(*found: str) -> None:
        plan.extend(t for t in found if t not in plan)

    retired: set[str] = set()
    for agent in agents:
        status = retained.statuses.get(agent)
        owner = (status.bridge_id if status else None) or args.bridge
        if owner and retained.bridges.get(owner) == ONLINE and not args.force:
            print(f"{agent}: skipped, bridge {owner} is online and owns it: remove "
                  f"[agents.{agent}] from its config and restart it (it retires the agent "
                  "itself), or pass --force", file=sys.stderr)
            refused = True
            continue
        retired.add(agent)
        if agent in retained.statuses:
            add(topics.status(agent))
        else:
            print(f"{agent}: no retained status on the broker")
        if agent in retained.expected:
            add(topics.expected(agent))
        found = [c.topic for c in configs if c.family == "agents" and c.ident == agent
                 and (owner is None or c.of_bridge(owner))]
        add(*found)
        if owner:
            add(*Discovery(topics, owner, args.discovery_prefix).config_topics(agent))
        elif not found:
            print(f"{agent}: its bridge is unknown and no Home Assistant config names it, so "
                  "none are listed (pass --bridge ID)")
    bridge_gone = bool(args.bridge) and (retained.bridges.get(args.bridge) != ONLINE
                                         or args.force)
    implicit: set[str] = set()
    if args.bridge and bridge_gone:
        # every config the bridge left, also for agents another bridge serves now (a rename)
        add(*(c.topic for c in configs if c.family == "agents" and c.of_bridge(args.bridge)))
        others = {c.ident for c in configs if c.family == "beacons"
                  and not c.of_bridge(args.bridge)}
        implicit |= {c.ident for c in configs if c.family == "beacons"
                     and c.of_bridge(args.bridge) and c.ident not in others}
        add(*(c.topic for c in configs if c.family == "beacons" and c.of_bridge(args.bridge)))
    for beacon, held in retained.beacons.items():
        telemetry = held.get(topics.beacon_telemetry(beacon))
        try:
            agent = decode_telemetry(beacon, telemetry).agent if telemetry else None
        except ProtocolError:
            agent = None
        if agent in retired:
            implicit.add(beacon)
    for beacon in [*beacons, *sorted(implicit - set(beacons))]:
        held = retained.beacons.get(beacon, {})
        if held.get(topics.beacon_availability(beacon)) == ONLINE.encode() and not args.force:
            print(f"beacon {beacon}: skipped, it is online (it publishes its topics again): "
                  "unplug it, or pass --force", file=sys.stderr)
            refused = refused or beacon in beacons
            continue
        if not held and beacon in beacons:
            print(f"beacon {beacon}: nothing retained on the broker")
        add(*sorted(held))
        add(*(c.topic for c in configs if c.family == "beacons" and c.ident == beacon))
    if args.bridge and args.bridge in retained.bridges:
        if not bridge_gone:
            print(f"bridge {args.bridge} is online: its availability and Home Assistant "
                  "configs stay", file=sys.stderr)
            refused = True
        else:
            add(topics.bridge_availability(args.bridge))
    if not plan:
        print("nothing to clear")
        return EXIT_NOT_CLEARED if refused else 0
    if not args.yes:
        print("would clear (empty retained message):")
        print("\n".join(f"  {topic}" for topic in plan))
        print("run again with --yes to clear them")
        return EXIT_NOT_CLEARED if refused else 0
    _clear(settings, plan)
    left = read_retained(settings, topics, discovery_prefix=args.discovery_prefix).topics(topics)
    checked = retained.topics(topics) | {t for t in plan if t.startswith(topics.prefix + "/")}
    stayed = [t for t in plan if t in left]
    for topic in plan:
        # a discovery config seen retained is checked; one only computed may not be readable
        label = "STAYED" if topic in stayed else "cleared" if topic in checked else "sent"
        print(f"{label:<7} {topic}")
    if stayed:
        print(f"focuslight retire: the broker kept {len(stayed)} topic(s): does this account's "
              "ACL allow writing them? (use the admin account)", file=sys.stderr)
        return EXIT_NOT_CLEARED
    return EXIT_NOT_CLEARED if refused else 0


def _clear(settings: BrokerSettings, plan: list[str]) -> None:
    client = connect_blocking(settings)
    try:
        for topic in plan:
            client.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()

