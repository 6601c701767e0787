"""A simulated contact centre: a seeded, scripted day of calls and walk-ups.

It lets ``focuslight demo`` and the benchmarks run with no PBX and no
sensors, and it behaves like real sources do: calls ring, are answered,
sometimes go on hold, end; walk-up customers are served without ringing;
agents take breaks. The same seed plays the same day.

``[[sources]]`` keys: ``agents`` (default: every configured agent),
``seed`` (1), ``speed`` (1.0 = real time; 10 = ten times faster),
``idle_s`` (mean seconds between contacts, 40), ``contact_s`` (mean
contact length, 60).
"""

from __future__ import annotations

import heapq
import logging
import random
import time
from collections.abc import Iterable, Iterator

from ..config_section import Section
from ..worker import Worker
from .base import Source, StatusSink

log = logging.getLogger(__name__)

Step = tuple[float, str]
"""(seconds to wait, state to report after the wait)."""


def agent_day(rng: random.Random, idle_s: float, contact_s: float) -> Iterator[Step]:
    """One agent's endless day: the states it passes through and how long each lasts."""
    yield 0.0, "available"
    while True:
        roll = rng.random()
        yield rng.expovariate(1 / idle_s), ("away" if roll < 0.05 else
                                            "engaged" if roll < 0.35 else "ringing")
        if roll < 0.05:  # a break
            yield rng.uniform(3, 6) * idle_s, "available"
            continue
        if roll >= 0.35:  # a call rings first, then is answered
            yield rng.uniform(2, 6), "engaged"
        length = rng.expovariate(1 / contact_s)
        if rng.random() < 0.2:
            yield length / 2, "hold"
            yield rng.uniform(5, 20), "engaged"
        yield length / 2 if length else 1.0, "available"


class SimulatedSource(Source):
    """Plays :func:`agent_day` for every agent from one thread.

    :param speed: time multiplier; the demo uses 1, tests use hundreds.
    """

    def __init__(self, name: str, agents: Iterable[str], *, seed: int = 1, speed: float = 1.0,
                 idle_s: float = 40.0, contact_s: float = 60.0) -> None:
        super().__init__(name, agents)
        self.seed, self.speed, self.idle_s, self.contact_s = seed, speed, idle_s, contact_s
        self._worker = Worker(f"source-{self.name}", self._play)

    def start(self, sink: StatusSink) -> None:
        self._worker.start(sink)

    def stop(self) -> None:
        self._worker.stop()

    def _play(self, sink: StatusSink) -> None:
        """Each agent's next (due time, state) waits on one heap; the earliest is reported."""
        start = time.monotonic()
        queue: list[tuple[float, int, str, Iterator[Step]]] = []
        for index, agent in enumerate(self.agents):
            day = agent_day(random.Random(f"{self.seed}/{agent}"), self.idle_s, self.contact_s)
            wait, state = next(day)
            heapq.heappush(queue, (start + wait / self.speed, index, state, day))
        while queue and not self._worker.stopping.is_set():
            due, index, state, day = queue[0]
            if self._worker.stopping.wait(max(0.0, due - time.monotonic())):
                return
            sink.report(self.agents[index], self.name, state)
            wait, following = next(day)
            heapq.heapreplace(queue, (due + wait / self.speed, index, following, day))


def from_config(section: Section, agents: tuple[str, ...]) -> SimulatedSource:
    return SimulatedSource(
        section.id("name", "simulated"),
        section.ids("agents", list(agents)),
        seed=section.int("seed", 1),
        speed=section.float("speed", 1.0, lo=0.01, hi=10_000),
        idle_s=section.float("idle_s", 40.0, lo=0.1),
        contact_s=section.float("contact_s", 60.0, lo=0.1))
