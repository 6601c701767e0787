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
    >>> topics.locate("focuslight/sites/north/agents/alice/status")
    ('north', 'agents', 'alice', 'status')

**Sites.** A central broker carries each site's tree under ``<prefix>/sites/<site>/``
(mosquitto's bridge remaps the site's ``<prefix>/`` there, docs/deploy-a-site.md), and
the site's link on ``<prefix>/sites/<site>/link`` (mosquitto's ``notification_topic``).
A reader following the central prefix sees every site (:meth:`Topics.views`,
:meth:`Topics.locate`); one following a site's tree as its prefix
(``focuslight/sites/north``) has that site as its :attr:`Topics.site`, and its link
is ``<prefix>/link``.
"""

from __future__ import annotations

from .payloads import ID_PATTERN, ProtocolError, check_id, shorten


class Topics:
    """Builds and parses the v1 topic tree under one *prefix* (default ``focuslight``).

    The prefix lets several sites or test runs share one broker without
    seeing each other's lights.
    """

    def __init__(self, prefix: str = "focuslight") -> None:
        if not prefix or "#" in prefix or "+" in prefix or prefix.endswith("/"):
            raise ProtocolError(f"topic prefix must be plain text, no wildcards: {prefix!r}")
        self.prefix = prefix
        head, _, last = prefix.rpartition("/")
        self.site = last if ((head == "sites" or head.endswith("/sites"))
                             and ID_PATTERN.fullmatch(last)) else None
        """The site whose central tree this prefix is (``focuslight/sites/north`` →
        ``north``), or None: then what is read here came through no site link."""

    def status(self, agent: str) -> str:
        return f"{self.prefix}/agents/{agent}/status"

    def set(self, agent: str) -> str:
        return f"{self.prefix}/agents/{agent}/set"

    def reply(self, agent: str) -> str:
        return f"{self.prefix}/agents/{agent}/reply"

    def expected(self, agent: str) -> str:
        """A walk-up counter's expected time (retained; :mod:`.expected`)."""
        return f"{self.prefix}/agents/{agent}/expected"

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

    def site_link(self, site: str) -> str:
        """A site's link to this broker, as mosquitto's bridge notifies it (``1``/``0``)."""
        return f"{self.prefix}/sites/{site}/link"

    def own_link(self) -> str | None:
        """The link of :attr:`site`, whose tree this prefix is (None: not a site's tree)."""
        return None if self.site is None else f"{self.prefix}/link"

    def looks(self, name: str) -> str:
        """A site's set of looks (retained, :mod:`.looks`): ``<prefix>/looks/<name>``."""
        return f"{self.prefix}/looks/{name}"

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
        the site links first, then bridges, so a status is judged against its link and its
        bridge from the first message (a broker sends the retained messages in the order
        of the filters); then the same for every site's tree under ``sites/+/``."""
        tree = ["bridges/+/availability", "agents/+/status", "beacons/+/telemetry",
                "beacons/+/availability"]
        if self.site is not None:  # one site's tree: its own link, no sites below it
            return [f"{self.prefix}/link", *(f"{self.prefix}/{t}" for t in tree)]
        return [self.site_link("+"), *(f"{self.prefix}/{t}" for t in tree),
                *(f"{self.prefix}/sites/+/{t}" for t in tree)]

    def parse(self, topic: str) -> tuple[str, str, str]:
        """Split *topic* into ``(family, id, leaf)``, e.g. ``("agents", "alice", "set")``.

        Raises :class:`ProtocolError` for topics outside this prefix or with a bad id.
        """
        return self._split(self._parts(topic), topic)

    def locate(self, topic: str) -> tuple[str | None, str, str, str]:
        """``(site, family, id, leaf)`` of a topic a view reads: *site* is the site whose
        link it came through (None: none), e.g. ``("north", "agents", "alice", "status")``
        for ``<prefix>/sites/north/agents/alice/status``; a link topic is
        ``(None, "sites", site, "link")``. ProtocolError as :meth:`parse`."""
        if self.site is not None:
            if topic == self.own_link():
                return None, "sites", self.site, "link"
            return (self.site, *self.parse(topic))
        parts = self._parts(topic)
        if parts[:1] != ["sites"]:
            return (None, *self._split(parts, topic))
        site = check_id(parts[1] if len(parts) > 1 else "", "site")
        if parts[2:] == ["link"]:
            return None, "sites", site, "link"
        return (site, *self._split(parts[2:], topic))

    def _parts(self, topic: str) -> list[str]:
        head = self.prefix + "/"
        return topic[len(head):].split("/") if topic.startswith(head) else []

    @staticmethod
    def _split(parts: list[str], topic: str) -> tuple[str, str, str]:
        if len(parts) != 3 or parts[0] not in ("agents", "beacons", "bridges"):
            raise ProtocolError(f"not a focuslight v1 topic: {shorten(topic)}")
        family, ident, leaf = parts
        check_id(ident, family[:-1])
        return family, ident, leaf
