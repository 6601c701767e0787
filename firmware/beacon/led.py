# LED drivers behind one method, show(r, g, b) with 0..255 ints. The renderer
# knows nothing about wires; these know nothing about states.
from machine import PWM, Pin


class NeoPixelLed:
    """A WS2812 strip or ring, every pixel the same colour."""

    def __init__(self, pin, count):
        from neopixel import NeoPixel

        self._np = NeoPixel(Pin(pin, Pin.OUT), count)
        self._order = self._np.ORDER
        self._bpp = self._np.bpp

    def show(self, r, g, b):
        buf, o, bpp = self._np.buf, self._order, self._bpp
        for i in range(0, len(buf), bpp):  # fill in place: no tuples per frame
            buf[i + o[0]] = r
            buf[i + o[1]] = g
            buf[i + o[2]] = b
        self._np.write()


class RgbLed:
    """A common-cathode RGB LED on three PWM pins."""

    def __init__(self, pins):
        self._pwm = []
        for p in pins:
            pwm = PWM(Pin(p))
            pwm.freq(1000)
            self._pwm.append(pwm)

    def show(self, r, g, b):
        self._pwm[0].duty_u16(r * 257)
        self._pwm[1].duty_u16(g * 257)
        self._pwm[2].duty_u16(b * 257)


def make(cfg):
    if cfg["led"] == "rgb":
        return RgbLed(cfg["rgb_pins"])
    return NeoPixelLed(cfg["neopixel_pin"], cfg["neopixel_count"])
