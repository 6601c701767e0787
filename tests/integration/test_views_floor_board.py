"""The floor board: real mosquitto, the real board server, a paho peer, headless Chromium.

Page checks read what a person would see: each tile's text and its computed
colour, after statuses arrive over the broker.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.browser import Chromium, Tab

from focuslight.mqtt.client import BrokerSettings
from focuslight.protocol import Status, Topics
from focuslight.views.floor_board import Floor, FloorBoard
from focuslight.views.floor_board import web as board_module

TOPICS = Topics("boardtest")
BRIDGE = TOPICS.bridge_availability("main")
LOOKS = {"available": "green", "ringing": "red", "engaged": "red", "hold": "red",
         "wrap_up": "amber", "dnd": "purple", "away": "grey", "unknown": "blue"}
"""The beacon's colour for each state (design, States table)."""
PEOPLE = dict(zip(["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"],
                  LOOKS, strict=True))
LABELS = {"wrap_up": "wrap-up", "hold": "on hold", "dnd": "do not disturb"}
TILES = """[...document.querySelectorAll('.tile')].map(t => [t.dataset.agent, {
    state: t.dataset.state, text: t.innerText, bg: getComputedStyle(t).backgroundColor,
    animation: getComputedStyle(t).animationName}])"""


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    browser = Chromium(tmp_path_factory.mktemp("chromium"))
    yield browser
    browser.close()


@pytest.fixture
def board(mosquitto) -> Iterator[FloorBoard]:
    board = FloorBoard(BrokerSettings(mosquitto.host, mosquitto.port), TOPICS, ("127.0.0.1", 0))
    yield board.start()
    board.stop()


@pytest.fixture
def peer(mosquitto, peer_factory):
    return peer_factory(mosquitto)


@pytest.fixture
def tabs(chromium: Chromium) -> Iterator:
    opened: list[Tab] = []

    def open_tab(url: str) -> Tab:
        opened.append(chromium.tab(url))
        return opened[-1]

    yield open_tab
    for tab in opened:
        tab.close()


def status(state: str, ago: float = 0.0, **extra: object) -> bytes:
    body = json.loads(Status(state, "phone", time.time() - ago).encode())
    return json.dumps({**body, **extra}).encode()


def lines_of(tile: dict) -> list[str]:
    """The tile's text as a person reads it, line by line."""
    return [line for line in tile["text"].splitlines() if line]


def tiles(tab: Tab) -> dict[str, dict]:
    return dict(tab.evaluate(TILES))


def wait_tiles(tab: Tab, want: dict[str, str], timeout: float = 10.0) -> dict[str, dict]:
    """Wait until the page shows exactly the agents in *want* in those states."""
    deadline = time.monotonic() + timeout
    while True:
        seen = tiles(tab)
        if {agent: tile["state"] for agent, tile in seen.items()} == want:
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"page shows {seen}, wanted {want}")
        time.sleep(0.1)


def colour(css: str) -> str:
    """Name the colour a person sees in a computed ``rgb(...)`` value."""
    r, g, b = (int(n) for n in re.findall(r"\d+", css)[:3])
    if max(r, g, b) - min(r, g, b) < 24:
        return "grey"
    if r > 150 and g > 100 and b < 60:
        return "amber"
    if r > 2 * max(g, b):
        return "red"
    if g > max(r, b):
        return "green"
    return "purple" if r > b / 2 else "blue"


def text(tab: Tab, element: str) -> str:
    return tab.evaluate(f"document.getElementById({element!r}).innerText")


def api(board: FloorBoard) -> dict:
    with urllib.request.urlopen(board.url + "api/agents", timeout=5) as reply:
        return json.loads(reply.read())


def wait_api(board: FloorBoard, predicate, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while not predicate(view := api(board)):
        if time.monotonic() > deadline:
            raise AssertionError(f"board view never matched: {view}")
        time.sleep(0.05)
    return view


def test_every_state_looks_like_the_beacon_and_the_time_ticks(board, peer, tabs,
                                                              tmp_path: Path) -> None:
    peer.publish(BRIDGE, "online", retain=True)
    for person, state in PEOPLE.items():
        peer.publish(TOPICS.status(person), status(state, ago=312), retain=True)
    tab = tabs(board.url)
    seen = wait_tiles(tab, PEOPLE)
    for person, state in PEOPLE.items():
        assert colour(seen[person]["bg"]) == LOOKS[state], (person, seen[person])
        lines = lines_of(seen[person])
        assert lines[:2] == [person, LABELS.get(state, state).upper()], lines
        assert re.fullmatch(r"for 5m1[2-5]s", lines[2]), lines
    assert text(tab, "bridges") == "bridge main: online"
    assert tab.evaluate("document.getElementById('banner').hidden")
    print("screenshot:", tab.screenshot(tmp_path / "board.png"))

    started = "document.querySelector('[data-agent=heidi]').getAnimations()[0].startTime"
    blink_start = tab.evaluate(started)
    tab.wait_for("!document.querySelector('[data-agent=alice] .for').innerText.includes('5m12s')")
    time.sleep(1.1)  # another tick: a render must not restart the blink (it would never go dark)
    assert tab.evaluate(started) == blink_start
    peer.publish(TOPICS.status("alice"), status("engaged"), retain=True)
    seen = wait_tiles(tab, {**PEOPLE, "alice": "engaged"})
    assert colour(seen["alice"]["bg"]) == "red"
    assert lines_of(seen["alice"])[1] == "ENGAGED"
    assert re.fullmatch(r"for [0-3]s", lines_of(seen["alice"])[2])  # counts from the change

    blinking = {p: t["animation"] for p, t in seen.items() if t["animation"] != "none"}
    assert blinking == {"bob": "blink", "dave": "pulse", "heidi": "blink"}
    tab.call("Emulation.setEmulatedMedia",
             features=[{"name": "prefers-reduced-motion", "value": "reduce"}])
    still = tiles(tab)
    assert {t["animation"] for t in still.values()} == {"none"}
    assert lines_of(still["bob"])[1] == "RINGING"


def test_a_whole_floor_fits_one_screen(board, peer, tabs) -> None:
    """A wall TV cannot scroll: forty agents still fit a 1280x720 screen."""
    floor = {f"agent-{n:02d}": "available" for n in range(40)}
    for agent in floor:
        peer.publish(TOPICS.status(agent), status("available"), retain=True)
    tab = tabs(board.url)
    wait_tiles(tab, floor)
    tab.wait_for("document.documentElement.scrollHeight <= window.innerHeight")
    name = tab.evaluate("parseFloat(getComputedStyle(document.querySelector('.tile h2')).fontSize)")
    assert name >= 16  # px: still readable from a few metres


def test_a_dead_broker_turns_every_tile_unknown_until_it_is_back(board, mosquitto, peer,
                                                                 peer_factory, tabs) -> None:
    peer.publish(BRIDGE, "online", retain=True)
    peer.publish(TOPICS.status("alice"), status("engaged"), retain=True)
    peer.publish(TOPICS.status("bob"), status("available"), retain=True)
    tab = tabs(board.url)
    wait_tiles(tab, {"alice": "engaged", "bob": "available"})

    mosquitto.kill()
    seen = wait_tiles(tab, {"alice": "unknown", "bob": "unknown"})
    assert {colour(t["bg"]) for t in seen.values()} <= {"blue"}
    assert "no connection to the broker" in text(tab, "banner")
    assert text(tab, "bridges") == "bridge main: unknown"

    mosquitto.start()  # a fresh broker without the retained statuses
    peer_factory(mosquitto).publish(TOPICS.status("alice"), status("ringing"), retain=True)
    wait_tiles(tab, {"alice": "ringing", "bob": "unknown"}, timeout=20)  # bob: nobody said
    assert tab.evaluate("document.getElementById('banner').hidden")


def test_an_offline_bridge_turns_its_tiles_unknown(board, peer, tabs) -> None:
    """Like the beacon: a stamped status trusts only its bridge, an unstamped one any bridge."""
    peer.publish(BRIDGE, "online", retain=True)
    peer.publish(TOPICS.status("alice"), status("engaged", bridge_id="main"), retain=True)
    peer.publish(TOPICS.status("bob"), status("engaged"), retain=True)
    tab = tabs(board.url)
    wait_tiles(tab, {"alice": "engaged", "bob": "engaged"})
    peer.publish(TOPICS.bridge_availability("old"), "offline", retain=True)
    wait_tiles(tab, {"alice": "engaged", "bob": "unknown"})
    assert "bridge old is offline" in text(tab, "banner")
    peer.publish(BRIDGE, "offline", retain=True)
    wait_tiles(tab, {"alice": "unknown", "bob": "unknown"})
    peer.publish(TOPICS.bridge_availability("old"), b"", retain=True)  # retired: will cleared
    peer.publish(BRIDGE, "online", retain=True)
    wait_tiles(tab, {"alice": "engaged", "bob": "engaged"})
    assert text(tab, "bridges") == "bridge main: online"


def test_the_page_shows_unknown_while_its_stream_is_down_and_reconnects(mosquitto, peer,
                                                                        tabs) -> None:
    settings = BrokerSettings(mosquitto.host, mosquitto.port)
    first = FloorBoard(settings, TOPICS, ("127.0.0.1", 0)).start()
    port = int(first.url.rsplit(":", 1)[1].strip("/"))
    peer.publish(TOPICS.status("alice"), status("dnd"), retain=True)
    tab = tabs(first.url)
    wait_tiles(tab, {"alice": "dnd"})
    tab.evaluate("window.sameDocument = true")

    first.stop()
    wait_tiles(tab, {"alice": "unknown"})
    assert "lost the connection to the board" in text(tab, "banner")

    second = FloorBoard(settings, TOPICS, ("127.0.0.1", port)).start()
    try:
        wait_tiles(tab, {"alice": "dnd"}, timeout=20)
        assert tab.evaluate("window.sameDocument")  # the stream came back, not a reload
    finally:
        second.stop()


def test_a_frozen_board_turns_the_page_unknown(mosquitto, peer, tabs) -> None:
    """A stream that stays open but goes silent (board hung, half-open TCP) is not trusted."""
    peer.publish(TOPICS.status("alice"), status("engaged"), retain=True)
    with board_process(mosquitto) as (board, url):
        tab = tabs(url)
        wait_tiles(tab, {"alice": "engaged"})
        board.send_signal(signal.SIGSTOP)
        try:
            wait_tiles(tab, {"alice": "unknown"}, timeout=30)
        finally:
            board.send_signal(signal.SIGCONT)
        wait_tiles(tab, {"alice": "engaged"}, timeout=30)


def test_no_status_survives_a_lost_link_whoever_published_it() -> None:
    floor = Floor({"alice": "Alice"})
    floor.link(True)
    floor.agent("alice", Status("engaged", "board", 1.0))  # a publisher using the board's name
    floor.link(False)
    assert [(a["id"], a["state"]) for a in floor.view()["agents"]] == [("alice", "unknown")]


def test_bad_messages_are_ignored_with_one_log_line_each(board, peer, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="focuslight.views.floor_board.server")
    peer.publish(TOPICS.status("alice"), status("engaged"), retain=True)
    wait_api(board, lambda view: view["agents"])
    bad = [(TOPICS.status("alice"), b"{not json"),
           (TOPICS.status("bob"), status("busy")),
           ("boardtest/agents/Bad!/status", status("engaged")),
           (BRIDGE, b"maybe")]
    for topic, payload in bad:
        peer.publish(topic, payload)
    peer.publish(TOPICS.status("carol"), status("away"))
    view = wait_api(board, lambda view: len(view["agents"]) == 2)
    assert [(a["id"], a["state"]) for a in view["agents"]] == [("alice", "engaged"),
                                                               ("carol", "away")]
    assert view["bridges"] == []
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == len(bad), lines
    for (topic, _), line in zip(bad, lines, strict=True):
        assert line.startswith(f"board: ignored message on {topic!r}: "), line


def test_only_the_state_vocabulary_leaves_the_board(board, peer) -> None:
    peer.publish(BRIDGE, "online", retain=True)
    peer.publish(TOPICS.status("alice"),
                 status("engaged", caller="+4930555123", name="Ms Smith"), retain=True)
    view = wait_api(board, lambda view: view["agents"] and view["bridges"])
    assert view["agents"] == [{"id": "alice", "name": "alice", "state": "engaged",
                               "source": "phone", "since": view["agents"][0]["since"]}]
    with urllib.request.urlopen(board.url + "events", timeout=5) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        lines = [stream.readline() for _ in range(5)]
    assert lines[:3] == [b"retry: 2000\n", b"\n", b"event: snapshot\n"]
    assert re.fullmatch(rb"id: \d+\n", lines[3])
    sent = json.loads(lines[4].removeprefix(b"data: "))
    # The caller's number and name, not a fragment a timestamp can contain by chance.
    assert sent["agents"] == view["agents"]
    assert b"4930555123" not in lines[4] and b"Smith" not in lines[4]


def test_pages_past_the_cap_get_503_until_one_closes(mosquitto, monkeypatch, caplog) -> None:
    monkeypatch.setattr(board_module, "MAX_CONNECTIONS", 2)
    monkeypatch.setattr(board_module, "HEARTBEAT_S", 0.5)  # a closed stream is noticed sooner
    caplog.set_level(logging.WARNING, logger="focuslight.http_server")
    board = FloorBoard(BrokerSettings(mosquitto.host, mosquitto.port), TOPICS, ("127.0.0.1", 0))
    board.start()
    streams = []
    try:
        streams = [urllib.request.urlopen(board.url + "events", timeout=5) for _ in range(2)]
        with pytest.raises(urllib.error.HTTPError) as busy:
            api(board)
        assert busy.value.code == 503 and busy.value.headers["Retry-After"] == "1"
        assert caplog.messages == ["board: 2 connections open; answering 503 until one closes "
                                   "(latest from 127.0.0.1)"]
        streams.pop().close()
        deadline = time.monotonic() + 10  # the stream's thread notices at a ping
        while True:
            with contextlib.suppress(urllib.error.HTTPError, ConnectionError):
                assert "agents" in api(board)
                break
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        for stream in streams:
            stream.close()
        board.stop()


@contextlib.contextmanager
def board_process(mosquitto, *options: str) -> Iterator[tuple[subprocess.Popen, str]]:
    """``focuslight board`` as its own process on a free port; yields it and the page's URL."""
    if not options:
        options = ("--broker", mosquitto.url, "--prefix", TOPICS.prefix)
    board = subprocess.Popen([sys.executable, "-m", "focuslight", "board", *options, "--listen",
                              "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True)
    try:
        yield board, re.search(r"http://\S+", board.stdout.readline()).group(0)
    finally:
        board.kill()
        board.communicate()


def test_focuslight_board_command_serves_until_sigterm(mosquitto, tmp_path: Path) -> None:
    """With the bridge's config: its broker and prefix, a named tile for every agent."""
    config = tmp_path / "focuslight.toml"
    config.write_text(f'[bridge]\nid = "main"\nbroker = "{mosquitto.url}"\nprefix = "boardtest"\n'
                      '[agents.alice]\nname = "Alice Martin"\n'
                      '[[sources]]\ntype = "simulated"\n')
    with board_process(mosquitto, "-c", str(config)) as (board, url):
        with urllib.request.urlopen(url, timeout=5) as page:
            html = page.read().decode()
            assert "board.js" in html
            assert page.headers["Content-Security-Policy"] == "default-src 'self'"
        with urllib.request.urlopen(url + "api/agents", timeout=5) as reply:
            agents = json.loads(reply.read())["agents"]
        assert [(a["id"], a["name"], a["state"]) for a in agents] == [
            ("alice", "Alice Martin", "unknown")]  # no status yet: a tile, never a guess
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(url + "../../etc/passwd", timeout=5)
        assert missing.value.code == 404
        board.send_signal(signal.SIGTERM)
        assert board.wait(10) == 0
    bad = subprocess.run([sys.executable, "-m", "focuslight", "board", "--listen", "8080"],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "expected HOST:PORT" in bad.stderr


def test_the_demo_serves_the_floor_board(mosquitto, tabs) -> None:
    demo = subprocess.Popen([sys.executable, "-m", "focuslight", "demo", "--duration", "30",
                             "--broker", mosquitto.url], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True)
    try:
        url = next(match.group(0) for line in demo.stdout
                   if (match := re.search(r"http://\S+/", line)))
        tab = tabs(url)
        tab.wait_for(f"({TILES}).filter(([_, t]) => t.state !== 'unknown').length == 4",
                     timeout=20)
        assert sorted(tiles(tab)) == ["alice", "bob", "carol", "dave"]
        assert text(tab, "bridges") == "bridge demo: online"
    finally:
        demo.send_signal(signal.SIGINT)
        demo.communicate(timeout=20)
    assert demo.returncode == 0


def test_one_offline_bridge_of_several_darkens_only_its_agents(board, peer, tabs) -> None:
    """The banner names whose lights are unknown, not "every light" (issue 9.3)."""
    peer.publish(BRIDGE, "online", retain=True)
    peer.publish(TOPICS.bridge_availability("counter-1"), "online", retain=True)
    peer.publish(TOPICS.status("alice"), status("engaged", bridge_id="main"), retain=True)
    peer.publish(TOPICS.status("bob"), status("available", bridge_id="main"), retain=True)
    peer.publish(TOPICS.status("counter-1"), status("engaged", bridge_id="counter-1"),
                 retain=True)
    tab = tabs(board.url)
    wait_tiles(tab, {"alice": "engaged", "bob": "available", "counter-1": "engaged"})
    peer.publish(TOPICS.bridge_availability("counter-1"), "offline", retain=True)
    wait_tiles(tab, {"alice": "engaged", "bob": "available", "counter-1": "unknown"})
    banner = text(tab, "banner")
    assert "bridge counter-1 is offline: counter-1 shows unknown" in banner, banner
    assert "alice" not in banner and "bob" not in banner and "every light" not in banner
    assert api(board)["doubts"] == ["bridge counter-1 is offline: counter-1 shows unknown"]


def test_the_floor_names_the_agents_each_doubt_darkens() -> None:
    floor = Floor({"alice": "Alice", "bob": "Bob", "carol": "Carol"})
    floor.link(True)
    floor.agent("alice", Status("engaged", "phone", 1.0, "main"))
    floor.agent("bob", Status("available", "phone", 1.0, "pc-7"))
    floor.agent("carol", Status("dnd", "phone", 1.0, None))  # an older bridge: no bridge_id
    floor.bridge("pc-7", "offline")
    floor.bridge("pc-9", "offline")
    view = floor.view()
    assert {a["id"]: a["state"] for a in view["agents"]} == {
        "alice": "engaged", "bob": "unknown", "carol": "unknown"}
    assert view["doubts"] == ["bridge pc-7 is offline: Bob, Carol show unknown",
                              "bridge pc-9 is offline: Carol shows unknown"]
    floor.link(False)
    assert floor.view()["doubts"][0] == "no connection to the broker: every light shows unknown"


def test_a_tile_carries_the_attention_of_a_trusted_status_only() -> None:
    """cue, escalated, waiting_since and chats on alice's tile (the page renders them); bob's
    bridge is offline, so his tile is unknown and asks nothing."""
    floor = Floor({"alice": "Alice", "bob": "Bob"})
    floor.link(True)
    asking = {"cue": "reply_due", "waiting_since": 5.0, "escalated": True, "chats": 2}
    floor.agent("alice", Status("engaged", "chat", 1.0, "main", **asking))
    floor.agent("bob", Status("engaged", "chat", 1.0, "pc-7", **asking))
    floor.bridge("pc-7", "offline")
    tiles = {t["id"]: t for t in floor.view()["agents"]}
    assert tiles["alice"] == {"id": "alice", "name": "Alice", "state": "engaged",
                              "source": "chat", "since": 1.0, **asking}
    assert tiles["bob"]["state"] == "unknown" and not set(asking) & set(tiles["bob"])
    floor.agent("alice", Status("engaged", "chat", 1.0, "main", chats=1))
    assert "cue" not in floor.view()["agents"][0]


# -- the stream: a snapshot, then deltas (issue 13.1) ---------------------------------

def read_events(stream, count: int) -> list[tuple[str, dict]]:
    """The next *count* snapshot/delta events of an SSE stream, as (kind, data)."""
    events: list[tuple[str, dict]] = []
    kind = None
    while len(events) < count:
        line = stream.readline()
        if line.startswith(b"event: "):
            kind = line[7:].strip().decode()
        elif line.startswith(b"data: ") and kind in ("snapshot", "delta"):
            events.append((kind, json.loads(line[6:])))
    return events


def test_the_stream_sends_a_snapshot_then_only_what_changed(board, peer) -> None:
    peer.publish(BRIDGE, "online", retain=True)
    for person in ("alice", "bob", "carol"):
        peer.publish(TOPICS.status(person), status("available", bridge_id="main"), retain=True)
    wait_api(board, lambda view: len(view["agents"]) == 3 and view["bridges"])
    time.sleep(board_module.TICK_S + 0.3)  # the last delta taken: the snapshot holds it all
    with urllib.request.urlopen(board.url + "events", timeout=5) as stream:
        [(kind, snapshot)] = read_events(stream, 1)
        assert kind == "snapshot" and [a["id"] for a in snapshot["agents"]] == [
            "alice", "bob", "carol"]
        peer.publish(TOPICS.status("bob"), status("engaged", bridge_id="main"), retain=True)
        [(kind, delta)] = read_events(stream, 1)
        assert kind == "delta"
        assert [(a["id"], a["state"]) for a in delta["agents"]] == [("bob", "engaged")]
        assert delta["gone"] == [] and delta["bridges"] == [{"id": "main", "state": "online"}]
        peer.publish(TOPICS.status("carol"), b"", retain=True)  # retired
        [(_, delta)] = read_events(stream, 1)
        assert delta["agents"] == [] and delta["gone"] == ["carol"]
        peer.publish(BRIDGE, "offline", retain=True)  # every tile may follow a bridge
        [(_, delta)] = read_events(stream, 1)
        assert [(a["id"], a["state"]) for a in delta["agents"]] == [("alice", "unknown"),
                                                                    ("bob", "unknown")]


def test_changes_within_a_tick_go_out_as_one_delta() -> None:
    floor = Floor()
    floor.link(True)
    first = floor.changes()
    assert first is not None and first[0] == 1
    for n in range(50):
        floor.agent("alice", Status("engaged" if n % 2 else "ringing", "phone", float(n)))
    seq, delta = floor.changes()
    assert seq == 2 and [(a["id"], a["state"], a["since"]) for a in delta["agents"]] == [
        ("alice", "engaged", 49.0)]  # the newest state only, once
    assert floor.changes() is None
    assert floor.snapshot()[0] == 2  # a snapshot says which deltas it already holds


def test_a_page_that_falls_behind_the_ring_starts_again_from_a_snapshot(
        board, peer, monkeypatch) -> None:
    """It gets the newest floor instead of every delta it missed, however many there were."""
    monkeypatch.setattr(board_module, "RING_FRAMES", 2)
    peer.publish(TOPICS.status("alice"), status("available"), retain=True)
    wait_api(board, lambda view: view["agents"])
    for n in range(5000):  # a big floor: a delta after a bridge change is ~0.5 MB
        board.floor.agent(f"filler-{n:04d}", Status("available", "phone", time.time()))
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect(("127.0.0.1", int(board.url.rsplit(":", 1)[1].strip("/"))))
    try:
        slow.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        first = b""
        while b"event: snapshot" not in first:
            first += slow.recv(65536)
        for n in range(30):  # big deltas, none read: the page falls behind the ring
            board.floor.bridge("flappy", "offline" if n % 2 else "online")
            time.sleep(0.1)
        board.floor.bridge("flappy", None)
        peer.publish(TOPICS.status("alice"), status("dnd"), retain=True)
        slow.settimeout(10)
        seen = b""
        while (seen.count(b"event: snapshot") < 1
               or b'"alice","name":"alice","state":"dnd"' not in seen.rpartition(
                   b"event: snapshot")[2]):
            seen = seen[-4_000_000:] + slow.recv(1 << 20)
    finally:
        slow.close()


def test_the_board_keeps_no_history(board, peer) -> None:
    """Staff privacy: one status per agent, and a few seconds of deltas at most; a retired
    agent leaves no trace once they have passed."""
    for n in range(60):
        peer.publish(TOPICS.status("alice"), status(["available", "engaged"][n % 2]))
        peer.publish(TOPICS.status("bob"), status("available"), retain=True)
        time.sleep(0.01)
    peer.publish(TOPICS.status("bob"), b"", retain=True)
    wait_api(board, lambda view: [a["id"] for a in view["agents"]] == ["alice"])
    for n in range(board_module.RING_FRAMES + 2):  # more deltas than the ring holds
        board.floor.agent("carol", Status(["away", "dnd"][n % 2], "phone", time.time()))
        time.sleep(board_module.TICK_S + 0.05)
    feed = board._server.app.__self__.feed  # the one _Pages of this server
    assert len(feed.frames) <= board_module.RING_FRAMES
    assert not any(b'"bob"' in frame for _, frame in feed.frames)
    assert "bob" not in json.dumps(board.floor.view())


# -- access control -----------------------------------------------------------------

TOKEN = "wall-tv-0123456789abcdef"


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
    """(status, headers, body), not following redirects."""
    class Keep(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(Keep)
    try:
        with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=5) as reply:
            return reply.status, dict(reply.headers), reply.read(200)
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_a_board_with_a_token_serves_only_who_carries_it(mosquitto, peer, tabs) -> None:
    peer.publish(TOPICS.status("alice"), status("engaged"), retain=True)
    board = FloorBoard(BrokerSettings(mosquitto.host, mosquitto.port), TOPICS,
                       ("127.0.0.1", 0), token=TOKEN).start()
    try:
        for path in ("", "api/agents", "events", "board.js"):
            code, headers, _ = fetch(board.url + path)
            assert code == 401 and headers["WWW-Authenticate"].startswith("Bearer"), path
        assert fetch(board.url + "api/agents", {"Authorization": "Bearer wrong"})[0] == 401
        assert fetch(board.url + f"?token={TOKEN[:-1]}")[0] == 401
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert fetch(board.url + "api/agents", bearer)[0] == 200
        code, headers, _ = fetch(board.url + f"?token={TOKEN}")
        assert code == 303 and headers["Location"] == "./"  # the token leaves the address
        cookie = headers["Set-Cookie"]
        assert cookie.startswith(f"focuslight_board={TOKEN};") and "HttpOnly" in cookie
        assert fetch(board.url, {"Cookie": f"focuslight_board={TOKEN}"})[0] == 200

        tab = tabs(board.url + f"?token={TOKEN}")  # a wall TV opening the URL once
        wait_tiles(tab, {"alice": "engaged"})      # the page and its stream, by the cookie
        assert tab.evaluate("location.search") == ""
    finally:
        board.stop()


def test_the_board_command_reads_its_token_and_refuses_a_weak_one(mosquitto,
                                                                  tmp_path: Path) -> None:
    weak = tmp_path / "weak"
    weak.write_text("secret\n")
    bad = subprocess.run([sys.executable, "-m", "focuslight", "board", "--broker", mosquitto.url,
                          "--token-file", str(weak), "--listen", "127.0.0.1:0"],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "token_urlsafe" in bad.stderr
    good = tmp_path / "token"
    good.write_text(TOKEN + "\n")
    with board_process(mosquitto, "--broker", mosquitto.url, "--prefix", TOPICS.prefix,
                       "--token-file", str(good)) as (_, url):
        assert fetch(url + "api/agents")[0] == 401
        assert fetch(url + "api/agents", {"Authorization": f"Bearer {TOKEN}"})[0] == 200


# -- a board supervisors can run a floor with (issue 13.2) ----------------------------

TEAMS = {"alice": "billing", "bob": "billing", "carol": "billing",
         "dave": "sales", "erin": "sales", "frank": "sales"}


@pytest.fixture
def team_board(mosquitto) -> Iterator[FloorBoard]:
    board = FloorBoard(BrokerSettings(mosquitto.host, mosquitto.port), TOPICS,
                       ("127.0.0.1", 0), groups=TEAMS)
    yield board.start()
    board.stop()


def telemetry(agent: str) -> bytes:
    return json.dumps({"v": 1, "agent": agent, "firmware": "99.0.0", "uptime": 5}).encode()


def counts(tab: Tab) -> dict[str, str]:
    return dict(tab.evaluate("[...document.querySelectorAll('#groups li')].map("
                             "li => [li.dataset.group, li.innerText.replace(/\\s+/g, ' ')])"))


def test_a_supervisor_sees_each_team_who_is_free_and_why_a_tile_is_unknown(
        team_board, peer, tabs) -> None:
    peer.publish(BRIDGE, "online", retain=True)
    peer.publish(TOPICS.bridge_availability("pc-7"), "offline", retain=True)
    floor = {"alice": status("available", bridge_id="main"),
             "bob": status("engaged", bridge_id="main"),
             "carol": json.dumps({"v": 1, "state": "unknown", "source": "phone",
                                  "since": time.time(), "bridge_id": "main"}).encode(),
             "dave": status("available", bridge_id="main"),
             "erin": status("ringing", bridge_id="pc-7"),   # its bridge is offline
             "frank": status("away", bridge_id="main"),
             "grace": status("available", bridge_id="main")}  # in no team
    for agent, payload in floor.items():
        peer.publish(TOPICS.status(agent), payload, retain=True)
    peer.publish(TOPICS.beacon_telemetry("bob-desk"), telemetry("bob"), retain=True)
    peer.publish(TOPICS.beacon_availability("bob-desk"), "offline", retain=True)
    tab = tabs(team_board.url)
    shown = {"alice": "available", "bob": "engaged", "carol": "unknown", "dave": "available",
             "erin": "unknown", "frank": "away", "grace": "available"}
    seen = wait_tiles(tab, shown)
    tab.wait_for("document.querySelector('[data-agent=bob] .beacons').innerText"
                 ".includes('offline')")
    assert counts(tab) == {"": "everyone 3 free 1 busy 1 away 2 unknown",
                           "billing": "billing 1 free 1 busy 1 unknown",
                           "sales": "sales 1 free 0 busy 1 away 1 unknown"}
    why = "document.querySelector('[data-agent={}] .why').innerText"
    assert tab.evaluate(why.format("carol")) == "why: phone reports unknown"
    assert tab.evaluate(why.format("erin")) == "why: bridge pc-7 offline"
    assert tab.evaluate(why.format("alice")) == ""
    # bob's beacon is offline: marked on his tile, and he is still engaged, not unknown
    assert colour(seen["bob"]["bg"]) == "red"
    assert "bob-desk 99.0.0 — beacon offline" in lines_of(tiles(tab)["bob"])
    assert "billing" in lines_of(seen["alice"])

    tab.evaluate("document.getElementById('free').click()")
    wait_tiles(tab, {"alice": "available", "dave": "available", "grace": "available"})
    assert tab.evaluate("location.hash") == "#free"
    tab.evaluate("location.hash = '#free&group=sales'")
    wait_tiles(tab, {"dave": "available"})
    tab.evaluate("location.hash = '#group=billing'")
    wait_tiles(tab, {"alice": "available", "bob": "engaged", "carol": "unknown"})
    peer.publish(TOPICS.status("bob"), status("available", bridge_id="main"), retain=True)
    tab.wait_for("document.querySelector('#groups [data-group=billing]').innerText"
                 ".replace(/\\s+/g, ' ') === 'billing 2 free 0 busy 1 unknown'")


def test_a_lost_broker_says_why_on_every_tile(team_board, mosquitto, peer, tabs) -> None:
    peer.publish(TOPICS.status("alice"), status("engaged"), retain=True)
    tab = tabs(team_board.url)
    wait_tiles(tab, {"alice": "engaged"})
    mosquitto.kill()
    wait_tiles(tab, {"alice": "unknown"})
    tab.wait_for("document.querySelector('[data-agent=alice] .why').innerText"
                 " === 'why: no connection to the broker'")


STILL = """[...document.querySelectorAll('.tile')].map(t => [t.dataset.state, {
    icon: getComputedStyle(t.querySelector('.what'), '::before').backgroundImage
          + getComputedStyle(t.querySelector('.what'), '::before').borderRadius,
    pattern: getComputedStyle(t).backgroundImage,
    animation: getComputedStyle(t).animationName,
    seconds: parseFloat(getComputedStyle(t).animationDuration)}])"""


def test_ringing_engaged_and_hold_differ_in_a_still_frame_and_blink_slowly(
        board, peer, tabs) -> None:
    """Same red: an icon and a pattern of their own, not only the word, not only motion;
    and no blink faster than 3 flashes a second (photosensitive guideline)."""
    for agent, state in PEOPLE.items():
        peer.publish(TOPICS.status(agent), status(state), retain=True)
    tab = tabs(board.url)
    wait_tiles(tab, PEOPLE)
    looks = dict(tab.evaluate(STILL))
    reds = [looks[state] for state in ("ringing", "engaged", "hold")]
    assert len({look["icon"] for look in reds}) == 3, reds
    assert len({look["pattern"] for look in reds}) == 3, reds
    for state, look in looks.items():
        if look["animation"] == "blink":  # steps(1): one flash per cycle
            assert 1 / look["seconds"] <= 3, (state, look)
    tab.call("Emulation.setEmulatedMedia",
             features=[{"name": "prefers-reduced-motion", "value": "reduce"}])
    still = dict(tab.evaluate(STILL))
    assert {look["animation"] for look in still.values()} == {"none"}
    assert len({still[s]["icon"] + still[s]["pattern"] for s in ("ringing", "engaged",
                                                                  "hold")}) == 3


def test_the_page_renders_a_supervisors_tile_fields(board, peer, tabs) -> None:
    """cue, waiting_since, chats, escalated and site when a tile carries them; none of it
    on an unknown tile."""
    waiting = time.time() - 125
    peer.publish(TOPICS.status("alice"), status(
        "engaged", cue="reply_due", waiting_since=waiting, escalated=True, chats=2),
        retain=True)
    peer.publish(TOPICS.status("bob"), status("engaged", chats=1), retain=True)
    tab = tabs(board.url)
    wait_tiles(tab, {"alice": "engaged", "bob": "engaged"})
    cue = "document.querySelector('[data-agent={}] .cue')"
    tab.wait_for(cue.format("alice") + ".innerText.startsWith('supervisor')")
    assert re.fullmatch(r"supervisor · reply due 2m0[5-9]s · 2 chats",
                        tab.evaluate(cue.format("alice") + ".innerText"))
    assert tab.evaluate("document.querySelector('[data-agent=alice]')"
                        ".classList.contains('escalated')")
    assert tab.evaluate(cue.format("bob") + ".innerText") == "1 chat"
    tab.evaluate("stream.close(); lost()")  # the stream is gone: unknown, and asks nothing
    wait_tiles(tab, {"alice": "unknown", "bob": "unknown"})
    assert tab.evaluate(cue.format("alice") + ".innerText") == ""


SCREENS = {"wall": (1920, 1080), "phone": (390, 844)}


@pytest.mark.parametrize("screen", SCREENS)
def test_screenshots_wall_tv_and_phone(screen: str, chromium: Chromium, mosquitto, peer,
                                       tmp_path: Path) -> None:
    """The tiles grow to fill a wall TV and shrink to a phone's width; the screenshots in
    docs/img are these (``FOCUSLIGHT_SCREENSHOTS=docs/img pytest -n 0 -k screenshots``
    writes them there)."""
    names = {"ana": "Ana Lima", "ben": "Ben Ochs", "chloe": "Chloé Roy", "dev": "Dev Patel",
             "eli": "Eli Cohen", "fay": "Fay Wong", "gus": "Gus Berg", "hana": "Hana Sato",
             "ivo": "Ivo Novak", "jo": "Jo Kim", "kai": "Kai Moe", "lea": "Léa Faure"}
    groups = {a: ("billing" if n < 6 else "sales") for n, a in enumerate(names)}
    states = ["available", "ringing", "engaged", "hold", "wrap_up", "available", "dnd",
              "available", "engaged", "away", "unknown", "engaged"]
    board = FloorBoard(BrokerSettings(mosquitto.host, mosquitto.port), TOPICS,
                       ("127.0.0.1", 0), names, groups=groups).start()
    try:
        peer.publish(BRIDGE, "online", retain=True)
        for n, (agent, state) in enumerate(zip(names, states, strict=True)):
            extra = {"chats": 2, "cue": "reply_due", "waiting_since": time.time() - 95,
                     "escalated": True} if agent == "dev" else {}
            peer.publish(TOPICS.status(agent), status(state, ago=60 * n + 7, bridge_id="main",
                                                      **extra), retain=True)
        width, height = SCREENS[screen]
        tab = chromium.tab(board.url, width=width, height=height)
        try:
            tab.call("Emulation.setEmulatedMedia",  # a still frame: the blinks stopped
                     features=[{"name": "prefers-reduced-motion", "value": "reduce"}])
            wait_tiles(tab, dict(zip(names, states, strict=True)))
            tab.wait_for("document.querySelector('[data-agent=dev] .cue').innerText !== ''")
            time.sleep(0.3)
            name_px = tab.evaluate("parseFloat(getComputedStyle("
                                   "document.querySelector('.tile h2')).fontSize)")
            widest = tab.evaluate("Math.max(...[...document.querySelectorAll('.tile')]"
                                  ".map(t => t.getBoundingClientRect().right))")
            assert widest <= width  # nothing off the side
            if screen == "wall":  # grown: big names, and the whole floor on one screen
                assert name_px >= 48, name_px
                assert tab.evaluate("document.documentElement.scrollHeight") <= height
            else:  # one readable column that scrolls
                assert name_px >= 24, name_px
                assert tab.evaluate("new Set([...document.querySelectorAll('.tile')]"
                                    ".map(t => t.getBoundingClientRect().left)).size") == 1
            shot = tab.screenshot(tmp_path / f"board-{screen}.png")
            assert png_size(shot) == (width, height)
            if os.environ.get("FOCUSLIGHT_SCREENSHOTS"):  # docs/img: the guide's pictures
                shutil.copy(shot, Path(os.environ["FOCUSLIGHT_SCREENSHOTS"]))
        finally:
            tab.close()
    finally:
        board.stop()


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's header."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
