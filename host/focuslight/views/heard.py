"""What a view hears: one message on a :meth:`~focuslight.protocol.Topics.views` topic,
decoded into the table it goes to, the id, and the value (None: the retained message was
cleared, forget the id).

The floor board and ``focuslight watch`` subscribe to the same four topics and file the
same four tables (capped by :mod:`.limits`); this is their one reading of a message, so
the two cannot drift apart on which topic means what. A topic is judged by its shape,
not its family alone: a broker that delivers a message to a subscription it does not
match (amqtt did) must not make a beacon's availability a bridge's.
"""

from __future__ import annotations

from collections.abc import Callable

from ..protocol import ProtocolError, Status, Topics, decode_availability, decode_status
from ..protocol.telemetry import Telemetry, decode_telemetry

AGENTS, BRIDGES, BEACONS, BEACON_LINKS = "agents", "bridges", "beacons", "beacon links"
"""The tables a view keeps: statuses, bridge availabilities, beacon reports (telemetry),
beacon availabilities."""

Value = Status | str | Telemetry
"""A :class:`Status` (``agents``), an availability (``bridges``, ``beacon links``) or a
:class:`Telemetry` (``beacons``)."""

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
    family, ident, leaf = topics.parse(topic)
    found = _READERS.get((family, leaf))
    if found is None:
        raise ProtocolError(f"{reader} reads no {leaf!r} topics of {family}")
    table, decode = found
    return table, ident, decode(ident, payload) if payload else None
