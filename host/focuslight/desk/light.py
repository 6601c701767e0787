"""Off-the-shelf USB busy lights (Kuando, Embrava, Luxafor, blink(1), CompuLab …) as beacons.

An agent who has a USB busy light on the desk needs no beacon: ``focuslight desk`` drives
it with `busylight-core <https://pypi.org/project/busylight-core/>`_ (in the optional
``desk`` extra), which knows each vendor's protocol behind one ``Light``
class. It shows the same looks as a beacon (:mod:`focuslight.protocol.looks`: colours and
patterns per state, no blink above 3 flashes a second, ``unknown`` never green), animated
here — a blink or a pulse is this module's thread setting the colour, since few of these
lights can animate by themselves.

A light that is not plugged in, not permitted (no udev rule) or pulled out mid-call costs
one log line, and is looked for again every :data:`RETRY_S` seconds; a light that comes
back shows the current look at once. When the guard stops, the light goes dark (a light
left green by a process that no longer runs would lie).

Example::

    lights = UsbLights(brightness=0.6)
    lights.start()
    lights.show("engaged")   # solid red on every light found
    lights.stop()            # dark, released
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from ..logs import Problem
from ..protocol.looks import DEFAULT_LOOKS, OFF, RGB, Look
from ..protocol.trust import UNKNOWN
from ..worker import Worker
from .silencers import EXTRA_HINT

if TYPE_CHECKING:  # busylight-core is an optional extra (focuslight[desk])
    from busylight_core import Light

log = logging.getLogger(__name__)

RETRY_S = 5.0
"""How often to look for a light while none is found."""


class LightError(Exception):
    """USB lights cannot be driven at all (busylight-core is missing); ``str()`` says
    what to install."""


def busylight() -> None:
    """Import busylight-core (and quiet its own logger, which prints every USB write at
    DEBUG level on stderr); :class:`LightError` if it is not installed."""
    try:
        import busylight_core  # noqa: F401  (imported to be sure it is there)
        from loguru import logger
    except ImportError:
        raise LightError(f"USB busy lights need busylight-core: {EXTRA_HINT}") from None
    logger.disable("busylight_core")


def find_lights(path: str | None = None) -> list[Light]:
    """Every light busylight-core recognises (only the one at *path*, if given), opened
    for this process alone. A device it recognises but cannot open is logged (the usual
    cause: no udev rule lets this user open it) and skipped."""
    busylight()
    from busylight_core import Hardware
    from busylight_core import Light as AnyLight

    found: list[Light] = []
    for hardware in Hardware.enumerate():
        if path is not None and hardware.path.decode("utf-8", "replace") != path:
            continue
        kind = next((k for k in AnyLight.subclasses() if k.claims(hardware)), None)
        if kind is None:
            continue
        try:
            found.append(kind(hardware, reset=False, exclusive=True))
        except OSError as err:
            log.warning("USB light %s at %s cannot be opened (%s): see docs/desk.md for the"
                        " udev rule that lets you use it", kind.__name__,
                        hardware.path.decode("utf-8", "replace"), err)
    return found


class UsbLights:
    """Shows the agent's state on every USB busy light found.

    :param path: drive only the light at this device path (``/dev/hidraw3``,
        ``/dev/ttyACM0``); default: every light found.
    :param brightness: 0..1, scales every colour (these lights are bright on a desk).
    :param available_off: show ``available`` dark instead of dim green.
    :param looks: ``state → Look`` (default: :data:`~focuslight.protocol.looks.DEFAULT_LOOKS`).
    :param find: how lights are found (``find(path) → [Light]``); busylight-core's
        discovery by default.
    :param retry_s: seconds between looks for a light while none answers.
    """

    def __init__(self, path: str | None = None, brightness: float = 1.0,
                 available_off: bool = False, looks: Mapping[str, Look] = DEFAULT_LOOKS,
                 find: Callable[[str | None], list[Light]] = find_lights,
                 retry_s: float = RETRY_S) -> None:
        self.path, self.brightness, self.find, self.retry_s = path, brightness, find, retry_s
        self.looks = dict(looks)
        if available_off:
            self.looks["available"] = OFF
        self.lights: list[Light] = []
        self._look = self.looks[UNKNOWN]
        self._started_at = time.monotonic()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._problem = Problem(log, "USB light: ")
        self._worker = Worker("desk-light", self._run, wake=(self._wake.set,))

    def start(self) -> None:
        self._worker.start()

    def stop(self) -> None:
        """End the animation, turn every light dark and let go of it."""
        self._worker.stop()
        for light in self.lights:
            self._let_go(light, dark=True)
        self.lights = []

    def show(self, state: str) -> None:
        """Show *state*'s look from now on (returns at once; the light's thread writes)."""
        look = self.looks[state]
        with self._lock:
            if look is self._look:
                return
            self._look, self._started_at = look, time.monotonic()
        log.debug("USB light: %s (%s, %s)", state, look.colour, look.pattern)
        self._wake.set()

    def _run(self) -> None:
        shown: dict[int, RGB] = {}
        while not self._worker.stopping.is_set():
            if not self.lights:
                self.lights = self._look_for_lights()
                shown.clear()
                if not self.lights:
                    self._worker.stopping.wait(self.retry_s)
                    continue
            self._wake.clear()  # before reading the look: a show() after this wakes the wait
            with self._lock:
                look, age_ms = self._look, int((time.monotonic() - self._started_at) * 1000)
            rgb = look.rgb_at(age_ms, self.brightness)
            for light in list(self.lights):
                if shown.get(id(light)) != rgb:
                    self._write(light, rgb, shown)
            step = look.changes_every_ms()
            self._wake.wait(None if step is None else step / 1000 - (age_ms % step) / 1000)

    def _look_for_lights(self) -> list[Light]:
        lights = self.find(self.path)
        if not lights:
            where = f" at {self.path}" if self.path else ""
            self._problem.say("none", f"no USB busy light found{where}; looking again every"
                                      f" {self.retry_s:g} s")
            return []
        self._problem.clear()
        log.info("USB light: driving %s", ", ".join(str(light) for light in lights))
        return lights

    def _write(self, light: Light, rgb: RGB, shown: dict[int, RGB]) -> None:
        from busylight_core import LightUnavailableError

        try:
            light.on(rgb)
        except (LightUnavailableError, OSError) as err:
            self._problem.say(("lost", str(light)), f"{light} stopped answering"
                              f" ({err or type(err).__name__}); looking for it again")
            self.lights.remove(light)
            self._let_go(light, dark=False)
            return
        shown[id(light)] = rgb

    @staticmethod
    def _let_go(light: Light, *, dark: bool) -> None:
        from busylight_core import LightUnavailableError

        try:
            light.cancel_tasks()
            if dark:
                light.off()
            light.release()
        except (LightUnavailableError, OSError) as err:
            log.debug("USB light %s: %s while letting go", light, err)
