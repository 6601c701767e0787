"""The floor board shows which firmware each beacon runs, outdated firmware flagged
(issue 9.6): the real firmware on the unix port reports through a real mosquitto, the
board's JSON view and its page in headless Chromium show it on the agent's tile."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.browser import Chromium
from helpers.firmware import beacon_factory

import focuslight
from focuslight.mqtt.client import BrokerSettings
from focuslight.protocol import Status, Topics
from focuslight.views.floor_board import FloorBoard

PREFIX = "boardbeacons"
TOPICS = Topics(PREFIX)


@pytest.fixture
def board(mosquitto) -> Iterator[FloorBoard]:
    board = FloorBoard(BrokerSettings(mosquitto.host, mosquitto.port), TOPICS, ("127.0.0.1", 0))
    yield board.start()
    board.stop()


@pytest.fixture
def beacons():
    yield from beacon_factory()


def view(board: FloorBoard, predicate, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen(board.url + "api/agents", timeout=5) as reply:
            body = json.loads(reply.read())
        if predicate(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"board view never matched: {body}")
        time.sleep(0.05)


def test_the_board_shows_each_beacons_firmware_and_flags_outdated_ones(
        mosquitto, peer_factory, board, beacons, tmp_path: Path) -> None:
    peer = peer_factory(mosquitto)
    for agent in ("alice", "bob"):
        peer.publish(TOPICS.status(agent), Status("available", "phone", time.time()).encode(),
                     retain=True)
    beacons(mosquitto.url, PREFIX, "alice", "alice-desk")
    old = {"v": 1, "agent": "bob", "firmware": "0.1.0", "uptime": 10, "ip": "10.0.0.9"}
    peer.publish(f"{PREFIX}/beacons/bob-desk/telemetry", json.dumps(old), retain=True)
    body = view(board, lambda v: len(v["beacons"]) == 2 and v["beacons"][0]["link"] == "online")
    assert body["beacons"] == [
        {"id": "alice-desk", "agent": "alice", "firmware": focuslight.__version__,
         "outdated": False, "link": "online"},
        {"id": "bob-desk", "agent": "bob", "firmware": "0.1.0", "outdated": True,
         "link": "unknown"}]  # bob-desk never said online; and no IPs on a wall TV

    browser = Chromium(tmp_path / "chromium")
    try:
        tab = browser.tab(board.url)
        line = "document.querySelector('[data-agent={}] .beacons')"
        tab.wait_for(line.format("bob") + "?.innerText.includes('bob-desk')")
        assert tab.evaluate(line.format("alice") + ".innerText") == (
            f"alice-desk {focuslight.__version__}")
        assert tab.evaluate(line.format("bob") + ".innerText") == "bob-desk 0.1.0 (outdated)"
        assert tab.evaluate(line.format("bob") + ".classList.contains('outdated')")
        # a beacon whose report is cleared (retired) leaves the tile
        peer.publish(f"{PREFIX}/beacons/bob-desk/telemetry", b"", retain=True)
        tab.wait_for(line.format("bob") + ".innerText === ''")
        tab.close()
    finally:
        browser.close()
