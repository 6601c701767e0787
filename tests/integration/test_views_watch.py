"""``focuslight watch`` believes no more than a beacon does (issue 9.3): real mosquitto,
a real bridge process, ``watch`` as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from helpers.relay import FreezableProxy
from helpers.waiting import wait_until

FOCUSLIGHT = [sys.executable, "-m", "focuslight"]
PREFIX = "w"


def focuslight(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FOCUSLIGHT, *args], capture_output=True, text=True, timeout=timeout)


def status(state: str, bridge: str | None) -> str:
    body = {"v": 1, "state": state, "source": "phone", "since": round(time.time(), 3)}
    return json.dumps(body | ({"bridge_id": bridge} if bridge else {}))


@pytest.fixture
def bridge(mosquitto, tmp_path):
    path = tmp_path / "focuslight.toml"
    path.write_text(f'[bridge]\nbroker = "{mosquitto.url}"\nprefix = "{PREFIX}"\n'
                    "[agents.alice]\n[agents.bob]\n")
    proc = subprocess.Popen([*FOCUSLIGHT, "bridge", "-c", str(path)], stderr=subprocess.PIPE,
                            text=True)
    for line in proc.stderr:
        if "connected to" in line:
            break
    yield proc
    proc.terminate()
    proc.wait(timeout=10)


def test_watch_once_shows_unknown_when_the_bridge_is_stopped(mosquitto, bridge) -> None:
    done = focuslight("set", "alice", "dnd", "--minutes", "30", "--broker", mosquitto.url,
                      "--prefix", PREFIX)
    assert done.returncode == 0, done.stderr
    live = json.loads(focuslight("watch", "--once", "--json", "--broker", mosquitto.url,
                                 "--prefix", PREFIX).stdout)
    assert live["alice"]["state"] == "dnd" and "why" not in live["alice"]
    bridge.terminate()  # a clean stop: the bridge says offline itself
    bridge.wait(timeout=10)
    stale = json.loads(focuslight("watch", "--once", "--json", "--broker", mosquitto.url,
                                  "--prefix", PREFIX).stdout)
    assert stale["alice"] == stale["alice"] | {"state": "unknown", "published": "dnd",
                                               "why": "bridge main offline"}
    assert stale["bob"]["state"] == "unknown"
    text = focuslight("watch", "--once", "--broker", mosquitto.url, "--prefix", PREFIX).stdout
    row = next(line for line in text.splitlines() if line.startswith("alice"))
    assert row.split()[1] == "unknown" and "(dnd published; bridge main offline)" in row, text
    assert "bridges: main offline" in text


def test_watch_distrusts_only_the_offline_bridges_agents(mosquitto, peer_factory) -> None:
    peer = peer_factory(mosquitto)
    peer.publish(f"{PREFIX}/bridges/main/availability", "online", retain=True)
    peer.publish(f"{PREFIX}/bridges/counter-1/availability", "offline", retain=True)
    peer.publish(f"{PREFIX}/agents/alice/status", status("available", "main"), retain=True)
    peer.publish(f"{PREFIX}/agents/counter-1/status", status("engaged", "counter-1"),
                 retain=True)
    peer.publish(f"{PREFIX}/agents/old/status", status("away", None), retain=True)
    table = json.loads(focuslight("watch", "--once", "--json", "--broker", mosquitto.url,
                                  "--prefix", PREFIX).stdout)
    assert {agent: row["state"] for agent, row in table.items()} == {
        "alice": "available", "counter-1": "unknown", "old": "unknown"}
    assert table["old"]["why"] == "bridge counter-1 offline"


def test_watch_piped_says_when_it_loses_the_broker(mosquitto, peer_factory) -> None:
    peer = peer_factory(mosquitto)
    peer.publish(f"{PREFIX}/agents/alice/status", status("engaged", "main"), retain=True)
    watch = subprocess.Popen([*FOCUSLIGHT, "watch", "--broker", mosquitto.url, "--prefix",
                              PREFIX], stdout=subprocess.PIPE, text=True)
    try:
        assert watch.stdout is not None
        while "alice engaged" not in watch.stdout.readline():
            assert watch.poll() is None
        peer.close()
        mosquitto.kill()
        deadline = time.monotonic() + 20
        while "lost the broker: every agent is unknown" not in watch.stdout.readline():
            assert time.monotonic() < deadline and watch.poll() is None
    finally:
        watch.terminate()
        watch.wait(timeout=10)


def test_watch_and_the_board_turn_availabilities_unknown_when_the_broker_is_lost(
        mosquitto, peer_factory) -> None:
    """Bridges' availability and the beacons' LINK column are not believed without the
    broker either: watch shows them ``unknown`` exactly as the floor board does (one
    rule, :func:`focuslight.protocol.trust.availability`)."""
    from focuslight.mqtt.client import BrokerSettings
    from focuslight.protocol import Topics
    from focuslight.views.floor_board import FloorBoard
    from focuslight.views.watch import LiveTable, follow

    peer = peer_factory(mosquitto)
    peer.publish(f"{PREFIX}/bridges/main/availability", "online", retain=True)
    peer.publish(f"{PREFIX}/beacons/desk-1/availability", "online", retain=True)
    peer.publish(f"{PREFIX}/beacons/desk-1/telemetry", json.dumps(
        {"v": 1, "agent": "alice", "firmware": "0.2.0", "ip": None, "rssi": None,
         "uptime": 5, "heap_free": 1000, "reset_cause": "power_on"}), retain=True)
    peer.close()
    settings, topics = BrokerSettings(mosquitto.host, mosquitto.port), Topics(PREFIX)
    table = LiveTable()
    watcher = follow(settings, topics, table)
    board = FloorBoard(settings, topics, ("127.0.0.1", 0)).start()
    try:
        wait_until(lambda: "desk-1" in table.beacons and "desk-1" in table.beacon_links
                   and table.bridges)
        wait_until(lambda: board.floor.view()["beacons"] and board.floor.view()["bridges"])
        text = table.render(time.time(), colour=False)
        assert "bridges: main online" in text
        assert next(line for line in text.splitlines()
                    if line.startswith("desk-1")).split()[3] == "online"
        mosquitto.kill()
        wait_until(lambda: not table.linked and board.floor.view()["broker"] == "down")
        text = table.render(time.time(), colour=False)
        assert "bridges: main unknown" in text, text
        assert next(line for line in text.splitlines()
                    if line.startswith("desk-1")).split()[3] == "unknown", text
        view = board.floor.view()
        assert view["bridges"] == [{"id": "main", "state": "unknown"}]
        assert [b["link"] for b in view["beacons"]] == ["unknown"]
    finally:
        watcher.stop()
        board.stop()


def test_watch_once_lists_every_agent_of_a_large_site(mosquitto, peer_factory) -> None:
    """``--once`` reads until the broker says it has sent everything it retains (the
    UNSUBACK after the SUBACK), not for a fixed second: 2,000 retained agents all show."""
    peer = peer_factory(mosquitto)
    agents = [f"agent-{n:04d}" for n in range(2000)]
    infos = [peer.client.publish(f"{PREFIX}/agents/{agent}/status", status("engaged", "main"),
                                 qos=1, retain=True) for agent in agents]
    for info in infos:
        info.wait_for_publish(20)
    table = json.loads(focuslight("watch", "--once", "--json", "--broker", mosquitto.url,
                                  "--prefix", PREFIX).stdout)
    assert sorted(table) == agents
    assert {row["state"] for row in table.values()} == {"engaged"}


def test_watch_once_says_when_it_cannot_reach_the_broker(tmp_path) -> None:
    from focuslight.tools.embedded_broker import free_port
    done = focuslight("watch", "--once", "--broker", f"mqtt://127.0.0.1:{free_port()}")
    assert done.returncode == 2
    assert "cannot reach broker" in done.stderr and "connection refused" in done.stderr


def test_watch_once_waits_for_a_slow_broker(mosquitto, peer_factory) -> None:
    peer = peer_factory(mosquitto)
    peer.publish(f"{PREFIX}/agents/alice/status", status("dnd", "main"), retain=True)
    link = FreezableProxy(mosquitto.port, answer_delay=2.0)  # a slow link
    try:
        done = focuslight("watch", "--once", "--json", "--broker",
                          f"mqtt://127.0.0.1:{link.port}", "--prefix", PREFIX)
    finally:
        link.close()
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["alice"]["state"] == "dnd"


def test_watch_flags_an_escalated_agent_for_a_supervisor(mosquitto, peer_factory) -> None:
    """A chat waiting past escalate_after_seconds: ESCALATED and the wait on alice's row, the
    fields in --json; bob's cue is not shown while his bridge is offline (unknown asks
    nothing)."""
    peer = peer_factory(mosquitto)
    now = time.time()
    chat = {"v": 1, "state": "engaged", "source": "chat", "since": round(now - 400, 3),
            "cue": "reply_due", "waiting_since": round(now - 330, 3), "escalated": True,
            "chats": 2}
    peer.publish(f"{PREFIX}/bridges/main/availability", "online", retain=True)
    peer.publish(f"{PREFIX}/bridges/pc-2/availability", "offline", retain=True)
    peer.publish(f"{PREFIX}/agents/alice/status", json.dumps({**chat, "bridge_id": "main"}),
                 retain=True)
    peer.publish(f"{PREFIX}/agents/bob/status", json.dumps({**chat, "bridge_id": "pc-2"}),
                 retain=True)
    text = focuslight("watch", "--once", "--broker", mosquitto.url, "--prefix", PREFIX).stdout
    rows = {line.split()[0]: line for line in text.splitlines() if line[:3] in ("ali", "bob")}
    assert "ESCALATED, reply due 5m" in rows["alice"] and "2 chats" in rows["alice"], text
    assert "ESCALATED" not in rows["bob"] and "reply due" not in rows["bob"], text
    table = json.loads(focuslight("watch", "--once", "--json", "--broker", mosquitto.url,
                                  "--prefix", PREFIX).stdout)
    assert table["alice"] == table["alice"] | {"cue": "reply_due", "escalated": True,
                                               "chats": 2}
    assert "escalated" not in table["bob"] and table["bob"]["state"] == "unknown"
