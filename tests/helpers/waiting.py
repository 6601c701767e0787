"""Wait for a condition instead of sleeping a fixed time (tests stay fast and unflaky)."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], timeout: float = 20.0,
               step: float = 0.02) -> None:
    """Poll *condition* every *step* seconds until it is true; fail the test after
    *timeout* seconds. Example: ``wait_until(lambda: service.link.connected)``."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"condition not met within {timeout} s"
        time.sleep(step)
