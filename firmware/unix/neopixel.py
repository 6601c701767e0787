# neopixel seam for the unix port, same shape as micropython-lib's NeoPixel
# (buf, bpp, ORDER). write() prints the first pixel as "px R G B" on stderr
# when env FOCUSLIGHT_LED_FRAMES is set: the virtual beacon draws it.
import os
import sys

_FRAMES = os.getenv("FOCUSLIGHT_LED_FRAMES")


class NeoPixel:
    ORDER = (1, 0, 2, 3)

    def __init__(self, pin, n, bpp=3, timing=1):
        self.pin = pin
        self.n = n
        self.bpp = bpp
        self.buf = bytearray(n * bpp)

    def __len__(self):
        return self.n

    def write(self):
        if _FRAMES:
            b = self.buf
            sys.stderr.write("px %d %d %d\n" % (b[1], b[0], b[2]))
