"""``focuslight desk`` end to end: a real mosquitto, real status payloads as a bridge
publishes them, the real dunst under Xvfb on a private session bus, and the guard as the
process an agent runs. What is asserted is dunst's own paused state (``dunstctl``)."""

from __future__ import annotations

import json
import logging
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.desktop import Session
from helpers.mqtt_peer import Peer
from helpers.sources import BridgeProcess
from helpers.waiting import wait_until

PREFIX = "desktest"
STATUS = f"{PREFIX}/agents/alice/status"
BRIDGE = f"{PREFIX}/bridges/main/availability"


def status(state: str) -> bytes:
    """A status as the bridge publishes it."""
    return json.dumps({"v": 1, "state": state, "source": "phone",
                       "since": round(time.time(), 3), "bridge_id": "main"}).encode()


@pytest.fixture
def desktop(tmp_path: Path) -> Iterator[Session]:
    session = Session(tmp_path)
    session.start_bus()
    session.start_screen()
    session.start_dunst()
    yield session
    session.close()


@pytest.fixture
def site(mosquitto, peer_factory) -> Peer:
    """The broker with bridge ``main`` online, as a running site has it."""
    peer = peer_factory(mosquitto)
    peer.publish(BRIDGE, "online", retain=True)
    return peer


class Desk(BridgeProcess):
    """``focuslight desk --agent alice`` on the test's desktop session and broker."""

    def __init__(self, tmp: Path, desktop: Session, broker_url: str, settings: str = "",
                 state: Path | None = None, notifications: str = "dunst",
                 agent: str = "alice") -> None:
        env = desktop.env(XDG_STATE_HOME=str(state or tmp / "state"))
        tmp.mkdir(exist_ok=True)
        self.agent = agent
        super().__init__(tmp, f'notifications = ["{notifications}"]\n{settings}',
                         [sys.executable, "-m", "focuslight", "desk", "--agent", agent,
                          "--broker", broker_url, "--prefix", PREFIX], env)

    def kill(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


@pytest.fixture
def desks(tmp_path: Path) -> Iterator[list[Desk]]:
    started: list[Desk] = []
    yield started
    for desk in started:
        desk.kill()


def _start(desks: list[Desk], *args, **kwargs) -> Desk:
    desk = Desk(*args, **kwargs)
    desks.append(desk)
    desk.start().wait_for_log(f"focus guard for {desk.agent}")
    return desk


def paused(desktop: Session, value: str) -> None:
    wait_until(lambda: desktop.dunst_paused() == value, timeout=15)


def test_dunst_is_paused_through_a_call_and_given_back(tmp_path, desktop, mosquitto, site,
                                                      desks) -> None:
    desk = _start(desks, tmp_path, desktop, mosquitto.url)
    assert "through dunst" in desk.wait_for_log("focus guard for alice")
    site.publish(STATUS, status("ringing"), retain=True)
    paused(desktop, "true")
    site.publish(STATUS, status("engaged"), retain=True)
    desk.wait_for_log("desk alice: engaged")
    assert desktop.dunst_paused() == "true"
    desktop.run("notify-send", "chat", "a ping mid-call")
    site.publish(STATUS, status("available"), retain=True)
    paused(desktop, "false")
    assert desktop.run("dunstctl", "count", "waiting").stdout.strip() == "0"  # shown now
    log = desk.stop()
    assert "notifications silenced (dunst)" in log
    assert "notifications given back (dunst)" in log


def test_a_killed_guard_is_undone_at_its_next_start(tmp_path, desktop, mosquitto, site,
                                                    desks) -> None:
    desk = _start(desks, tmp_path, desktop, mosquitto.url)
    site.publish(STATUS, status("engaged"), retain=True)
    paused(desktop, "true")
    desk.kill()  # SIGKILL mid-call: nothing of the guard runs any more
    journal = json.loads((tmp_path / "state" / "focuslight" / "desk.json").read_text())
    assert journal["changed"]["dunst"] == {"before": "false", "set": "true"}
    assert desktop.dunst_paused() == "true"  # left paused: only the next start can fix it
    # the next start gives it back, even one for another agent id: the desktop is the user's
    again = _start(desks, tmp_path / "again", desktop, mosquitto.url, state=tmp_path / "state",
                   agent="bob")
    paused(desktop, "false")
    assert "gave back the notification settings a previous focus guard left silenced: dunst" \
        in again.text()


@pytest.fixture
def bus_only(tmp_path: Path) -> Iterator[Session]:
    """A session with a bus and no notification server yet."""
    (tmp_path / "session").mkdir()
    session = Session(tmp_path / "session")
    session.start_bus()
    yield session
    session.close()


def test_gnome_banners_hidden_by_a_killed_guard_come_back_at_its_next_start(
        tmp_path, bus_only, mosquitto, site, desks) -> None:
    bus_only.use_gnome_keyfile()
    desk = _start(desks, tmp_path, bus_only, mosquitto.url, notifications="gnome")
    site.publish(STATUS, status("engaged"), retain=True)
    wait_until(lambda: bus_only.show_banners() == "false", timeout=15)
    desk.kill()
    assert bus_only.show_banners() == "false"  # GNOME keeps it: only the journal can help
    site.publish(STATUS, status("wrap_up"), retain=True)
    _start(desks, tmp_path / "again", bus_only, mosquitto.url, state=tmp_path / "state",
           notifications="gnome")
    wait_until(lambda: bus_only.show_banners() == "true", timeout=15)


def test_plasma_ends_a_killed_guards_inhibition_and_the_next_one_takes_over(
        tmp_path, bus_only, mosquitto, site, desks) -> None:
    bus_only.start_plasma_stand_in()
    desk = _start(desks, tmp_path, bus_only, mosquitto.url, notifications="kde")
    site.publish(STATUS, status("engaged"), retain=True)
    wait_until(bus_only.plasma_inhibited, timeout=15)
    desk.kill()
    wait_until(lambda: not bus_only.plasma_inhibited(), timeout=15)
    again = _start(desks, tmp_path / "again", bus_only, mosquitto.url,
                   state=tmp_path / "state", notifications="kde")
    wait_until(bus_only.plasma_inhibited, timeout=15)  # still engaged: silenced again
    site.publish(STATUS, status("available"), retain=True)
    wait_until(lambda: not bus_only.plasma_inhibited(), timeout=15)
    assert "notifications given back (kde)" in again.stop()


def test_a_pause_the_user_set_before_the_call_is_kept(tmp_path, desktop, mosquitto, site,
                                                      desks) -> None:
    desktop.run("dunstctl", "set-paused", "true")
    desk = _start(desks, tmp_path, desktop, mosquitto.url)
    site.publish(STATUS, status("ringing"), retain=True)
    desk.wait_for_log("desk alice: ringing")
    site.publish(STATUS, status("available"), retain=True)
    desk.wait_for_log("desk alice: available")
    desk.stop()
    assert desktop.dunst_paused() == "true"


def test_losing_the_broker_gives_the_notifications_back(tmp_path, desktop, mosquitto, site,
                                                        desks) -> None:
    """``unknown`` (here: the broker is gone) ends a silence once the grace is over, so a
    dead bridge never leaves an agent deaf; the grace is 0 here."""
    desk = _start(desks, tmp_path, desktop, mosquitto.url, "unknown_grace_seconds = 0\n")
    site.publish(STATUS, status("engaged"), retain=True)
    paused(desktop, "true")
    mosquitto.kill()
    paused(desktop, "false")
    assert "status unknown (no connection to the broker)" in desk.text()


def test_the_bridge_going_offline_is_unknown_too(tmp_path, desktop, mosquitto, site,
                                                 desks) -> None:
    desk = _start(desks, tmp_path, desktop, mosquitto.url, "unknown_grace_seconds = 0\n")
    site.publish(STATUS, status("hold"), retain=True)
    paused(desktop, "true")
    site.publish(BRIDGE, "offline", retain=True)  # the bridge's last will
    paused(desktop, "false")
    assert "status unknown (bridge main offline)" in desk.text()


def test_per_state_commands_run_without_a_shell(tmp_path, desktop, mosquitto, site,
                                                desks) -> None:
    mark = tmp_path / "marks"
    settings = (f'[commands]\nengaged = [["{sys.executable}", "-c", '
                f'"import sys; open(sys.argv[1], \'a\').write(\'engaged\\\\n\')", "{mark}"]]\n')
    _start(desks, tmp_path, desktop, mosquitto.url, settings)
    site.publish(STATUS, status("engaged"), retain=True)
    wait_until(lambda: mark.exists() and mark.read_text() == "engaged\n", timeout=15)


def test_a_desk_needs_an_agent(tmp_path, desktop) -> None:
    import subprocess
    done = subprocess.run([sys.executable, "-m", "focuslight", "desk", "-c", "/dev/null"],
                          env=desktop.env(), capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "pass --agent ID" in done.stderr


def test_a_blip_within_the_grace_does_not_ring_through_the_call(tmp_path, desktop, mosquitto,
                                                                site, monkeypatch,
                                                                caplog) -> None:
    """The bridge restarting mid-call (offline, then online again) within the grace keeps
    the silence: no unpause, no second pause; stopping the guard gives it back."""
    from focuslight.desk.guard import Guard
    from focuslight.desk.journal import Journal
    from focuslight.desk.silencers import Dunst, Silencers
    from focuslight.mqtt.client import BrokerSettings
    from focuslight.protocol import Topics

    caplog.set_level(logging.INFO)
    for name, value in desktop.vars.items():
        monkeypatch.setenv(name, value)
    journal = Journal(tmp_path / "desk-alice.json")
    guard = Guard(BrokerSettings("127.0.0.1", mosquitto.port), Topics(PREFIX), "alice",
                  silencers=Silencers([Dunst(journal)], journal), unknown_grace_s=600)
    guard.start()
    try:
        site.publish(STATUS, status("engaged"), retain=True)
        paused(desktop, "true")
        site.publish(BRIDGE, "offline", retain=True)
        wait_until(lambda: "notifications come back in 600 s" in caplog.text)
        assert desktop.dunst_paused() == "true" and guard.silenced
        site.publish(BRIDGE, "online", retain=True)
        wait_until(lambda: caplog.text.count("desk alice: engaged") == 2)
        assert desktop.dunst_paused() == "true"
        assert caplog.text.count("notifications silenced") == 1
        assert "given back" not in caplog.text
    finally:
        guard.stop()
    assert desktop.dunst_paused() == "false"


def test_a_desk_refuses_an_agent_id_that_is_no_id(tmp_path, desktop) -> None:
    import subprocess
    done = subprocess.run([sys.executable, "-m", "focuslight", "desk", "--agent", "a/#"],
                          env=desktop.env(XDG_CONFIG_HOME=str(tmp_path)), capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 2 and "--agent must match" in done.stderr


def test_a_second_guard_on_the_same_desktop_refuses_to_start(tmp_path, desktop, mosquitto,
                                                             site, desks) -> None:
    """Two guards would give back each other's silence mid-call: the second one stops."""
    _start(desks, tmp_path, desktop, mosquitto.url)
    site.publish(STATUS, status("engaged"), retain=True)
    paused(desktop, "true")
    second = Desk(tmp_path / "second", desktop, mosquitto.url, state=tmp_path / "state")
    second.start()
    assert second.proc is not None and second.proc.wait(30) == 2
    assert "another focuslight desk (pid" in second.text()
    assert desktop.dunst_paused() == "true"  # the first one's silence stands
