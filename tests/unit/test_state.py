"""What the bridge keeps on disk: a walk-up counter's recent contact lengths (WalkUps)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from focuslight.protocol.expected import Expected
from focuslight.state import LAST_CONTACTS, MIN_CONTACT_S, WalkUps


class Wall:
    """Unix time moved by hand."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def serve(walkups: WalkUps, wall: Wall, *lengths: float, end: str = "available") -> None:
    """Serve one customer per length: engaged, then *end* that many seconds later."""
    for length in lengths:
        walkups.observe("engaged")
        wall.now += length
        walkups.observe(end)
        wall.now += 30


def test_the_typical_length_is_the_median_of_recent_contacts(tmp_path: Path) -> None:
    wall, seen = Wall(), []
    walkups = WalkUps(tmp_path / "w.json", seen.append, wall=wall)
    serve(walkups, wall, 200, 400)
    assert walkups.expected() == Expected(None, 2)  # too few contacts for a number
    serve(walkups, wall, 3600)  # one customer who stayed an hour moves a median one place
    assert walkups.expected().typical_s == 400
    walkups.observe("engaged")
    assert seen[-1] == Expected(400, 3, wall.now)
    assert seen[-1].ends_at() == wall.now + 400
    walkups.observe("engaged")  # the same contact: no new start, no new message
    assert len(seen) == 7


def test_passers_by_and_lost_sensors_are_not_contacts(tmp_path: Path) -> None:
    wall = Wall()
    walkups = WalkUps(tmp_path / "w.json", wall=wall)
    serve(walkups, wall, MIN_CONTACT_S - 1)            # somebody walked past the PIR
    serve(walkups, wall, 300, end="unknown")           # when did it end? nobody knows
    serve(walkups, wall, 300, end="wrap_up")
    assert walkups.expected() == Expected(None, 1)
    walkups.observe("available")  # nothing being served: nothing changes
    assert walkups.expected().serving_since is None


def test_only_the_last_contacts_count_and_they_outlive_a_restart(tmp_path: Path) -> None:
    wall, path = Wall(), tmp_path / "state" / "walkups-counter-1-main.json"
    walkups = WalkUps(path, wall=wall)
    serve(walkups, wall, *[60] * LAST_CONTACTS, *[600] * (LAST_CONTACTS // 2 + 1))
    assert walkups.expected() == Expected(600, LAST_CONTACTS)
    again = WalkUps(path, wall=wall)
    assert again.expected() == Expected(600, LAST_CONTACTS)
    assert json.loads(path.read_text())["contacts"][-1] == 600


@pytest.mark.parametrize("body", ['{"contacts": [60, "x"]}', '{"contacts": [1e999]}',
                                  '[60, 60, 60]', '{"contacts": [-5]}', "{not json", '\xff'])
def test_a_corrupt_file_costs_a_log_line_not_the_bridge(tmp_path: Path, body: str,
                                                        caplog) -> None:
    path = tmp_path / "walkups.json"
    path.write_text(body)
    with caplog.at_level(logging.WARNING):
        walkups = WalkUps(path, seed=[100, 100, 100])
    assert walkups.expected() == Expected(100, 3)  # the seed, as if there were no file
    assert [r.getMessage() for r in caplog.records if "ignored unreadable" in r.getMessage()]


def test_without_a_file_it_keeps_memory_only() -> None:
    wall = Wall()
    walkups = WalkUps(None, seed=[120, 180, 240], wall=wall)
    serve(walkups, wall, 600)
    assert walkups.expected() == Expected(210, 4)
