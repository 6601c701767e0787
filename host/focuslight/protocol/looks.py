"""What a light shows for each state: the looks, their rules, and the sets a site sends.

The beacon firmware renders its own built-in table (``firmware/beacon/look.py``), which
is :data:`DEFAULT_LOOKS`; every light the host drives itself (an off-the-shelf USB busy
light behind ``focuslight desk``) takes its look from here, so one state means one look
wherever it is shown.

A site may set its own looks: the bridge publishes each set retained on
``<prefix>/looks/<name>`` (:meth:`Topics.looks <focuslight.protocol.Topics.looks>`); a
beacon follows the set its ``config.json`` names (``looks``, default ``default``) and
keeps its built-in looks until a valid one arrives. The payload, at most 512 bytes::

    {"v":1,"brightness":100,"looks":{"available":"005000 solid","ringing":"ff0000 blink 500",
     "engaged":"ff0000 solid","hold":"ff0000 pulse 2400","wrap_up":"ff6e00 solid",
     "dnd":"8c00ff solid","away":"000000 solid","unknown":"0000ff blink 2000"},
     "cues":{"reply_due":"00b4ff double-blip","customer_waiting":"00b4ff long-blip"}}

A look is ``rrggbb pattern [period_ms]``: ``solid``, or ``blink`` / ``pulse`` / ``wink``
(on, dark for the last eighth of each period) with a period of 334..10000 ms. A cue
(drawn over a solid or pulsing state, shared decision A) is ``rrggbb rhythm``, the
rhythm one of :data:`RHYTHMS`; ``cues`` is optional and a cue name this reader does not
know is ignored. ``brightness`` (10..100, default 100) scales the whole set: the bridge
lowers it at night. A set is refused whole, and the beacon keeps the last good one, when

* any look blinks or pulses faster than :data:`MAX_FLASHES_PER_S` (a period under
  334 ms): the photosensitive-flash guideline (WCAG 2.3.1) the floor board follows too;
* ``unknown`` is green or dark (:func:`check_look`): a light that cannot trust its
  status must not look like a free agent, nor like a light that is off;
* a cue is green-ish, white (the config-error flash) or the colour of a state.

The firmware reads sets with the same rules (``firmware/beacon/looks.py``); the cases in
``tests/contract/vectors/looks.json`` run on both. :data:`PRESETS` holds the sets a site
gets by name (docs/looks.md): ``default`` (:data:`DEFAULT_LOOKS`), ``colour_blind``
(Okabe-Ito colours, and a pattern per meaning) and ``public`` (a customer-facing light).

Example::

    >>> look = DEFAULT_LOOKS["ringing"]
    >>> look.rgb_at(0), look.rgb_at(look.period_ms // 2), look.encode()
    ((255, 0, 0), (0, 0, 0), 'ff0000 blink 500')
    >>> decode_looks(PRESETS["default"].encode()) == PRESETS["default"]
    True
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from .payloads import MAX_PAYLOAD, STATES, VERSION, ProtocolError, _check_version, load_object

SOLID, BLINK, PULSE, WINK = "solid", "blink", "pulse", "wink"
PATTERNS = (SOLID, BLINK, PULSE, WINK)
MAX_FLASHES_PER_S = 3
"""The fastest a look may blink or pulse: one period lasts at least 1000/3 ms."""
MIN_PERIOD_MS = 334
MAX_PERIOD_MS = 10_000
PULSE_FLOOR = 40
"""A pulse never goes fully dark (0..255), as on the beacon."""
DARK = 32
"""A colour whose every channel is below this reads as off on a lit desk."""
MIN_BRIGHTNESS = 10
"""Night dimming stops here: a dimmer beacon would look off, and ``unknown`` must show."""
CUES = ("reply_due", "customer_waiting")
"""The cues this reader knows (shared decision A)."""
RHYTHMS: Mapping[str, tuple[int, ...]] = MappingProxyType({
    "double-blip": (0, 150, 350, 500), "long-blip": (0, 600)})
"""A cue's blips as (start, end) ms pairs in every 2 s, as the firmware draws them."""
_WIRE_LOOK = re.compile(r"([0-9a-f]{6}) (solid|blink|pulse|wink)(?: ([1-9][0-9]{0,4}))?")
_WIRE_CUE = re.compile(r"([0-9a-f]{6}) ([a-z-]{1,16})")
_CUE_NAME = re.compile(r"[a-z_]{1,32}")
_MAX_LOOK = 32

RGB = tuple[int, int, int]

COLOURS: Mapping[str, RGB] = MappingProxyType({
    "off": (0, 0, 0), "white": (255, 255, 255), "red": (255, 0, 0), "green": (0, 80, 0),
    "bright_green": (0, 255, 0), "amber": (255, 110, 0), "purple": (140, 0, 255),
    "blue": (0, 0, 255), "cyan": (0, 180, 255),
    # Okabe & Ito (2002), "Color Universal Design": told apart with every common colour
    # vision deficiency (docs/looks.md)
    "orange": (230, 159, 0), "sky_blue": (86, 180, 233), "bluish_green": (0, 158, 115),
    "yellow": (240, 228, 66), "ok_blue": (0, 114, 178), "vermillion": (213, 94, 0),
    "reddish_purple": (204, 121, 167), "dim_bluish_green": (0, 79, 57),
})
"""Colour names a config may use instead of ``#rrggbb``; the firmware logs the same."""
_NAMES = {rgb: name for name, rgb in COLOURS.items()}


def colour_name(rgb: RGB) -> str:
    """*rgb*'s name in :data:`COLOURS`, else ``#rrggbb`` (as the firmware logs it)."""
    return _NAMES.get(rgb) or "#{:02x}{:02x}{:02x}".format(*rgb)


@dataclass(frozen=True)
class Look:
    """One state's look: a named *colour*, its *rgb* at full brightness, a *pattern*
    (``solid``, ``blink``, ``pulse``, ``wink``) and, for a pattern that moves, its
    *period_ms* (one on-off cycle, or one dim-bright-dim swell)."""

    colour: str
    rgb: RGB
    pattern: str = SOLID
    period_ms: int = 0

    @classmethod
    def of(cls, rgb: RGB, pattern: str = SOLID, period_ms: int = 0) -> Look:
        """A look named after its colour (:func:`colour_name`)."""
        return cls(colour_name(rgb), rgb, pattern, period_ms)

    @property
    def flashes_per_s(self) -> float:
        """How often the light goes dark and back each second (0 for solid)."""
        return 0.0 if self.pattern == SOLID else 1000 / self.period_ms

    def level(self, t_ms: int) -> int:
        """Brightness 0..255 *t_ms* after the look started (the firmware's ``level``)."""
        if self.pattern == SOLID:
            return 255
        phase = t_ms % self.period_ms
        if self.pattern == BLINK:
            return 255 if phase < self.period_ms // 2 else 0
        if self.pattern == WINK:
            return 255 if phase < self.period_ms - self.period_ms // 8 else 0
        swell = phase * 510 // self.period_ms
        swell = swell if swell <= 255 else 510 - swell
        return PULSE_FLOOR + swell * (255 - PULSE_FLOOR) // 255

    def rgb_at(self, t_ms: int, brightness: float = 1.0) -> RGB:
        """The colour to show *t_ms* after the look started, scaled by *brightness* 0..1."""
        k = self.level(t_ms) * brightness / 255
        r, g, b = self.rgb
        return round(r * k), round(g * k), round(b * k)

    def changes_every_ms(self) -> int | None:
        """How often the shown colour should be recomputed (None: it never changes): a
        blink or wink flips twice a period, a pulse is stepped 20 times a period."""
        if self.pattern == SOLID:
            return None
        return max(1, self.period_ms // (20 if self.pattern == PULSE else 2))

    def encode(self) -> str:
        """The wire form, ``rrggbb pattern [period_ms]``."""
        r, g, b = self.rgb
        text = f"{r:02x}{g:02x}{b:02x} {self.pattern}"
        return text if self.pattern == SOLID else f"{text} {self.period_ms}"


def is_green(rgb: RGB) -> bool:
    """Does *rgb* read as green (its green channel above both others)?"""
    r, g, b = rgb
    return g > r and g > b


def check_look(state: str, look: Look) -> Look:
    """*look* if it may show *state*; ProtocolError saying why not."""
    if state not in STATES:
        raise ProtocolError(f"no such state {state!r}")
    if look.pattern not in PATTERNS:
        raise ProtocolError(f"{state}: pattern must be one of {', '.join(PATTERNS)}")
    if not all(isinstance(c, int) and 0 <= c <= 255 for c in look.rgb) or len(look.rgb) != 3:
        raise ProtocolError(f"{state}: rgb must be three integers 0..255")
    if look.pattern != SOLID and look.period_ms * MAX_FLASHES_PER_S < 1000:
        raise ProtocolError(f"{state}: a {look.pattern} of {look.period_ms} ms is faster than"
                            f" {MAX_FLASHES_PER_S} flashes a second")
    if look.pattern != SOLID and look.period_ms > MAX_PERIOD_MS:
        raise ProtocolError(f"{state}: period {look.period_ms} ms is over {MAX_PERIOD_MS} ms")
    if look.pattern == SOLID and look.period_ms:
        raise ProtocolError(f"{state}: a solid look has no period")
    if state == "unknown" and (is_green(look.rgb) or max(look.rgb) < DARK):
        raise ProtocolError("unknown: must be neither green nor dark (a light that cannot"
                            " trust its status must not look free, nor off)")
    return look


@dataclass(frozen=True)
class Cue:
    """A cue's look: a colour and a rhythm of :data:`RHYTHMS`, drawn every 2 s."""

    colour: str
    rgb: RGB
    rhythm: str

    def encode(self) -> str:
        r, g, b = self.rgb
        return f"{r:02x}{g:02x}{b:02x} {self.rhythm}"


_CYAN = COLOURS["cyan"]
DEFAULT_CUES: Mapping[str, Cue] = MappingProxyType({
    "reply_due": Cue("cyan", _CYAN, "double-blip"),
    "customer_waiting": Cue("cyan", _CYAN, "long-blip")})
"""The firmware's built-in cues (shared decision A)."""


@dataclass(frozen=True)
class LookSet:
    """A look for every state, cue looks, and the brightness (percent) to show them at."""

    looks: Mapping[str, Look]
    cues: Mapping[str, Cue] = field(default_factory=lambda: DEFAULT_CUES)
    brightness: int = 100

    def __post_init__(self) -> None:
        check_set(self)

    def dimmed(self, brightness: int) -> LookSet:
        """The same looks at *brightness* percent (night dimming)."""
        return replace(self, brightness=brightness)

    def encode(self) -> bytes:
        body: dict[str, Any] = {"v": VERSION, "brightness": self.brightness,
                                "looks": {s: self.looks[s].encode() for s in STATES},
                                "cues": {c: cue.encode() for c, cue in self.cues.items()}}
        return json.dumps(body, separators=(",", ":")).encode()


def looks(table: Mapping[str, Look], cues: Mapping[str, Cue] = DEFAULT_CUES,
          brightness: int = 100) -> LookSet:
    """A :class:`LookSet` from plain dicts (checked: ProtocolError says what breaks)."""
    return LookSet(MappingProxyType(dict(table)), MappingProxyType(dict(cues)), brightness)


def check_set(looks: LookSet) -> None:
    """Raise ProtocolError unless *looks* is a set a beacon may show (the rules above)."""
    for state in looks.looks:
        if state not in STATES:
            raise ProtocolError(f"looks: unknown state {state!r}"[:80])
    for state in STATES:
        if state not in looks.looks:
            raise ProtocolError(f"looks: no look for {state}")
        check_look(state, looks.looks[state])
    taken = {look.rgb for look in looks.looks.values()} | {(255, 255, 255)}
    for name, cue in looks.cues.items():
        if cue.rhythm not in RHYTHMS:
            raise ProtocolError(f"{name}: rhythm must be one of {', '.join(RHYTHMS)}")
        if is_green(cue.rgb) or cue.rgb in taken:
            raise ProtocolError(f"{name}: a cue must be neither green, nor white, nor the"
                                " colour of a state")
    b = looks.brightness
    if isinstance(b, bool) or not isinstance(b, int) or not MIN_BRIGHTNESS <= b <= 100:
        raise ProtocolError(f"brightness must be a whole percent from {MIN_BRIGHTNESS} to 100,"
                            f" got {b!r}"[:120])
    size = len(looks.encode())
    if size > MAX_PAYLOAD:
        raise ProtocolError(f"looks: {size} bytes encoded, limit is {MAX_PAYLOAD}")


def _rgb(hexa: str) -> RGB:
    n = int(hexa, 16)
    return n >> 16, n >> 8 & 255, n & 255


def decode_look(text: object, state: str) -> Look:
    """A wire look, ``rrggbb pattern [period_ms]``, checked for *state*; or ProtocolError."""
    match = (_WIRE_LOOK.fullmatch(text) if isinstance(text, str) and len(text) <= _MAX_LOOK
             else None)
    if match is None or (match[2] == SOLID) != (match[3] is None):
        raise ProtocolError(f"{state}: expected 'rrggbb solid' or 'rrggbb blink|pulse|wink"
                            f" period_ms', got {text!r}"[:160])
    return check_look(state, Look.of(_rgb(match[1]), match[2],
                                     int(match[3]) if match[3] else 0))


def decode_cue(text: object, name: str) -> Cue:
    """A wire cue, ``rrggbb rhythm``; or ProtocolError."""
    match = _WIRE_CUE.fullmatch(text) if isinstance(text, str) else None
    if match is None or match[2] not in RHYTHMS:
        raise ProtocolError(f"{name}: expected 'rrggbb {'|'.join(RHYTHMS)}', got {text!r}"[:160])
    rgb = _rgb(match[1])
    return Cue(colour_name(rgb), rgb, match[2])


def decode_looks(payload: bytes) -> LookSet:
    """Decode and validate a looks payload; ProtocolError says why it is refused."""
    body = load_object(payload)
    _check_version(body, required=True)
    table = body.get("looks")
    if not isinstance(table, dict):
        raise ProtocolError("looks must be an object with a look for every state")
    for key in table:
        if key not in STATES:
            raise ProtocolError(f"looks: unknown state {key!r}"[:80])
    cues = body.get("cues", {})
    if not isinstance(cues, dict):
        raise ProtocolError("cues must be an object")
    for key in cues:
        if not _CUE_NAME.fullmatch(key):
            raise ProtocolError(f"cues: a cue name must match [a-z_]{{1,32}}, got {key!r}"[:80])
    states = {s: decode_look(table[s], s) if s in table else _missing(s) for s in STATES}
    return LookSet(MappingProxyType(states), MappingProxyType(
        {**DEFAULT_CUES, **{c: decode_cue(cues[c], c) for c in CUES if c in cues}}),
        body.get("brightness", 100))


def parse_look(text: object, state: str) -> Look:
    """A look as a config writes it: ``COLOUR PATTERN [PERIOD_MS]``, the colour a name
    of :data:`COLOURS` or ``#rrggbb`` (``"vermillion blink 500"``, ``"#00b4ff solid"``)."""
    wire = _config_colour(text)
    if wire is None:
        raise ProtocolError(f"{state}: expected \"COLOUR PATTERN [PERIOD_MS]\" with a colour"
                            f" name ({', '.join(COLOURS)}) or #rrggbb, got {text!r}"[:300])
    return decode_look(wire, state)


def parse_cue(text: object, name: str) -> Cue:
    """A cue as a config writes it: ``COLOUR RHYTHM`` (``"sky_blue double-blip"``)."""
    wire = _config_colour(text)
    if wire is None:
        raise ProtocolError(f"{name}: expected \"COLOUR {'|'.join(RHYTHMS)}\" with a colour"
                            f" name ({', '.join(COLOURS)}) or #rrggbb, got {text!r}"[:300])
    return decode_cue(wire, name)


def _config_colour(text: object) -> str | None:
    """*text* with its colour name or ``#rrggbb`` turned into the wire's ``rrggbb``."""
    if not isinstance(text, str):
        return None
    colour, _, rest = text.strip().partition(" ")
    hexa = colour[1:].lower() if colour.startswith("#") else None
    if colour in COLOURS:
        hexa = "{:02x}{:02x}{:02x}".format(*COLOURS[colour])
    return f"{hexa} {' '.join(rest.split())}" if hexa is not None and rest else None


def _missing(state: str) -> Look:
    raise ProtocolError(f"looks: no look for {state}")


def _set(table: Mapping[str, tuple[str, str, int]]) -> LookSet:
    return looks({s: Look(c, COLOURS[c], p, ms) for s, (c, p, ms) in table.items()})


DEFAULT = _set({
    "available": ("green", SOLID, 0),  # dim
    "ringing": ("red", BLINK, 500),  # fast blink, 2 flashes/s (as the board)
    "engaged": ("red", SOLID, 0),
    "hold": ("red", PULSE, 2400),  # slow pulse
    "wrap_up": ("amber", SOLID, 0),
    "dnd": ("purple", SOLID, 0),
    "away": ("off", SOLID, 0),
    "unknown": ("blue", BLINK, 2000),  # slow blink, never green
})
"""The design's States table, as the firmware's built-in looks (beacon/look.py)."""
DEFAULT_LOOKS: Mapping[str, Look] = DEFAULT.looks
"""The design's States table; every state has a look, and each passes :func:`check_look`."""

OFF = Look("off", (0, 0, 0))
"""``available`` where a site wants a free agent's light dark."""

COLOUR_BLIND = _set({
    "available": ("dim_bluish_green", SOLID, 0),  # dim and steady
    "ringing": ("vermillion", BLINK, 500),
    "engaged": ("vermillion", SOLID, 0),
    "hold": ("vermillion", PULSE, 2400),
    "wrap_up": ("orange", WINK, 1000),
    "dnd": ("reddish_purple", WINK, 4000),
    "away": ("off", SOLID, 0),
    "unknown": ("ok_blue", BLINK, 2000),
})
"""Okabe-Ito colours, and a pattern for every meaning, so no state needs hue to be told
apart: dim steady = free, bright steady = with a customer, fast blink = ringing, pulse =
hold, quick wink = wrap-up, slow wink = do not disturb, off = away, slow blink = unknown."""

PUBLIC = _set({
    "available": ("green", SOLID, 0),
    **{s: ("ok_blue", SOLID, 0) for s in ("ringing", "engaged", "hold", "wrap_up", "dnd")},
    "away": ("off", SOLID, 0),
    "unknown": ("blue", BLINK, 2000),
})
"""A light that faces customers (a counter's lamp, a door), defined by the counter sign's
rule: it tells a customer what to do, not what the agent is doing. Green: come forward;
a steady calm blue whenever someone is being served or the counter is busy for any other
reason: please wait (the counter sign's "please wait" colour; never a glaring red "do not
disturb" at a customer, and not amber, which is ``wrap_up`` on the staff's beacons, nor a
blink); off: closed. ``unknown`` keeps the site-wide slow blue blink: a customer reads it
as "wait", an admin as "this light cannot trust its status" — never green, so a light that
cannot know never calls anyone forward."""

PRESETS: Mapping[str, LookSet] = MappingProxyType({
    "default": DEFAULT, "colour_blind": COLOUR_BLIND, "public": PUBLIC})
"""Sets a site gets by name; the bridge publishes each of them (docs/looks.md)."""
