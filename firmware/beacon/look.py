# What the light shows for each state: the design's States table as data, and
# a Renderer that turns (state, time) into LED frames. All arithmetic is on
# small ints, so animating allocates nothing (floats are heap objects on most
# ports).
from time import ticks_add, ticks_diff

from micropython import const

from beacon.log import log

SOLID = "solid"
BLINK = "blink"
PULSE = "pulse"
FLASH = "flash"  # the config-error pattern: three short flashes, then dark
_FLASH_MS = const(150)  # button feedback
_PULSE_FLOOR = const(40)  # a pulse never goes fully dark (0..255)

RED = (255, 0, 0)
# state: (colour name, rgb at full brightness, pattern, period in ms)
LOOKS = {
    "available": ("green", (0, 80, 0), SOLID, 0),  # dim
    "ringing": ("red", RED, BLINK, 300),  # fast blink
    "engaged": ("red", RED, SOLID, 0),
    "hold": ("red", RED, PULSE, 2400),  # slow pulse
    "wrap_up": ("amber", (255, 110, 0), SOLID, 0),
    "dnd": ("purple", (140, 0, 255), SOLID, 0),
    "away": ("off", (0, 0, 0), SOLID, 0),
    "unknown": ("blue", (0, 0, 255), BLINK, 2000),  # slow blink, never green
    "error": ("white", (255, 255, 255), FLASH, 2000),  # config error: not a state
}
_OFF = ("off", (0, 0, 0), SOLID, 0)
_WHITE = (255, 255, 255)
_CYAN = (0, 180, 255)
# cue: (colour name, rgb, name of the rhythm, blips as start, end ms pairs in every 2 s).
# Drawn over the state's look, never over a blinking one (ringing, unknown): two
# rhythms together could pass 3 flashes/s, and unknown shows no cue anyway.
_CUE_PERIOD = const(2000)
CUES = {
    "reply_due": ("cyan", _CYAN, "double-blip", (0, 150, 350, 500)),
    "customer_waiting": ("cyan", _CYAN, "long-blip", (0, 600)),
}


def level(pattern, period, t):
    """Brightness 0..255 of *pattern* at *t* ms after the look started."""
    if pattern == SOLID:
        return 255
    phase = t % period
    if pattern == BLINK:
        return 255 if phase < period // 2 else 0
    if pattern == PULSE:
        tri = phase * 510 // period
        tri = tri if tri <= 255 else 510 - tri
        return _PULSE_FLOOR + tri * (255 - _PULSE_FLOOR) // 255
    return 255 if phase < 600 and phase % 200 < 100 else 0  # FLASH


def _blip(blips, t):
    """Is *t* ms after the cue started inside one of its blips? (No generator: a frame
    allocates nothing.)"""
    phase = t % _CUE_PERIOD
    i = 0
    while i < len(blips):
        if blips[i] <= phase < blips[i + 1]:
            return True
        i += 2
    return False


class Renderer:
    """Drives one LED (anything with ``show(r, g, b)``) from the shown state and cue.

    brightness: 0..1, scales every colour. available_off: show ``available``
    as dark instead of dim green. Logs ``led <state> <colour> <pattern>``
    whenever the look changes, and ``led cue <name> <colour> <rhythm>`` or
    ``led cue off`` whenever the cue drawn over it does; the virtual beacon and
    the tests read them.
    """

    def __init__(self, led, brightness=1.0, available_off=False):
        self._led = led
        self._bright = int(brightness * 255 + 0.5)
        self._looks = dict(LOOKS)
        if available_off:
            self._looks["available"] = _OFF
        self._state = None
        self._look = None
        self._start = 0
        self._flash_end = None
        self._frame = -1
        self._cue = None  # the CUES entry drawn: None when none is, or the look blinks
        self._cue_start = 0

    def set_state(self, state, now, cue=None):
        """Show *state*, with *cue* (a name in CUES, or None) over it where it may be drawn."""
        if state != self._state:
            self._state = state
            look = self._looks[state]
            if look is not self._look:
                self._look = look
                self._start = now
                log("led %s %s %s" % (state, look[0], look[2]))
        self._set_cue(cue, now)
        self.tick(now)

    def _set_cue(self, cue, now):
        look = CUES.get(cue) if self._look[2] == SOLID or self._look[2] == PULSE else None
        if look is self._cue:
            return
        self._cue = look
        self._cue_start = now
        if look is None:
            log("led cue off")
        else:
            log("led cue %s %s %s" % (cue, look[0], look[2]))

    def flash(self, now):
        """Short white flash: local feedback that the button registered."""
        self._flash_end = ticks_add(now, _FLASH_MS)
        self.tick(now)

    def tick(self, now):
        if self._flash_end is not None and ticks_diff(self._flash_end, now) <= 0:
            self._flash_end = None
        if self._flash_end is not None:
            rgb, lvl = _WHITE, 255
        elif self._cue is not None and _blip(self._cue[3], ticks_diff(now, self._cue_start)):
            rgb, lvl = self._cue[1], 255
        else:
            _, rgb, pattern, period = self._look
            lvl = level(pattern, period, ticks_diff(now, self._start))
        k = lvl * self._bright
        r = rgb[0] * k // 65025
        g = rgb[1] * k // 65025
        b = rgb[2] * k // 65025
        frame = r << 16 | g << 8 | b
        if frame != self._frame:
            self._frame = frame
            self._led.show(r, g, b)
