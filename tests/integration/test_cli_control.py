"""``focuslight set`` answers and retiring removed agents (focuslight.cli.control, outputs.mqtt).

Real mosquitto, real ``focuslight`` processes for the commands, a real bridge
(in this process where a test must speak for a source).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.mqtt_peer import Peer
from helpers.sources import HandSource
from helpers.waiting import wait_until

from focuslight.app import Service
from focuslight.config import load
from focuslight.core.agents import AgentSettings
from focuslight.mqtt.client import BrokerSettings
from focuslight.outputs.home_assistant import Discovery
from focuslight.protocol import Topics
from focuslight.state import DiscoveryLedger
from focuslight.tools.embedded_broker import free_port
from focuslight.views.floor_board import FloorBoard

FOCUSLIGHT = [sys.executable, "-m", "focuslight"]
PREFIX = "ctl"
TOPICS = Topics(PREFIX)


@pytest.fixture
def clients(mosquitto) -> Iterator:
    made: list[Peer] = []

    def make() -> Peer:
        made.append(Peer(mosquitto.host, mosquitto.port))
        return made[-1]

    yield make
    for client in made:
        client.close()


def retained(port: int, *topics: str) -> dict[str, bytes]:
    """What the broker holds under *topics* now: subscribe, then publish a marker; every
    retained message was queued to us before the marker (one connection, in order)."""
    client = Peer("127.0.0.1", port)
    try:
        client.subscribe(*topics)
        marker = f"marker/{uuid.uuid4().hex}"
        client.subscribe(marker)
        client.publish(marker, "x")
        held: dict[str, bytes] = {}
        while (msg := client.messages.get(timeout=10)).topic != marker:
            if msg.retain:
                held[msg.topic] = msg.payload
        return held
    finally:
        client.close()


def write_config(tmp_path: Path, url: str, bridge: str, agents: list[str],
                 name: str = "focuslight.toml") -> Path:
    path = tmp_path / name
    path.write_text(f'[bridge]\nid = "{bridge}"\nbroker = "{url}"\nprefix = "{PREFIX}"\n'
                    f'state_dir = "{tmp_path / bridge}"\n[policy]\nwrap_up_seconds = 0\n'
                    + "".join(f"[agents.{a}]\n" for a in agents))
    return path


@pytest.fixture
def bridges(tmp_path: Path, mosquitto) -> Iterator:
    """Start in-process bridges with a Phone source: ``start(id, agents)``."""
    running: list[Service] = []

    def start(bridge: str, agents: list[str], discovery: bool = True) -> tuple[Service, HandSource]:
        config = load(write_config(tmp_path, mosquitto.url, bridge, agents, f"{bridge}.toml"))
        if not discovery:
            config.home_assistant_prefix = None
        phone = HandSource("phone", agents)
        service = Service(config, [phone])
        service.start()
        running.append(service)
        wait_until(lambda: service.link.connected, timeout=10)
        return service, phone

    yield start
    for service in running:
        service.stop()


def focuslight(mosquitto, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "FOCUSLIGHT_BROKER": mosquitto.url}
    return subprocess.run([*FOCUSLIGHT, *args, "--prefix", PREFIX], env=env,
                          capture_output=True, text=True, timeout=30)


# -- set answers -------------------------------------------------------------------------

def test_set_during_a_call_is_outranked_and_shows_once_the_call_ends(mosquitto, bridges,
                                                                     clients) -> None:
    _service, phone = bridges("main", ["alice"])
    phone.say("alice", "engaged")
    watcher = clients()
    watcher.subscribe(TOPICS.status("alice"))
    done = focuslight(mosquitto, "set", "alice", "dnd", "--minutes", "30")
    assert done.returncode == 4, done.stderr
    assert "dnd for 30 min" in done.stdout and "shows engaged for now" in done.stdout
    assert "engaged (source phone) outranks dnd" in done.stdout
    phone.say("alice", "available")  # the call ends: the recorded dnd shows
    deadline = time.monotonic() + 10
    while json.loads(watcher.next_on(TOPICS.status("alice")).payload)["state"] != "dnd":
        assert time.monotonic() < deadline


def test_set_applied_and_auto_are_answered(mosquitto, bridges) -> None:
    _service, phone = bridges("main", ["alice"])
    phone.say("alice", "available")
    done = focuslight(mosquitto, "set", "alice", "away")
    assert (done.returncode, done.stdout.strip()) == (0, "alice: away"), done.stderr
    done = focuslight(mosquitto, "set", "alice", "auto")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "alice: auto, manual state cleared; shows available"


def test_the_bridge_rejects_a_bad_set_for_its_agent_and_says_why(mosquitto, bridges,
                                                                  clients) -> None:
    bridges("main", ["alice"])
    requester = clients()
    requester.subscribe(TOPICS.reply("alice"))
    requester.publish(TOPICS.set("alice"), '{"state":"dnd","minutes":20000,"id":"r1"}')
    msg = requester.next_on(TOPICS.reply("alice"))
    body = json.loads(msg.payload)
    assert not msg.retain
    assert (body["v"], body["id"], body["result"]) == (1, "r1", "rejected")
    assert "minutes must be a number in (0, 10080]" in body["reason"]
    requester.publish(TOPICS.set("alice"), '{"state":"busy","id":"r2"}')
    body = json.loads(requester.next_on(TOPICS.reply("alice")).payload)
    assert (body["id"], body["result"]) == ("r2", "rejected") and "busy" in body["reason"]


def test_set_prints_a_rejection_and_exits_5(mosquitto, clients) -> None:
    """Whatever a bridge rejects (here a peer answering as the bridge would), set says why."""
    bridge = clients()
    bridge.subscribe(TOPICS.set("alice"))
    setter = subprocess.Popen([*FOCUSLIGHT, "set", "alice", "dnd", "--broker", mosquitto.url,
                               "--prefix", PREFIX], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    request = json.loads(bridge.next_on(TOPICS.set("alice"), timeout=20).payload)
    bridge.publish(TOPICS.reply("alice"), json.dumps(
        {"v": 1, "id": request["id"], "result": "rejected", "reason": "alice is on leave"}))
    _out, err = setter.communicate(timeout=20)
    assert setter.returncode == 5
    assert err.strip() == "focuslight set: the bridge rejected it: alice is on leave"


@pytest.mark.parametrize("minutes", ["0", "-1", "nan", "inf", "10081", "1e9"])
def test_set_refuses_bad_minutes_before_sending(minutes: str) -> None:
    unreachable = f"mqtt://127.0.0.1:{free_port()}"  # proves nothing is even attempted
    done = subprocess.run([*FOCUSLIGHT, "set", "alice", "dnd", "--minutes", minutes,
                           "--broker", unreachable], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stderr.startswith("focuslight set: --minutes must be more than 0 and at most "
                                  "10080"), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_set_auto_with_no_bridge_is_not_a_success(mosquitto) -> None:
    done = focuslight(mosquitto, "set", "alice", "auto", "--timeout", "1")
    assert done.returncode == 3
    assert "no bridge answered for alice within 1 s" in done.stderr
    assert "no running bridge owns agent alice" in done.stderr
    assert "ACL denies" in done.stderr


def test_only_the_bridge_that_owns_an_agent_answers(mosquitto, bridges, clients) -> None:
    bridges("site1", ["alice"])
    bridges("site2", ["bob"])
    requester = clients()
    requester.subscribe(TOPICS.reply("+"))
    requester.publish(TOPICS.set("alice"), '{"state":"dnd","id":"a1"}')
    requester.publish(TOPICS.set("zed"), '{"state":"dnd","id":"z1"}')  # nobody owns zed
    requester.publish(TOPICS.set("bob"), '{"state":"dnd","id":"b1"}')
    answers: list[tuple[str, str]] = []
    while ("b1", "bob") not in answers or ("a1", "alice") not in answers:
        msg = requester.next_on(TOPICS.reply("+"))
        answers.append((json.loads(msg.payload)["id"], msg.topic.split("/")[2]))
    # site2 saw alice's and zed's sets before bob's: an answer from it would have come first
    assert sorted(answers) == [("a1", "alice"), ("b1", "bob")]
    done = focuslight(mosquitto, "set", "zed", "dnd", "--timeout", "1")
    assert done.returncode == 3 and "no running bridge owns agent zed" in done.stderr


# -- retiring removed agents ---------------------------------------------------------------

def test_a_bridge_retires_the_agents_dropped_from_its_config(mosquitto, bridges,
                                                            clients) -> None:
    service, _phone = bridges("main", ["alice", "bob"])
    assert service.link.outbox.drain(10)
    discovery = Discovery(TOPICS, "main")
    bob_configs = discovery.config_topics("bob")
    other = clients()  # statuses this bridge never published must stay
    other.publish(TOPICS.status("zed"), '{"v":1,"state":"dnd","source":"x","since":1,'
                                        '"bridge_id":"counter-1"}', retain=True)
    other.publish(TOPICS.status("old"), '{"v":1,"state":"dnd","source":"x","since":1}',
                  retain=True)
    held = retained(mosquitto.port, f"{PREFIX}/#", "homeassistant/#")
    assert TOPICS.status("bob") in held and set(bob_configs) <= set(held)
    service.stop()

    watch = subprocess.Popen([*FOCUSLIGHT, "watch", "--broker", mosquitto.url,
                              "--prefix", PREFIX], stdout=subprocess.PIPE, text=True)
    board = FloorBoard(BrokerSettings(mosquitto.host, mosquitto.port), TOPICS, ("127.0.0.1", 0))
    board.start()
    try:
        assert watch.stdout is not None
        while " bob " not in watch.stdout.readline():  # watch has bob's tile
            assert watch.poll() is None
        wait_board(board, lambda agents: "bob" in agents)
        service, _phone = bridges("main", ["alice"])  # bob is gone from the config
        deadline = time.monotonic() + 15
        while "bob" not in service.link.retired or not service.link.outbox.drain(1):
            assert time.monotonic() < deadline, "bob never retired"
        held = retained(mosquitto.port, f"{PREFIX}/#", "homeassistant/#")
        assert TOPICS.status("bob") not in held
        assert not set(bob_configs) & set(held)
        assert TOPICS.status("alice") in held and set(discovery.config_topics("alice")) <= set(held)
        assert {TOPICS.status("zed"), TOPICS.status("old")} <= set(held)
        assert service.link.retired == {"bob"}
        wait_board(board, lambda agents: "bob" not in agents and "alice" in agents)
    finally:
        board.stop()
        watch.terminate()
        out, _ = watch.communicate(timeout=10)
    assert " bob removed" in out, out
    table = focuslight(mosquitto, "watch", "--once", "--json")
    assert "bob" not in json.loads(table.stdout) and "alice" in json.loads(table.stdout)


def test_a_bridge_clears_the_discovery_configs_it_no_longer_publishes(mosquitto,
                                                                     tmp_path: Path) -> None:
    """bob and his beacon leave the config: HA loses bob's and bob-desk's entities, alice
    keeps hers; discovery switched off clears the rest (the bridge remembers what it sent)."""
    path = tmp_path / "ha.toml"
    head = (f'[bridge]\nbroker = "{mosquitto.url}"\nprefix = "{PREFIX}"\n'
            f'state_dir = "{tmp_path / "state"}"\n[agents.alice]\nbeacons = ["alice-desk"]\n')
    discovery = Discovery(TOPICS, "main")
    alice = {t for t, _ in discovery.messages({"alice": AgentSettings("alice", "alice",
                                                                       ["alice-desk"])})}
    bob = {t for t, _ in discovery.messages({"bob": AgentSettings("bob", "bob", ["bob-desk"])})}
    assert len(bob) == 5  # his sensor and select, bob-desk's connectivity, firmware, update

    def run(config: str) -> dict[str, bytes]:
        path.write_text(config)
        service = Service(load(path))
        service.start()
        try:
            deadline = time.monotonic() + 10
            while not service.link.connected or not service.link.outbox.drain(1):
                assert time.monotonic() < deadline
        finally:
            service.stop()
        return retained(mosquitto.port, "homeassistant/#")

    assert alice | bob <= set(run(head + '[agents.bob]\nbeacons = ["bob-desk"]\n'))
    held = set(run(head))
    assert alice <= held and not bob & held
    held = set(run(head + "[home_assistant]\nenabled = false\n"))
    assert not (alice | bob) & held


def test_the_discovery_ledger_survives_a_bad_file(tmp_path: Path, caplog) -> None:
    ledger = DiscoveryLedger(tmp_path / "discovery-main.json")
    assert ledger.replace({"a", "b"}) == []  # first start: nothing was published before
    assert ledger.replace({"a"}) == ["b"]
    ledger.path.write_text("{oops")
    with caplog.at_level(logging.WARNING):
        assert ledger.replace({"a"}) == []
    assert "ignored unreadable" in caplog.text
    assert ledger.replace(set()) == ["a"]
    assert DiscoveryLedger(None).replace({"a"}) == []


def test_a_bridge_retires_over_a_thousand_dropped_agents_at_once(mosquitto, bridges) -> None:
    many = [f"a{i:04d}" for i in range(1200)]  # past mosquitto's QoS 1 window + queue (1,020)
    service, _phone = bridges("main", many, discovery=False)
    assert service.link.outbox.drain(20)
    service.stop()
    service, _phone = bridges("main", ["a0000"], discovery=False)
    deadline = time.monotonic() + 30
    # A sleeping wait: the bridge runs in this process, and a hot loop here would take
    # the GIL from its threads (on a loaded machine that alone ran past the deadline).
    while len(service.link.retired) < len(many) - 1 or not service.link.outbox.drain(1):
        assert time.monotonic() < deadline, f"retired only {len(service.link.retired)}"
        time.sleep(0.05)
    assert service.link.retired == set(many[1:])
    held = retained(mosquitto.port, f"{PREFIX}/agents/+/status")
    assert set(held) == {TOPICS.status("a0000")}


def wait_board(board: FloorBoard, predicate, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen(board.url + "api/agents", timeout=5) as reply:
            agents = json.loads(reply.read())["agents"]
        if predicate({a["id"]: a for a in agents}):
            return
        assert time.monotonic() < deadline, f"board never matched: {agents}"
        time.sleep(0.05)


def gone_bridge_site(mosquitto, clients) -> Peer:
    """Bridge 'old' (offline, gone) left x and y behind; bridge 'main' (online) owns z.
    x is a walk-up counter: its expected time is retained too."""
    bridge = clients()
    bridge.publish(TOPICS.bridge_availability("old"), "offline", retain=True)
    bridge.publish(TOPICS.bridge_availability("main"), "online", retain=True)
    for agent, owner in (("x", "old"), ("y", "old"), ("z", "main")):
        bridge.publish(TOPICS.status(agent), json.dumps(
            {"v": 1, "state": "dnd", "source": "phone", "since": 1, "bridge_id": owner}),
            retain=True)
        for topic, payload in Discovery(TOPICS, owner).messages(
                {agent: AgentSettings(agent, agent)}):
            bridge.publish(topic, payload, retain=True)
    bridge.publish(TOPICS.expected("x"), '{"v":1,"contacts":3,"typical_s":300,'
                   '"bridge_id":"old"}', retain=True)
    return bridge


def test_retire_lists_then_clears_what_a_gone_bridge_left(mosquitto, clients) -> None:
    gone_bridge_site(mosquitto, clients)
    x_configs = Discovery(TOPICS, "old").config_topics("x")
    listed = focuslight(mosquitto, "retire", "--bridge", "old")
    assert listed.returncode == 0, listed.stderr
    for topic in [TOPICS.status("x"), TOPICS.expected("x"), TOPICS.status("y"), *x_configs,
                  TOPICS.bridge_availability("old")]:
        assert f"  {topic}\n" in listed.stdout
    assert "z" not in listed.stdout.replace("homeassistant", "")
    assert "--yes" in listed.stdout
    assert TOPICS.status("x") in retained(mosquitto.port, f"{PREFIX}/#")  # nothing cleared

    done = focuslight(mosquitto, "retire", "--bridge", "old", "--yes")
    assert done.returncode == 0, done.stderr + done.stdout
    held = retained(mosquitto.port, f"{PREFIX}/#", "homeassistant/#")
    assert not {TOPICS.status("x"), TOPICS.expected("x"), TOPICS.status("y"),
                TOPICS.bridge_availability("old"), *x_configs} & set(held)
    assert {TOPICS.status("z"), *Discovery(TOPICS, "main").config_topics("z")} <= set(held)


def test_retire_refuses_an_agent_whose_bridge_is_online(mosquitto, clients) -> None:
    gone_bridge_site(mosquitto, clients)
    done = focuslight(mosquitto, "retire", "z", "--yes")
    assert done.returncode == 1
    assert "z: skipped, bridge main is online" in done.stderr
    assert TOPICS.status("z") in retained(mosquitto.port, f"{PREFIX}/#")
    done = focuslight(mosquitto, "retire", "x", "--yes")
    assert done.returncode == 0, done.stderr
    assert f"cleared {TOPICS.status('x')}" in done.stdout
    assert TOPICS.status("x") not in retained(mosquitto.port, f"{PREFIX}/#")


def telemetry(agent: str) -> str:
    return json.dumps({"v": 1, "agent": agent, "firmware": "0.2.0", "ip": None, "rssi": None,
                       "uptime": 5, "heap_free": 1000, "reset_cause": "power_on"})


def beacon_left(client: Peer, beacon: str, agent: str, availability: str) -> list[str]:
    """What a beacon leaves retained: telemetry, availability, an update's last status."""
    held = [TOPICS.beacon_telemetry(beacon), TOPICS.beacon_availability(beacon),
            f"{PREFIX}/beacons/{beacon}/update/status"]
    client.publish(held[0], telemetry(agent), retain=True)
    client.publish(held[1], availability, retain=True)
    client.publish(held[2], '{"v":1,"id":"u1","state":"done"}', retain=True)
    return held


def publish_discovery(client: Peer, bridge: str, agent: str, beacons: list[str]) -> list[str]:
    messages = Discovery(TOPICS, bridge).messages({agent: AgentSettings(agent, agent, beacons)})
    for topic, payload in messages:
        client.publish(topic, payload, retain=True)
    return [topic for topic, _ in messages]


def test_retire_a_gone_bridge_clears_its_beacons_devices_and_retained_topics(
        mosquitto, clients) -> None:
    """The beacons' HA devices and retained topics are found on the broker, not computed
    from the (gone) config: a beacon of a live bridge's agent stays."""
    bridge = gone_bridge_site(mosquitto, clients)
    x_all = publish_discovery(bridge, "old", "x", ["x-desk"])  # the agent's and its beacon's
    z_all = publish_discovery(bridge, "main", "z", ["z-desk"])
    x_beacon = beacon_left(bridge, "x-desk", "x", "offline")
    z_beacon = beacon_left(bridge, "z-desk", "z", "online")
    listed = focuslight(mosquitto, "retire", "--bridge", "old")
    assert listed.returncode == 0, listed.stderr
    for topic in [*x_all, *x_beacon]:
        assert f"  {topic}\n" in listed.stdout
    done = focuslight(mosquitto, "retire", "--bridge", "old", "--yes")
    assert done.returncode == 0, done.stderr + done.stdout
    for topic in [*x_all, *x_beacon]:
        assert f"cleared {topic}\n" in done.stdout
    held = set(retained(mosquitto.port, f"{PREFIX}/#", "homeassistant/#"))
    assert not {*x_all, *x_beacon} & held
    assert {*z_all, *z_beacon} <= held


def test_retire_a_renamed_bridge_finds_its_old_configs(mosquitto, clients) -> None:
    """Bridge 'old' was renamed 'new': alice's status names 'new', so only old's discovery
    configs (on the broker, by their object ids) say what 'old' left; alice's beacon, which
    'new' lists and which is online, keeps its topics."""
    client = clients()
    client.publish(TOPICS.bridge_availability("new"), "online", retain=True)
    client.publish(TOPICS.status("alice"), json.dumps(
        {"v": 1, "state": "dnd", "source": "manual", "since": 1, "bridge_id": "new"}),
        retain=True)
    old = publish_discovery(client, "old", "alice", ["alice-desk"])
    new = publish_discovery(client, "new", "alice", ["alice-desk"])
    beacon = beacon_left(client, "alice-desk", "alice", "online")
    done = focuslight(mosquitto, "retire", "--bridge", "old", "--yes")
    assert done.returncode == 0, done.stderr + done.stdout
    for topic in old:
        assert f"cleared {topic}\n" in done.stdout
    held = set(retained(mosquitto.port, f"{PREFIX}/#", "homeassistant/#"))
    assert not set(old) & held
    assert {*new, *beacon, TOPICS.status("alice")} <= held


def test_retire_a_beacon_by_name(mosquitto, clients) -> None:
    client = clients()
    gone = beacon_left(client, "gone-desk", "nobody", "offline")
    configs = publish_discovery(client, "old", "nobody", ["gone-desk"])[2:]  # its two
    live = beacon_left(client, "live-desk", "bob", "online")
    done = focuslight(mosquitto, "retire", "--beacon", "gone-desk", "--beacon", "live-desk",
                      "--yes")
    assert done.returncode == 1, done.stderr + done.stdout  # live-desk is online: skipped
    assert "beacon live-desk: skipped, it is online" in done.stderr
    held = set(retained(mosquitto.port, f"{PREFIX}/#", "homeassistant/#"))
    assert not {*gone, *configs} & held and set(live) <= held


def test_retire_needs_something_to_retire() -> None:
    done = subprocess.run([*FOCUSLIGHT, "retire"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "name the agents to retire" in done.stderr


def test_set_says_how_long_the_way_a_person_would() -> None:
    from focuslight.cli.control import _duration
    now = time.time() + 0.2
    assert [_duration(now + m * 60) for m in (30, 2.5, 0.75, 10080)] == \
        ["30 min", "2.5 min", "45 s", "10080 min"]
