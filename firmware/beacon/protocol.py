# Protocol v1 as the beacon reads it: the same rules as
# host/focuslight/protocol/payloads.py, checked against tests/contract/vectors/*.json on the
# unix port. Errors are ValueError with a reason a person can act on.
#
# MicroPython's json.loads is lenient (a missing comma, trailing commas, 01,
# 1., a trailing NUL, non-string keys all parse), so every payload first goes
# through check_json, a strict RFC 8259 grammar check: only what the host's
# Python json accepts (minus NaN/Infinity, which RFC 8259 and the host both
# refuse) ever reaches json.loads.
import json

from micropython import const

MAX_PAYLOAD = const(512)
STATES = ("available", "ringing", "engaged", "hold", "wrap_up", "dnd", "away", "unknown")
ONLINE = "online"
OFFLINE = "offline"
PRESS = "press"
HOLD = "hold"
_EVENTS = {PRESS: '{"v":1,"button":"press"}', HOLD: '{"v":1,"button":"hold"}'}
_INF = float("inf")
REPLY_DUE = "reply_due"
CUSTOMER_WAITING = "customer_waiting"
_CUES = (CUSTOMER_WAITING, REPLY_DUE)
_MAX_CHATS = const(999)
_WS = b" \t\n\r"
_ESCAPES = b'"\\/bfnrt'
_HEX = b"0123456789abcdefABCDEF"
# One byte per open container (0 = array, 1 = object). A 512-byte payload
# nests at most 256 deep, so this fixed stack is the depth limit and no
# payload can make the checker allocate or recurse.
_stack = bytearray(MAX_PAYLOAD // 2)


def _bad(what, i):
    raise ValueError("payload is not JSON (%s at byte %d)" % (what, i))


def _skip_ws(b, i, n):
    while i < n and b[i] in _WS:
        i += 1
    return i


def _string(b, i, n):
    """b[i] is a quote: return the index after the closing quote."""
    i += 1
    while i < n:
        c = b[i]
        if c == 0x22:  # "
            return i + 1
        if c < 0x20:
            _bad("control character in a string", i)
        if c == 0x5C:  # backslash
            i += 1
            if i >= n:
                break
            c = b[i]
            if c == 0x75:  # u: exactly four hex digits
                for k in range(i + 1, i + 5):
                    if k >= n or b[k] not in _HEX:
                        _bad("bad \\u escape", i)
                i += 4
            elif c not in _ESCAPES:
                _bad("bad escape", i)
        i += 1
    _bad("unterminated string", n)


def _digits(b, i, n):
    start = i
    while i < n and 0x30 <= b[i] <= 0x39:
        i += 1
    if i == start:
        _bad("digit expected", i)
    return i


def _number(b, i, n):
    """-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, nothing more."""
    if b[i] == 0x2D:  # -
        i += 1
    if i < n and b[i] == 0x30:  # a leading 0 stands alone: no 01
        i += 1
    else:
        i = _digits(b, i, n)
    if i < n and b[i] == 0x2E:  # .
        i = _digits(b, i + 1, n)
    if i < n and b[i] in b"eE":
        i += 1
        if i < n and b[i] in b"+-":
            i += 1
        i = _digits(b, i, n)
    return i


def _literal(b, i, n, word):
    for k in range(len(word)):
        if i + k >= n or b[i + k] != word[k]:
            _bad("unexpected character", i)
    return i + len(word)


def _key(b, i, n):
    """At an object member: "key" ws : ws; return the index of its value."""
    if i >= n or b[i] != 0x22:
        _bad("object key must be a string", i)
    i = _skip_ws(b, _string(b, i, n), n)
    if i >= n or b[i] != 0x3A:  # :
        _bad("':' expected", i)
    return _skip_ws(b, i + 1, n)


def check_json(b):
    """Raise ValueError unless bytes/memoryview *b* is exactly one RFC 8259 JSON text.

    Iterative, allocation-free (bytes are read as ints, the container stack is
    preallocated): a hostile payload costs time linear in its length, no heap.
    """
    n, depth = len(b), 0
    i = _skip_ws(b, 0, n)
    while True:
        # a value starts at b[i]
        if i >= n:
            _bad("value expected", i)
        c = b[i]
        if c == 0x7B or c == 0x5B:  # { [
            if depth == len(_stack):
                _bad("nested too deep", i)
            _stack[depth] = 1 if c == 0x7B else 0
            depth += 1
            i = _skip_ws(b, i + 1, n)
            if i < n and b[i] == c + 2:  # } or ]: empty
                i += 1
                depth -= 1
            else:
                if c == 0x7B:
                    i = _key(b, i, n)
                continue
        elif c == 0x22:
            i = _string(b, i, n)
        elif c == 0x2D or 0x30 <= c <= 0x39:
            i = _number(b, i, n)
        elif c == 0x74:
            i = _literal(b, i, n, b"true")
        elif c == 0x66:
            i = _literal(b, i, n, b"false")
        elif c == 0x6E:
            i = _literal(b, i, n, b"null")
        else:
            _bad("unexpected character", i)
        # after a value: close containers, or a comma and the next member
        while True:
            i = _skip_ws(b, i, n)
            if not depth:
                if i != n:
                    _bad("extra data after the value", i)
                return
            if i >= n:
                _bad("unexpected end", i)
            obj = _stack[depth - 1]
            c = b[i]
            if c == (0x7D if obj else 0x5D):
                i += 1
                depth -= 1
            elif c == 0x2C:  # ,
                i = _skip_ws(b, i + 1, n)
                if obj:
                    i = _key(b, i, n)
                break
            else:
                _bad("',' or '%s' expected" % ("}" if obj else "]"), i)


def is_id(value):
    """True for a valid agent/beacon/bridge/source id: [a-z0-9_-]{1,64}."""
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        return False
    return all("a" <= c <= "z" or "0" <= c <= "9" or c == "_" or c == "-" for c in value)


def load(payload):
    """Parse a payload (bytes or memoryview) into a dict, or raise ValueError."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError("payload is %d bytes, limit is %d" % (len(payload), MAX_PAYLOAD))
    try:
        text = str(payload, "utf-8")
    except UnicodeError:
        raise ValueError("payload is not UTF-8") from None
    check_json(payload)
    try:
        body = json.loads(text)
    except ValueError:  # not expected after check_json; kept as a last guard
        raise ValueError("payload is not JSON") from None
    if not isinstance(body, dict):
        raise ValueError("payload must be a JSON object, got %s" % type(body).__name__)
    return body


def check_version(body):
    v = body.get("v")
    if isinstance(v, bool) or v != 1:
        raise ValueError("unsupported protocol version v=%r, this reader speaks v=1" % (v,))


def _cue_of(value):
    """A known cue, or None (absent, or well-formed but unknown: a newer bridge's, ignored)."""
    if value is None:
        return None
    if (not isinstance(value, str) or not 0 < len(value) <= 32
            or not all("a" <= c <= "z" or c == "_" for c in value)):
        raise ValueError("cue must match [a-z_]{1,32}, got %r" % (value,))
    return value if value in _CUES else None


def _check_attention(body):
    """The optional attention fields the beacon does not show but must not let pass
    malformed (the host rejects such a status too)."""
    w = body.get("waiting_since")
    if w is not None and (isinstance(w, bool) or not isinstance(w, (int, float))
                          or not 0 <= w < _INF):
        raise ValueError("waiting_since must be a non-negative number of seconds, got %r" % (w,))
    if not isinstance(body.get("escalated", False), bool):
        raise ValueError("escalated must be true or false")
    n = body.get("chats")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int)
                          or not 0 <= n <= _MAX_CHATS):
        raise ValueError("chats must be an integer 0..%d, got %r" % (_MAX_CHATS, n))


def status_of(body):
    """Validate a decoded status object; return (state, source, since, bridge_id or None,
    cue or None). An unknown status carries no cue."""
    check_version(body)
    state = body.get("state")
    if state not in STATES:
        raise ValueError("unknown state %r" % (state,))
    source = body.get("source")
    if not is_id(source):
        raise ValueError("source must match [a-z0-9_-]{1,64}, got %r" % (source,))
    since = body.get("since")
    if (isinstance(since, bool) or not isinstance(since, (int, float))
            or not 0 <= since < _INF):
        raise ValueError("since must be a non-negative number of seconds, got %r" % (since,))
    bridge_id = body.get("bridge_id")
    if bridge_id is not None and not is_id(bridge_id):
        raise ValueError("bridge_id must match [a-z0-9_-]{1,64}, got %r" % (bridge_id,))
    cue = _cue_of(body.get("cue"))
    _check_attention(body)
    return state, source, since, bridge_id, None if state == "unknown" else cue


def decode_status(payload):
    return status_of(load(payload))


def decode_availability(payload):
    """"online" or "offline", ASCII whitespace around it forgiven (as on the host)."""
    return _word(payload, _AVAILABILITY, "availability must be 'online' or 'offline'")


def decode_site_link(payload):
    """A site's link notification (mosquitto's bridge): True for "1", False for "0";
    ASCII whitespace around the digit forgiven, as on the host."""
    return _word(payload, _LINK, "site link must be '1' or '0'")


_AVAILABILITY = {b"online": ONLINE, b"offline": OFFLINE}
_LINK = {b"1": True, b"0": False}


def _word(payload, words, rule):
    word = bytes(payload).strip(b" \t\r\n") if len(payload) <= MAX_PAYLOAD else b""
    if word in words:
        return words[word]
    raise ValueError(rule)


def site_of(prefix):
    """The site whose central tree *prefix* is ("focuslight/sites/north" -> "north"),
    or None, as the host's Topics.site (tests/contract/vectors/topics.json)."""
    i = prefix.rfind("/")
    head, last = prefix[:i], prefix[i + 1:]
    if i > 0 and (head == "sites" or head.endswith("/sites")) and is_id(last):
        return last
    return None


def host_line(line):
    """A line from the host on the serial link: ("bridge", online), ("status", state, cue)
    or ("looks", (looks, cues, brightness)).

    The host writes the status payload as on MQTT, {"v":1,"bridge":"online"} or
    "offline" as its heartbeat, and the looks payload of the beacon's set as on MQTT;
    anything else is a ValueError saying why (tests/contract/vectors/serial.json, as the
    host's protocol/serial_lines.py).
    """
    body = load(line)
    if "looks" in body:
        from beacon.looks import looks_of

        return "looks", looks_of(body)
    if "bridge" in body:
        check_version(body)
        state = body["bridge"]
        if state != ONLINE and state != OFFLINE:
            raise ValueError("bridge must be 'online' or 'offline'")
        return "bridge", state == ONLINE
    status = status_of(body)
    return "status", status[0], status[4]


def topic(prefix, family, ident, leaf):
    """A v1 topic: <prefix>/<family>/<id>/<leaf>, as the host's Topics builds it
    (tests/contract/vectors/topics.json)."""
    return "%s/%s/%s/%s" % (prefix, family, ident, leaf)


def event(action):
    """The event payload (str) for a button action."""
    return _EVENTS[action]


def hello(beacon, agent):
    """The line a serial beacon prints at start; ids are validated, so no escaping."""
    return '{"v":1,"hello":"%s","agent":"%s"}' % (beacon, agent)
