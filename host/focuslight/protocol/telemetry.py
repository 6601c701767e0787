"""What beacons report about themselves: the telemetry topic, read by watch and the board.

A beacon publishes, retained, on ``<prefix>/beacons/<beacon>/telemetry`` when
its MQTT session comes up and every 60 s::

    {"v":1,"agent":"alice","firmware":"0.2.0","ip":"192.168.1.23","rssi":-61,
     "uptime":1234,"heap_free":81234,"reset_cause":"power_on","board":"pico_w","mpy":1542}

An admin sees from one screen which beacons run which firmware, and which are
older than the focuslight installed here (:func:`is_outdated`): those are the
ones ``focuslight update`` should visit. ``ip`` and ``rssi`` are null where
the port cannot tell (the unix port); ``board`` and ``mpy`` (the
``sys.implementation._mpy`` of the beacon's MicroPython) tell
``focuslight update`` what to compile for.

Example::

    >>> t = decode_telemetry("alice-desk", b'{"v":1,"firmware":"0.1.0","uptime":5}')
    >>> t.firmware, is_outdated(t.firmware, "0.2.0")
    ('0.1.0', True)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .. import __version__
from .payloads import ProtocolError, _check_version, check_id, load_object, shorten

VERSION_PATTERN = re.compile(r"[0-9A-Za-z.+_-]{1,32}")
"""What a firmware version string may look like (``0.2.0``, ``0.2.1rc1``, ``0.2.1+site``)."""


@dataclass(frozen=True, slots=True)
class Telemetry:
    """One beacon's last report; every field but ``beacon``, ``firmware`` and ``uptime``
    may be None (a port that cannot tell, or an older firmware)."""

    beacon: str
    firmware: str
    uptime: int
    agent: str | None = None
    ip: str | None = None
    rssi: int | None = None
    heap_free: int | None = None
    reset_cause: str | None = None
    board: str | None = None
    mpy: int | None = None

    @property
    def outdated(self) -> bool:
        """Older than the focuslight package installed here (see :func:`is_outdated`)."""
        return is_outdated(self.firmware)


def decode_telemetry(beacon: str, payload: bytes) -> Telemetry:
    """Validate a telemetry payload; raise :class:`ProtocolError` saying why not."""
    body = load_object(payload)
    _check_version(body, required=True)
    firmware = body.get("firmware")
    if not isinstance(firmware, str) or not VERSION_PATTERN.fullmatch(firmware):
        raise ProtocolError(f"firmware must be a version like 0.2.0, got {shorten(firmware)}")
    uptime = body.get("uptime")
    if not _count(uptime):
        raise ProtocolError(f"uptime must be a whole number of seconds, got {shorten(uptime)}")
    agent = body.get("agent")
    if agent is not None:
        check_id(agent, "agent")
    return Telemetry(
        beacon=beacon, firmware=firmware, uptime=uptime, agent=agent,
        ip=_text(body, "ip", 45), rssi=_int(body, "rssi", -200, 50),
        heap_free=_int(body, "heap_free", 0, 1 << 40),
        reset_cause=_text(body, "reset_cause", 32), board=_text(body, "board", 32),
        mpy=_int(body, "mpy", 0, 1 << 32))


def version_key(version: str) -> tuple[int, ...] | None:
    """The leading numbers of *version* (``0.2.1rc1`` → ``(0, 2, 1)``); None without any."""
    found = re.match(r"\d+(?:\.\d+)*", version)
    return tuple(int(n) for n in found[0].split(".")) if found else None


def is_outdated(firmware: str, reference: str = __version__) -> bool:
    """True when *firmware* is older than *reference* (by default this package's version).

    Versions that do not start with numbers are never called outdated: a site's
    own build named ``custom`` is not ours to judge.
    """
    mine, theirs = version_key(firmware), version_key(reference)
    if mine is None or theirs is None:
        return False
    width = max(len(mine), len(theirs))  # 0.2 is 0.2.0
    return mine + (0,) * (width - len(mine)) < theirs + (0,) * (width - len(theirs))


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _int(body: dict[str, Any], key: str, low: int, high: int) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ProtocolError(f"{key} must be a whole number from {low} to {high} or null,"
                            f" got {shorten(value)}")
    return value


def _text(body: dict[str, Any], key: str, limit: int) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= limit or not value.isprintable():
        raise ProtocolError(f"{key} must be text of at most {limit} characters or null,"
                            f" got {shorten(value)}")
    return value
