"""The focus guard's journal: written before a change, read back by the next guard, and an
unreadable one set aside with one log line instead of a crash loop."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from focuslight.desk.journal import Change, Journal


def test_what_is_recorded_is_read_back_by_the_next_guard(tmp_path: Path) -> None:
    path = tmp_path / "state" / "desk-alice.json"
    journal = Journal(path)
    journal.record("dunst", "false", "true")
    journal.record("gnome", "true", "false")
    assert Journal(path).entries() == {"dunst": Change("false", "true"),
                                       "gnome": Change("true", "false")}
    journal.forget("dunst")
    journal.forget("dunst")  # twice is harmless
    assert Journal(path).entries() == {"gnome": Change("true", "false")}


def test_a_journal_that_cannot_be_written_refuses_the_change(tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file where the directory should be")
    journal = Journal(blocker / "desk-alice.json")
    with pytest.raises(OSError):
        journal.record("dunst", "false", "true")
    assert journal.entries() == {}


@pytest.mark.parametrize("text", ["{not json", '{"v": 2, "changed": {}}', "[]",
                                  '{"v": 1, "changed": {"dunst": {"before": 1, "set": "x"}}}',
                                  '{"v": 1, "changed": {"dunst": {}}}', "\udcff"])
def test_an_unreadable_journal_is_set_aside_once(tmp_path: Path, text: str,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "desk-alice.json"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    with caplog.at_level(logging.ERROR):
        assert Journal(path).entries() == {}
    assert len(caplog.records) == 1 and "check your notification settings" in caplog.text
    assert not path.exists() and path.with_name(path.name + ".unreadable").exists()
    assert Journal(path).entries() == {}  # and the next start is quiet
    assert len(caplog.records) == 1


def test_the_file_says_what_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "desk-alice.json"
    Journal(path).record("gnome", "true", "false")
    assert json.loads(path.read_text()) == {"v": 1, "changed": {
        "gnome": {"before": "true", "set": "false"}}}


def test_one_guard_holds_the_journal_at_a_time(tmp_path: Path) -> None:
    from focuslight.desk.journal import Busy

    path = tmp_path / "desk.json"
    first, second = Journal(path), Journal(path)
    first.hold()
    with pytest.raises(Busy, match=r"another focuslight desk \(pid \d+\) guards this desktop"):
        second.hold()
    first.release()
    second.hold()  # free again once the first lets go (or dies: the kernel lets go)
    second.release()


def test_hold_reads_what_was_written_before_it(tmp_path: Path) -> None:
    path = tmp_path / "desk.json"
    waiting = Journal(path)  # built before a guard that is dying wrote its last change
    Journal(path).record("dunst", "false", "true")
    waiting.hold()
    assert waiting.entries() == {"dunst": Change("false", "true")}
    waiting.release()
