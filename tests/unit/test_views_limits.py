"""A flood of made-up ids costs a view bounded memory (issue 8.5): the floor board's view
model and ``watch``'s table each keep at most their cap per kind of id, refuse new ids
past it with one log line per busy spell, keep serving the known ones, and a cleared
retained topic frees a slot. Through the real readers (the board's ``receive``, watch's
``read_message``), with the real caps."""

from __future__ import annotations

import json
import logging

import paho.mqtt.client as mqtt
import pytest

from focuslight.mqtt.client import BrokerSettings
from focuslight.protocol import Topics
from focuslight.views.floor_board import FloorBoard
from focuslight.views.limits import MAX_AGENTS, MAX_BEACONS, MAX_BRIDGES
from focuslight.views.watch import LiveTable, read_message

TOPICS = Topics("cap")
KINDS = [  # (kind, cap, topic of id n, a valid payload)
    ("agents", MAX_AGENTS, lambda n: TOPICS.status(f"a{n}"),
     b'{"v":1,"state":"engaged","source":"phone","since":1}'),
    ("bridges", MAX_BRIDGES, lambda n: f"cap/bridges/b{n}/availability", b"online"),
    ("beacons", MAX_BEACONS, lambda n: f"cap/beacons/k{n}/telemetry",
     json.dumps({"v": 1, "agent": "alice", "firmware": "0.2.0", "ip": None, "rssi": None,
                 "uptime": 5, "heap_free": 1000, "reset_cause": "power_on"}).encode()),
    ("beacon links", MAX_BEACONS, lambda n: f"cap/beacons/k{n}/availability", b"online"),
]


def board_reader():
    board = FloorBoard(BrokerSettings("127.0.0.1", 1), TOPICS)
    board.floor.link(True)
    tables = {"agents": "_agents", "bridges": "_bridges", "beacons": "_beacons",
              "beacon links": "_beacon_links"}
    return (lambda topic, payload: board.receive(topic, payload),
            lambda kind: len(getattr(board.floor, tables[kind])))


def watch_reader():
    table = LiveTable()
    table.link(True)
    tables = {"agents": table.agents, "bridges": table.bridges, "beacons": table.beacons,
              "beacon links": table.beacon_links}

    def receive(topic: str, payload: bytes) -> None:
        msg = mqtt.MQTTMessage(topic=topic.encode())
        msg.payload = payload
        read_message(table, TOPICS, msg)
    return receive, lambda kind: len(tables[kind])


@pytest.mark.parametrize("reader", [board_reader, watch_reader], ids=["board", "watch"])
@pytest.mark.parametrize(("kind", "cap", "topic", "payload"), KINDS, ids=[k[0] for k in KINDS])
def test_a_flood_of_new_ids_stops_at_the_cap(reader, kind, cap, topic, payload,
                                             caplog) -> None:
    receive, size = reader()
    caplog.set_level(logging.WARNING, logger="focuslight")
    for n in range(cap + 500):
        receive(topic(n), payload)
    assert size(kind) == cap
    refusals = [r for r in caplog.records if "the most it keeps" in r.getMessage()]
    assert len(refusals) == 1, [r.getMessage() for r in refusals]  # one line per busy spell
    receive(topic(0), payload)  # a known id is still served
    assert size(kind) == cap
    receive(topic(7), b"")  # a cleared retained topic frees its slot ...
    assert size(kind) == cap - 1
    receive(topic(cap + 1000), payload)  # ... for the next new id
    assert size(kind) == cap
    receive(topic(cap + 1001), payload)  # full again: a new busy spell, a new line
    refusals = [r for r in caplog.records if "the most it keeps" in r.getMessage()]
    assert len(refusals) == 2
