"""The USB serial link's lines: the MQTT payloads again, one JSON object per line.

Lines are UTF-8 and ``\\n``-terminated (the firmware accepts ``\\r\\n`` too):

* host → beacon: the status payload exactly as on MQTT (:func:`status_line`), the
  bridge line ``{"v":1,"bridge":"online"}`` or ``"offline"`` (:func:`bridge_line`)
  at least every heartbeat, and the payload of the beacon's set of looks as on MQTT
  (``{"v":1,"brightness":..,"looks":{..}}``, :mod:`.looks`, also written by
  :func:`status_line`); the beacon shows ``unknown`` after 15 s without a valid line;
* beacon → host: ``{"v":1,"button":"press"}`` / ``"hold"``, and
  ``{"v":1,"hello":"<beacon>","agent":"<agent>"}`` when the firmware starts; every
  other line is the firmware's log (:func:`read_beacon_line` tells them apart).

``tests/contract/vectors/serial.json`` holds both directions; the firmware's side
(``beacon.protocol.host_line``, ``event``, ``hello``) is checked against it too.

Example::

    >>> bridge_line(True)
    b'{"v":1,"bridge":"online"}\\n'
    >>> read_beacon_line(b'{"v":1,"button":"press"}')
    BeaconLine(kind='button', button='press', hello=None)
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .payloads import OFFLINE, ONLINE, VERSION, decode_event


def bridge_line(online: bool) -> bytes:
    """The host's heartbeat: is the bridge behind this cable online?"""
    state = ONLINE if online else OFFLINE
    return json.dumps({"v": VERSION, "bridge": state}, separators=(",", ":")).encode() + b"\n"


def status_line(payload: bytes) -> bytes:
    """A status payload (or a looks payload) as published on MQTT, as a line."""
    return payload + b"\n"


@dataclass(frozen=True, slots=True)
class BeaconLine:
    """One line from a beacon: ``kind`` is ``button``, ``hello`` or ``log``."""

    kind: str
    button: str | None = None
    hello: dict[str, object] | None = None


def read_beacon_line(line: bytes) -> BeaconLine:
    """What a beacon's line is; ProtocolError for an event line that breaks the rules.

    A line that is not a JSON object with ``button`` or ``hello`` is the firmware's
    log (whatever its bytes); an object with ``button`` must be a valid event.
    """
    try:
        body = json.loads(line) if line.startswith(b"{") else None
    except (ValueError, RecursionError):
        body = None
    if not isinstance(body, dict) or not ({"button", "hello"} & body.keys()):
        return BeaconLine("log")
    if "hello" in body:
        return BeaconLine("hello", hello=body)
    return BeaconLine("button", button=decode_event(line).button)
