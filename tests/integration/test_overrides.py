"""Manual overrides survive a bridge restart (focuslight.overrides), with their expiry.

The end-to-end test restarts a real ``focuslight bridge`` process against real
mosquitto, as an upgrade or a reboot would.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import subprocess
import sys
import time
from pathlib import Path

from helpers.mqtt_peer import Peer
from helpers.sources import BridgeProcess

from focuslight.overrides import Override, OverrideStore, default_state_dir

FOCUSLIGHT = [sys.executable, "-m", "focuslight"]
PREFIX = "ov"


# -- the file ----------------------------------------------------------------------------

def test_round_trip_drops_what_expired(tmp_path: Path) -> None:
    store = OverrideStore(tmp_path / "state" / "overrides-main.json")
    assert store.load(now=1000.0) == {}  # first start: no file, no complaint
    kept = {"bob": Override("dnd", 900.0, 2800.0), "alice": Override("away", 950.0, None),
            "carol": Override("dnd", 900.0, 999.0)}
    assert store.save(kept)
    assert store.load(now=1000.0) == {"bob": kept["bob"], "alice": kept["alice"]}
    assert store.load(now=3000.0) == {"alice": kept["alice"]}
    assert [p.name for p in store.path.parent.iterdir()] == ["overrides-main.json"]  # no temp


def test_a_corrupt_file_costs_one_log_line_and_nothing_else(tmp_path: Path, caplog) -> None:
    path = tmp_path / "overrides-main.json"
    for junk in (b"{not json", b"\xff\xfe", b"[]", b'{"v":1,"overrides":{"bob":{"state":"x"}}}',
                 b'{"v":1,"overrides":{"bob":{"state":"dnd","since":"x","until":null}}}',
                 b'{"v":99,"overrides":{}}'):
        path.write_bytes(junk)
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            assert OverrideStore(path).load(now=1.0) == {}
        assert len(caplog.records) == 1 and str(path) in caplog.text, junk


def test_an_unwritable_state_dir_is_logged_once(tmp_path: Path, caplog) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    store = OverrideStore(blocker / "sub" / "overrides-main.json")  # parent is a file
    with caplog.at_level(logging.WARNING):
        assert not store.save({"bob": Override("dnd", 1.0)})
        assert not store.save({"bob": Override("away", 1.0)})
    assert caplog.text.count("cannot save manual overrides") == 1


def test_default_state_dir_follows_systemd_then_xdg(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/focuslight")
    assert default_state_dir() == Path("/var/lib/focuslight")
    monkeypatch.delenv("STATE_DIRECTORY")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_state_dir() == tmp_path / "focuslight"


# -- a real bridge restarted against real mosquitto ---------------------------------------

class Watcher(Peer):
    """A paho subscriber to every status under the prefix, keeping the live stream."""

    def latest(self, wanted: dict[str, tuple[str, str]], timeout: float = 20) -> dict:
        """Read until each agent's newest status has the (state, source) wanted."""
        seen: dict[str, dict] = {}
        deadline = time.monotonic() + timeout
        while any((seen.get(a, {}).get("state"), seen.get(a, {}).get("source")) != w
                  for a, w in wanted.items()):
            left = deadline - time.monotonic()
            assert left > 0, f"wanted {wanted}, last seen {seen}"
            try:
                msg = self.messages.get(timeout=left)
            except queue.Empty:
                continue
            if msg.payload:
                seen[msg.topic.split("/")[2]] = json.loads(msg.payload)
        return seen

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_overrides_survive_a_bridge_restart_with_their_expiry(mosquitto, tmp_path: Path) -> None:
    """bob: `set dnd --minutes 30`; alice: her beacon's button (dnd, no expiry); carol:
    `set away` for 3 s, which runs out while the bridge is down and must not come back."""
    state = tmp_path / "state"
    bridge = BridgeProcess(tmp_path, f"""
[bridge]
broker = "{mosquitto.url}"
prefix = "{PREFIX}"
state_dir = "{state}"
[agents.alice]
beacons = ["alice-desk"]
[agents.bob]
[agents.carol]
""")
    watcher = Watcher("127.0.0.1", mosquitto.port)
    bridge.start_connected()
    try:
        watcher.subscribe(f"{PREFIX}/agents/+/status")
        env = {**os.environ, "FOCUSLIGHT_BROKER": mosquitto.url}
        for args in (["bob", "dnd", "--minutes", "30"], ["carol", "away", "--minutes", "0.05"]):
            done = subprocess.run([*FOCUSLIGHT, "set", *args, "--prefix", PREFIX], env=env,
                                  capture_output=True, text=True, timeout=30)
            assert done.returncode == 0, done.stderr
        carol_set = time.monotonic()
        watcher.publish(f"{PREFIX}/beacons/alice-desk/event", '{"v":1,"button":"press"}')
        before = watcher.latest({"alice": ("dnd", "manual"), "bob": ("dnd", "manual"),
                                 "carol": ("away", "manual")})
        bridge.stop()
        saved = json.loads((state / "overrides-main.json").read_text())["overrides"]
        assert set(saved) == {"alice", "bob", "carol"}
        assert abs(saved["bob"]["until"] - (time.time() + 30 * 60)) < 60
        while time.monotonic() - carol_set < 3.5:  # carol's 3 s run out while it is down
            time.sleep(0.1)
        bridge.start_connected()
        after = watcher.latest({"alice": ("dnd", "manual"), "bob": ("dnd", "manual"),
                                "carol": ("unknown", "bridge")})
        # the light's "since" is when the override began, not the restart
        assert after["bob"]["since"] == before["bob"]["since"]
        assert after["alice"]["since"] == before["alice"]["since"]
        # the button still toggles the restored dnd off, and that is saved too
        watcher.publish(f"{PREFIX}/beacons/alice-desk/event", '{"v":1,"button":"press"}')
        watcher.latest({"alice": ("unknown", "bridge")})
        err = bridge.stop()
        assert "2 restored" in err, err
        saved = json.loads((state / "overrides-main.json").read_text())["overrides"]
        assert set(saved) == {"bob"}
    finally:
        bridge.kill()
        watcher.close()


def test_a_corrupt_overrides_file_does_not_stop_the_bridge(mosquitto, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "overrides-main.json").write_text("{half a file")
    bridge = BridgeProcess(tmp_path, f'[bridge]\nbroker = "{mosquitto.url}"\n'
                           f'prefix = "{PREFIX}"\nstate_dir = "{state}"\n[agents.bob]\n')
    bridge.start_connected()
    err = bridge.stop()
    assert err.count("ignored corrupt manual overrides file") == 1, err
    assert json.loads((state / "overrides-main.json").read_text())["overrides"] == {}


def test_the_first_start_after_0_1_adopts_its_retained_manual_statuses(mosquitto,
                                                                       tmp_path: Path) -> None:
    """0.1 kept no overrides file: bob's running dnd lives only in his retained status
    (no bridge_id, as 0.1 wrote it). The upgraded bridge adopts it (until auto); carol's
    engaged from a source, dave's dnd published by another bridge, stay not adopted."""
    state = tmp_path / "state"
    bridge = BridgeProcess(tmp_path, f'[bridge]\nbroker = "{mosquitto.url}"\n'
                           f'prefix = "{PREFIX}"\nstate_dir = "{state}"\n'
                           '[agents.bob]\n[agents.carol]\n[agents.dave]\n')
    watcher = Watcher("127.0.0.1", mosquitto.port)
    try:
        for agent, body in (("bob", {"state": "dnd", "source": "manual", "since": 1000.5}),
                            ("carol", {"state": "engaged", "source": "phone", "since": 1.0}),
                            ("dave", {"state": "dnd", "source": "manual", "since": 2.0,
                                      "bridge_id": "other"})):
            watcher.publish(f"{PREFIX}/agents/{agent}/status", json.dumps({"v": 1, **body}),
                            retain=True)
        watcher.subscribe(f"{PREFIX}/agents/+/status")
        for _ in range(3):  # the three retained ones: what follows is the bridge's
            assert watcher.messages.get(timeout=10).retain
        bridge.start_connected()
        try:
            after = watcher.latest({"bob": ("dnd", "manual"), "carol": ("unknown", "bridge"),
                                    "dave": ("unknown", "bridge")})
            assert after["bob"]["since"] == 1000.5  # when it began, under 0.1
            saved_file = state / "overrides-main.json"
            deadline = time.monotonic() + 10
            while "bob" not in json.loads(saved_file.read_text())["overrides"]:
                assert time.monotonic() < deadline, saved_file.read_text()
                time.sleep(0.05)
        finally:
            err = bridge.stop()
        assert "adopted the manual dnd of 'bob'" in err, err
        saved = json.loads(saved_file.read_text())["overrides"]
        assert saved == {"bob": {"state": "dnd", "since": 1000.5, "until": None}}
        # from now on the file is the truth: a second start adopts nothing more
        watcher.publish(f"{PREFIX}/agents/carol/status", json.dumps(
            {"v": 1, "state": "away", "source": "manual", "since": 3.0}), retain=True)
        bridge.start_connected()
        try:
            watcher.latest({"bob": ("dnd", "manual"), "carol": ("unknown", "bridge")})
        finally:
            err = bridge.stop()
        assert "adopted" not in err, err
    finally:
        watcher.close()


def test_a_cleared_status_of_a_live_bridges_agent_is_published_again(mosquitto,
                                                                     tmp_path: Path) -> None:
    """`retire --force` on an agent its running bridge still serves: the bridge puts the
    status back at once, not at its next change or reconnect."""
    bridge = BridgeProcess(tmp_path, f'[bridge]\nbroker = "{mosquitto.url}"\n'
                           f'prefix = "{PREFIX}"\nstate_dir = "{tmp_path / "state"}"\n'
                           '[agents.bob]\n')
    watcher = Watcher("127.0.0.1", mosquitto.port)
    bridge.start_connected()
    try:
        watcher.subscribe(f"{PREFIX}/agents/+/status")
        env = {**os.environ, "FOCUSLIGHT_BROKER": mosquitto.url}
        done = subprocess.run([*FOCUSLIGHT, "set", "bob", "dnd", "--prefix", PREFIX], env=env,
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        watcher.latest({"bob": ("dnd", "manual")})
        done = subprocess.run([*FOCUSLIGHT, "retire", "bob", "--force", "--yes", "--prefix",
                               PREFIX], env=env, capture_output=True, text=True, timeout=30)
        assert f"{PREFIX}/agents/bob/status" in done.stdout, done.stdout + done.stderr
        while watcher.messages.get(timeout=20).payload:
            pass  # up to the clear
        back = watcher.messages.get(timeout=20)
        assert back.topic == f"{PREFIX}/agents/bob/status"
        assert json.loads(back.payload)["state"] == "dnd"
    finally:
        err = bridge.stop()
        watcher.close()
    assert "was cleared by someone else; publishing it again" in err, err
