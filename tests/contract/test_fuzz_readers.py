"""Every host reader survives any payload and believes only valid ones (issue 8).

Seeded and bounded: 10,000 payloads per reader through its real entry point —
the bridge's paho ``on_message`` (``set`` and event topics), the board's and the
``watch`` reader's (statuses, bridge availabilities, beacon reports), the serial link's
line handler — each judged against an
independent reading of protocol v1 (``fuzz_payloads``). A reader fails if an
exception escapes, if its last-resort guard had to catch one (a bug the
decoders should have turned into a ProtocolError), or if it shows a state the
payloads never validly said ("wrong looks", ``available`` above all). Then a
smaller sample goes through a real mosquitto to a running bridge process,
which must still answer a ``set`` afterwards.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from helpers.fuzz_payloads import (
    ID,
    expect_event,
    expect_expected,
    expect_set,
    expect_status,
    ident,
    payloads,
)
from helpers.status_fuzz import availability_payloads

from focuslight.config import load
from focuslight.core.hub import Hub
from focuslight.core.policy import MANUAL
from focuslight.mqtt.client import BrokerSettings
from focuslight.outputs.mqtt import MqttOutput
from focuslight.outputs.serial_beacon import SerialBeacon, _LineReader
from focuslight.protocol import Topics
from focuslight.views.counter_sign import CounterSignServer, built_in
from focuslight.views.floor_board import FloorBoard
from focuslight.views.watch import LiveTable, read_message

SEED = 20261201
PER_READER = 10_000
THROUGH_BROKER = 600
PREFIX = "t"


class Guarded(logging.Handler):
    """Counts what the last-resort guards caught: each one is a reader bug."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.caught: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "failed with" in record.getMessage():
            self.caught.append(record.getMessage())


@pytest.fixture
def guarded() -> Iterator[Guarded]:
    handler = Guarded()
    root = logging.getLogger("focuslight")
    root.addHandler(handler)
    level, root.level = root.level, logging.ERROR  # the warnings are expected; keep it fast
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


def message(topic: str | bytes, payload: bytes) -> mqtt.MQTTMessage:
    msg = mqtt.MQTTMessage(topic=topic.encode() if isinstance(topic, str) else topic)
    msg.payload = payload
    return msg


def topic_for(rng_ident: str, family: str, leaf: str, n: int) -> str | bytes:
    if n % 97 == 0:
        return f"{PREFIX}/{family}/".encode() + b"\xff\xfe" + f"/{leaf}".encode()  # not UTF-8
    return f"{PREFIX}/{family}/{rng_ident}/{leaf}"


def config_file(tmp_path: Path, url: str = "mqtt://127.0.0.1:1") -> Path:
    path = tmp_path / "focuslight.toml"
    path.write_text(f'[bridge]\nid = "main"\nbroker = "{url}"\nprefix = "{PREFIX}"\n'
                    '[agents.alice]\nbeacons = ["alice-desk"]\n[agents.bob]\n'
                    '[home_assistant]\nenabled = false\n')
    return path


def test_the_bridge_survives_any_set_and_event(tmp_path, guarded) -> None:
    import random
    config = load(config_file(tmp_path))
    bridge = Hub(config.agents, [])
    link = MqttOutput(bridge, config)  # never started: its on_message is what paho would call
    bridge.start()
    rng = random.Random(SEED)
    manual: str | None = None  # what alice's manual override must be
    expires = float("inf")  # when it ends by itself (set with minutes)
    wrong = tried = 0
    try:
        for kind, leaf, family, owners in (("set", "set", "agents", ("alice",)),
                                           ("event", "event", "beacons", ("alice-desk", "alice"))):
            for n, payload in enumerate(payloads(kind, PER_READER, SEED)):
                who = owners[0] if rng.random() < 0.7 else ident(rng)
                sent_at = time.monotonic()
                link._on_message(link.client, None, message(topic_for(who, family, leaf, n),
                                                            payload))
                tried += 1
                bridge.flush()
                if manual is not None and time.monotonic() >= expires:
                    manual, expires = None, float("inf")  # expired, as it should
                if who in owners and n % 97:  # a beacon named like its agent acts for it
                    if kind == "set" and (want := expect_set(payload)):
                        manual = None if want[0] == "auto" else want[0]
                        expires = sent_at + want[1] * 60 if want[1] else float("inf")
                    elif kind == "event" and (button := expect_event(payload)):
                        manual = "dnd" if button == "press" and manual != "dnd" else None
                        expires = float("inf")
                reading = bridge.policies["alice"].readings.get(MANUAL)
                seen = reading.state if reading else None
                if seen != manual and not (seen is None and time.monotonic() >= expires - 0.5):
                    wrong += 1
                manual = seen  # follow the bridge: each divergence counts once
    finally:
        bridge.stop()
    assert tried >= 2 * PER_READER
    assert guarded.caught == [], guarded.caught[:5]
    assert wrong == 0
    assert len(bridge.warnings) <= bridge.warnings.limit


def test_the_board_reader_survives_any_status(guarded) -> None:
    import random
    board = FloorBoard(BrokerSettings("127.0.0.1", 1), Topics(PREFIX))
    board.floor.link(True)
    rng = random.Random(SEED + 1)
    availabilities = iter(availability_payloads(SEED + 1, PER_READER))
    want: dict[str, str] = {}  # alice's expected tile, from the oracle
    bridges: dict[str, str] = {}
    wrong_available = wrong = 0
    for n, payload in enumerate(payloads("status", PER_READER, SEED)):
        if rng.random() < 0.1:  # an availability, sometimes for alice's bridge
            who = rng.choice(["main", "other", ident(rng)])
            text = rng.choice([b"", payload[:20], next(availabilities)])
            board.follower._on_message(None, None,
                                       message(f"{PREFIX}/bridges/{who}/availability", text))
            word = expect_availability(text)
            if ID.fullmatch(who) and not text:
                bridges.pop(who, None)  # a cleared retained availability forgets the bridge
            elif ID.fullmatch(who) and word:
                bridges[who] = word
        who = "alice" if rng.random() < 0.7 else ident(rng)
        board.follower._on_message(None, None,
                                   message(topic_for(who, "agents", "status", n), payload))
        if who == "alice" and n % 97:
            status = expect_status(payload)
            if not payload:
                want = {}  # a cleared retained status forgets the agent
            elif status is not None:
                want = {"state": status[0], "bridge": status[3] or "*"}
        shown = {a["id"]: a["state"] for a in board.floor.view()["agents"]}.get("alice")
        expected = None
        if want:
            doubted = (bridges.get(want["bridge"]) == "offline" if want["bridge"] != "*"
                       else "offline" in bridges.values())
            expected = "unknown" if doubted else want["state"]
        if shown != expected:
            wrong += 1
            wrong_available += shown == "available"
            want = {}  # count each divergence once, then follow the reader
            bridges.clear()
    assert guarded.caught == [], guarded.caught[:5]
    assert (wrong_available, wrong) == (0, 0)


def test_the_watch_reader_survives_any_status(guarded) -> None:
    import random
    table, topics = LiveTable(), Topics(PREFIX)
    table.link(True)
    rng = random.Random(SEED + 2)
    want: str | None = None
    wrong = 0
    for n, payload in enumerate(payloads("status", PER_READER, SEED + 2)):
        who = "alice" if rng.random() < 0.7 else ident(rng)
        line = read_message(table, topics, message(topic_for(who, "agents", "status", n),
                                                   payload))
        assert "\n" not in line
        if who == "alice" and n % 97 and not payload:
            want = None  # a cleared retained status forgets the agent
        elif who == "alice" and n % 97 and (status := expect_status(payload)):
            want = status[0]
        entry = table.shown().get("alice")
        if (entry[1] if entry else None) != want:
            wrong += 1
            want = entry[1] if entry else None
    assert guarded.caught == []
    assert wrong == 0


def test_the_counter_sign_reader_survives_any_status_and_expected_time(guarded) -> None:
    """Statuses and expected times (any bridge account may write its counter's) for the
    sign's counter and others: the sign shows what the oracle says, never a number from a
    payload that was not valid, and never 'free' from one that was not."""
    import random
    sign = CounterSignServer(BrokerSettings("127.0.0.1", 1), Topics(PREFIX), "alice",
                             built_in("en"))
    sign.sign.link(True)
    rng = random.Random(SEED + 7)
    want_state: str | None = None
    want_end: float | None = None
    wrong = 0
    stream = [("status", p) for p in payloads("status", PER_READER // 2, SEED + 7)]
    stream += [("expected", p) for p in payloads("expected", PER_READER // 2, SEED + 7)]
    rng.shuffle(stream)
    for n, (leaf, payload) in enumerate(stream):
        who = "alice" if rng.random() < 0.8 else ident(rng)
        sign.follower._on_message(None, None, message(topic_for(who, "agents", leaf, n),
                                                      payload))
        if who == "alice" and n % 97:
            if leaf == "status" and (not payload or (status := expect_status(payload))):
                want_state = status[0] if payload else None
            elif leaf == "expected" and (not payload or (times := expect_expected(payload))):
                typical, _, since, _ = times if payload else (None, 0, None, None)
                want_end = None if typical is None or since is None else since + typical
        view = sign.sign.view()
        kind = {"available": "free", "ringing": "arriving", "engaged": "serving",
                "hold": "serving", "wrap_up": "finishing", "dnd": "busy", "away": "closed",
                None: "unknown", "unknown": "unknown"}[want_state]
        end = want_end if kind == "serving" else None
        wrong += (view["kind"], view["ends_at"]) != (kind, end)
    assert guarded.caught == [], guarded.caught[:5]
    assert wrong == 0


AVAILABILITY = re.compile(rb"[ \t\r\n]*(online|offline)[ \t\r\n]*")


def expect_availability(payload: bytes) -> str | None:
    """The oracle for an availability: the word, with only ASCII blanks around it (protocol
    v1, as the firmware can mirror), at most 512 bytes; None for anything else."""
    match = AVAILABILITY.fullmatch(payload)
    return match.group(1).decode() if match and len(payload) <= 512 else None


def test_board_and_watch_read_any_bridge_availability(guarded) -> None:
    """10,000 varied availabilities (every kind of space around the word, byte edits,
    case, oversized, raw bytes, cleared) on bridge topics, to the board and to watch: each
    files exactly what the oracle says, and an agent of an offline bridge shows unknown."""
    import random
    board = FloorBoard(BrokerSettings("127.0.0.1", 1), Topics(PREFIX))
    board.floor.link(True)
    table, topics = LiveTable(), Topics(PREFIX)
    table.link(True)
    for reader in (lambda m: board.follower._on_message(None, None, m),
                   lambda m: read_message(table, topics, m)):
        reader(message(f"{PREFIX}/agents/alice/status", b'{"v":1,"state":"available",'
                       b'"source":"phone","since":1,"bridge_id":"main"}'))
    rng = random.Random(SEED + 6)
    bridges: dict[str, str] = {}
    stream = [*availability_payloads(SEED + 6, PER_READER), *payloads("status", 2000, SEED + 6),
              *(_raw_bytes(rng) for _ in range(500)), *[b""] * 500]
    rng.shuffle(stream)
    wrong = 0
    for n, payload in enumerate(stream):
        who = rng.choice(["main", "main", "other", ident(rng)])
        msg = message(topic_for(who, "bridges", "availability", n), payload)
        board.follower._on_message(None, None, msg)
        line = read_message(table, topics, msg)
        assert line is None or "\n" not in line
        if n % 97 == 0 or not ID.fullmatch(who):
            pass  # a topic no reader files (not UTF-8, or not an id)
        elif not payload:
            bridges.pop(who, None)
        elif word := expect_availability(payload):
            bridges[who] = word
        heard_board = {b["id"]: b["state"] for b in board.floor.view()["bridges"]}
        alice_board = {a["id"]: a["state"] for a in board.floor.view()["agents"]}["alice"]
        alice_watch = table.shown()["alice"][1]
        alice = "unknown" if bridges.get("main") == "offline" else "available"
        if (heard_board, table.bridges, alice_board, alice_watch) != (bridges, bridges, alice,
                                                                       alice):
            wrong += 1
            bridges = dict(table.bridges)  # count each divergence once, then follow
    assert guarded.caught == [], guarded.caught[:5]
    assert wrong == 0


SITE_LINK = re.compile(rb"[ \t\r\n]*([01])[ \t\r\n]*")
SITE_STATUS = (b'{"v":1,"state":"available","source":"phone","since":1,"bridge_id":"main"}')


def test_board_and_watch_read_any_site_link(guarded) -> None:
    """10,000 varied site-link payloads (mosquitto's bridge notification) on the link topic,
    to the board and to watch: a malformed one changes nothing; an agent that came through
    the site shows its status only while the last valid word was ``1``. After each message
    the site's status comes again, as mosquitto's bridge sends it after a reconnect."""
    import random
    board = FloorBoard(BrokerSettings("127.0.0.1", 1), Topics(PREFIX))
    board.floor.link(True)
    table, topics = LiveTable(), Topics(PREFIX)
    table.link(True)
    readers = (lambda m: board.follower._on_message(None, None, m),
               lambda m: read_message(table, topics, m))
    rng = random.Random(SEED + 7)
    stream = [*availability_payloads(SEED + 7, PER_READER, words=("1", "0")),
              *(_raw_bytes(rng) for _ in range(500)), *[b""] * 300]
    rng.shuffle(stream)
    up: bool | None = None
    wrong = 0
    for n, payload in enumerate(stream):
        for reader in readers:
            line = reader(message(topic_for("north", "sites", "link", n), payload))
            reader(message(f"{PREFIX}/sites/north/agents/alice/status", SITE_STATUS))
        assert line is None or "\n" not in line
        if n % 97 == 0:
            pass  # not UTF-8: no reader files it
        elif not payload:
            up = None
        elif word := SITE_LINK.fullmatch(payload) if len(payload) <= 512 else None:
            up = word.group(1) == b"1"
        alice = "available" if up else "unknown"
        shown = ({a["id"]: a["state"] for a in board.floor.view()["agents"]}["north/alice"],
                 table.shown()["north/alice"][1])
        if shown != (alice, alice):
            wrong += 1
            up = table.sites.get("north")  # count each divergence once, then follow
    assert guarded.caught == [], guarded.caught[:5]
    assert wrong == 0


def _raw_bytes(rng) -> bytes:
    return bytes(rng.randrange(256) for _ in range(rng.choice([1, 6, 7, 40, 600])))


def test_board_and_watch_survive_any_beacon_report(guarded) -> None:
    """Beacon telemetry and availability: any beacon account may write its own."""
    import random
    board = FloorBoard(BrokerSettings("127.0.0.1", 1), Topics(PREFIX))
    board.floor.link(True)
    board.follower._on_message(None, None, message(f"{PREFIX}/agents/alice/status",
                                          b'{"v":1,"state":"engaged","source":"phone","since":1}'))
    table, topics = LiveTable(), Topics(PREFIX)
    table.link(True)
    rng = random.Random(SEED + 5)
    for n, payload in enumerate(payloads("telemetry", PER_READER, SEED + 5)):
        leaf = "telemetry" if rng.random() < 0.8 else "availability"
        msg = message(topic_for(ident(rng), "beacons", leaf, n), payload)
        board.follower._on_message(None, None, msg)
        read_message(table, topics, msg)
    assert guarded.caught == [], guarded.caught[:5]
    assert [a["state"] for a in board.floor.view()["agents"]] == ["engaged"]
    table.render(time.time(), colour=False)  # whatever was filed renders


def test_the_serial_link_survives_any_line(guarded) -> None:
    events: list[str] = []
    beacon = SerialBeacon(port="/dev/null", agent="alice", beacon="alice-usb",
                          on_event=lambda _agent, action, _beacon: events.append(action))
    reader = _LineReader("fuzz")
    expected: list[str] = []
    count = 0
    for payload in payloads("event", PER_READER, SEED + 3):
        for line in reader.feed(payload + b"\n"):
            count += 1
            beacon._handle(line)  # unguarded here: any exception fails the test
            try:
                body = json.loads(line)
            except (ValueError, RecursionError):
                body = None
            if not (isinstance(body, dict) and "hello" in body) and (
                    button := expect_event(line)):
                expected.append(button)
    assert count >= PER_READER * 0.9  # payloads with a newline inside split into several lines
    assert events == expected
    assert guarded.caught == []


def test_a_running_bridge_still_answers_after_a_fuzzed_stream(tmp_path, mosquitto,
                                                              peer_factory) -> None:
    """A sample through the real broker to the real bridge process."""
    import random
    log_file = (tmp_path / "bridge.log").open("w")
    bridge = subprocess.Popen([sys.executable, "-m", "focuslight", "bridge", "-c",
                               str(config_file(tmp_path, mosquitto.url))], stderr=log_file)
    try:
        peer = peer_factory(mosquitto)
        peer.subscribe(f"{PREFIX}/#")
        peer.wait_for(f"{PREFIX}/bridges/main/availability", lambda p: p == b"online")
        rng = random.Random(SEED + 4)
        sent = 0
        for kind, family, own in (("set", "agents", "alice"), ("event", "beacons", "alice-desk")):
            for payload in payloads(kind, THROUGH_BROKER // 2, SEED + 4):
                who = own if rng.random() < 0.7 else ident(rng)
                info = peer.client.publish(f"{PREFIX}/{family}/{who}/{kind}", payload, qos=1)
                sent += 1
            info.wait_for_publish(10)
        # away then dnd: whatever the fuzz left, dnd is a change the bridge must publish,
        # stamped after this moment
        started, wall = time.monotonic(), time.time()
        peer.publish(f"{PREFIX}/agents/alice/set", '{"state":"away"}')
        peer.publish(f"{PREFIX}/agents/alice/set", '{"state":"dnd","minutes":5}')
        peer.wait_for(f"{PREFIX}/agents/alice/status",
                      lambda p: json.loads(p)["state"] == "dnd"
                      and json.loads(p)["since"] >= wall - 0.01, timeout=10)
        answered_s = time.monotonic() - started
        assert bridge.poll() is None, "the bridge died"
        assert sent == THROUGH_BROKER and answered_s < 5
    finally:
        bridge.terminate()
        bridge.wait(timeout=10)
        log_file.close()
    log = (tmp_path / "bridge.log").read_text()
    assert "Traceback" not in log and "failed with" not in log, log[-2000:]


def test_the_desk_guard_survives_any_status_and_availability(tmp_path, guarded) -> None:
    """``focuslight desk`` reads its agent's status and the bridges' availability through
    the same paho callback as the views: 10,000 fuzzed statuses (and availabilities
    between them) never raise, and it shows what the oracle and the trust rule say."""
    import random

    from focuslight.desk.guard import Guard
    from focuslight.desk.journal import Journal
    from focuslight.desk.silencers import Silencers

    journal = Journal(tmp_path / "desk-alice.json")
    guard = Guard(BrokerSettings("127.0.0.1", 1), Topics(PREFIX), "alice",
                  silencers=Silencers([], journal))  # never started: its reader is fuzzed
    guard._link(True)
    rng = random.Random(SEED + 9)
    availabilities = iter(availability_payloads(SEED + 9, PER_READER))
    want: tuple[str, str] | None = None  # alice's (state, bridge or "*")
    bridges: dict[str, str] = {}
    wrong = 0
    for n, payload in enumerate(payloads("status", PER_READER, SEED + 9)):
        if rng.random() < 0.1:
            who = rng.choice(["main", "other", ident(rng)])
            text = rng.choice([b"", payload[:20], next(availabilities)])
            guard.follower._on_message(None, None,
                                       message(f"{PREFIX}/bridges/{who}/availability", text))
            word = expect_availability(text)
            if ID.fullmatch(who) and not text:
                bridges.pop(who, None)
            elif ID.fullmatch(who) and word:
                bridges[who] = word
        who = "alice" if rng.random() < 0.7 else ident(rng)
        guard.follower._on_message(None, None,
                                   message(topic_for(who, "agents", "status", n), payload))
        if who == "alice" and n % 97:
            status = expect_status(payload)
            if not payload:
                want = None
            elif status is not None:
                want = (status[0], status[3] or "*")
        expected = "unknown"
        if want is not None:
            doubted = (bridges.get(want[1]) == "offline" if want[1] != "*"
                       else "offline" in bridges.values())
            expected = "unknown" if doubted else want[0]
        wrong += guard.view.shown() != expected
    assert guarded.caught == [], guarded.caught[:5]
    assert wrong == 0
