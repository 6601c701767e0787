# What the light shows for each state: the design's States table as data, and
# a Renderer that turns (state, time) into LED frames. All arithmetic is on
# small ints, so animating allocates nothing (floats are heap objects on most
# ports). A site may send its own looks (beacon.looks, docs/looks.md): they
# replace these until the beacon restarts; every blink here and there stays at
# or under 3 flashes a second (the photosensitive-flash guideline).
from time import ticks_add, ticks_diff

from micropython import const

from beacon.log import log

SOLID = "solid"
BLINK = "blink"
PULSE = "pulse"
WINK = "wink"  # on, dark for the last eighth of each period
FLASH = "flash"  # the config-error pattern: three short flashes, then dark
_FLASH_MS = const(150)  # button feedback
_PULSE_FLOOR = const(40)  # a pulse never goes fully dark (0..255)

RED = (255, 0, 0)
# state: (colour name, rgb at full brightness, pattern, period in ms)
LOOKS = {
    "available": ("green", (0, 80, 0), SOLID, 0),  # dim
    "ringing": ("red", RED, BLINK, 500),  # fast blink: 2 flashes/s, as on the floor board
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
RHYTHMS = {"double-blip": (0, 150, 350, 500), "long-blip": (0, 600)}
CUES = {
    "reply_due": ("cyan", _CYAN, "double-blip", RHYTHMS["double-blip"]),
    "customer_waiting": ("cyan", _CYAN, "long-blip", RHYTHMS["long-blip"]),
}
# Names for the log line (and the virtual beacon's terminal): the host's COLOURS
# (host/focuslight/protocol/looks.py, the names a config may use); any other is "#rrggbb".
_NAMES = {0x000000: "off", 0xFFFFFF: "white", 0xFF0000: "red", 0x005000: "green",
          0x00FF00: "bright_green", 0xFF6E00: "amber", 0x8C00FF: "purple", 0x0000FF: "blue",
          0x00B4FF: "cyan", 0xE69F00: "orange", 0x56B4E9: "sky_blue", 0x009E73: "bluish_green",
          0xF0E442: "yellow", 0x0072B2: "ok_blue", 0xD55E00: "vermillion",
          0xCC79A7: "reddish_purple", 0x004F39: "dim_bluish_green"}


def colour_name(rgb):
    """A colour's name for the log: a known one, else "#rrggbb"."""
    n = rgb[0] << 16 | rgb[1] << 8 | rgb[2]
    return _NAMES.get(n) or "#%06x" % n


def level(pattern, period, t):
    """Brightness 0..255 of *pattern* at *t* ms after the look started."""
    if pattern == SOLID:
        return 255
    phase = t % period
    if pattern == BLINK:
        return 255 if phase < period // 2 else 0
    if pattern == WINK:
        return 255 if phase < period - period // 8 else 0
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
        self._base = int(brightness * 255 + 0.5)
        self._bright = self._base
        self._available_off = available_off
        self._looks = self._cues = None
        self.use(None)
        self._state = None
        self._look = None
        self._start = 0
        self._flash_end = None
        self._frame = -1
        self._cue = None  # the cue look drawn: None when none is, or the look blinks
        self._cue_name = None  # the cue asked for
        self._cue_start = 0

    def use(self, looks, percent=100, now=None, cues=None):
        """Show *looks* and *cues* (as beacon.looks decodes a site's set; None: the
        built-ins) at *percent* of the configured brightness (the site's night dimming)."""
        table = dict(LOOKS)
        table.update(looks or {})
        if self._available_off:
            table["available"] = _OFF
        self._looks = table
        self._cues = dict(CUES)
        self._cues.update(cues or {})
        self._bright = self._base * percent // 100
        if now is not None and self._state is not None:
            self._show(self._state, now)
            self._set_cue(self._cue_name, now)
            self.tick(now)

    def set_state(self, state, now, cue=None):
        """Show *state*, with *cue* (a cue's name, or None) over it where it may be drawn."""
        if state != self._state:
            self._state, self._look = state, None  # a new state always logs its look
            self._show(state, now)
        self._set_cue(cue, now)
        self.tick(now)

    def _show(self, state, now):
        look = self._looks[state]
        if look != self._look:
            self._look = look
            self._start = now
            log("led %s %s %s" % (state, look[0], look[2]))
        self._frame = -1  # the brightness may have changed with the same look

    def _set_cue(self, cue, now):
        self._cue_name = cue
        drawn = self._look[2] == SOLID or self._look[2] == PULSE
        look = self._cues.get(cue) if drawn else None
        if look == self._cue:
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
