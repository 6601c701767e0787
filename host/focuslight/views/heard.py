"""What a view hears: one message on a :meth:`~focuslight.protocol.Topics.views` topic,
decoded into the table it goes to, the id, and the value (None: the retained message was
cleared, forget the id).

The floor board and ``focuslight watch`` subscribe to the same four topics and file the
same four tables (capped by :mod:`.limits`); this is their one reading of a message, so
the two cannot drift apart on which topic means what. A topic is judged by its shape,
not its family alone: a broker that delivers a message to a subscription it does not
match (amqtt did) must not make a beacon's availability a bridge's.

**Sites.** What came through a site's link (``<prefix>/sites/<site>/…`` on a central
broker) is filed under a *key* ``<site>/<id>`` (:func:`key`), so the same agent or bridge
id at two sites are two entries, never one silently overwriting the other; a status's
``bridge_id`` and a beacon's ``agent`` become keys the same way, so the trust rule finds
the right bridge. :func:`site_of` reads the site back from a key (ids have no ``/``). The
links themselves go to the ``site links`` table (True: up).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from ..protocol import (
    ProtocolError,
    Status,
    Topics,
    decode_availability,
    decode_site_link,
    decode_status,
)
from ..protocol.telemetry import Telemetry, decode_telemetry

AGENTS, BRIDGES, BEACONS, BEACON_LINKS = "agents", "bridges", "beacons", "beacon links"
SITE_LINKS = "site links"
"""The tables a view keeps: statuses, bridge availabilities, beacon reports (telemetry),
beacon availabilities, site links."""

Value = Status | str | Telemetry | bool
"""A :class:`Status` (``agents``), an availability (``bridges``, ``beacon links``), a
:class:`Telemetry` (``beacons``) or a site link (``site links``, True: up)."""

_READERS: dict[tuple[str, str], tuple[str, Callable[[str, bytes], Value]]] = {
    ("agents", "status"): (AGENTS, lambda _ident, payload: decode_status(payload)),
    ("bridges", "availability"): (BRIDGES, lambda _ident, payload: decode_availability(payload)),
    ("beacons", "telemetry"): (BEACONS, decode_telemetry),
    ("beacons", "availability"): (BEACON_LINKS,
                                  lambda _ident, payload: decode_availability(payload)),
}


def heard(topics: Topics, topic: str, payload: bytes, reader: str) -> tuple[str, str,
                                                                           Value | None]:
    """``(table, id, value)`` of one message; ProtocolError (naming *reader*, ``"the
    board"`` or ``"watch"``) for a bad topic or payload."""
    site, family, ident, leaf = topics.locate(topic)
    if family == "sites":
        return SITE_LINKS, ident, decode_site_link(payload) if payload else None
    found = _READERS.get((family, leaf))
    if found is None:
        raise ProtocolError(f"{reader} reads no {leaf!r} topics of {family}")
    table, decode = found
    value = decode(ident, payload) if payload else None
    if site is None:
        return table, ident, value
    return table, key(site, ident), _through(site, value)


def key(site: str | None, ident: str) -> str:
    """The key a view files *ident* under: itself, or ``<site>/<id>`` if it came
    through *site*'s link."""
    return ident if site is None else f"{site}/{ident}"


def site_of(filed: str) -> str | None:
    """The site a key came through (None: none)."""
    site, slash, _ = filed.partition("/")
    return site if slash else None


def local_id(filed: str) -> str:
    """The id a key names at its own site (``north/alice`` → ``alice``)."""
    return filed.rpartition("/")[2]


def _through(site: str, value: Value | None) -> Value | None:
    """*value* with the ids it names keyed by *site*, as the tables are."""
    if isinstance(value, Status) and value.bridge_id is not None:
        return dataclasses.replace(value, bridge_id=key(site, value.bridge_id))
    if isinstance(value, Telemetry):
        return dataclasses.replace(value, beacon=key(site, value.beacon), agent=None
                                   if value.agent is None else key(site, value.agent))
    return value
