"""Working hours and the looks' night: rules, midnight, days, time zones."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from focuslight.core.hours import Weekly, local, seconds_to_next_minute, zone


@pytest.mark.parametrize(("spec", "when", "inside"), [
    ("mon-fri 08:00-17:00", datetime(2026, 11, 30, 8, 0), True),
    ("mon-fri 08:00-17:00", datetime(2026, 11, 30, 7, 59), False),
    ("mon-fri 08:00-17:00", datetime(2026, 11, 30, 17, 0), False),
    ("mon-fri 08:00-17:00", datetime(2026, 12, 5, 10, 0), False),  # Saturday
    ("20:00-07:00", datetime(2026, 12, 1, 6, 59), True),
    ("20:00-07:00", datetime(2026, 12, 1, 7, 0), False),
    ("20:00-07:00", datetime(2026, 12, 1, 23, 0), True),
    ("fri 22:00-06:00", datetime(2026, 12, 5, 2, 0), True),  # Saturday night, Friday's
    ("fri 22:00-06:00", datetime(2026, 12, 6, 2, 0), False),
    ("sat,sun 00:00-24:00", datetime(2026, 12, 6, 23, 59), True),
    ("fri-mon 12:00-13:00", datetime(2026, 11, 30, 12, 30), True),
    ("fri-mon 12:00-13:00", datetime(2026, 12, 1, 12, 30), False),
])
def test_rules(spec: str, when: datetime, inside: bool) -> None:
    assert Weekly.parse(spec).contains(when) is inside


def test_a_list_or_a_table_of_rules_is_their_union() -> None:
    hours = Weekly.parse(["mon-thu 08:00-17:00", "fri 08:00-13:00"])
    assert hours.contains(datetime(2026, 12, 4, 12, 0))
    assert not hours.contains(datetime(2026, 12, 4, 14, 0))
    table = Weekly.parse({"mon-thu": "08:00-17:00", "fri": ["08:00-12:00", "13:00-15:00"]})
    assert table.contains(datetime(2026, 12, 4, 13, 30))  # Friday afternoon
    assert not table.contains(datetime(2026, 12, 4, 12, 30))  # Friday lunch
    assert table.contains(datetime(2026, 12, 3, 16, 0))


@pytest.mark.parametrize("spec", ["8-17", "mon-fri 8:00-17:00", "mo 08:00-17:00",
                                  "08:00-08:00", "08:00-25:00", "24:00-02:00", [], [3], "",
                                  {}, {"fri": 3}, {"fri": [3]}, {"friday": "08:00-12:00"}])
def test_bad_rules_say_what_is_wrong(spec: object) -> None:
    with pytest.raises(ValueError):
        Weekly.parse(spec)  # type: ignore[arg-type]


def test_time_zones_and_the_minute() -> None:
    berlin = zone("Europe/Berlin")
    noon_utc = datetime(2026, 7, 1, 12, 0, 30, tzinfo=UTC)
    assert local(noon_utc, berlin).hour == 14  # summer time
    assert Weekly.parse("14:00-15:00").contains(local(noon_utc, berlin))
    assert seconds_to_next_minute(noon_utc) == pytest.approx(30.01)
    with pytest.raises(ValueError, match="unknown time zone"):
        zone("Mars/Olympus")
