"""Times of the week in the site's time zone: agents' working hours, the looks' night.

Beacons have no clock, so the bridge decides what time it is: an agent outside their
working hours is ``away`` (:mod:`focuslight.sources.schedule`), and at night the
looks dim (:mod:`focuslight.outputs.looks`). Both read a :class:`Weekly` from the
config and ask it about *now* through an injectable clock, so tests move time
instead of sleeping.

A rule is ``[days] HH:MM-HH:MM``: days ``mon``..``sun``, a range ``mon-fri`` or a
list ``sat,sun`` (no days: every day); an end at or before the start runs past
midnight and belongs to the day it starts (``fri 22:00-06:00`` covers Saturday
02:00); ``24:00`` ends at midnight. A config writes one rule, a list of them, or a table
of days to times (``{mon-thu = "08:00-17:00", fri = ["08:00-12:00", "13:00-15:00"]}``).
Example::

    >>> hours = Weekly.parse(["mon-fri 08:00-17:00", "sat 09:00-12:00"])
    >>> from datetime import datetime
    >>> hours.contains(datetime(2026, 12, 5, 10, 30))   # a Saturday
    True
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RULE = re.compile(r"(?:([a-z,-]+) )?([0-2][0-9]):([0-5][0-9])-([0-2][0-9]):([0-5][0-9])")
MINUTES_PER_DAY = 24 * 60

Clock = Callable[[], datetime]
"""An aware ``datetime`` for now (default :func:`utc_now`): the seam tests move."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def zone(name: str | None) -> tzinfo | None:
    """The IANA zone *name* (``Europe/Berlin``); None: the machine's local zone.

    ValueError when the name is unknown (zone data: the system's
    /usr/share/zoneinfo, else the ``tzdata`` package).
    """
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def local(now: datetime, tz: tzinfo | None) -> datetime:
    """*now* as wall-clock time in *tz* (None: the machine's zone)."""
    return now.astimezone(tz)


@dataclass(frozen=True, slots=True)
class Rule:
    days: frozenset[int]
    """Weekdays it starts on, Monday = 0."""
    start: int
    """Minutes after midnight."""
    end: int
    """Minutes after midnight; at or before *start*: the next day."""

    def contains(self, weekday: int, minute: int) -> bool:
        if self.start < self.end:
            return weekday in self.days and self.start <= minute < self.end
        return ((weekday in self.days and minute >= self.start)
                or ((weekday - 1) % 7 in self.days and minute < self.end))


@dataclass(frozen=True, slots=True)
class Weekly:
    """Some times of the week: the union of its rules (see the module's doc)."""

    rules: tuple[Rule, ...]
    text: str

    @classmethod
    def parse(cls, spec: str | Iterable[str] | Mapping[str, object]) -> Weekly:
        """Read one rule, a list of them, or a table of days to times (each a time range or
        a list of them); ValueError says what is wrong."""
        if isinstance(spec, Mapping):
            spec = _from_table(spec)
        texts = [spec] if isinstance(spec, str) else list(spec)
        if not texts or not all(isinstance(t, str) for t in texts):
            raise ValueError("a rule like \"mon-fri 08:00-17:00\" or a list of them")
        return cls(tuple(_rule(t) for t in texts), ", ".join(texts))

    def contains(self, when: datetime) -> bool:
        """Is wall-clock time *when* inside?"""
        minute = when.hour * 60 + when.minute
        return any(rule.contains(when.weekday(), minute) for rule in self.rules)


def _from_table(table: Mapping[str, object]) -> list[str]:
    """``{"mon-thu": "08:00-17:00", "fri": [...]}`` as rules."""
    rules: list[str] = []
    for days, value in table.items():
        times = [value] if isinstance(value, str) else value
        if not isinstance(times, list) or not all(isinstance(t, str) for t in times):
            raise ValueError(f"{days}: a time range like \"08:00-17:00\" or a list of them")
        rules += [f"{days} {t}" for t in times]
    return rules


def seconds_to_next_minute(now: datetime) -> float:
    """Rules change only on the minute: how long to wait for the next one."""
    return 60 - now.second - now.microsecond / 1e6 + 0.01


def _rule(text: str) -> Rule:
    match = _RULE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not \"[days] HH:MM-HH:MM\" (e.g. \"mon-fri 08:00-17:00\")")
    days_text, h1, m1, h2, m2 = match.groups()
    start, end = int(h1) * 60 + int(m1), int(h2) * 60 + int(m2)
    if start >= MINUTES_PER_DAY or end > MINUTES_PER_DAY:
        raise ValueError(f"{text!r}: times run from 00:00 to 24:00")
    if start == end:
        raise ValueError(f"{text!r}: starts and ends at the same time")
    return Rule(_days(days_text, text) if days_text else frozenset(range(7)), start, end)


def _days(text: str, rule: str) -> frozenset[int]:
    days: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise ValueError(f"{rule!r}: days are {', '.join(DAYS)}, a range (mon-fri) or a"
                             " list (sat,sun)")
        a, b = DAYS.index(first), DAYS.index(last or first)
        days.update(d % 7 for d in range(a, b + 1 if b >= a else b + 8))
    return frozenset(days)
