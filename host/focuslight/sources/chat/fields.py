"""Reading a platform's JSON defensively: any field may be missing or of any type."""

from __future__ import annotations

from typing import Any

MAX_KEY_CHARS = 128


def table(value: object) -> dict[str, Any]:
    """*value* if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def key_of(value: object) -> str | None:
    """An id a platform sends as a number or a string, as a string; None for anything
    else (a bool, a float, a list, an empty or overlong string)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and 0 < len(value) <= MAX_KEY_CHARS:
        return value
    return None


def unix_time(value: object) -> float | None:
    """A platform's Unix time in seconds, or None (absent, 0, null, not a plain number)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1e11:
        return float(value)
    return None
