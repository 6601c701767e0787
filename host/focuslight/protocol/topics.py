"""The v1 topic tree: one place that builds and parses every topic under a prefix.

``tests/contract/vectors/topics.json`` holds the topics both sides build; the
firmware builds its own with ``beacon.protocol.topic`` and is checked against
the same cases.

Example::

    >>> topics = Topics("focuslight")
    >>> topics.status("alice")
    'focuslight/agents/alice/status'
    >>> topics.parse("focuslight/beacons/alice-desk/event")
    ('beacons', 'alice-desk', 'event')
"""

from __future__ import annotations

from .payloads import ProtocolError, check_id, shorten


class Topics:
    """Builds and parses the v1 topic tree under one *prefix* (default ``focuslight``).

    The prefix lets several sites or test runs share one broker without
    seeing each other's lights.
    """

    def __init__(self, prefix: str = "focuslight") -> None:
        if not prefix or "#" in prefix or "+" in prefix or prefix.endswith("/"):
            raise ProtocolError(f"topic prefix must be plain text, no wildcards: {prefix!r}")
        self.prefix = prefix

    def status(self, agent: str) -> str:
        return f"{self.prefix}/agents/{agent}/status"

    def set(self, agent: str) -> str:
        return f"{self.prefix}/agents/{agent}/set"

    def reply(self, agent: str) -> str:
        return f"{self.prefix}/agents/{agent}/reply"

    def beacon_availability(self, beacon: str) -> str:
        return f"{self.prefix}/beacons/{beacon}/availability"

    def beacon_event(self, beacon: str) -> str:
        return f"{self.prefix}/beacons/{beacon}/event"

    def beacon_telemetry(self, beacon: str) -> str:
        """What a beacon reports about itself (retained; :mod:`.telemetry`)."""
        return f"{self.prefix}/beacons/{beacon}/telemetry"

    def bridge_availability(self, bridge: str) -> str:
        return f"{self.prefix}/bridges/{bridge}/availability"

    def bridge_check(self, bridge: str) -> str:
        """The bridge's self-check: it publishes here and must hear it back (not retained)."""
        return f"{self.prefix}/bridges/{bridge}/check"

    def all_status(self) -> str:
        return f"{self.prefix}/agents/+/status"

    def all_set(self) -> str:
        return f"{self.prefix}/agents/+/set"

    def all_events(self) -> str:
        return f"{self.prefix}/beacons/+/event"

    def all_bridges(self) -> str:
        return f"{self.prefix}/bridges/+/availability"

    def all_telemetry(self) -> str:
        return f"{self.prefix}/beacons/+/telemetry"

    def all_beacon_availability(self) -> str:
        return f"{self.prefix}/beacons/+/availability"

    def views(self) -> list[str]:
        """What a reader that shows the site subscribes to (the floor board, ``watch``):
        bridges first, so a status is judged against its bridge from the first message."""
        return [self.all_bridges(), self.all_status(), self.all_telemetry(),
                self.all_beacon_availability()]

    def parse(self, topic: str) -> tuple[str, str, str]:
        """Split *topic* into ``(family, id, leaf)``, e.g. ``("agents", "alice", "set")``.

        Raises :class:`ProtocolError` for topics outside this prefix or with a bad id.
        """
        head = self.prefix + "/"
        parts = topic[len(head):].split("/") if topic.startswith(head) else []
        if len(parts) != 3 or parts[0] not in ("agents", "beacons", "bridges"):
            raise ProtocolError(f"not a focuslight v1 topic: {shorten(topic)}")
        family, ident, leaf = parts
        check_id(ident, family[:-1])
        return family, ident, leaf
