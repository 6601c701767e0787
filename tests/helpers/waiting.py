"""Wait for a condition instead of sleeping a fixed time (tests stay fast and unflaky)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from focuslight.tools.virtual_beacon import VirtualBeacon


def wait_until(condition: Callable[[], object], timeout: float = 20.0,
               step: float = 0.02) -> None:
    """Poll *condition* every *step* seconds until it is true; fail the test after
    *timeout* seconds. Example: ``wait_until(lambda: service.link.connected)``."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"condition not met within {timeout} s"
        time.sleep(step)


def wait_event(beacon: VirtualBeacon, kind: str, text: str, timeout: float = 15.0) -> str:
    """The first event of *kind* (``log``, ``look``, …) whose value contains *text* from a
    virtual beacon, skipping the others; ``queue.Empty`` after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got, value = beacon.events.get(timeout=max(0.01, deadline - time.monotonic()))
        if got == kind and text in str(value):
            return str(value)
