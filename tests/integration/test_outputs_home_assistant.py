"""Home Assistant discovery, captured off a real mosquitto and read the way HA reads it.

The bridge runs for real; a paho peer plays Home Assistant: it collects the
retained discovery configs, subscribes to the topics they name and renders
their templates with Jinja2 (HA's template engine), so what the test sees is
what an HA dashboard would show.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import jinja2
import pytest
from helpers.sources import HandSource

from focuslight import __version__
from focuslight.app import Service
from focuslight.config import load

FOCUSLIGHT = [sys.executable, "-m", "focuslight"]
TELEMETRY = {"v": 1, "agent": "alice", "firmware": "0.2.0", "ip": "192.168.1.23", "rssi": -61,
             "uptime": 1234, "heap_free": 81234, "reset_cause": "power_on"}


@pytest.fixture
def bridge(mosquitto, tmp_path: Path) -> Iterator[HandSource]:
    path = tmp_path / "focuslight.toml"
    path.write_text(f"""
[bridge]
id = "main"
broker = "{mosquitto.url}"
state_dir = "{tmp_path / 'state'}"
[policy]
wrap_up_seconds = 0
[agents.alice]
name = "Alice"
beacons = ["alice-desk"]
[agents.bob]
""")
    config = load(path)
    phone = HandSource()
    service = Service(config, [phone])
    service.start()
    yield phone
    service.stop()


def discovery(ha, count: int) -> dict[str, dict]:
    """``topic → config`` of the first *count* discovery configs HA receives."""
    ha.subscribe("homeassistant/#")
    configs: dict[str, dict] = {}
    deadline = time.monotonic() + 10
    while len(configs) < count:
        left = deadline - time.monotonic()
        assert left > 0, f"only {len(configs)} discovery configs: {sorted(configs)}"
        try:
            msg = ha.messages.get(timeout=left)
        except queue.Empty:
            continue
        configs[msg.topic] = json.loads(msg.payload)
    return configs


def render(template: str, payload: bytes) -> str:
    """What HA makes of *payload* with *template* (``value`` and ``value_json``, as HA)."""
    value_json = json.loads(payload)
    return jinja2.Environment().from_string(template).render(value=payload.decode(),
                                                             value_json=value_json).strip()


class HomeAssistant:
    """Follows the state topics of the discovered entities, like HA's MQTT integration:
    each entity shows what its template makes of the last message on its topic."""

    def __init__(self, peer, configs: dict[str, dict]) -> None:
        self.peer, self.configs = peer, configs
        self.last: dict[str, bytes] = {}
        for topic in {c["state_topic"] for c in configs.values()}:
            peer.subscribe(topic)

    def entity(self, component: str, object_id: str) -> dict:
        return self.configs[f"homeassistant/{component}/{object_id}/config"]

    def shows(self, config: dict) -> str | None:
        payload = self.last.get(config["state_topic"])
        if payload is None:
            return None
        if "value_template" in config:
            return render(config["value_template"], payload)
        return "on" if payload.decode() == config["payload_on"] else "off"

    def wait_for(self, config: dict, shown: str, timeout: float = 10) -> None:
        """Wait until the entity *config* describes shows *shown*."""
        deadline = time.monotonic() + timeout
        while self.shows(config) != shown:
            left = deadline - time.monotonic()
            assert left > 0, f"{config['unique_id']} shows {self.shows(config)!r}, not {shown!r}"
            try:
                msg = self.peer.messages.get(timeout=left)
            except queue.Empty:
                continue
            self.last[msg.topic] = msg.payload


def test_discovery_describes_agents_and_beacons(bridge, mosquitto, peer_factory) -> None:
    configs = discovery(peer_factory(mosquitto), 7)
    assert sorted(configs) == [
        "homeassistant/binary_sensor/focuslight_main_beacon_alice_desk/config",
        "homeassistant/select/focuslight_main_alice/config",
        "homeassistant/select/focuslight_main_bob/config",
        "homeassistant/sensor/focuslight_main_alice/config",
        "homeassistant/sensor/focuslight_main_beacon_alice_desk/config",
        "homeassistant/sensor/focuslight_main_bob/config",
        "homeassistant/update/focuslight_main_beacon_alice_desk/config"]
    for config in configs.values():
        assert config["origin"] == {"name": "focuslight", "sw_version": __version__}
    alice = configs["homeassistant/select/focuslight_main_alice/config"]
    assert alice["device"]["identifiers"] == ["focuslight_main_alice"]  # not focuslight_ twice
    assert alice["device"]["name"] == "Alice (focuslight)"
    assert alice["options"] == ["auto", "available", "dnd", "away"]  # no ringing, no engaged
    assert alice["state_topic"] == "focuslight/agents/alice/status"
    assert "optimistic" not in alice
    assert alice["unique_id"] == "focuslight_main_alice_manual"  # unchanged: HA keeps history
    link = configs["homeassistant/binary_sensor/focuslight_main_beacon_alice_desk/config"]
    assert link["device_class"] == "connectivity"
    assert link["state_topic"] == "focuslight/beacons/alice-desk/availability"
    assert link["device"]["identifiers"] == ["focuslight_main_beacon_alice_desk"]
    firmware = configs["homeassistant/sensor/focuslight_main_beacon_alice_desk/config"]
    assert firmware["state_topic"] == "focuslight/beacons/alice-desk/telemetry"
    assert firmware["device"] == link["device"]


def test_a_button_press_and_a_cli_set_show_in_home_assistant(bridge, mosquitto,
                                                              peer_factory) -> None:
    """The select follows the status topic: not what HA guessed, what the light shows."""
    configs = discovery(peer_factory(mosquitto), 7)
    ha = HomeAssistant(peer_factory(mosquitto), configs)
    alice = ha.entity("select", "focuslight_main_alice")
    bob = ha.entity("select", "focuslight_main_bob")
    status = ha.entity("sensor", "focuslight_main_alice")
    bridge.say("alice", "available")
    bridge.say("bob", "available")
    ha.wait_for(status, "available")
    ha.wait_for(alice, "auto")
    beacon = peer_factory(mosquitto)
    beacon.publish("focuslight/beacons/alice-desk/event", '{"v":1,"button":"press"}')
    ha.wait_for(status, "dnd")
    ha.wait_for(alice, "dnd")  # the button's dnd, in HA's select
    done = subprocess.run([*FOCUSLIGHT, "set", "bob", "away", "--broker", mosquitto.url],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    ha.wait_for(bob, "away")  # the CLI's away, in HA's select
    bridge.say("alice", "engaged")  # a call outranks the manual dnd
    ha.wait_for(status, "engaged")
    ha.wait_for(alice, "auto")
    command = alice["command_template"].replace("{{ value }}", "auto")
    ha.peer.publish(alice["command_topic"], command)  # HA's own select still drives set
    bridge.say("alice", "available")
    ha.wait_for(status, "available")


def test_beacons_show_their_link_and_firmware(bridge, mosquitto, peer_factory) -> None:
    configs = discovery(peer_factory(mosquitto), 7)
    ha = HomeAssistant(peer_factory(mosquitto), configs)
    link = ha.entity("binary_sensor", "focuslight_main_beacon_alice_desk")
    firmware = ha.entity("sensor", "focuslight_main_beacon_alice_desk")
    beacon = peer_factory(mosquitto)
    beacon.publish("focuslight/beacons/alice-desk/availability", "online", retain=True)
    beacon.publish("focuslight/beacons/alice-desk/telemetry", json.dumps(TELEMETRY),
                   retain=True)
    ha.wait_for(link, "on")
    ha.wait_for(firmware, "0.2.0")
    attributes = json.loads(render(firmware["json_attributes_template"],
                                   json.dumps(TELEMETRY).encode()))
    assert attributes == {"ip": "192.168.1.23", "rssi": -61, "uptime": 1234,
                          "heap_free": 81234, "reset_cause": "power_on"}
    beacon.publish("focuslight/beacons/alice-desk/availability", "offline", retain=True)
    ha.wait_for(link, "off")


def update_available(installed: str, latest: str) -> bool:
    """HA's reading of an update entity: on when the latest version is newer."""
    def parts(version: str) -> tuple[int, ...]:
        return tuple(int(p) for p in version.split("."))
    return parts(latest) > parts(installed)


def test_home_assistant_flags_a_beacon_with_outdated_firmware(bridge, mosquitto,
                                                              peer_factory) -> None:
    """The beacon's ``update`` entity: installed = its telemetry's firmware, latest = the
    bridge's package version; older firmware shows as an update available."""
    configs = discovery(peer_factory(mosquitto), 7)
    ha = HomeAssistant(peer_factory(mosquitto), configs)
    update = ha.entity("update", "focuslight_main_beacon_alice_desk")
    assert update["device_class"] == "firmware"
    assert update["device"] == ha.entity("sensor", "focuslight_main_beacon_alice_desk")["device"]
    assert update["unique_id"] == "focuslight_main_beacon_alice_desk_firmware_update"
    beacon = peer_factory(mosquitto)
    old = json.dumps(TELEMETRY | {"firmware": "0.1.0"})
    beacon.publish("focuslight/beacons/alice-desk/telemetry", old, retain=True)
    shown = json.dumps({"installed_version": "0.1.0", "latest_version": __version__})
    ha.wait_for(update, shown)
    assert update_available("0.1.0", __version__)
    beacon.publish("focuslight/beacons/alice-desk/telemetry",
                   json.dumps(TELEMETRY | {"firmware": __version__}), retain=True)
    current = json.dumps({"installed_version": __version__, "latest_version": __version__})
    ha.wait_for(update, current)
    assert not update_available(__version__, __version__)
