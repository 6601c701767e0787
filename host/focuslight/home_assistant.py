"""Home Assistant MQTT discovery: every agent appears in HA with no YAML.

On each connect the bridge publishes, retained, one discovery config per
agent for

* a ``sensor`` (device class ``enum``) whose state is the agent's focuslight
  state, with ``source`` and ``since`` as attributes, unavailable while the
  bridge is offline;
* a ``select`` that sets a manual state (``auto`` clears), so HA automations
  and dashboards can put an agent in ``dnd`` or ``away``.

Both read and write the normal protocol v1 topics: HA is just one more MQTT
client. Turn it off with ``[home_assistant] enabled = false``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .config import AgentSettings
from .protocol import AUTO, MANUAL_STATES, STATES, Topics

DEFAULT_DISCOVERY_PREFIX = "homeassistant"


@dataclass(frozen=True, slots=True)
class Discovery:
    """Where discovery configs go and which bridge they describe."""

    topics: Topics
    bridge_id: str
    discovery_prefix: str = DEFAULT_DISCOVERY_PREFIX

    def messages(self, agents: dict[str, AgentSettings]) -> list[tuple[str, bytes]]:
        """``(topic, payload)`` pairs to publish retained, two per agent."""
        result = []
        for agent in agents.values():
            result.append((self._topic("sensor", agent.id), self._sensor(agent)))
            result.append((self._topic("select", agent.id), self._select(agent)))
        return result

    def config_topics(self, agent: str) -> list[str]:
        """Every discovery topic :meth:`messages` uses for *agent*: what retiring it clears."""
        return [topic for topic, _ in self.messages({agent: AgentSettings(agent, agent)})]

    def _topic(self, component: str, agent: str) -> str:
        return f"{self.discovery_prefix}/{component}/{self._object_id(agent)}/config"

    def _object_id(self, agent: str) -> str:
        site = self.topics.prefix.replace("/", "_")
        return f"{site}_{self.bridge_id}_{agent}".replace("-", "_")

    def _common(self, agent: AgentSettings, what: str) -> dict[str, object]:
        return {
            "name": what,
            "unique_id": f"{self._object_id(agent.id)}_{what.split()[0].lower()}",
            "availability_topic": self.topics.bridge_availability(self.bridge_id),
            "device": {"identifiers": [f"focuslight_{self._object_id(agent.id)}"],
                       "name": f"{agent.name} (focuslight)", "manufacturer": "focuslight",
                       "model": "agent status"},
        }

    def _sensor(self, agent: AgentSettings) -> bytes:
        body = self._common(agent, "Status") | {
            "state_topic": self.topics.status(agent.id),
            "value_template": "{{ value_json.state }}",
            "json_attributes_topic": self.topics.status(agent.id),
            "json_attributes_template": "{{ {'source': value_json.source, "
                                        "'since': value_json.since} | tojson }}",
            "device_class": "enum",
            "options": list(STATES),
            "icon": "mdi:traffic-light",
        }
        return json.dumps(body, separators=(",", ":")).encode()

    def _select(self, agent: AgentSettings) -> bytes:
        body = self._common(agent, "Manual state") | {
            "command_topic": self.topics.set(agent.id),
            "command_template": '{"state": "{{ value }}"}',
            "options": [AUTO, *sorted(MANUAL_STATES)],
            "optimistic": True,
            "icon": "mdi:account-clock",
        }
        return json.dumps(body, separators=(",", ":")).encode()
