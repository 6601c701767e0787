"""Seeded, bounded payloads for fuzzing every focuslight reader, and the oracle that judges them.

Three families, mixed: valid templates with fields replaced by any JSON type
(lists, objects, 400-digit numbers, NaN, nesting), textual mutations of valid
payloads (flipped, inserted and deleted bytes, truncation, injected tokens),
and raw bytes. The oracle is a second, independent reading of protocol v1:
what a payload *should* decode to, so a reader that shows anything else is
wrong, not merely alive.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Iterator

STATES = ("available", "ringing", "engaged", "hold", "wrap_up", "dnd", "away", "unknown")
ID = re.compile(r"[a-z0-9_-]{1,64}")
BIG = "9" * 400
TOKENS = [b"NaN", b"Infinity", b"-Infinity", b"1e400", BIG.encode(), b"-" + BIG.encode(),
          b"[]", b"{}", b"null", b"true", b'"\\ud800"', b"[" * 40 + b"]" * 40, b"\x00",
          b'"available"', b'"press"', b"0.0", b"-0", b"1.5e308", b'"\xff"']


def any_value(rng: random.Random, depth: int = 0) -> object:
    """Any JSON value, biased to the ones that break readers."""
    kind = rng.randrange(14 if depth < 3 else 10)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, 1, -1, 2, 30, 10080, 10081, 2**63, -(2**63), int(BIG)])
    if kind == 3:
        return rng.choice([0.0, -0.5, 1.5, 1e308, 1732356902.1, 5e-324, 0.02])
    if kind == 4:
        return rng.choice((*STATES, "auto", "press", "hold", "online", "offline"))
    if kind == 5:
        return rng.choice(["", "Alice", "a" * 65, "é", "a/b", "+", "#", "main", "phone",
                           "\u0000", "\u202e", "x" * 300])
    if kind == 6:
        return "".join(chr(rng.randrange(1, 0x3000)) for _ in range(rng.randrange(1, 12)))
    if kind == 7:
        return rng.randrange(-10, 20000)
    if kind == 8:
        return rng.uniform(-1e6, 2e9)
    if kind == 9:
        return rng.choice(["press", "hold", "dnd", "alice", "1"])
    if kind in (10, 11):
        return [any_value(rng, depth + 1) for _ in range(rng.randrange(3))]
    return {rng.choice(["v", "state", "x", "since"]): any_value(rng, depth + 1)
            for _ in range(rng.randrange(3))}


TEMPLATES = {
    "status": {"v": 1, "state": "available", "source": "phone", "since": 1732356902.1,
               "bridge_id": "main"},
    "set": {"state": "dnd", "minutes": 30},
    "event": {"v": 1, "button": "press"},
    "telemetry": {"v": 1, "agent": "alice", "firmware": "0.2.0", "ip": "192.168.1.23",
                  "rssi": -61, "uptime": 1234, "heap_free": 81234, "reset_cause": "power_on"},
    "expected": {"v": 1, "typical_s": 240.0, "contacts": 12, "serving_since": 1732356902.1,
                 "bridge_id": "main"},
}


def _structured(rng: random.Random, kind: str) -> bytes:
    body: dict[str, object] = dict(TEMPLATES[kind])
    for _ in range(rng.randint(1, 3)):
        key = rng.choice([*body, "v", "pad", "state"]) if body else "v"
        if rng.random() < 0.15:
            body.pop(key, None)
        else:
            body[key] = any_value(rng)
    text = json.dumps(body)
    if rng.random() < 0.1:  # Python's dumps writes NaN/Infinity for float specials
        text = text.replace("1732356902.1", rng.choice(["NaN", "Infinity", "1e400"]))
    return text.encode()


def _mutated(rng: random.Random, kind: str) -> bytes:
    data = bytearray(json.dumps(TEMPLATES[kind], separators=(",", ":")).encode())
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(5)
        at = rng.randrange(len(data) + 1)
        if op == 0 and data:
            data[min(at, len(data) - 1)] = rng.randrange(256)
        elif op == 1:
            data[at:at] = bytes([rng.randrange(256)])
        elif op == 2 and data:
            del data[at:at + rng.randint(1, 4)]
        elif op == 3:
            data[at:at] = rng.choice(TOKENS)
        else:
            data = data[:at]
    return bytes(data)


def _raw(rng: random.Random) -> bytes:
    size = rng.choice([0, 1, 2, 16, 100, 511, 512, 513, 2000])
    return bytes(rng.randrange(256) for _ in range(size))


def payloads(kind: str, count: int, seed: int) -> Iterator[bytes]:
    """*count* payloads for a reader of *kind* (``status``, ``set``, ``event``,
    ``telemetry``, ``expected``), reproducibly."""
    rng = random.Random(f"{kind}-{seed}")
    for _ in range(count):
        roll = rng.random()
        if roll < 0.15:
            yield json.dumps(TEMPLATES[kind]).encode()  # valid ones keep the reader honest
        elif roll < 0.6:
            yield _structured(rng, kind)
        elif roll < 0.92:
            yield _mutated(rng, kind)
        else:
            yield _raw(rng)


def ident(rng: random.Random) -> str:
    """An id for a topic level: mostly valid, often not."""
    return rng.choice(["alice", "bob", "alice-desk", "zed", "Alice", "a" * 65, "é", "a.b",
                       "x" * rng.randrange(1, 300), str(rng.randrange(10**6))])


# -- the oracle: protocol v1 read a second time ----------------------------------------

class Invalid(Exception):
    pass


def _reject(_token: str) -> None:
    raise Invalid


def _body(payload: bytes) -> dict:
    if len(payload) > 512:
        raise Invalid
    try:
        body = json.loads(payload.decode("utf-8"), parse_constant=_reject)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Invalid from None
    if type(body) is not dict:
        raise Invalid
    return body


def _version(body: dict, required: bool) -> None:
    v = body.get("v")
    if v is None and not required:
        return
    if type(v) not in (int, float) or v != 1:
        raise Invalid


def _number(value: object, lo: float, hi: float) -> float:
    if type(value) not in (int, float):
        raise Invalid
    if type(value) is float and not math.isfinite(value):
        raise Invalid
    if not lo <= value <= hi:
        raise Invalid
    return float(value)


def _id(value: object) -> str:
    if type(value) is not str or not ID.fullmatch(value):
        raise Invalid
    return value


def expect_status(payload: bytes) -> tuple[str, str, float, str | None] | None:
    """(state, source, since, bridge_id) if the payload is a valid status, else None."""
    try:
        body = _body(payload)
        _version(body, True)
        state = body.get("state")
        if type(state) is not str or state not in STATES:
            raise Invalid
        source = _id(body.get("source"))
        since = _number(body.get("since"), 0, 1.7976931348623157e308)
        bridge = body.get("bridge_id")
        return state, source, since, None if bridge is None else _id(bridge)
    except Invalid:
        return None


def expect_set(payload: bytes) -> tuple[str, float | None] | None:
    try:
        body = _body(payload)
        _version(body, False)
        state = body.get("state")
        if type(state) is not str or state not in (*STATES[:-1], "auto"):
            raise Invalid
        minutes = body.get("minutes")
        if minutes is None:
            return state, None
        if state == "auto":
            raise Invalid
        value = _number(minutes, 0, 7 * 24 * 60)
        if value == 0:
            raise Invalid
        return state, value
    except Invalid:
        return None


def expect_event(payload: bytes) -> str | None:
    try:
        body = _body(payload)
        _version(body, True)
        button = body.get("button")
        if type(button) is not str or button not in ("press", "hold"):
            raise Invalid
        return button
    except Invalid:
        return None


def expect_expected(payload: bytes) -> tuple[float | None, int, float | None, str | None] | None:
    """(typical_s, contacts, serving_since, bridge_id) of a valid counter's expected time
    (docs/protocol.md), else None."""
    try:
        body = _body(payload)
        _version(body, True)
        contacts = body.get("contacts")
        if type(contacts) is not int or not 0 <= contacts <= 999:
            raise Invalid
        typical, since, bridge = (body.get(k) for k in ("typical_s", "serving_since",
                                                        "bridge_id"))
        return (None if typical is None else _number(typical, 0, 86400), contacts,
                None if since is None else _number(since, 0, 1.7976931348623157e308),
                None if bridge is None else _id(bridge))
    except Invalid:
        return None
