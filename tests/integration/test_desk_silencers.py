"""The notification silencers against the real things: dunst under Xvfb on a private session
bus, GNOME's real schema on a gsettings keyfile backend, and a Plasma stand-in speaking
Inhibit/UnInhibit on the bus. Each test asserts the desktop's own setting, read back with
the desktop's own tool (``dunstctl``, ``gsettings``, the server's ``Inhibited``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.desktop import Session

from focuslight.desk.journal import Journal
from focuslight.desk.silencers import Dunst, Gnome, Kde, Silencers


@pytest.fixture
def session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Session]:
    """A private desktop session; its variables are this process's too (the silencers run
    ``dunstctl``/``gsettings`` and open the bus from the environment, as on a desktop)."""
    desktop = Session(tmp_path)
    desktop.start_bus()
    yield desktop
    desktop.close()


def _enter(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in session.vars.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "state" / "desk-alice.json")


@pytest.fixture
def dunst(session: Session, monkeypatch: pytest.MonkeyPatch) -> Session:
    session.start_screen()
    session.start_dunst()
    _enter(session, monkeypatch)
    return session


@pytest.fixture
def gnome(session: Session, monkeypatch: pytest.MonkeyPatch) -> Session:
    session.use_gnome_keyfile()
    _enter(session, monkeypatch)
    return session


@pytest.fixture
def plasma(session: Session, monkeypatch: pytest.MonkeyPatch) -> Session:
    session.start_plasma_stand_in()
    _enter(session, monkeypatch)
    return session


def test_dunst_is_paused_and_given_back(dunst: Session, journal: Journal) -> None:
    silencers = Silencers([Dunst(journal)], journal)
    assert dunst.dunst_paused() == "false"
    assert silencers.silence() == ["dunst"]
    assert dunst.dunst_paused() == "true"
    on_disk = json.loads(journal.path.read_text())  # written before the change
    assert on_disk["changed"] == {"dunst": {"before": "false", "set": "true"}}
    assert silencers.silence() == []  # already silenced: nothing more to give back
    assert silencers.restore() == ["dunst"]
    assert dunst.dunst_paused() == "false"
    assert json.loads(journal.path.read_text())["changed"] == {}


def test_a_notification_sent_while_paused_waits_for_the_agent(dunst: Session,
                                                              journal: Journal) -> None:
    silencers = Silencers([Dunst(journal)], journal)
    silencers.silence()
    dunst.run("notify-send", "chat", "ping")
    assert dunst.run("dunstctl", "count", "waiting").stdout.strip() == "1"
    silencers.restore()
    assert dunst.run("dunstctl", "count", "waiting").stdout.strip() == "0"


def test_the_users_own_pause_is_theirs(dunst: Session, journal: Journal) -> None:
    """Paused by the user before the call: the guard neither journals nor unpauses it."""
    dunst.run("dunstctl", "set-paused", "true")
    silencers = Silencers([Dunst(journal)], journal)
    assert silencers.silence() == []
    assert journal.entries() == {}
    assert silencers.restore() == []
    assert dunst.dunst_paused() == "true"


def test_a_change_the_user_made_during_the_call_stands(dunst: Session,
                                                       journal: Journal) -> None:
    silencers = Silencers([Dunst(journal)], journal)
    silencers.silence()
    dunst.run("dunstctl", "set-paused", "false")  # the agent wants their pings mid-call
    dunst.run("dunstctl", "set-paused", "true")   # ... then changes their mind again
    dunst.run("dunstctl", "set-paused", "false")
    assert silencers.restore() == []
    assert dunst.dunst_paused() == "false"
    assert journal.entries() == {}


def test_a_journal_left_by_a_dead_guard_is_undone(dunst: Session, journal: Journal) -> None:
    Silencers([Dunst(journal)], journal).silence()  # ... and the guard dies here
    assert dunst.dunst_paused() == "true"
    reborn = Journal(journal.path)
    assert Silencers.build(None, reborn).recover() == ["dunst"]
    assert dunst.dunst_paused() == "false"
    assert Journal(journal.path).entries() == {}


def test_gnome_banners_are_hidden_and_given_back(gnome: Session, journal: Journal) -> None:
    silencers = Silencers([Gnome(journal)], journal)
    assert gnome.show_banners() == "true"
    assert silencers.silence() == ["gnome"]
    assert gnome.show_banners() == "false"
    keyfile = Path(gnome.vars["XDG_CONFIG_HOME"]) / "glib-2.0" / "settings" / "keyfile"
    assert "show-banners=false" in keyfile.read_text()  # the real backend holds it
    assert silencers.restore() == ["gnome"]
    assert gnome.show_banners() == "true"


def test_gnome_do_not_disturb_set_by_the_user_stays(gnome: Session, journal: Journal) -> None:
    gnome.run("gsettings", "set", "org.gnome.desktop.notifications", "show-banners", "false")
    silencers = Silencers([Gnome(journal)], journal)
    assert silencers.silence() == []
    silencers.restore()
    assert gnome.show_banners() == "false"


def test_plasma_is_inhibited_while_the_guard_holds_its_cookie(plasma: Session) -> None:
    kde = Kde()
    silencers = Silencers([kde], Journal(Path("/nonexistent/never-written.json")))
    assert not plasma.plasma_inhibited()
    assert silencers.silence() == ["kde"]
    assert plasma.plasma_inhibited()
    assert silencers.restore() == ["kde"]
    assert not plasma.plasma_inhibited()


def test_plasma_ends_the_inhibition_of_a_guard_that_is_gone(plasma: Session) -> None:
    """No journal for Plasma: its inhibition lives as long as the guard's bus connection
    (closed here as a killed process's socket would be)."""
    kde = Kde()
    kde.silence()
    assert plasma.plasma_inhibited()
    assert kde._connection is not None
    kde._connection.sock.close()
    from helpers.waiting import wait_until
    wait_until(lambda: not plasma.plasma_inhibited(), timeout=10)


def test_auto_detection_finds_what_answers(session: Session,
                                           monkeypatch: pytest.MonkeyPatch,
                                           journal: Journal) -> None:
    _enter(session, monkeypatch)
    assert Silencers.build(None, journal).found() == []  # a bare bus: nothing to silence
    session.start_plasma_stand_in()
    assert Silencers.build(None, journal).found() == ["kde"]
    session.use_gnome_keyfile()  # a GNOME session: its schema is used
    _enter(session, monkeypatch)
    assert Silencers.build(None, journal).found() == ["gnome", "kde"]


def test_auto_detection_tells_dunst_from_plasma(dunst: Session, journal: Journal) -> None:
    """dunst owns org.freedesktop.Notifications but offers no Inhibit: not taken for Plasma."""
    assert Silencers.build(None, journal).found() == ["dunst"]


def test_a_named_backend_that_is_absent_is_logged_once(session: Session, journal: Journal,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    _enter(session, monkeypatch)
    silencers = Silencers.build(["dunst"], journal)
    assert silencers.silence() == []
    assert silencers.silence() == []
    said = [r.getMessage() for r in caplog.records if "notifications (dunst)" in r.getMessage()]
    assert len(said) == 1 and "not silenced" in said[0], said


def test_nothing_is_silenced_when_the_journal_cannot_be_written(
        dunst: Session, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A silence that a crash could not undo is worse than a ping: no journal, no pause."""
    (tmp_path / "blocked").write_text("a file where the state directory should be")
    journal = Journal(tmp_path / "blocked" / "desk-alice.json")
    assert Silencers([Dunst(journal)], journal).silence() == []
    assert dunst.dunst_paused() == "false"
    assert "so nothing is silenced" in caplog.text
