# The beacon's one button: debounced, short press vs long hold. Button is
# pure logic fed with (pressed, now_ms) samples so tests drive it with a fake
# clock; PinButton samples a real (or unix-seam) machine.Pin.
from time import ticks_diff

from machine import Pin
from micropython import const

from beacon.protocol import HOLD, PRESS

DEBOUNCE_MS = const(30)
HOLD_MS = const(1000)


class Button:
    """Turns raw samples into ``"press"`` (released before hold_ms) or ``"hold"``.

    A level must stay put for debounce_ms to count. ``hold`` fires once, as
    soon as the button has been down for hold_ms (so the light can answer
    while the finger is still on it); the release after a hold is silent.
    """

    def __init__(self, debounce_ms=DEBOUNCE_MS, hold_ms=HOLD_MS):
        self.debounce_ms = debounce_ms
        self.hold_ms = hold_ms
        self._raw = False
        self._changed = 0
        self._down = False
        self._down_at = 0
        self._held = False

    def update(self, pressed, now):
        if pressed != self._raw:
            self._raw = pressed
            self._changed = now
            return None
        if pressed == self._down:
            if pressed and not self._held and ticks_diff(now, self._down_at) >= self.hold_ms:
                self._held = True
                return HOLD
            return None
        if ticks_diff(now, self._changed) < self.debounce_ms:
            return None
        self._down = pressed
        if pressed:
            self._down_at = self._changed
            self._held = False
            return None
        return None if self._held else PRESS


class PinButton(Button):
    """A button between *pin* and ground, using the internal pull-up."""

    def __init__(self, pin, **kw):
        super().__init__(**kw)
        self._pin = Pin(pin, Pin.IN, Pin.PULL_UP)

    def poll(self, now):
        return self.update(self._pin.value() == 0, now)
