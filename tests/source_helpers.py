"""Test doubles for the sources' two seams: the clock and the status sink.

``FakeClock`` implements :class:`focuslight.sources.timing.Clock`; time moves
only when a test calls :meth:`FakeClock.advance`, and :meth:`FakeClock.settle`
waits until the source's worker has seen everything that happened so far, so
"nothing changed" can be asserted without sleeping.
"""

from __future__ import annotations

import threading
import time


class FakeClock:
    """Hand-driven monotonic time for one or more source worker threads."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start
        self._cond = threading.Condition()
        self._sleepers: dict[int, tuple[float | None, threading.Event]] = {}

    def now(self) -> float:
        with self._cond:
            return self.t

    def sleep_until(self, deadline: float | None, wake: threading.Event) -> None:
        me = threading.get_ident()
        with self._cond:
            self._sleepers[me] = (deadline, wake)
            self._cond.notify_all()
            while not wake.is_set() and (deadline is None or self.t < deadline):
                self._cond.wait(0.005)  # wake is a plain Event: poll it
            del self._sleepers[me]
            self._cond.notify_all()

    def advance(self, seconds: float, workers: int = 1) -> None:
        with self._cond:
            self.t += seconds
            self._cond.notify_all()
        self.settle(workers)

    def settle(self, workers: int = 1, timeout: float = 10.0) -> None:
        """Wait until *workers* threads sleep with nothing due and no wake-up pending."""
        end = time.monotonic() + timeout
        with self._cond:
            while not self._idle(workers):
                if time.monotonic() > end:
                    raise AssertionError("source worker did not settle")
                self._cond.wait(0.005)

    def _idle(self, workers: int) -> bool:
        sleepers = list(self._sleepers.values())
        return len(sleepers) >= workers and all(
            not wake.is_set() and (deadline is None or self.t < deadline)
            for deadline, wake in sleepers)


class RecordingSink:
    """A StatusSink that keeps every report, in order."""

    def __init__(self) -> None:
        self.reports: list[tuple[str, str, str]] = []
        self._cond = threading.Condition()

    def report(self, agent: str, source: str, state: str) -> None:
        with self._cond:
            self.reports.append((agent, source, state))
            self._cond.notify_all()

    def states(self, agent: str | None = None) -> list[str]:
        with self._cond:
            return [s for a, _, s in self.reports if agent is None or a == agent]

    def wait_for(self, state: str, agent: str | None = None, timeout: float = 10.0) -> None:
        """Wait (real time) until the latest report for *agent* is *state*."""
        end = time.monotonic() + timeout
        with self._cond:
            while not (self.states(agent) and self.states(agent)[-1] == state):
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"never saw {state!r}; reports: {self.reports}")
                self._cond.wait(left)
