"""MQTT protocol v1: the state vocabulary and the JSON payloads (topics: :mod:`.topics`).

Every receiver in focuslight (bridge, CLI, board, firmware) validates what it
reads with the same rules, so a bad publisher can never put a light into a
state nobody meant. The cases live in ``tests/contract/vectors/*.json`` and are run
against this module *and* the firmware's own decoder.

The decoders are total: whatever bytes arrive, they return a value or raise
:class:`ProtocolError` (any JSON type in any field, numbers too large for a
float, deep nesting) and nothing else, so a reader that catches
``ProtocolError`` survives every payload. ``tests/contract/test_fuzz_readers.py``
holds them to it.

Example::

    >>> decode_status(b'{"v":1,"state":"engaged","source":"phone","since":1.5}').state
    'engaged'
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

VERSION = 1
MAX_PAYLOAD = 512
"""Largest payload, in bytes, any focuslight receiver accepts."""

STATES: tuple[str, ...] = (
    "available",
    "ringing",
    "engaged",
    "hold",
    "wrap_up",
    "dnd",
    "away",
    "unknown",
)
MANUAL_STATES: frozenset[str] = frozenset(STATES) - {"unknown"}
"""States a person may set by hand; ``unknown`` is only ever a conclusion."""
AUTO = "auto"
BUTTON_ACTIONS: frozenset[str] = frozenset({"press", "hold"})
ONLINE, OFFLINE = "online", "offline"
MAX_MINUTES = 7 * 24 * 60
"""Longest manual override, one week: longer is almost certainly a typo."""
MAX_FLOAT = 1.7976931348623157e308
"""The largest finite double: a JSON number beyond it is no time at all."""

ID_PATTERN = re.compile(r"[a-z0-9_-]{1,64}")
CUE_PATTERN = re.compile(r"[a-z_]{1,32}")
"""What a ``cue`` name looks like; a well-formed name this reader does not know is ignored."""
REPLY_DUE, CUSTOMER_WAITING = "reply_due", "customer_waiting"
CUES: tuple[str, ...] = (CUSTOMER_WAITING, REPLY_DUE)
"""The cues of v1, strongest first: a person standing there beats a chat waiting."""
MAX_CHATS = 999


class ProtocolError(ValueError):
    """A payload or id that breaks protocol v1; the message says why."""


def check_id(value: object, what: str = "id") -> str:
    """Return *value* if it is a valid agent/beacon/bridge id, else raise."""
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise ProtocolError(f"{what} must match [a-z0-9_-]{{1,64}}, got {shorten(value)}")
    return value


@dataclass(frozen=True, slots=True)
class Status:
    """One agent's merged status as the bridge publishes it.

    *bridge_id* names the bridge that published it (optional in v1, added by
    the MQTT link): a beacon then shows ``unknown`` when *that* bridge goes
    offline, not when any bridge on the site does.

    The attention fields are optional too (docs/protocol.md), so a beacon that
    predates them ignores them: *cue* asks the agent to look (``reply_due``,
    ``customer_waiting``), *waiting_since* is when that customer began waiting
    (Unix seconds: an age, never who), *escalated* flags the agent for a
    supervisor, *chats* counts open chat conversations. An ``unknown`` status
    carries no cue: nothing may be asked of a light that cannot be believed.
    """

    state: str
    source: str
    since: float
    bridge_id: str | None = None
    cue: str | None = None
    waiting_since: float | None = None
    escalated: bool = False
    chats: int | None = None

    def encode(self) -> bytes:
        body: dict[str, Any] = {"v": VERSION, "state": self.state, "source": self.source,
                                "since": round(self.since, 3)}
        if self.bridge_id is not None:
            body["bridge_id"] = self.bridge_id
        return _dump({**body, **self.attention_fields()})

    def attention_fields(self) -> dict[str, Any]:
        """The attention fields this status carries, as encoded (none but those present;
        no cue on an unknown status): what views show a supervisor beside the state."""
        fields: dict[str, Any] = {}
        if self.cue is not None and self.state != "unknown":
            fields["cue"] = self.cue
        if self.waiting_since is not None:
            fields["waiting_since"] = round(self.waiting_since, 3)
        if self.escalated:
            fields["escalated"] = True
        if self.chats is not None:
            fields["chats"] = self.chats
        return fields


@dataclass(frozen=True, slots=True)
class SetCommand:
    """A manual override: a state for *minutes* (None = until ``auto``), or ``auto``.

    *id* (optional, ``[a-z0-9_-]{1,64}``) is echoed in the bridge's
    :class:`SetReply`, so a requester can tell its answer from others'.
    """

    state: str
    minutes: float | None = None
    id: str | None = None

    def encode(self) -> bytes:
        body: dict[str, Any] = {"state": self.state}
        if self.minutes is not None:
            body["minutes"] = self.minutes
        if self.id is not None:
            body["id"] = self.id
        return _dump(body)


REPLY_RESULTS: tuple[str, ...] = ("applied", "outranked", "rejected")
"""What a bridge answers to a ``set``: shown now; recorded but a higher state shows; refused."""


@dataclass(frozen=True, slots=True)
class SetReply:
    """The owning bridge's answer to a ``set``, on ``<prefix>/agents/<agent>/reply``.

    *state* is what was asked, *shown* what the agent's light shows after it,
    *until* the override's expiry (Unix seconds, None = until ``auto``),
    *reason* why it was outranked or rejected.
    """

    result: str
    id: str | None = None
    state: str | None = None
    shown: str | None = None
    reason: str | None = None
    until: float | None = None

    def encode(self) -> bytes:
        body: dict[str, Any] = {"v": VERSION, "result": self.result}
        for key in ("id", "state", "shown", "reason"):
            if getattr(self, key) is not None:
                body[key] = getattr(self, key)
        if self.until is not None:
            body["until"] = round(self.until, 3)
        return _dump(body)


@dataclass(frozen=True, slots=True)
class ButtonEvent:
    """A beacon button action: ``press`` (short) or ``hold`` (long)."""

    button: str

    def encode(self) -> bytes:
        return _dump({"v": VERSION, "button": self.button})


def decode_status(payload: bytes) -> Status:
    """Decode and validate a status payload; raise :class:`ProtocolError` with the reason."""
    body = load_object(payload)
    _check_version(body, required=True)
    state = _check_state(body.get("state"), STATES)
    source = check_id(body.get("source"), "source")
    since = _number(body.get("since"), 0, MAX_FLOAT,
                    "since must be a non-negative number of seconds")
    bridge_id = body.get("bridge_id")
    if bridge_id is not None:
        check_id(bridge_id, "bridge_id")
    cue = _cue(body.get("cue"))
    waiting_since = body.get("waiting_since")
    if waiting_since is not None:
        waiting_since = _number(waiting_since, 0, MAX_FLOAT,
                                "waiting_since must be a non-negative number of seconds")
    escalated = body.get("escalated", False)
    if not isinstance(escalated, bool):
        raise ProtocolError(f"escalated must be true or false, got {shorten(escalated)}")
    chats = body.get("chats")
    if chats is not None and (not isinstance(chats, int) or isinstance(chats, bool)
                              or not 0 <= chats <= MAX_CHATS):
        raise ProtocolError(f"chats must be an integer 0..{MAX_CHATS}, got {shorten(chats)}")
    return Status(state, source, since, bridge_id, None if state == "unknown" else cue,
                  waiting_since, escalated, chats)


def _cue(value: object) -> str | None:
    """A known cue, or None for an absent or well-formed unknown one (a newer publisher's:
    ignored, like an unknown field); anything else breaks the protocol."""
    if value is None:
        return None
    if not isinstance(value, str) or not CUE_PATTERN.fullmatch(value):
        raise ProtocolError(f"cue must match [a-z_]{{1,32}}, got {shorten(value)}")
    return value if value in CUES else None


def decode_set(payload: bytes) -> SetCommand:
    """Decode a ``set`` command: a manual state with optional minutes, or ``auto``."""
    body = load_object(payload)
    _check_version(body, required=False)
    state = _check_state(body.get("state"), MANUAL_STATES | {AUTO})
    ident = body.get("id")
    if ident is not None:
        check_id(ident, "id")
    minutes = body.get("minutes")
    if minutes is None:
        return SetCommand(state, None, ident)
    if state == AUTO:
        raise ProtocolError("minutes makes no sense with state 'auto'")
    minutes = _number(minutes, 0, MAX_MINUTES, f"minutes must be a number in (0, {MAX_MINUTES}]")
    if minutes == 0:
        raise ProtocolError(f"minutes must be a number in (0, {MAX_MINUTES}], got 0")
    return SetCommand(state, minutes, ident)


def set_request_id(payload: bytes) -> str | None:
    """The ``id`` of a ``set`` payload, best effort, so even a rejection reaches its requester."""
    if len(payload) > MAX_PAYLOAD:
        return None
    try:
        ident = json.loads(payload.decode("utf-8")).get("id")
    except (UnicodeDecodeError, ValueError, AttributeError, RecursionError):
        return None
    return ident if isinstance(ident, str) and ID_PATTERN.fullmatch(ident) else None


def decode_reply(payload: bytes) -> SetReply:
    """Decode a bridge's :class:`SetReply` (for ``focuslight set``)."""
    body = load_object(payload)
    _check_version(body, required=True)
    result = body.get("result")
    if not isinstance(result, str) or result not in REPLY_RESULTS:
        raise ProtocolError(f"result must be one of {', '.join(REPLY_RESULTS)},"
                            f" got {shorten(result)}")
    try:
        until: float | None = _number(body.get("until"), 0, MAX_FLOAT, "until")
    except ProtocolError:
        until = None
    texts = {key: body.get(key) if isinstance(body.get(key), str) else None
             for key in ("id", "state", "shown", "reason")}
    return SetReply(result, until=until, **texts)


def decode_event(payload: bytes) -> ButtonEvent:
    """Decode a beacon event; only button ``press`` and ``hold`` exist in v1."""
    body = load_object(payload)
    _check_version(body, required=True)
    button = body.get("button")
    if not isinstance(button, str) or button not in BUTTON_ACTIONS:
        raise ProtocolError(f"button must be 'press' or 'hold', got {shorten(button)}")
    return ButtonEvent(button)


def decode_availability(payload: bytes) -> str:
    """Decode a retained availability payload: ``online`` or ``offline``.

    Only ASCII whitespace (space, tab, CR, LF) around the word is forgiven, as the
    JSON payloads allow, and the 512-byte limit holds: Python's ``str.strip`` would
    also take Unicode spaces and ``\x1c``-``\x1f``, which the firmware cannot mirror.
    """
    return _word(payload, ("online", "offline"), "availability must be 'online' or 'offline'")


def decode_site_link(payload: bytes) -> bool:
    """Decode a site's link notification (``<prefix>/sites/<site>/link``): True for
    ``1`` (up), False for ``0`` (down).

    mosquitto's bridge writes these one-byte payloads itself (``notification_topic``;
    its Last Will on the central broker is the ``0``); whitespace is forgiven as for an
    availability, nothing else.
    """
    return _word(payload, ("1", "0"), "site link must be '1' or '0'") == "1"


def _word(payload: bytes, words: tuple[str, ...], rule: str) -> str:
    """The one word of *payload*, which must be one of *words*, ASCII whitespace around
    it forgiven; ProtocolError saying *rule* (and what came) for anything else."""
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError(f"{rule}: payload is {len(payload)} bytes, limit is {MAX_PAYLOAD}")
    word = bytes(payload).strip(b" \t\r\n").decode("utf-8", "replace")
    if word not in words:
        raise ProtocolError(f"{rule}, got {word[:40]!r}")
    return word


_ENCODER = json.JSONEncoder(separators=(",", ":"))
"""``json.dumps`` with any argument builds a new encoder per call: a third of the cost of
encoding a status (bench/latency.py's profile, 10,000 statuses a second)."""


def _dump(body: dict[str, Any]) -> bytes:
    return _ENCODER.encode(body).encode()


def load_object(payload: bytes) -> dict[str, Any]:
    """Bytes → a JSON object, or ProtocolError: never another exception.

    ``NaN`` and ``Infinity`` are not JSON (Python's parser accepts them);
    nesting is capped by :data:`MAX_PAYLOAD`, far below the recursion limit,
    but a RecursionError would still be a rejection, not a crash.
    """
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise ProtocolError(f"payload must be bytes, got {type(payload).__name__}")
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError(f"payload is {len(payload)} bytes, limit is {MAX_PAYLOAD}")
    try:
        body = json.loads(bytes(payload).decode("utf-8"), parse_constant=_not_json)
    except UnicodeDecodeError as err:
        raise ProtocolError(f"payload is not UTF-8 ({err.reason})") from None
    except json.JSONDecodeError as err:
        raise ProtocolError(f"payload is not JSON ({err.msg})") from None
    except (RecursionError, ValueError) as err:  # _not_json, int digit limit
        raise ProtocolError(f"payload is not JSON ({err})") from None
    if not isinstance(body, dict):
        raise ProtocolError(f"payload must be a JSON object, got {type(body).__name__}")
    return body


def _check_version(body: dict[str, Any], *, required: bool) -> None:
    v = body.get("v")
    if v is None and not required:
        return
    if v != VERSION or isinstance(v, bool):
        raise ProtocolError(f"unsupported protocol version v={shorten(v)}, this reader speaks v=1")


def _check_state(state: object, allowed: frozenset[str] | tuple[str, ...]) -> str:
    if not isinstance(state, str) or state not in allowed:
        expected = ", ".join(sorted(allowed))
        raise ProtocolError(f"unknown state {shorten(state)}, expected one of {expected}")
    return state


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not a JSON number")


def _number(value: object, lo: float, hi: float, rule: str) -> float:
    """*value* as a float if it is a JSON number in ``[lo, hi]``, else ProtocolError(*rule*).

    Compared before converting: ``float()`` of an integer with 400 digits
    raises OverflowError, and Python compares int with float exactly.
    """
    if (not isinstance(value, int | float) or isinstance(value, bool)
            or (isinstance(value, float) and not math.isfinite(value)) or not lo <= value <= hi):
        raise ProtocolError(f"{rule}, got {shorten(value)}")
    return float(value)


def shorten(value: object) -> str:
    """A value for an error message: an attacker's 400 digits are not worth logging."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."
