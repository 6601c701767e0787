"""Time for sources that wait: a clock seam and the arrive/depart hysteresis.

A foot switch that bounces, a PIR that blinks while a customer shifts their
weight, a softphone that reopens the microphone between two calls: all of
them flicker, and a light that flickers is a light nobody trusts. Sources
push raw presence into a :class:`Hysteresis` and report only what it decides.

The clock is a seam (:class:`Clock`) so tests move time by hand instead of
sleeping; the real one is monotonic and never jumps with NTP.

Example::

    >>> h = Hysteresis(arrive_s=2, depart_s=10, ringing=True)
    >>> h.update(True, now=0.0); h.state(0.0)
    'ringing'
    >>> h.state(2.0)
    'engaged'
"""

from __future__ import annotations

import threading
import time


class Clock:
    """Monotonic seconds and an interruptible wait; tests pass a fake with both methods."""

    def now(self) -> float:
        return time.monotonic()

    def sleep_until(self, deadline: float | None, wake: threading.Event) -> None:
        """Return at *deadline* (None: never) or as soon as *wake* is set."""
        wake.wait(None if deadline is None else max(0.0, deadline - self.now()))


class Hysteresis:
    """Turns flickering presence into ``available`` / ``ringing`` / ``engaged``.

    :param arrive_s: presence must last this long (seconds) before ``engaged``;
        0 means at once.
    :param depart_s: absence must last this long before ``available`` again;
        presence in between cancels the departure.
    :param ringing: report ``ringing`` while an arrival is pending, so the next
        customer sees the counter is about to be busy.

    Every change of presence restarts the pending timer: a bouncing contact
    or a blinking PIR only counts once it has been steady for the delay.
    """

    def __init__(self, arrive_s: float, depart_s: float, ringing: bool = False) -> None:
        self.arrive_s, self.depart_s, self.ringing = arrive_s, depart_s, ringing
        self.present = False
        self.engaged = False
        self.changed_at = 0.0

    def reset(self, present: bool, now: float) -> None:
        """Take *present* as the steady truth at once: a first reading has nothing to debounce."""
        self.present = self.engaged = present
        self.changed_at = now

    def update(self, present: bool, now: float) -> None:
        """Record the raw presence seen at *now*."""
        if present != self.present:
            self.present, self.changed_at = present, now

    def deadline(self) -> float | None:
        """When the pending change (if any) takes effect."""
        if self.present == self.engaged:
            return None
        return self.changed_at + (self.arrive_s if self.present else self.depart_s)

    def state(self, now: float) -> str:
        """The state to report at *now*, applying a pending change whose delay has passed."""
        due = self.deadline()
        if due is not None and now >= due:
            self.engaged = self.present
        if self.engaged:
            return "engaged"
        return "ringing" if self.present and self.ringing else "available"
