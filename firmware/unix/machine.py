# machine seam for the unix port (replaces the built-in module via
# MICROPYPATH): Pin inputs follow _vhw datagrams, outputs and PWM only keep
# their value. The beacon has no watchdog on unix (BOARDS["unix"]).
# reset() ends the process with RESET_EXIT; the virtual beacon then starts it
# again with FOCUSLIGHT_RESET_CAUSE=soft, which reset_cause() reports.
import os
import sys

import _vhw

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5
RESET_EXIT = 75


def reset_cause():
    return SOFT_RESET if os.getenv("FOCUSLIGHT_RESET_CAUSE") == "soft" else PWRON_RESET


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
