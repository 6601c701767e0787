"""Off-the-shelf USB busy lights (Kuando, Embrava, Luxafor, blink(1), CompuLab …) as beacons.

An agent who has a USB busy light on the desk needs no beacon: ``focuslight desk`` drives
it with `busylight-core <https://pypi.org/project/busylight-core/>`_ (in the optional
``desk`` extra), which knows each vendor's protocol behind one ``Light``
class. It shows what a beacon shows (:mod:`focuslight.protocol.looks`): the site's set of looks
when the guard follows one (``<prefix>/looks/<name>``, night dimming included; the built-in
set until a valid one arrives), the reply-due or customer-waiting cue blipped over the
state, no blink above 3 flashes a second, ``unknown`` never green — animated here (a
:class:`Scene` per moment), since few of these lights can animate by themselves.

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
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..logs import Problem
from ..protocol.looks import DEFAULT, OFF, PULSE, RGB, RHYTHMS, SOLID, Cue, Look, LookSet
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


def _now_ms() -> int:
    return int(time.monotonic() * 1000)


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


CUE_PERIOD_MS = 2000
"""A cue's blips repeat every 2 s (:class:`~focuslight.protocol.looks.Cue`), as on a beacon."""


class Scene:
    """What a light shows at each moment: a state's look from a set of looks, and the
    state's cue (if any) blipped over it — exactly as a beacon draws them
    (``firmware/beacon/look.py``): a cue only over a solid or pulsing look, in its rhythm's
    blips every :data:`CUE_PERIOD_MS`, and nothing at all over ``unknown`` (a status that
    cannot be believed asks nothing of the agent).

    :param looks: the set (a site's, or :data:`~focuslight.protocol.looks.DEFAULT`).
    :param brightness: 0..1, times the set's own brightness (the site's night dimming).
    :param available_off: show ``available`` dark instead of the set's look.
    """

    def __init__(self, looks: LookSet = DEFAULT, brightness: float = 1.0,
                 available_off: bool = False) -> None:
        self.base, self.available_off = brightness, available_off
        self.state, self.cue = UNKNOWN, None
        self.state_ms = self.cue_ms = 0
        self.use(looks, 0)

    def use(self, looks: LookSet, now_ms: int) -> None:
        """Show the states with *looks* from *now_ms* on."""
        self.looks = looks
        self.state_ms = self.cue_ms = now_ms

    def show(self, state: str, cue: str | None, now_ms: int) -> bool:
        """*state* (and *cue*, a cue name or None) from *now_ms* on; False if unchanged."""
        if state == UNKNOWN:
            cue = None
        changed = False
        if state != self.state:
            self.state, self.state_ms, changed = state, now_ms, True
        if cue != self.cue:
            self.cue, self.cue_ms, changed = cue, now_ms, True
        return changed

    @property
    def look(self) -> Look:
        if self.state == "available" and self.available_off:
            return OFF
        return self.looks.looks[self.state]

    def _cue(self) -> Cue | None:
        """The cue drawn now (None: none asked, unknown to this set, or the look blinks)."""
        if self.cue is None or self.look.pattern not in (SOLID, PULSE):
            return None
        return self.looks.cues.get(self.cue)

    def rgb(self, now_ms: int) -> RGB:
        bright = self.base * self.looks.brightness / 100
        cue = self._cue()
        if cue is not None and _in_blip(RHYTHMS[cue.rhythm], now_ms - self.cue_ms):
            return Look(cue.colour, cue.rgb).rgb_at(0, bright)
        return self.look.rgb_at(now_ms - self.state_ms, bright)

    def wait_ms(self, now_ms: int) -> int | None:
        """How long until :meth:`rgb` may change (None: not until the scene does)."""
        waits = []
        step = self.look.changes_every_ms()
        if step is not None:
            waits.append(step - (now_ms - self.state_ms) % step)
        cue = self._cue()
        if cue is not None:
            phase = (now_ms - self.cue_ms) % CUE_PERIOD_MS
            waits.append(min(e for e in (*RHYTHMS[cue.rhythm], CUE_PERIOD_MS) if e > phase)
                         - phase)
        return min(waits) if waits else None


def _in_blip(blips: tuple[int, ...], age_ms: int) -> bool:
    """Is *age_ms* after the cue started inside one of its (start, end) blips?"""
    phase = age_ms % CUE_PERIOD_MS
    return any(start <= phase < end for start, end in zip(blips[::2], blips[1::2],
                                                           strict=True))


class UsbLights:
    """Shows the agent's state on every USB busy light found.

    :param path: drive only the light at this device path (``/dev/hidraw3``,
        ``/dev/ttyACM0``); default: every light found.
    :param brightness: 0..1, scales every colour (these lights are bright on a desk).
    :param available_off: show ``available`` dark instead of dim green.
    :param find: how lights are found (``find(path) → [Light]``); busylight-core's
        discovery by default.
    :param retry_s: seconds between looks for a light while none answers.
    """

    def __init__(self, path: str | None = None, brightness: float = 1.0,
                 available_off: bool = False,
                 find: Callable[[str | None], list[Light]] = find_lights,
                 retry_s: float = RETRY_S) -> None:
        self.path, self.find, self.retry_s = path, find, retry_s
        self.lights: list[Light] = []
        self.scene = Scene(DEFAULT, brightness, available_off)
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

    def show(self, state: str, cue: str | None = None) -> None:
        """Show *state* (with *cue* over it) from now on; returns at once (the light's
        thread writes)."""
        with self._lock:
            changed = self.scene.show(state, cue, _now_ms())
        if changed:
            log.debug("USB light: %s%s", state, f" with cue {cue}" if cue else "")
            self._wake.set()

    def use(self, looks: LookSet) -> None:
        """Show every state with *looks* (a site's set) from now on."""
        with self._lock:
            self.scene.use(looks, _now_ms())
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
            self._wake.clear()  # before reading the scene: a show() after this wakes the wait
            with self._lock:
                now = _now_ms()
                rgb, wait = self.scene.rgb(now), self.scene.wait_ms(now)
            for light in list(self.lights):
                if shown.get(id(light)) != rgb:
                    self._write(light, rgb, shown)
            self._wake.wait(None if wait is None else wait / 1000)

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
