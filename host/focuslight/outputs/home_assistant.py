"""Home Assistant MQTT discovery: every agent and every beacon appear in HA with no YAML.

On each connect the bridge publishes, retained, one discovery config per entity.
Per agent, one HA device ("Alice (focuslight)") with

* **Status**: a ``sensor`` (device class ``enum``) whose state is the agent's
  focuslight state, with ``source`` and ``since`` as attributes, unavailable
  while the bridge is offline;
* **Manual state**: a ``select`` offering the manual choices a person makes
  (``auto``, ``available``, ``dnd``, ``away``; never ``ringing`` or
  ``engaged``, which only the phone or the counter can vouch for). It is not
  optimistic: its state comes from the agent's status topic, so a beacon's
  button or ``focuslight set`` shows in HA too. It shows the manual state
  while the light shows it (status ``source`` is ``manual``) and ``auto``
  otherwise; a manual ``dnd`` waiting behind a call reads ``auto`` until the
  call ends and the light turns purple.

Per beacon, one HA device ("alice-desk (focuslight beacon)") with

* **Connected**: a ``binary_sensor`` (device class ``connectivity``) from the
  beacon's own retained ``beacons/<beacon>/availability`` (its Last Will);
* **Firmware**: a ``sensor`` with the firmware version from the beacon's
  retained telemetry (``beacons/<beacon>/telemetry``), and its IP, RSSI,
  uptime, free heap and reset cause as attributes;
* **Firmware update**: an ``update`` entity (device class ``firmware``) whose
  installed version is the beacon's telemetry ``firmware`` and whose latest
  version is this bridge's package version, so HA flags a beacon running older
  firmware than the bridge (HA calls the entity "on", *update available*). It
  has no install button: ``focuslight update`` does the update, over MQTT.

The beacons are those the bridge knows from its config: every id listed in an
agent's ``beacons``. A beacon nobody lists is not one whose button the bridge
acts on, so it gets no HA device either; list it to make it appear.

Every config carries an ``origin`` block (focuslight and its version) and
device identifiers of the form ``focuslight_<bridge>_<agent>`` (for the
default prefix; ``focuslight_<prefix>_<bridge>_<agent>`` for another). Both
read the normal protocol v1 topics: HA is just one more MQTT client. Turn it
off with ``[home_assistant] enabled = false``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from .. import __version__
from ..core.agents import AgentSettings
from ..protocol import AUTO, OFFLINE, ONLINE, STATES, Topics

DEFAULT_DISCOVERY_PREFIX = "homeassistant"
HA_CHOICES: tuple[str, ...] = (AUTO, "available", "dnd", "away")
"""What the select offers: the states a person picks by hand, and ``auto`` to clear."""
ORIGIN = {"name": "focuslight", "sw_version": __version__}


@dataclass(frozen=True, slots=True)
class Discovery:
    """Where discovery configs go and which bridge they describe."""

    topics: Topics
    bridge_id: str
    discovery_prefix: str = DEFAULT_DISCOVERY_PREFIX

    def messages(self, agents: dict[str, AgentSettings]) -> list[tuple[str, bytes]]:
        """``(topic, payload)`` pairs to publish retained: two per agent, three per beacon."""
        result = []
        for agent in agents.values():
            result.append((self._topic("sensor", self._object_id(agent.id)),
                           self._sensor(agent)))
            result.append((self._topic("select", self._object_id(agent.id)),
                           self._select(agent)))
        for beacon in _beacons(agents.values()):
            result.append((self._topic("binary_sensor", self._beacon_id(beacon)),
                           self._connectivity(beacon)))
            result.append((self._topic("sensor", self._beacon_id(beacon)),
                           self._firmware(beacon)))
            result.append((self._topic("update", self._beacon_id(beacon)),
                           self._update(beacon)))
        return result

    def config_topics(self, agent: str) -> list[str]:
        """Every discovery topic :meth:`messages` uses for *agent*: what retiring it clears."""
        return [topic for topic, _ in self.messages({agent: AgentSettings(agent, agent)})]

    def _topic(self, component: str, object_id: str) -> str:
        return f"{self.discovery_prefix}/{component}/{object_id}/config"

    def _object_id(self, agent: str) -> str:
        site = self.topics.prefix.replace("/", "_")
        return f"{site}_{self.bridge_id}_{agent}".replace("-", "_")

    def _beacon_id(self, beacon: str) -> str:
        """Beacon ids and agent ids are separate namespaces: ``beacon`` keeps them apart."""
        return self._object_id(f"beacon_{beacon}")

    @staticmethod
    def _identifier(object_id: str) -> str:
        """``focuslight_main_alice``: namespaced once, whether or not the prefix says so."""
        return object_id if object_id.startswith("focuslight") else f"focuslight_{object_id}"

    def _common(self, object_id: str, what: str, device: dict[str, object]) -> dict[str, object]:
        return {
            "name": what,
            "unique_id": f"{object_id}_{what.split()[0].lower()}",
            "device": {"identifiers": [self._identifier(object_id)],
                       "manufacturer": "focuslight", **device},
            "origin": ORIGIN,
        }

    def _agent(self, agent: AgentSettings, what: str) -> dict[str, object]:
        body = self._common(self._object_id(agent.id), what,
                            {"name": f"{agent.name} (focuslight)", "model": "agent status"})
        body["availability_topic"] = self.topics.bridge_availability(self.bridge_id)
        return body

    def _sensor(self, agent: AgentSettings) -> bytes:
        body = self._agent(agent, "Status") | {
            "state_topic": self.topics.status(agent.id),
            "value_template": "{{ value_json.state }}",
            "json_attributes_topic": self.topics.status(agent.id),
            "json_attributes_template": "{{ {'source': value_json.source, "
                                        "'since': value_json.since} | tojson }}",
            "device_class": "enum",
            "options": list(STATES),
            "icon": "mdi:traffic-light",
        }
        return _dump(body)

    def _select(self, agent: AgentSettings) -> bytes:
        choices = "[" + ", ".join(f"'{c}'" for c in HA_CHOICES) + "]"
        body = self._agent(agent, "Manual state") | {
            "command_topic": self.topics.set(agent.id),
            "command_template": '{"state": "{{ value }}"}',
            "state_topic": self.topics.status(agent.id),
            "value_template": "{% if value_json.source == 'manual' and value_json.state in "
                              + choices + " %}{{ value_json.state }}{% else %}auto{% endif %}",
            "options": list(HA_CHOICES),
            "icon": "mdi:account-clock",
        }
        return _dump(body)

    def _beacon(self, beacon: str, what: str) -> dict[str, object]:
        return self._common(self._beacon_id(beacon), what,
                            {"name": f"{beacon} (focuslight beacon)", "model": "beacon"})

    def _connectivity(self, beacon: str) -> bytes:
        body = self._beacon(beacon, "Connected") | {
            "state_topic": self.topics.beacon_availability(beacon),
            "payload_on": ONLINE,
            "payload_off": OFFLINE,
            "device_class": "connectivity",
            "entity_category": "diagnostic",
        }
        return _dump(body)

    def _firmware(self, beacon: str) -> bytes:
        telemetry = self.topics.beacon_telemetry(beacon)
        body = self._beacon(beacon, "Firmware") | {
            "state_topic": telemetry,
            "value_template": "{{ value_json.firmware }}",
            "json_attributes_topic": telemetry,
            "json_attributes_template": "{{ {'ip': value_json.ip, 'rssi': value_json.rssi, "
                                        "'uptime': value_json.uptime, "
                                        "'heap_free': value_json.heap_free, "
                                        "'reset_cause': value_json.reset_cause} | tojson }}",
            "entity_category": "diagnostic",
            "icon": "mdi:chip",
        }
        return _dump(body)

    def _update(self, beacon: str) -> bytes:
        """Installed: what the beacon reports; latest: what this bridge ships (the firmware's
        version is the package's). The template renders the JSON HA's MQTT update entity
        takes on its state topic, so one retained telemetry message gives both."""
        body = self._beacon(beacon, "Firmware update") | {
            "unique_id": f"{self._beacon_id(beacon)}_firmware_update",
            "state_topic": self.topics.beacon_telemetry(beacon),
            "value_template": "{{ {'installed_version': value_json.firmware, "
                              f"'latest_version': '{__version__}'}} | tojson }}}}",
            "device_class": "firmware",
            "entity_category": "diagnostic",
        }
        return _dump(body)


def _beacons(agents: Iterable[AgentSettings]) -> list[str]:
    """Every beacon an agent lists, once, in a stable order."""
    return sorted({beacon for agent in agents for beacon in agent.beacons})


def _dump(body: dict[str, object]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()
