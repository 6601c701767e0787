# Protocol v1 as the beacon reads it: the same rules as
# host/focuslight/protocol.py, checked against tests/vectors/*.json on the
# unix port. Errors are ValueError with a reason a person can act on.
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
    try:
        body = json.loads(text)
    except ValueError:
        raise ValueError("payload is not JSON") from None
    if not isinstance(body, dict):
        raise ValueError("payload must be a JSON object, got %s" % type(body).__name__)
    return body


def check_version(body):
    v = body.get("v")
    if isinstance(v, bool) or v != 1:
        raise ValueError("unsupported protocol version v=%r, this reader speaks v=1" % (v,))


def status_of(body):
    """Validate a decoded status object; return (state, source, since, bridge_id or None)."""
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
    return state, source, since, bridge_id


def decode_status(payload):
    return status_of(load(payload))


def decode_availability(payload):
    try:
        text = str(payload, "utf-8").strip() if len(payload) <= 16 else ""
    except UnicodeError:
        text = ""
    if text != ONLINE and text != OFFLINE:
        raise ValueError("availability must be 'online' or 'offline'")
    return text


def event(action):
    """The event payload (str) for a button action."""
    return _EVENTS[action]


def hello(beacon, agent):
    """The line a serial beacon prints at start; ids are validated, so no escaping."""
    return '{"v":1,"hello":"%s","agent":"%s"}' % (beacon, agent)
