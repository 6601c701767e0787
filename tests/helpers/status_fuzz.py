"""Seeded status payloads for fuzzing a reader: mostly almost-valid, mostly ``available``.

A reader that is lenient anywhere shows ``available`` (green: "interrupt me")
for something the protocol says is garbage, the worst mistake a status light
can make. So the payloads start from valid ``available`` statuses and break
them the way careless integrators, attackers and lenient parsers do: byte
edits, the JSON MicroPython's ``json.loads`` forgives (missing commas,
trailing commas, ``01``, ``1.``, a trailing NUL, non-string keys, NaN),
wrong types in every field, deep and odd values in unknown fields, non-UTF-8
and oversized bodies. Some stay valid, which keeps the comparison honest.

``payloads(seed, count)`` is deterministic; ``host_decision`` is the
reference every other reader must agree with.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence

from focuslight.protocol import (
    MAX_PAYLOAD,
    STATES,
    ProtocolError,
    decode_availability,
    decode_status,
)

ALPHABET = [*'{}[],:"\\ .-+0123456789eEtrufalsnNI\'/', "\t", "\n", "\r", "\x00", "\x0b",
            "\x7f", "é", "\u2028"]
LENIENT = [  # (old, new) text edits that lenient parsers forgive
    (",", ""), (",", ",,"), ("}", ",}"), ("]", ",]"), (":1", ":01"), (":1", ":1."),
    (":1", ":-01"), (":1", ":.1"), (":1", ":1e"), (":1", ":+1"), (":1", ":0x1"),
    ('"v"', "v"), ('"v"', "1"), ('"state"', "'state'"), ('"', "'"), (":", "="),
    (":1", ":NaN"), (":1", ":Infinity"), (":1", ":-Infinity"), ("true", "True"),
    ("null", "nul"), ("}", "}\x00"), ("}", "} "), ("{", " \t\n{"), ("}", "}{}"),
    ("}", "}//x"), ("{", "\ufeff{"), ('"', '"\\u0061'), ('e"', 'e\\"'), ("1", "1E400"),
    ("1", "1" * 400), ("1", "1e-400"), ("1", "-0"), ("1", "1.0"), ("1", "10e-1"),
]
ODD_VALUES = [None, True, False, 0, -1, 1, 1.0, 2, -0.0, 1e308, 10**30, 10**400, "", "1",
              "available", "AVAILABLE", "available ", "x" * 70, "a b", "\u0000", "é", [],
              ["available"], {}, {"state": "available"}, [[[[[]]]]], "\ud800"]


def valid(r: random.Random) -> dict:
    """A valid status, ``available`` most of the time."""
    body: dict = {"v": 1, "state": "available" if r.random() < 0.7 else r.choice(STATES),
                  "source": r.choice(["phone", "bridge", "sip", "counter-1", "a_b"]),
                  "since": r.choice([0, 1, 1732356902.1, r.uniform(0, 2e9), r.randrange(10**9)])}
    if r.random() < 0.4:
        body["bridge_id"] = r.choice(["main", "pc-17", "x" * 64])
    if r.random() < 0.3:
        body["extra"] = tree(r, 3)
    if r.random() < 0.3:
        body.update(attention(r))
    items = list(body.items())
    r.shuffle(items)
    return dict(items)


def attention(r: random.Random) -> dict:
    """Some of the optional attention fields, valid (a cue may be one v1 does not know)."""
    fields = {"cue": r.choice(["reply_due", "customer_waiting", "kettle_on", "a" * 32]),
              "waiting_since": r.choice([0, 1732356960.5, r.uniform(0, 2e9)]),
              "escalated": r.choice([True, False]), "chats": r.choice([0, 1, 999])}
    return {k: v for k, v in fields.items() if r.random() < 0.6}


def tree(r: random.Random, depth: int) -> object:
    """A random JSON value for an unknown field."""
    pick = r.random()
    if depth <= 0 or pick < 0.5:
        return r.choice([None, True, False, r.randint(-10**6, 10**6), r.uniform(-1e6, 1e6),
                         r.choice(["", "a", "\"q\"", "\\", "é\u20ac\U0001f600", "\t\n"])])
    if pick < 0.75:
        return [tree(r, depth - 1) for _ in range(r.randint(0, 3))]
    return {r.choice(["a", "b", "state", "v", ""]): tree(r, depth - 1)
            for _ in range(r.randint(0, 3))}


def dump(r: random.Random, body: object) -> str:
    sep = r.choice([(",", ":"), (", ", ": "), (" , ", " : ")])
    return json.dumps(body, separators=sep, ensure_ascii=r.random() < 0.5)


def _byte_edit(r: random.Random, text: str) -> bytes:
    data = bytearray(text.encode("utf-8", "surrogatepass"))
    for _ in range(r.randint(1, 3)):
        at = r.randrange(len(data) + 1)
        op = r.random()
        new = r.choice(ALPHABET).encode()
        if op < 0.4 and at < len(data):
            data[at:at + 1] = new
        elif op < 0.7:
            data[at:at] = new
        elif at < len(data):
            del data[at]
    return bytes(data)


def _lenient_edit(r: random.Random, text: str) -> bytes:
    for _ in range(r.randint(1, 2)):
        old, new = r.choice(LENIENT)
        spots = [i for i in range(len(text)) if text.startswith(old, i)]
        if spots:
            at = r.choice(spots)
            text = text[:at] + new + text[at + len(old):]
    return text.encode("utf-8", "surrogatepass")


def _field_edit(r: random.Random, body: dict,
                fields: Sequence[str] = ("v", "state", "source", "since", "bridge_id", "cue",
                                         "waiting_since", "escalated", "chats"),
                odd: list = ODD_VALUES) -> bytes:
    """*body* with one of *fields* dropped or set to one of *odd* (a status's by default)."""
    key = r.choice(fields)
    if r.random() < 0.15:
        body.pop(key, None)
    else:
        body[key] = r.choice(odd)
    try:
        return dump(r, body).encode()
    except (ValueError, UnicodeEncodeError):
        return json.dumps(body).encode("utf-8", "surrogatepass")


def _raw(r: random.Random) -> bytes:
    size = r.choice([0, 1, 2, 16, 100, MAX_PAYLOAD, MAX_PAYLOAD + 1, 1000])
    return r.randbytes(size)


def payloads(seed: int, count: int) -> list[bytes]:
    """*count* payloads, the same ones for the same *seed*."""
    r = random.Random(seed)
    out: list[bytes] = []
    while len(out) < count:
        body = valid(r)
        pick = r.random()
        if pick < 0.3:
            out.append(_byte_edit(r, dump(r, body)))
        elif pick < 0.6:
            out.append(_lenient_edit(r, dump(r, body)))
        elif pick < 0.85:
            out.append(_field_edit(r, body))
        elif pick < 0.95:
            out.append(dump(r, body).encode())
        else:
            out.append(_raw(r))
    return out


def host_decision(payload: bytes) -> tuple | None:
    """``(state, source, since, bridge_id, cue)`` if the host accepts *payload*, else None.

    Anything but a ProtocolError from the host decoder is a host bug and is
    raised, so a fuzz run shows it.
    """
    try:
        s = decode_status(payload)
    except ProtocolError:
        return None
    return s.state, s.source, s.since, s.bridge_id, s.cue


SPACES = [" ", "\t", "\r", "\n", "\x0b", "\x0c", "\x1c", "\x1f", "\x00", "\x85", "\xa0",
          "\u2028", "\u3000", "\ufeff"]


def availability_payloads(seed: int, count: int,
                          words: Sequence[str] = ("online", "offline")) -> list[bytes]:
    """``online``/``offline`` (or other one-word payloads, *words*: a site link's ``1``/``0``)
    wrapped in every kind of space, edited, cased, oversized."""
    r = random.Random(seed)
    out: list[bytes] = []
    while len(out) < count:
        word = r.choice(words)
        text = "".join(r.choice(SPACES) for _ in range(r.randint(0, 2))) + word + "".join(
            r.choice(SPACES) for _ in range(r.randint(0, 2)))
        pick = r.random()
        if pick < 0.3:
            out.append(_byte_edit(r, text))
        elif pick < 0.4:
            out.append(text.upper().encode() if r.random() < 0.5 else text.encode() * 2)
        elif pick < 0.45:
            out.append(text.encode() + b" " * r.choice([500, 506, 507, 600]))
        else:
            out.append(text.encode())
    return out


def host_availability(payload: bytes) -> str | None:
    """``online``/``offline`` if the host accepts *payload*, else None."""
    try:
        return decode_availability(payload)
    except ProtocolError:
        return None


def _mutate(r: random.Random, body: dict, fields: Sequence[str], odd: list) -> bytes:
    """One payload from a valid *body*: byte, lenient or field edits, raw bytes, or valid."""
    pick = r.random()
    if pick < 0.25:
        return _byte_edit(r, dump(r, body))
    if pick < 0.5:
        return _lenient_edit(r, dump(r, body))
    if pick < 0.8:
        return _field_edit(r, body, fields, odd)
    if pick < 0.95:
        return dump(r, body).encode("utf-8", "surrogatepass")
    return _raw(r)


def serial_lines(seed: int, count: int) -> list[bytes]:
    """Lines a host could write to a USB beacon (without the ``\\n``): statuses as on MQTT
    and ``{"v":1,"bridge":...}`` heartbeats, broken as :func:`payloads` breaks statuses,
    with stray ``\\r`` bytes (the firmware takes a ``\\r\\n`` ending) and oversized lines."""
    r = random.Random(seed)
    statuses = iter(payloads(seed + 1, count))
    out: list[bytes] = []
    while len(out) < count:
        pick = r.random()
        if pick < 0.5:
            line = next(statuses)
        else:
            body = {"v": 1, "bridge": r.choice(["online", "offline"])}
            if r.random() < 0.3:
                body["extra"] = tree(r, 2)
            if r.random() < 0.2:
                body["state"] = "available"
            line = _mutate(r, body, ["v", "bridge"], [*ODD_VALUES, "ONLINE", "online ", "on"])
        if r.random() < 0.1:  # a \r anywhere: only a final one is the line ending
            at = r.randrange(len(line) + 1)
            line = line[:at] + b"\r" + line[at:]
        out.append(line.replace(b"\n", b""))
    return out


def host_serial_line(line: bytes) -> tuple[str, object] | None:
    """``("bridge", online)``, ``("status", state)`` or ``("looks", brightness)`` as the
    host's rules read *line*
    (``protocol/serial_lines.py``: the status payload exactly as on MQTT, or the bridge
    heartbeat; a final ``\\r`` is part of the line ending), else None."""
    from focuslight.protocol.payloads import _check_version, load_object

    if line.endswith(b"\r"):
        line = line[:-1]
    try:
        body = load_object(line)
        if "looks" in body:
            looks = host_looks(line)
            return None if looks is None else ("looks", int(looks.split()[0]))
        if "bridge" in body:
            _check_version(body, required=True)
            if body["bridge"] not in ("online", "offline"):
                return None
            return "bridge", body["bridge"] == "online"
    except ProtocolError:
        return None
    decision = host_decision(line)
    return None if decision is None else ("status", decision[0])


def offers(seed: int, count: int) -> list[bytes]:
    """Retained update offers (``{"v":1,"id":...,"version":...,"manifest":{...},"trial_s":n}``,
    as ``focuslight update`` publishes them), broken in every field and as JSON."""
    r = random.Random(seed)
    odd = [*ODD_VALUES, "0.3.0", "0.3.0+dev", "a" * 32, "a" * 33, "k3j2", "k3 j2", "../x",
           9, 10, 3600, 3601, 4096, 4097, 90.0, "90", "f" * 64, "F" * 64, "f" * 63,
           {"size": 10, "sha256": "0" * 64}, {"size": 0, "sha256": "0" * 64}]
    out: list[bytes] = []
    while len(out) < count:
        body: dict = {"v": 1, "id": r.choice(["k3j2", "0a1b2c3d", "x" * 32]),
                      "version": r.choice(["0.3.0", "1.0.0-rc1", "0.2.1+site_a"]),
                      "manifest": {"size": r.choice([1, 812, 4096, r.randint(1, 4096)]),
                                   "sha256": "".join(r.choice("0123456789abcdef")
                                                     for _ in range(64))}}
        if r.random() < 0.7:
            body["trial_s"] = r.choice([10, 90, 3600, r.randint(10, 3600)])
        if r.random() < 0.3:
            manifest = body["manifest"]
            manifest[r.choice(["size", "sha256"])] = r.choice(odd)
            text = dump(r, body)
            out.append(text.encode("utf-8", "surrogatepass") if r.random() < 0.8
                       else _byte_edit(r, text))
            continue
        out.append(_mutate(r, body, ["v", "id", "version", "manifest", "trial_s"], odd))
    return out


def _word(value: object, extra: str = "") -> bool:
    return (isinstance(value, str) and 0 < len(value) <= 32
            and all(c.isascii() and (c.isalnum() or c in extra) for c in value))


def reference_offer(payload: bytes) -> tuple | None:
    """``(id, version, manifest size, sha256, trial_s)`` for an offer the rules accept, else
    None: the host has no offer reader (it only writes offers), so this is the documented
    rule (docs/firmware.md, "Updating beacons over the network") on the host's strict JSON."""
    from focuslight.protocol.payloads import _check_version, load_object

    try:
        body = load_object(payload)
        _check_version(body, required=True)
    except ProtocolError:
        return None
    ident, version, manifest = body.get("id"), body.get("version"), body.get("manifest")
    trial = body.get("trial_s", 90)
    if not (_word(ident) and _word(version, ".+_-") and isinstance(manifest, dict)):
        return None
    size, sha = manifest.get("size"), manifest.get("sha256")
    if (type(size) is not int or not 0 < size <= 4096 or not isinstance(sha, str)
            or len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha)
            or type(trial) is not int or not 10 <= trial <= 3600):
        return None
    return ident, version, size, sha, trial


def looks_payloads(seed: int, count: int) -> list[bytes]:
    """Sets of looks (``{"v":1,"brightness":..,"looks":{..},"cues":{..}}``, as the bridge
    publishes them), broken as JSON, in every field, and in every look's text: flash rates
    around 3/s, dark or green ``unknown``, cues in a state's colour, odd spacing and case."""
    from focuslight.protocol.looks import PRESETS

    r = random.Random(seed)
    texts = ["ff0000 blink 334", "ff0000 blink 333", "ff0000 pulse 300", "00ff00 blink 2000",
             "000000 solid", "1f1f1f solid", "202020 wink 500", "00b4ff solid",
             "FF0000 solid", "ff0000  solid", "ff0000 solid ", "ff0000 blink 0500",
             "ff0000 blink 10001", "ff0000 blink 5e2", "#ff0000 solid", "ff0000 strobe 500",
             "cc79a7 long-blip", "00b4ff double-blip", "ffffff long-blip", "ff0000 solid 500",
             "ff0000 wink 99999", "ff0000 blink \u0661\u0662\u0663\u0664", "ff000 solid"]
    fields = ["v", "brightness", "looks", "cues", *STATES, "reply_due", "customer_waiting"]
    odd = [*ODD_VALUES, *texts, 10, 9, 100, 101, 50.0, {"reply_due": "cc79a7 long-blip"},
           {"x": 1}, {"Reply": "a"}]
    out: list[bytes] = []
    while len(out) < count:
        body = json.loads(r.choice(list(PRESETS.values())).encode())
        if r.random() < 0.5:
            body["brightness"] = r.choice([10, 20, 55, 100])
        key = r.choice(fields)
        if key in STATES:  # one state's look, a text from the list
            body["looks"][key] = r.choice([*texts, r.choice(odd)])
            out.append(dump(r, body).encode("utf-8", "surrogatepass"))
        elif key in ("reply_due", "customer_waiting"):
            body["cues"][key] = r.choice([*texts, r.choice(odd)])
            out.append(dump(r, body).encode("utf-8", "surrogatepass"))
        else:
            out.append(_mutate(r, body, [key], odd))
    return out


def host_looks(payload: bytes) -> str | None:
    """A valid set as one line (brightness, every state's look, every cue's), else None."""
    from focuslight.protocol.looks import decode_looks

    try:
        s = decode_looks(payload)
    except ProtocolError:
        return None
    return " ".join([str(s.brightness), *(f"{st}={s.looks[st].encode()}" for st in STATES),
                     *(f"{c}={cue.encode()}" for c, cue in sorted(s.cues.items()))])
