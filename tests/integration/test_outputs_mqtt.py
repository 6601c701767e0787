"""The bridge against real brokers (mosquitto and the embedded one) and a real paho peer."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from helpers.sources import HandSource
from helpers.waiting import wait_until

from focuslight.app import Service
from focuslight.config import LooksSettings, load
from focuslight.core.hours import Weekly
from focuslight.protocol.looks import PRESETS, decode_looks

PREFIX = "t"


def write_config(tmp_path: Path, url: str, wrap_up: float = 30, sources: str = "") -> Path:
    path = tmp_path / "focuslight.toml"
    path.write_text(f"""
[bridge]
id = "site1"
broker = "{url}"
prefix = "{PREFIX}"
[policy]
wrap_up_seconds = {wrap_up}
[agents.alice]
beacons = ["alice-desk"]
[agents.bob]
{sources}
""")
    return path


@pytest.fixture
def running(tmp_path):
    """A bridge Service in this process with a HandSource named 'phone'."""
    services: list[Service] = []

    def start(broker, wrap_up: float = 30) -> tuple[Service, HandSource]:
        config = load(write_config(tmp_path, broker.url, wrap_up))
        phone = HandSource("phone", ["alice", "bob"])
        service = Service(config, [phone])
        service.start()
        services.append(service)
        return service, phone

    yield start
    for service in services:
        service.stop()


def status_topic(agent: str) -> str:
    return f"{PREFIX}/agents/{agent}/status"


def test_merged_status_is_retained_with_the_right_payload(broker, running, peer_factory):
    _service, phone = running(broker)
    live = peer_factory(broker)
    live.subscribe(f"{PREFIX}/#")
    live.wait_for_state(status_topic("alice"), "unknown")
    phone.say("alice", "engaged")
    body = live.wait_for_state(status_topic("alice"), "engaged")
    assert body["v"] == 1 and body["source"] == "phone"
    assert abs(body["since"] - time.time()) < 5
    assert set(body) == {"v", "state", "source", "since", "bridge_id"}
    assert body["bridge_id"] == "site1"
    late = peer_factory(broker)
    late.subscribe(status_topic("alice"))
    assert late.wait_for_state(status_topic("alice"), "engaged")["since"] == body["since"]


def test_publishes_only_on_change(broker, running, peer_factory):
    service, phone = running(broker)
    live = peer_factory(broker)
    live.subscribe(status_topic("bob"))
    live.wait_for_state(status_topic("bob"), "unknown")
    for _ in range(5):
        phone.say("bob", "away")
    phone.say("bob", "ringing")
    live.wait_for_state(status_topic("bob"), "ringing")
    service.bridge.flush()
    seen = []
    while not live.messages.empty():
        seen.append(json.loads(live.messages.get().payload)["state"])
    assert seen == []  # the five 'away' reports made exactly one message, consumed above


def test_set_override_and_expiry(broker, running, peer_factory):
    _service, phone = running(broker)
    phone.say("alice", "available")
    live = peer_factory(broker)
    live.subscribe(status_topic("alice"))
    live.wait_for_state(status_topic("alice"), "available")
    live.publish(f"{PREFIX}/agents/alice/set", '{"state":"dnd","minutes":0.02}')
    assert live.wait_for_state(status_topic("alice"), "dnd")["source"] == "manual"
    live.wait_for_state(status_topic("alice"), "available", timeout=5)
    live.publish(f"{PREFIX}/agents/alice/set", '{"state":"away"}')
    live.wait_for_state(status_topic("alice"), "away")
    live.publish(f"{PREFIX}/agents/alice/set", '{"state":"auto"}')
    live.wait_for_state(status_topic("alice"), "available")


def test_wrap_up_grace(broker, running, peer_factory):
    _service, phone = running(broker, wrap_up=1)
    live = peer_factory(broker)
    live.subscribe(status_topic("alice"))
    phone.say("alice", "engaged")
    live.wait_for_state(status_topic("alice"), "engaged")
    phone.say("alice", "available")
    started = time.monotonic()
    live.wait_for_state(status_topic("alice"), "wrap_up")
    live.wait_for_state(status_topic("alice"), "available", timeout=5)
    assert time.monotonic() - started >= 0.9


def test_beacon_button_toggles_dnd(broker, running, peer_factory):
    _service, phone = running(broker)
    phone.say("alice", "available")
    live = peer_factory(broker)
    live.subscribe(status_topic("alice"))
    live.wait_for_state(status_topic("alice"), "available")
    live.publish(f"{PREFIX}/beacons/alice-desk/event", '{"v":1,"button":"press"}')
    live.wait_for_state(status_topic("alice"), "dnd")
    live.publish(f"{PREFIX}/beacons/alice-desk/event", '{"v":1,"button":"hold"}')
    live.wait_for_state(status_topic("alice"), "available")


BAD_MESSAGES = [
    ("agents/alice/set", b"not json at all", "not JSON"),
    ("agents/alice/set", b'{"state":"busy"}', "unknown state"),
    ("agents/alice/set", b'{"state":"dnd","pad":"' + b"x" * 600 + b'"}', "limit is 512"),
    ("agents/alice/set", b"\xff\xfe", "UTF-8"),
    ("agents/zed/set", b'{"state":"dnd"}', "not configured"),
    ("agents/Alice/set", b'{"state":"dnd"}', "agent must match"),
    ("beacons/alice-desk/event", b'{"v":1,"button":"double"}', "button"),
    ("beacons/alice-desk/event", b"[]", "JSON object"),
    ("beacons/nobody/event", b'{"v":1,"button":"press"}', "no agent lists it"),
]


def test_bad_payloads_are_logged_and_ignored(broker, running, peer_factory, caplog):
    service, phone = running(broker)
    phone.say("alice", "available")
    live = peer_factory(broker)
    live.subscribe(status_topic("alice"))
    live.wait_for_state(status_topic("alice"), "available")
    with caplog.at_level(logging.WARNING):
        for topic, payload, _reason in BAD_MESSAGES:
            live.publish(f"{PREFIX}/{topic}", payload)
        live.publish(f"{PREFIX}/agents/alice/set", '{"state":"dnd"}')  # still serving
        live.wait_for_state(status_topic("alice"), "dnd")
    service.bridge.flush()
    text = caplog.text
    for topic, _payload, reason in BAD_MESSAGES:
        assert reason in text, f"no log line for bad message on {topic}"


def test_unknown_state_from_a_source_is_logged(broker, running, peer_factory, caplog):
    service, phone = running(broker)
    with caplog.at_level(logging.WARNING):
        phone.say("alice", "lunch")
        phone.say("nobody", "engaged")
        service.bridge.flush()
    assert "unknown state 'lunch'" in caplog.text
    assert "'nobody', which is not configured" in caplog.text


def test_broker_restart_restores_every_agent(broker, running, peer_factory):
    _service, phone = running(broker)
    phone.say("alice", "engaged")
    phone.say("bob", "dnd")
    first = peer_factory(broker)
    first.subscribe(status_topic("bob"))
    first.wait_for_state(status_topic("bob"), "dnd")
    broker.kill()  # no persistence: every retained message is gone with it
    time.sleep(0.5)
    broker.start()
    after = peer_factory(broker)
    after.subscribe(f"{PREFIX}/#")
    wanted = {status_topic("alice"): "engaged", status_topic("bob"): "dnd",
              f"{PREFIX}/bridges/site1/availability": "online"}
    seen: dict[str, str] = {}
    deadline = time.monotonic() + 40
    while seen != wanted and time.monotonic() < deadline:
        msg = after.messages.get(timeout=max(0.1, deadline - time.monotonic()))
        if msg.topic in wanted:
            seen[msg.topic] = (msg.payload.decode() if msg.topic.endswith("availability")
                               else json.loads(msg.payload)["state"])
    assert seen == wanted


def test_a_stalled_broker_gets_the_newest_status_of_every_agent(tmp_path, mosquitto,
                                                                 peer_factory):
    """More changes pile up than MQTT has message ids (65,535) while the broker
    is frozen; when it wakes, each agent's retained status is its newest."""
    agents = [f"a{i:03d}" for i in range(1000)]
    config_file = tmp_path / "many.toml"
    config_file.write_text(f'[bridge]\nbroker = "{mosquitto.url}"\nprefix = "{PREFIX}"\n'
                           + "".join(f"[agents.{a}]\n" for a in agents))
    config = load(config_file)
    phone = HandSource("phone", agents)
    service = Service(config, [phone])
    service.start()
    try:
        wait_until(lambda: service.link.connected)
        mosquitto.proc.send_signal(signal.SIGSTOP)
        try:
            for round_ in range(70):  # a flush per round: every report is a change
                for agent in agents:
                    phone.say(agent, ("engaged", "ringing")[round_ % 2])
                service.bridge.flush(60)
            for agent in agents:
                phone.say(agent, "hold")
            service.bridge.flush(60)
        finally:
            mosquitto.proc.send_signal(signal.SIGCONT)
        assert service.link.outbox.drain(30)
        peer = peer_factory(mosquitto)
        peer.subscribe(status_topic("+"))
        latest = {}
        while len(latest) < len(agents):
            msg = peer.messages.get(timeout=10)
            latest[msg.topic] = json.loads(msg.payload)["state"]
        assert set(latest.values()) == {"hold"}
    finally:
        service.stop()


def test_a_status_caught_in_flight_by_a_crash_never_wins_after_reconnect(mosquitto, running,
                                                                          peer_factory):
    """paho re-sends what the broker never acknowledged when it reconnects; that
    status is older than the bridge's current one, which must end up retained."""
    service, phone = running(mosquitto)
    wait_until(lambda: service.link.connected)
    assert service.link.outbox.drain(10)  # the session's first messages are all acknowledged
    mosquitto.proc.send_signal(signal.SIGSTOP)
    phone.say("alice", "engaged")  # published, never acknowledged
    service.bridge.flush()
    wait_until(lambda: service.link.outbox.backlog() == (0, 1))  # sent, no PUBACK
    mosquitto.kill()
    wait_until(lambda: not service.link.connected)
    phone.say("alice", "hold")  # the newest state, while there is no broker
    service.bridge.flush()
    mosquitto.start()
    wait_until(lambda: service.link.connected, timeout=40)
    assert service.link.outbox.drain(10)
    peer = peer_factory(mosquitto)
    peer.subscribe(status_topic("alice"))
    assert json.loads(peer.wait_for(status_topic("alice")))["state"] == "hold"


def test_sigkill_turns_availability_offline_via_will(broker, tmp_path, peer_factory):
    config = write_config(tmp_path, broker.url, sources='[[sources]]\ntype = "simulated"\n')
    proc = subprocess.Popen([sys.executable, "-m", "focuslight", "bridge", "-c", str(config)],
                            stderr=subprocess.PIPE)
    try:
        watcher = peer_factory(broker)
        watcher.subscribe(f"{PREFIX}/bridges/site1/availability")
        assert watcher.wait_for(f"{PREFIX}/bridges/site1/availability") == b"online"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        payload = watcher.wait_for(f"{PREFIX}/bridges/site1/availability",
                                   lambda p: p == b"offline", timeout=60)
        assert payload == b"offline"
    finally:
        proc.kill()
        proc.wait()


def test_home_assistant_discovery_drives_the_real_topics(mosquitto, running, peer_factory):
    """What HA does with the discovery configs: read the state, write the select."""
    _service, phone = running(mosquitto)
    phone.say("alice", "available")
    ha = peer_factory(mosquitto)
    ha.subscribe("homeassistant/#")
    configs = {}
    for _ in range(4):
        payload = ha.wait_for("homeassistant/#")
        body = json.loads(payload)
        configs[body["unique_id"]] = body
    sensor = next(b for b in configs.values() if "state_topic" in b and "alice" in b["unique_id"])
    select = next(b for b in configs.values() if "command_topic" in b
                  and "alice" in b["unique_id"])
    assert sensor["availability_topic"] == f"{PREFIX}/bridges/site1/availability"
    assert "unknown" in sensor["options"] and "engaged" in sensor["options"]
    ha.subscribe(sensor["state_topic"])
    ha.wait_for_state(sensor["state_topic"], "available")
    command = select["command_template"].replace("{{ value }}", "dnd")
    ha.publish(select["command_topic"], command)
    ha.wait_for_state(sensor["state_topic"], "dnd")


def test_a_dropped_discovery_config_is_cleared_again_in_every_session(tmp_path, mosquitto,
                                                                     peer_factory):
    """The ledger forgets a dropped config once it is read, so its clear must go out with
    every session: one still waiting in the outbox when a session broke is not lost."""
    gone = "homeassistant/sensor/focuslight_site1_gone/config"
    state = tmp_path / "state"
    state.mkdir()
    (state / "discovery-site1.json").write_text(json.dumps({"v": 1, "topics": [gone]}))
    path = write_config(tmp_path, mosquitto.url)
    path.write_text(path.read_text().replace("[bridge]\n", f'[bridge]\nstate_dir = "{state}"\n'))
    ha = peer_factory(mosquitto)
    ha.publish(gone, b'{"name":"gone"}', retain=True)
    ha.subscribe(gone)
    ha.wait_for(gone, lambda payload: payload != b"")
    service = Service(load(path))
    service.start()
    try:
        ha.wait_for(gone, lambda payload: payload == b"")
        ha.publish(gone, b'{"name":"gone"}', retain=True)  # as if that clear had been lost
        thief = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=service.link.client_id)
        thief.connect(mosquitto.host, mosquitto.port)  # ends the bridge's session
        thief.loop_start()
        try:
            ha.wait_for(gone, lambda payload: payload == b"", timeout=15)  # the next session's
        finally:
            thief.loop_stop()
    finally:
        service.stop()


def test_home_assistant_discovery_can_be_turned_off(tmp_path, mosquitto, peer_factory):
    path = write_config(tmp_path, mosquitto.url)
    path.write_text(path.read_text() + "\n[home_assistant]\nenabled = false\n")
    service = Service(load(path))
    service.start()
    try:
        watcher = peer_factory(mosquitto)
        watcher.subscribe("#")
        watcher.wait_for(f"{PREFIX}/bridges/site1/availability")
        # a marker, not a sleep: a connect's snapshot goes out in order (statuses, online,
        # discovery), so a status this set causes comes after any discovery config
        watcher.publish(f"{PREFIX}/agents/alice/set", '{"state":"dnd"}')
        topics = set()
        while True:
            message = watcher.messages.get(timeout=10)
            topics.add(message.topic)
            if message.topic == status_topic("alice") and b'"dnd"' in message.payload:
                break
        assert not any(t.startswith("homeassistant/") for t in topics), topics
    finally:
        service.stop()


def test_the_looks_are_retained_and_republished_when_night_turns(broker, running,
                                                                 peer_factory) -> None:
    """Every set goes out retained with the session; when night starts (the output's clock
    moved to 20:00, the machine's zone) every set is published again, dimmed."""
    service, _phone = running(broker)
    looks = service.link.looks
    looks.clock = lambda: datetime(2026, 12, 1, 19, 59).astimezone()
    looks.settings = LooksSettings(dict(PRESETS), Weekly.parse("20:00-07:00"), 30)
    late = peer_factory(broker)
    late.subscribe(f"{PREFIX}/looks/+")
    sets = {late.next_on(f"{PREFIX}/looks/{name}").payload for name in PRESETS}
    assert sets == {s.encode() for s in PRESETS.values()}  # retained, at full brightness
    looks.tick(service.link._put_all)  # still day: nothing new
    looks.clock = lambda: datetime(2026, 12, 1, 20, 0).astimezone()
    looks.tick(service.link._put_all)
    for name in PRESETS:
        dimmed = late.wait_for(f"{PREFIX}/looks/{name}", lambda p: decode_looks(p).brightness
                               == 30)
        assert decode_looks(dimmed) == PRESETS[name].dimmed(30)
