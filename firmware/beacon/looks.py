# A site's looks: the colours and patterns the bridge publishes, retained, on
# <prefix>/looks/<name> (docs/protocol.md, "Looks"), as the beacon reads them.
# The same rules as host/focuslight/protocol/looks.py, checked against
# tests/contract/vectors/looks.json on the unix port:
#   {"v":1,"brightness":100,"looks":{"available":"005000 solid",
#    "ringing":"ff0000 blink 500",...every state...},
#    "cues":{"reply_due":"00b4ff double-blip","customer_waiting":"00b4ff long-blip"}}
# A look is "rrggbb pattern [period_ms]": solid, or blink/pulse/wink with a
# period of 334..10000 ms, so nothing flashes more than 3 times a second.
# `unknown` may be neither dark nor green (never green when unknown). A cue is
# "rrggbb rhythm" (beacon.look.RHYTHMS), neither green, nor white, nor a state's
# colour; an unknown cue name is ignored. A set that breaks any rule is refused
# whole (ValueError): the last good one stays.
from micropython import const

from beacon import protocol
from beacon.log import log
from beacon.look import BLINK, CUES, PULSE, RHYTHMS, SOLID, WINK, colour_name

MIN_PERIOD = const(334)  # ms: 1000/334 < 3 flashes a second
MAX_PERIOD = const(10000)
MIN_BRIGHTNESS = const(10)
DARK = const(32)  # every channel of `unknown` under this (0..255) reads as off
_HEX = "0123456789abcdef"
_DIGITS = "0123456789"
_MAX_LOOK = const(32)


def topic(prefix, name):
    """<prefix>/looks/<name> (tests/contract/vectors/looks.json)."""
    return "%s/looks/%s" % (prefix, name)


def _rgb(text, what):
    if len(text) != 6 or not all(c in _HEX for c in text):
        raise ValueError("%s: colour must be 6 lowercase hex digits rrggbb, got %r"
                         % (what, text))
    n = int(text, 16)
    return (n >> 16, n >> 8 & 255, n & 255)


def _period(text, what, pattern):
    if not 0 < len(text) <= 5 or text[0] == "0" or not all(c in _DIGITS for c in text):
        raise ValueError("%s: period must be a whole number of ms, got %r" % (what, text))
    ms = int(text)
    if ms < MIN_PERIOD:
        raise ValueError("%s: a %s of %d ms is faster than 3 flashes a second"
                         % (what, pattern, ms))
    if ms > MAX_PERIOD:
        raise ValueError("%s: period %d ms is over %d ms" % (what, ms, MAX_PERIOD))
    return ms


def look_of(text, what):
    """"rrggbb pattern [period_ms]" -> (colour name, (r, g, b), pattern, period)."""
    if not isinstance(text, str) or not 0 < len(text) <= _MAX_LOOK:
        raise ValueError("%s: a look is a string 'rrggbb pattern [period_ms]', got %s"
                         % (what, type(text).__name__))
    parts = text.split(" ")
    rgb = _rgb(parts[0], what)
    pattern = parts[1] if len(parts) > 1 else ""
    if pattern == SOLID and len(parts) == 2:
        period = 0
    elif pattern in (BLINK, PULSE, WINK) and len(parts) == 3:
        period = _period(parts[2], what, pattern)
    else:
        raise ValueError("%s: expected 'rrggbb solid' or 'rrggbb blink|pulse|wink period_ms',"
                         " got %r" % (what, text))
    return (colour_name(rgb), rgb, pattern, period)


def _green(rgb):
    return rgb[1] > rgb[0] and rgb[1] > rgb[2]


def _check_unknown(look):
    rgb = look[1]
    if _green(rgb) or max(rgb) < DARK:
        raise ValueError("unknown: must be neither green nor dark (a light that cannot"
                         " trust its status must not look free, nor off)")


def cue_of(text, what):
    """"rrggbb rhythm" -> (colour name, (r, g, b), rhythm, blips), as beacon.look.CUES."""
    parts = text.split(" ") if isinstance(text, str) and len(text) <= _MAX_LOOK else ()
    if len(parts) != 2 or parts[1] not in RHYTHMS:
        raise ValueError("%s: expected 'rrggbb %s', got %r"
                         % (what, "|".join(RHYTHMS), text))
    rgb = _rgb(parts[0], what)
    return (colour_name(rgb), rgb, parts[1], RHYTHMS[parts[1]])


def _cue_name(key):
    return 0 < len(key) <= 32 and all("a" <= c <= "z" or c == "_" for c in key)


def _cues(body, looks):
    cues = body.get("cues", {})
    if not isinstance(cues, dict):
        raise ValueError("cues must be an object")
    for key in cues:
        if not _cue_name(key):
            raise ValueError("cues: a cue name must match [a-z_]{1,32}, got %r" % (key,))
    out = {}
    taken = [look[1] for look in looks.values()] + [(255, 255, 255)]
    for name in CUES:  # the ones this firmware draws; others are a newer site's
        cue = cue_of(cues[name], name) if name in cues else CUES[name]
        if _green(cue[1]) or cue[1] in taken:
            raise ValueError("%s: a cue must be neither green, nor white, nor the colour of"
                             " a state" % name)
        out[name] = cue
    return out


def looks_of(body):
    """Validate a decoded looks object; return (looks, cues, brightness percent).

    looks maps every state to (colour name, rgb, pattern, period), cues every cue this
    firmware draws to (colour name, rgb, rhythm, blips), as beacon.look."""
    protocol.check_version(body)
    bright = body.get("brightness", 100)
    if (isinstance(bright, bool) or not isinstance(bright, int)
            or not MIN_BRIGHTNESS <= bright <= 100):
        raise ValueError("brightness must be a whole percent from %d to 100, got %r"
                         % (MIN_BRIGHTNESS, bright))
    table = body.get("looks")
    if not isinstance(table, dict):
        raise ValueError("looks must be an object with a look for every state")
    for key in table:
        if key not in protocol.STATES:
            raise ValueError("looks: unknown state %r" % (key,))
    looks = {}
    for state in protocol.STATES:
        if state not in table:
            raise ValueError("looks: no look for %s" % state)
        looks[state] = look_of(table[state], state)
    _check_unknown(looks["unknown"])
    return looks, _cues(body, looks), bright


def decode(payload):
    return looks_of(protocol.load(payload))


class SiteLooks:
    """A link extra (see beacon.net): follows the set config.json names ("looks")."""

    def __init__(self, cfg, renderer, clock):
        self._name = cfg["looks"]
        self.topics = (topic(cfg["prefix"], self._name).encode(),)
        self._renderer, self._clock = renderer, clock

    async def connected(self, link):
        pass

    async def run(self):
        pass

    def message(self, topic, payload, retained):
        if topic != self.topics[0]:
            return False
        if not payload:  # cleared: the site no longer publishes this set
            log("looks: set %s cleared; built-in looks" % self._name)
            self._renderer.use(None, 100, self._clock())
            return True
        self.use(decode(payload))
        return True

    def use(self, decoded):
        looks, cues, bright = decoded
        log("looks: set %s, brightness %d%%" % (self._name, bright))
        self._renderer.use(looks, bright, self._clock(), cues)
