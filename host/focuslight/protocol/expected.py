"""A walk-up counter's expected time: what the counter sign's "about N min" comes from.

The bridge that runs a counter source publishes, retained at QoS 1, on
``<prefix>/agents/<agent>/expected``::

    {"v":1,"typical_s":240.0,"contacts":12,"serving_since":1732356902.1,"bridge_id":"main"}

* ``typical_s``: the median length of the counter's recent walk-up contacts
  (:data:`focuslight.state.LAST_CONTACTS` of them, shorter ones than
  :data:`focuslight.state.MIN_CONTACT_S` not counted); absent until
  :data:`focuslight.state.MIN_CONTACTS` were seen;
* ``contacts``: how many contacts it is the median of (0..999);
* ``serving_since``: when the walk-up contact now being served began (Unix s);
  absent while nobody is being served at the counter;
* ``bridge_id``: the bridge that published it.

A reader expects the counter free again at ``serving_since + typical_s``
(:meth:`Expected.ends_at`); the sign shows the minutes left until then, rounded
up, and no number once that moment has passed (the contact runs long, nobody
can say). Only ages and durations: no customer data. The beacon firmware never
subscribes to it; ``tests/contract/vectors/expected.json`` holds the host's cases.

Example::

    >>> e = decode_expected(b'{"v":1,"typical_s":300,"contacts":5,"serving_since":1000}')
    >>> e.ends_at()
    1300.0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .payloads import (
    MAX_FLOAT,
    ProtocolError,
    _check_version,
    _dump,
    _number,
    check_id,
    load_object,
    shorten,
)

MAX_TYPICAL_S = 86_400.0
"""A typical contact of more than a day is no counter's."""
MAX_CONTACTS = 999


@dataclass(frozen=True, slots=True)
class Expected:
    """One counter's expected time (see the module docstring for the fields)."""

    typical_s: float | None
    contacts: int
    serving_since: float | None = None
    bridge_id: str | None = None

    def ends_at(self) -> float | None:
        """When the contact being served should end (Unix s); None if nobody is being
        served or there is no typical length yet."""
        if self.serving_since is None or self.typical_s is None:
            return None
        return self.serving_since + self.typical_s

    def encode(self) -> bytes:
        body: dict[str, Any] = {"v": 1, "contacts": self.contacts}
        if self.typical_s is not None:
            body["typical_s"] = round(self.typical_s, 1)
        if self.serving_since is not None:
            body["serving_since"] = round(self.serving_since, 3)
        if self.bridge_id is not None:
            body["bridge_id"] = self.bridge_id
        return _dump(body)


def decode_expected(payload: bytes) -> Expected:
    """Validate an ``expected`` payload; raise :class:`ProtocolError` saying why not."""
    body = load_object(payload)
    _check_version(body, required=True)
    contacts = body.get("contacts")
    if (isinstance(contacts, bool) or not isinstance(contacts, int)
            or not 0 <= contacts <= MAX_CONTACTS):
        raise ProtocolError(f"contacts must be a whole number from 0 to {MAX_CONTACTS},"
                            f" got {shorten(contacts)}")
    typical = body.get("typical_s")
    if typical is not None:
        typical = _number(typical, 0, MAX_TYPICAL_S,
                          f"typical_s must be seconds from 0 to {MAX_TYPICAL_S:g}")
    since = body.get("serving_since")
    if since is not None:
        since = _number(since, 0, MAX_FLOAT, "serving_since must be a non-negative Unix time")
    bridge_id = body.get("bridge_id")
    if bridge_id is not None:
        check_id(bridge_id, "bridge_id")
    return Expected(typical, contacts, since, bridge_id)
