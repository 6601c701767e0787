"""What a light shows for each state, on the host: the design's States table as data.

The beacon firmware renders its own table (``firmware/beacon/look.py``); every light the
host drives itself — an off-the-shelf USB busy light behind ``focuslight desk`` — takes
its look from here, so one state means one look wherever it is shown.
``tests/unit/test_protocol_looks.py`` checks this table against the firmware's on the
MicroPython unix port.

Two rules hold for every look, here and on a beacon:

- no blink or pulse faster than :data:`MAX_FLASHES_PER_S` (the photosensitive-flash
  guideline the floor board follows);
- ``unknown`` is never green and never dark: a light that cannot trust its status must
  not look like a free agent, nor like a light that is off.

Example::

    >>> look = DEFAULT_LOOKS["ringing"]
    >>> look.rgb_at(0), look.rgb_at(look.period_ms // 2)
    ((255, 0, 0), (0, 0, 0))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from .payloads import STATES, ProtocolError

SOLID, BLINK, PULSE = "solid", "blink", "pulse"
PATTERNS = (SOLID, BLINK, PULSE)
MAX_FLASHES_PER_S = 3
"""The fastest a look may blink or pulse: one period lasts at least 1000/3 ms."""
PULSE_FLOOR = 40
"""A pulse never goes fully dark (0..255), as on the beacon."""
DARK = 32
"""A colour whose every channel is below this reads as off on a lit desk."""

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Look:
    """One state's look: a named *colour*, its *rgb* at full brightness, a *pattern*
    (``solid``, ``blink``, ``pulse``) and, for a pattern that moves, its *period_ms*
    (one on-off cycle, or one dim-bright-dim swell)."""

    colour: str
    rgb: RGB
    pattern: str = SOLID
    period_ms: int = 0

    def level(self, t_ms: int) -> int:
        """Brightness 0..255 *t_ms* after the look started (the firmware's ``level``)."""
        if self.pattern == SOLID:
            return 255
        phase = t_ms % self.period_ms
        if self.pattern == BLINK:
            return 255 if phase < self.period_ms // 2 else 0
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
        blink flips twice a period, a pulse is stepped 20 times a period."""
        if self.pattern == SOLID:
            return None
        return max(1, self.period_ms // (2 if self.pattern == BLINK else 20))


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
    if state == "unknown" and (is_green(look.rgb) or max(look.rgb) < DARK):
        raise ProtocolError("unknown: must be neither green nor dark (a light that cannot"
                            " trust its status must not look free, nor off)")
    return look


RED = (255, 0, 0)
DEFAULT_LOOKS: Mapping[str, Look] = MappingProxyType({
    "available": Look("green", (0, 80, 0)),  # dim
    "ringing": Look("red", RED, BLINK, 500),  # fast blink, 2 flashes/s (as the board)
    "engaged": Look("red", RED),
    "hold": Look("red", RED, PULSE, 2400),  # slow pulse
    "wrap_up": Look("amber", (255, 110, 0)),
    "dnd": Look("purple", (140, 0, 255)),
    "away": Look("off", (0, 0, 0)),
    "unknown": Look("blue", (0, 0, 255), BLINK, 2000),  # slow blink, never green
})
"""The design's States table; every state has a look, and each passes :func:`check_look`."""

OFF = Look("off", (0, 0, 0))
"""``available`` where a site wants a free agent's light dark."""
