"""Working hours through the source's clock seam: no sleeps, the clock moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from helpers.sources import RecordingSink

from focuslight.core.hours import Weekly, zone
from focuslight.sources.schedule import WorkingHours


class Clock:
    """Now, moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_away_outside_hours_in_the_sites_time_zone() -> None:
    # Monday 06:59 UTC is 07:59 in Berlin (winter): one minute before Alice starts
    clock = Clock(datetime(2026, 11, 30, 6, 59, tzinfo=UTC))
    source = WorkingHours({"alice": Weekly.parse("mon-fri 08:00-17:00"),
                           "bob": Weekly.parse("06:00-22:00")}, zone("Europe/Berlin"), clock)
    sink = RecordingSink()
    source.start(sink)
    try:
        assert sorted(sink.reports) == [("alice", "schedule", "away"),
                                        ("bob", "schedule", "available")]
        source.tick()
        assert len(sink.reports) == 2  # nothing changed, nothing said
        clock.now += timedelta(minutes=1)
        source.tick()
        assert sink.reports[-1] == ("alice", "schedule", "available")
        clock.now = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)  # 17:00 in Berlin
        source.tick()
        assert sink.reports[-1] == ("alice", "schedule", "away")
        assert sink.states("bob") == ["available"]
    finally:
        source.stop()
