"""The walk-up counter: a Raspberry Pi's switches and sensors as one agent's state.

A counter is served by whoever stands behind it; the Pi marks it ``engaged``
while a customer is being served so the next one knows to wait and
colleagues don't interrupt. Any mix of inputs says "someone is here":

* buttons (gpiozero :class:`~gpiozero.Button`): a foot switch, a bell
  button, a pressure mat. ``mode = "hold"`` means present while pressed;
  ``mode = "toggle"`` means each press flips one shared "serving" latch (the
  bell starts it, the foot switch ends it);
* a PIR (:class:`~gpiozero.MotionSensor`): present while it sees motion;
* an HC-SR04 (:class:`~gpiozero.DistanceSensor`): present while something is
  within ``within_m`` metres.

Raw presence goes through :class:`~focuslight.sources.timing.Hysteresis`:
``engaged`` after ``arrive_s`` of steady presence, ``available`` after
``depart_s`` of steady absence, optionally ``ringing`` while an arrival is
pending.

An optional **queue-zone sensor** (``[sources.queue]``: a PIR or an HC-SR04
looking at where people wait) sees a customer waiting: present for ``wait_s``
while nobody is being served at the counter, the counter asks for the
``customer_waiting`` cue (:class:`~focuslight.sources.base.Attention`, with
when the customer began waiting). The bridge shows it only while the agent is
busy elsewhere (the phone, a chat, away…: :mod:`focuslight.core.policy`), on the
beacon and the floor board, so a coworker can step in.

Pins come from gpiozero's default pin factory (lgpio on a Pi; set
``GPIOZERO_PIN_FACTORY`` to choose another, ``mock`` for a dry run).

If gpiozero cannot open a pin (no GPIO chip, pin busy, sensor gone) the
counter logs one line, reads ``unknown`` and tries again every ``retry_s``.

Example ``focuslight.toml``::

    [[sources]]
    type = "counter"
    agent = "counter-1"
    arrive_s = 1.0
    depart_s = 5.0
    ringing = true
    [sources.foot_switch]          # GPIO17 unless pin = N
    [sources.distance]             # trigger GPIO23, echo GPIO24
    within_m = 0.8
    [sources.queue]                # the queue zone: a PIR on GPIO5
    sensor = "pir"
    pin = 5
"""

from __future__ import annotations

import logging
import math
import threading
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gpiozero import (
    Button,
    DistanceSensor,
    GPIOZeroError,
    MotionSensor,
    PWMSoftwareFallback,
)
from gpiozero.mixins import EventsMixin

from ..config_section import Section
from ..protocol import CUSTOMER_WAITING
from ..state import WalkUps
from ..worker import Worker
from .base import Attention, Source, StatusSink, configured_agents
from .timing import Clock, Hysteresis

log = logging.getLogger(__name__)

DEFAULT_PINS: dict[str, int] = {
    "foot_switch": 17,
    "bell": 27,
    "pir": 4,
    "trigger": 23,
    "echo": 24,
}
"""BCM GPIO numbers used when a table leaves ``pin`` out (hardware/ wiring uses these)."""

BUTTON_ROLES = ("foot_switch", "bell", "mat")
"""Button tables a counter understands; ``mat`` (pressure mat) has no default pin."""
INPUT_ROLES = (*BUTTON_ROLES, "pir", "distance")
QUEUE = "queue"
"""The role of the queue-zone sensor: it says who waits, not who is served."""
RECHECK_S = 1.0
"""Re-read every input this often, in case an edge was missed."""
SETTLE_S = 3.0
"""Real seconds a sampled sensor (PIR, HC-SR04) gets to deliver its first
reading after opening; an HC-SR04 without echo never does (unplugged)."""
OPEN_ERRORS = (GPIOZeroError, OSError, RuntimeError)
"""What opening a pin raises: gpiozero's own errors, or the pin library's
(``/dev/gpiochip0`` missing, no permission, busy line)."""


class SensorSilent(Exception):
    """A sensor opened fine but never delivered a reading (an HC-SR04 without echo)."""

    def __init__(self, spec: Input) -> None:
        super().__init__(spec.role)
        self.spec = spec


class WatchedDistanceSensor(DistanceSensor):
    """A :class:`~gpiozero.DistanceSensor` that remembers when it last heard an echo.

    gpiozero drops missing echoes and keeps its last smoothed reading, so an
    HC-SR04 unplugged while running would otherwise freeze the counter in
    whatever state it was in; :attr:`last_echo` lets the counter notice.
    """

    last_echo: float = -math.inf
    """``time.monotonic()`` of the last good reading."""

    def _read(self) -> float | None:
        value = super()._read()
        if value is not None:
            self.last_echo = time.monotonic()
        return value


class Input(ABC):
    """One physical input; it knows how to open its gpiozero device and read presence."""

    role: str
    toggle: bool = False
    bounce_s: float = 0.0

    @abstractmethod
    def open(self) -> EventsMixin:
        """Create the gpiozero device (pins from the default pin factory)."""

    @abstractmethod
    def pins(self) -> dict[str, int]:
        """The BCM GPIO numbers this input holds, by what they are for."""

    def present(self, device: Any) -> bool:
        """Presence as of the device's last event; never blocks on a sensor still settling."""
        return bool(device.wait_for_active(0))

    def settled(self, device: Any) -> bool:
        """Whether the device has a first reading (gpiozero fires no edge for it)."""
        return bool(device.wait_for_active(0) or device.wait_for_inactive(0))

    def alive(self, device: Any) -> bool:
        """Whether the device still answers; only sensors with an echo can tell."""
        return True


@dataclass(frozen=True, slots=True)
class ButtonInput(Input):
    """A contact to ground (foot switch, bell button, pressure mat) on *pin*.

    :param toggle: each press flips the counter's serving latch instead of
        meaning "present while pressed".
    :param bounce_s: in toggle mode, a press counts only after the contact was
        quiet this long, so one chattering press is one press.
    """

    role: str
    pin: int
    pull_up: bool = True
    toggle: bool = False
    bounce_s: float = 0.05

    def open(self) -> EventsMixin:
        return Button(self.pin, pull_up=self.pull_up)

    def pins(self) -> dict[str, int]:
        return {"pin": self.pin}


@dataclass(frozen=True, slots=True)
class MotionInput(Input):
    """A PIR sensor's output on *pin* (high while it sees motion)."""

    role: str
    pin: int

    def open(self) -> EventsMixin:
        return MotionSensor(self.pin)

    def pins(self) -> dict[str, int]:
        return {"pin": self.pin}


@dataclass(frozen=True, slots=True)
class DistanceInput(Input):
    """An HC-SR04: present while the echo says something is within *within_m* metres."""

    role: str
    trigger: int
    echo: int
    within_m: float = 1.0
    max_m: float = 2.0

    def open(self) -> EventsMixin:
        with warnings.catch_warnings():
            # Software timing is ample for "is someone within a metre".
            warnings.simplefilter("ignore", PWMSoftwareFallback)
            return WatchedDistanceSensor(echo=self.echo, trigger=self.trigger,
                                         max_distance=self.max_m,
                                         threshold_distance=self.within_m)

    def pins(self) -> dict[str, int]:
        return {"trigger": self.trigger, "echo": self.echo}

    def present(self, device: Any) -> bool:
        return bool(device.wait_for_in_range(0))

    def alive(self, device: Any) -> bool:
        return time.monotonic() - device.last_echo <= SETTLE_S


class CounterSource(Source):
    """Reports one counter agent from a set of :class:`Input`.

    :param name: source id in status payloads (default ``"counter"``).
    :param agent: the agent id the counter shows as (``"counter-1"``).
    :param inputs: the inputs; any present one means "someone is here".
    :param hysteresis: the arrive/depart rules.
    :param retry_s: seconds between attempts to open pins that failed.
    :param queue: the queue-zone sensor (role ``queue``), or None.
    :param waiting: its rule: ``engaged`` once someone has stood in the zone for its
        ``arrive_s`` (the ``wait_s`` key), gone after ``depart_s`` (``leave_s``).
    :param clock: time seam for tests. :param wall: Unix time, for ``waiting_since``.
    """

    def __init__(self, name: str, agent: str, inputs: list[Input], hysteresis: Hysteresis,
                 *, retry_s: float = 30.0, queue: Input | None = None,
                 waiting: Hysteresis | None = None, clock: Clock | None = None,
                 wall: Callable[[], float] = time.time) -> None:
        super().__init__(name, [agent])
        self.agent, self.inputs, self.hysteresis = agent, inputs, hysteresis
        self.queue, self.waiting = queue, waiting or Hysteresis(10.0, 5.0)
        self.wall = wall
        self._asked: Attention | None = None
        self.retry_s = retry_s
        self.clock = clock or Clock()
        self._devices: list[tuple[Input, Any]] | None = None
        self._latched = False
        self._last_edge: dict[str, float] = {}
        self._failure: str | None = None
        self._reported: str | None = None
        self._sink: StatusSink | None = None
        self.walkups: WalkUps | None = None
        """Times the counter's walk-up contacts for the sign's "about N min"; the bridge
        (:class:`focuslight.app.Service`) gives it one before the start."""
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._worker = Worker(f"counter-{self.name}", self._run, wake=(self._wake.set,))

    def start(self, sink: StatusSink) -> None:
        self._sink = sink
        self._worker.start()

    def stop(self) -> None:
        self._worker.stop()
        self._close()

    # -- worker ---------------------------------------------------------------------

    def _run(self) -> None:
        while not self._worker.stopping.is_set():
            now = self.clock.now()
            if (self._devices is None and not self._open()) or self._went_silent():
                deadline = now + self.retry_s
            else:
                deadline = self._evaluate(now)
            self.clock.sleep_until(deadline, self._wake)
            self._wake.clear()

    def _went_silent(self) -> bool:
        """A sensor that stopped answering (HC-SR04 unplugged): close all, read unknown."""
        for spec, device in self._devices or []:
            if not spec.alive(device):
                self._close()
                self._fail(_silent(spec))
                return True
        return False

    def _open(self) -> bool:
        devices: list[tuple[Input, Any]] = []
        try:
            for spec in [*self.inputs, *([self.queue] if self.queue else [])]:
                device = spec.open()
                devices.append((spec, device))
                device.when_activated = self._edge_handler(spec, True)
                device.when_deactivated = self._edge_handler(spec, False)
            self._settle(devices)
        except SensorSilent as err:
            why = _silent(err.spec)
        except OPEN_ERRORS as err:
            why = f"cannot open {spec.role} ({_pins(spec)}): {type(err).__name__}: {err}"
        else:
            if self._failure is not None:
                log.info("counter %s: inputs open again", self.name)
                self._failure = None
            with self._lock:
                self._devices = devices
            return True
        for _, device in devices:
            device.close()
        self._fail(why)
        return False

    def _settle(self, devices: list[tuple[Input, Any]]) -> None:
        """Wait (real time: gpiozero samples in real time) for every first reading."""
        end = time.monotonic() + SETTLE_S
        for spec, device in devices:
            while not spec.settled(device) and not self._worker.stopping.is_set():
                if time.monotonic() > end:
                    raise SensorSilent(spec)
                time.sleep(0.02)

    def _fail(self, why: str) -> None:
        if why != self._failure:
            log.error("counter %s: %s; %s reads unknown, retrying every %g s",
                      self.name, why, self.agent, self.retry_s)
            self._failure = why
        self._report("unknown")
        self._ask(None)

    def _evaluate(self, now: float) -> float:
        with self._lock:
            self._sense(now)
            state = self.hysteresis.state(now)
            waits = self.waiting.state(now) == "engaged"
            since = self.wall() - (now - self.waiting.changed_at)
            deadline = min(self.hysteresis.deadline() or math.inf,
                           self.waiting.deadline() or math.inf)
        self._report(state)
        # a customer waits while nobody is being served here: the agent is elsewhere
        self._ask(since if waits and state != "engaged" else None)
        return min(deadline, now + RECHECK_S)

    def _sense(self, now: float) -> None:
        """Feed both hystereses the presence seen at *now*; caller holds the lock."""
        devices = self._devices or []
        present = self._latched or any(spec.present(device) for spec, device in devices
                                       if not spec.toggle and spec.role != QUEUE)
        self.hysteresis.update(present, now)
        self.waiting.update(any(spec.present(device) for spec, device in devices
                                if spec.role == QUEUE), now)

    def _edge_handler(self, spec: Input, active: bool) -> Callable[[], None]:
        def handler() -> None:
            self._edge(spec, active)
        return handler

    def _edge(self, spec: Input, active: bool) -> None:
        """Called from gpiozero's threads on every edge; presence is timed here, not later."""
        now = self.clock.now()
        with self._lock:
            quiet = now - self._last_edge.get(spec.role, -math.inf) >= spec.bounce_s
            self._last_edge[spec.role] = now
            if spec.toggle and active and quiet:
                self._latched = not self._latched
            self._sense(now)
        self._wake.set()

    def _report(self, state: str) -> None:
        if state != self._reported and self._sink is not None:
            self._reported = state
            self._sink.report(self.agent, self.name, state)
            if self.walkups is not None:
                self.walkups.observe(state)

    def _ask(self, waiting_since: float | None) -> None:
        """Ask for the ``customer_waiting`` cue (a customer waiting since *waiting_since*,
        Unix s), or stop asking (None); told to the sink only when that changes."""
        if (waiting_since is None) == (self._asked is None) or self._sink is None:
            return
        ask = None if waiting_since is None else Attention(CUSTOMER_WAITING, waiting_since)
        self._asked = ask
        self._sink.attention(self.agent, self.name, ask)

    def _close(self) -> None:
        with self._lock:
            devices, self._devices = self._devices or [], None
        for _, device in devices:
            device.close()


def _silent(spec: Input) -> str:
    """The one message for a sensor that gives no readings, at open or later."""
    return f"{spec.role} ({_pins(spec)}) gives no reading for {SETTLE_S:g} s, unplugged?"


def _pins(spec: Input) -> str:
    return ", ".join(f"{what} GPIO{pin}" for what, pin in spec.pins().items())


# -- config ---------------------------------------------------------------------------

def from_config(section: Section, agents: tuple[str, ...]) -> CounterSource:
    """Build a counter from its ``[[sources]]`` table (keys in docs/sources.md)."""
    name = section.id("name", "counter")
    agent = configured_agents(section, "agent", agents)[0]
    hysteresis = Hysteresis(section.float("arrive_s", 1.0, lo=0, hi=600),
                            section.float("depart_s", 5.0, lo=0, hi=3600),
                            section.bool("ringing", False))
    retry_s = section.float("retry_s", 30.0, lo=1, hi=3600)
    inputs = [_input(section.section(role), role) for role in INPUT_ROLES
              if section.has(role)]
    if not inputs:
        raise section.error("foot_switch", "at least one input table: "
                            + ", ".join(f"[sources.{r}]" for r in INPUT_ROLES))
    queue, waiting = None, None
    if section.has(QUEUE):
        table = section.section(QUEUE)
        waiting = Hysteresis(table.float("wait_s", 10.0, lo=0, hi=600),
                             table.float("leave_s", 5.0, lo=0, hi=600))
        queue = _input(table, QUEUE, table.str("sensor", "pir", choices=("pir", "distance")))
    _check_distinct_pins(section, [*inputs, *([queue] if queue else [])])
    return CounterSource(name, agent, inputs, hysteresis, retry_s=retry_s, queue=queue,
                         waiting=waiting)


def _input(table: Section, role: str, kind: str | None = None) -> Input:
    """One input table; *kind* (``pir``, ``distance``) for the queue sensor, whose pins
    have no defaults (the counter's defaults are taken by the counter's own sensors)."""
    spec: Input
    kind = kind or role
    pins = DEFAULT_PINS if role != QUEUE else {}
    if kind == "distance":
        within = table.float("within_m", 1.0, lo=0.02, hi=4.0)
        spec = DistanceInput(role, _pin(table, "trigger", pins.get("trigger")),
                             _pin(table, "echo", pins.get("echo")), within,
                             table.float("max_m", max(2.0, within), lo=within, hi=4.0))
    elif kind == "pir":
        spec = MotionInput(role, _pin(table, "pin", pins.get("pir")))
    else:
        mode = table.str("mode", "hold", choices=("hold", "toggle"))
        spec = ButtonInput(role, _pin(table, "pin", DEFAULT_PINS.get(role)),
                           table.bool("pull_up", True), mode == "toggle",
                           table.float("bounce_s", 0.05, lo=0, hi=2))
    table.finish()
    return spec


def _pin(table: Section, key: str, default: int | None) -> int:
    if default is None:
        return table.int(key, lo=0, hi=27)
    return table.int(key, default, lo=0, hi=27)


def _check_distinct_pins(section: Section, inputs: list[Input]) -> None:
    seen: dict[int, str] = {}
    for spec in inputs:
        for pin in spec.pins().values():
            if pin in seen:
                raise section.error(spec.role, f"a pin not already used by {seen[pin]}",
                                    f"GPIO{pin}")
            seen[pin] = spec.role
