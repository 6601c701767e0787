# machine seam for the unix port (replaces the built-in module via
# MICROPYPATH): Pin inputs follow _vhw datagrams, outputs and PWM only keep
# their value. The beacon arms no watchdog of its own on unix (BOARDS["unix"]),
# but main.py arms one for a firmware on trial: WDT below is a real one.
# reset() ends the process with RESET_EXIT; the virtual beacon then starts it
# again with FOCUSLIGHT_RESET_CAUSE=soft, which reset_cause() reports. A WDT
# that is not fed kills the process (SIGKILL, after its WDT_LINE), and the
# virtual beacon starts it again with FOCUSLIGHT_RESET_CAUSE=wdt.
import os
import sys
from time import sleep_ms, ticks_diff, ticks_ms

import _vhw

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5
RESET_EXIT = 75


WDT_LINE = "beacon: watchdog: not fed for"


def reset_cause():
    cause = os.getenv("FOCUSLIGHT_RESET_CAUSE")
    return SOFT_RESET if cause == "soft" else WDT_RESET if cause == "wdt" else PWRON_RESET


class WDT:
    """A watchdog like a board's: once started it cannot be stopped, and if feed() is not
    called within *timeout* ms the board resets, however the firmware is stuck (a busy
    loop, a blocking call). A thread watches the clock, so a stalled event loop cannot
    stop it; it ends the process with SIGKILL, which nothing in the firmware can catch.
    Like rp2040's, a second WDT() is the same watchdog with the new timeout."""

    _one = None

    def __new__(cls, id=0, timeout=5000):
        if WDT._one is None:
            WDT._one = super().__new__(cls)
            WDT._one._fed = ticks_ms()
            import _thread

            _thread.start_new_thread(WDT._one._watch, ())
        WDT._one._timeout = timeout
        WDT._one.feed()
        return WDT._one

    def __init__(self, id=0, timeout=5000):
        pass

    def feed(self):
        self._fed = ticks_ms()

    def _watch(self):
        while True:
            sleep_ms(50)
            late = ticks_diff(ticks_ms(), self._fed)
            if late > self._timeout:
                sys.stderr.write("%s %d ms, resetting the board\n" % (WDT_LINE, late))
                os.system("kill -KILL $PPID")  # $PPID: this process, the shell's parent


def reset():
    print("beacon: machine.reset()")
    sys.exit(RESET_EXIT)


class Pin:
    IN = 0
    OUT = 1
    PULL_UP = 1

    def __init__(self, id, mode=IN, pull=None, value=None):
        self.id = id
        self._out = value or 0
        self._mode = mode

    def value(self, v=None):
        if v is not None:
            self._out = v
            return None
        if self._mode == Pin.OUT:
            return self._out
        _vhw.poll()
        return _vhw.levels.get(self.id, 1)


class PWM:
    def __init__(self, pin):
        self.pin = pin
        self._freq = 0
        self._duty = 0

    def freq(self, f=None):
        if f is None:
            return self._freq
        self._freq = f

    def duty_u16(self, d=None):
        if d is None:
            return self._duty
        self._duty = d
