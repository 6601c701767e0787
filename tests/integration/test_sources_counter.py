"""The walk-up counter source, driven through gpiozero's own MockFactory pins.

Buttons are wired to ground with the pull-up on, so ``drive_low`` is a press.
Time is a FakeClock: hysteresis edges are checked to the exact second
without sleeping. PIR and HC-SR04 readings come from gpiozero's own sampling
threads (real time), so those tests wait for the report they expect.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero import Button, Device
from gpiozero.pins.mock import MockFactory, MockTriggerPin
from helpers.firmware import BeaconProcess
from helpers.sources import (
    BridgeProcess,
    FakeClock,
    RecordingSink,
    bridge_config,
    load_doc_examples,
)
from helpers.waiting import wait_until

from focuslight.config_section import ConfigError, Section
from focuslight.mqtt.client import BrokerSettings
from focuslight.protocol import Topics
from focuslight.sources import counter
from focuslight.sources.counter import DEFAULT_PINS, CounterSource, from_config
from focuslight.sources.timing import Hysteresis
from focuslight.tools.embedded_broker import free_port, wait_for_port
from focuslight.views.floor_board import FloorBoard

AGENT = "counter-1"
pytestmark = pytest.mark.filterwarnings("ignore::gpiozero.DistanceSensorNoEcho")


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    Device.pin_factory = MockFactory()
    yield Device.pin_factory
    Device.pin_factory.reset()
    Device.pin_factory = None


@pytest.fixture
def running() -> Iterator:
    """Build a counter from a config table, start it on a FakeClock, stop it afterwards."""
    started: list[CounterSource] = []

    def start(table: dict) -> tuple[CounterSource, FakeClock, RecordingSink]:
        source = from_config(Section({"agent": AGENT, **table}, "test.toml", "sources[0]"),
                             (AGENT,))
        clock, sink = FakeClock(), RecordingSink()
        source.clock = clock
        source.start(sink)
        started.append(source)
        clock.settle()
        return source, clock, sink

    yield start
    for source in started:
        source.stop()


# -- hysteresis: every edge, with explicit times ------------------------------------------

def states_at(h: Hysteresis, steps: list[tuple[float, bool | None]]) -> list[str]:
    """Apply (time, presence) steps (None = just look) and return the state after each."""
    seen = []
    for now, present in steps:
        if present is not None:
            h.update(present, now)
        seen.append(h.state(now))
    return seen


def test_arrival_needs_arrive_s_of_steady_presence() -> None:
    h = Hysteresis(arrive_s=2, depart_s=10, ringing=True)
    assert states_at(h, [(0, True), (1.999, None), (2.0, None)]) == [
        "ringing", "ringing", "engaged"]


def test_short_presence_is_not_an_arrival() -> None:
    h = Hysteresis(arrive_s=2, depart_s=10, ringing=True)
    assert states_at(h, [(0, True), (1.5, False), (2.0, None), (9.0, None)]) == [
        "ringing", "available", "available", "available"]


def test_presence_flicker_restarts_the_arrival() -> None:
    h = Hysteresis(arrive_s=2, depart_s=10)
    assert states_at(h, [(0, True), (1, False), (1.5, True), (2.5, None), (3.5, None)]) == [
        "available", "available", "available", "available", "engaged"]


def test_departure_needs_depart_s_of_steady_absence() -> None:
    h = Hysteresis(arrive_s=0, depart_s=10)
    assert states_at(h, [(0, True), (5, False), (14.999, None), (15, None)]) == [
        "engaged", "engaged", "engaged", "available"]


def test_shifting_weight_does_not_end_the_contact() -> None:
    h = Hysteresis(arrive_s=1, depart_s=10, ringing=True)
    steps = [(0, True), (1, None), (5, False), (9, True), (12, False), (21.9, None), (22, None)]
    assert states_at(h, steps) == [
        "ringing", "engaged", "engaged", "engaged", "engaged", "engaged", "available"]


def test_zero_delays_follow_presence_at_once() -> None:
    h = Hysteresis(arrive_s=0, depart_s=0, ringing=True)
    assert states_at(h, [(0, True), (0, False), (1, True)]) == ["engaged", "available", "engaged"]


def test_deadline_is_when_the_pending_change_lands() -> None:
    h = Hysteresis(arrive_s=2, depart_s=10)
    assert h.deadline() is None
    h.update(True, 5)
    assert h.deadline() == 7
    h.state(7)
    assert h.deadline() is None
    h.update(False, 8)
    assert h.deadline() == 18


# -- buttons on MockFactory pins -------------------------------------------------------------

def test_foot_switch_walks_every_edge(factory: MockFactory, running) -> None:
    _, clock, sink = running({"arrive_s": 2.0, "depart_s": 10.0, "ringing": True,
                              "foot_switch": {}})
    pin = factory.pin(DEFAULT_PINS["foot_switch"])
    assert sink.states() == ["available"]
    pin.drive_low()
    clock.settle()
    clock.advance(1.5)
    assert sink.states() == ["available", "ringing"]
    clock.advance(0.5)
    assert sink.states()[-1] == "engaged"
    pin.drive_high()                     # customer shifts; the switch opens...
    clock.advance(9.0)
    pin.drive_low()                      # ...and closes before depart_s
    clock.advance(5.0)
    pin.drive_high()
    clock.advance(9.5)
    assert sink.states() == ["available", "ringing", "engaged"]
    clock.advance(0.5)
    assert sink.reports == [(AGENT, "counter", s)
                            for s in ["available", "ringing", "engaged", "available"]]


def test_chattering_contact_counts_once_it_is_steady(factory: MockFactory, running) -> None:
    _, clock, sink = running({"arrive_s": 1.0, "depart_s": 3.0, "mat": {"pin": 22}})
    pin = factory.pin(22)
    for _ in range(5):                   # bounce on the way down, 0.1 s apart
        pin.drive_low()
        clock.advance(0.1)
        pin.drive_high()
        clock.advance(0.1)
    pin.drive_low()
    clock.advance(0.9)
    assert sink.states() == ["available"]
    clock.advance(0.1)
    assert sink.states() == ["available", "engaged"]
    for _ in range(5):                   # and on the way up
        pin.drive_high()
        clock.advance(0.1)
        pin.drive_low()
        clock.advance(0.1)
    pin.drive_high()
    clock.advance(2.9)
    assert sink.states() == ["available", "engaged"]
    clock.advance(0.1)
    assert sink.states() == ["available", "engaged", "available"]


def test_toggle_buttons_share_one_latch_and_ignore_bounce(factory: MockFactory,
                                                         running) -> None:
    _, clock, sink = running({"arrive_s": 0.0, "depart_s": 0.0,
                              "bell": {"mode": "toggle", "bounce_s": 0.05},
                              "foot_switch": {"mode": "toggle"}})
    bell, foot = factory.pin(DEFAULT_PINS["bell"]), factory.pin(DEFAULT_PINS["foot_switch"])

    def press(pin, chatter: int = 0) -> None:
        pin.drive_low()
        for _ in range(chatter):         # edges closer together than bounce_s
            clock.advance(0.01)
            pin.drive_high()
            pin.drive_low()
        clock.advance(0.3)
        pin.drive_high()
        for _ in range(chatter):
            clock.advance(0.01)
            pin.drive_low()
            pin.drive_high()
        clock.advance(0.3)

    press(bell, chatter=3)               # customer rings: serving starts
    assert sink.states() == ["available", "engaged"]
    press(foot, chatter=2)               # staff taps the pedal when done
    assert sink.states() == ["available", "engaged", "available"]
    press(foot)
    assert sink.states()[-1] == "engaged"


# -- sensors sampled by gpiozero's own threads ------------------------------------------------

def test_pir_motion_rings_then_engages(factory: MockFactory, running) -> None:
    _, clock, sink = running({"arrive_s": 3.0, "depart_s": 0.0, "ringing": True, "pir": {}})
    pin = factory.pin(DEFAULT_PINS["pir"])
    pin.drive_high()
    sink.wait_for("ringing")
    clock.advance(3.0)
    assert sink.states()[-1] == "engaged"
    pin.drive_low()
    sink.wait_for("available")


def test_distance_sensor_sees_a_customer_step_up(factory: MockFactory, running) -> None:
    echo = factory.pin(DEFAULT_PINS["echo"])
    trigger = factory.pin(DEFAULT_PINS["trigger"], pin_class=MockTriggerPin, echo_pin=echo,
                          echo_time=0.02)           # 3.4 m: nobody there
    _, clock, sink = running({"arrive_s": 2.0, "depart_s": 0.0, "ringing": True,
                              "distance": {"within_m": 1.5, "max_m": 2.0}})
    trigger.echo_time = 0.001                       # 0.17 m: someone at the counter
    sink.wait_for("ringing")
    clock.advance(2.0)
    assert sink.states()[-1] == "engaged"
    trigger.echo_time = 0.02
    sink.wait_for("available")
    assert sink.states() == ["available", "ringing", "engaged", "available"]


def test_a_customer_waiting_in_the_queue_zone_asks_for_the_cue(factory: MockFactory,
                                                               running) -> None:
    """The queue PIR sees someone for wait_s while nobody is served at the counter: the
    counter asks for customer_waiting (since the customer arrived); serving ends the ask."""
    source, clock, sink = running({"arrive_s": 0.0, "depart_s": 0.0, "foot_switch": {},
                                   "queue": {"sensor": "pir", "pin": 5, "wait_s": 10.0,
                                             "leave_s": 3.0}})
    source.wall = lambda: clock.now() + 1_000_000.0
    queue, foot = factory.pin(5), factory.pin(DEFAULT_PINS["foot_switch"])
    queue.drive_high()                                  # somebody stands in the queue zone
    arrived = source.wall()
    wait_until(lambda: source.waiting.present)          # the PIR's edge (gpiozero samples it)
    clock.settle()
    clock.advance(9.0)
    assert sink.attention_of(AGENT) is None             # not yet: could be passing by
    clock.advance(1.0)
    ask = sink.wait_for_attention(AGENT, lambda a: a is not None)
    assert ask.cue == "customer_waiting" and abs(ask.waiting_since - arrived) < 1
    foot.drive_low()                                    # the counter serves someone
    sink.wait_for("engaged")
    sink.wait_for_attention(AGENT, lambda a: a is None)
    foot.drive_high()                                   # served; the next one still waits
    sink.wait_for("available")
    assert sink.wait_for_attention(AGENT, lambda a: a is not None).cue == "customer_waiting"
    queue.drive_low()
    wait_until(lambda: not source.waiting.present)
    clock.settle()
    clock.advance(3.0)
    sink.wait_for_attention(AGENT, lambda a: a is None)
    assert sink.states() == ["available", "engaged", "available"]  # the queue is no contact


def test_an_ultrasonic_queue_sensor_sees_a_customer_waiting(factory: MockFactory,
                                                             running) -> None:
    """An HC-SR04 across the queue: someone within within_m for wait_s is waiting."""
    echo = factory.pin(13)
    trigger = factory.pin(6, pin_class=MockTriggerPin, echo_pin=echo, echo_time=0.02)  # 3.4 m
    source, clock, sink = running({"foot_switch": {}, "queue": {
        "sensor": "distance", "trigger": 6, "echo": 13, "within_m": 1.5, "wait_s": 5.0,
        "leave_s": 0.0}})
    trigger.echo_time = 0.005                           # 0.86 m: someone stands in the queue
    wait_until(lambda: source.waiting.present)
    clock.settle()
    clock.advance(5.0)
    assert sink.wait_for_attention(AGENT, lambda a: a is not None).cue == "customer_waiting"
    trigger.echo_time = 0.02                            # gone
    sink.wait_for_attention(AGENT, lambda a: a is None)
    assert sink.states() == ["available"]


def test_the_queue_sensor_takes_its_own_pins(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"sources\[0\]\.queue\.pin: expected an integer"):
        from_config(Section({"agent": AGENT, "pir": {}, "queue": {}}, "t.toml", "sources[0]"),
                    (AGENT,))
    with pytest.raises(ConfigError, match="GPIO4"):
        from_config(Section({"agent": AGENT, "pir": {}, "queue": {"pin": 4}}, "t.toml",
                            "sources[0]"), (AGENT,))
    source = from_config(Section({"agent": AGENT, "foot_switch": {}, "queue": {
        "sensor": "distance", "trigger": 6, "echo": 13, "within_m": 2.5, "max_m": 4.0}},
        "t.toml", "sources[0]"), (AGENT,))
    assert source.queue.pins() == {"trigger": 6, "echo": 13}


# -- failures -------------------------------------------------------------------------------

def test_busy_pin_reads_unknown_logs_once_and_recovers(factory: MockFactory, running,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    blocker = Button(DEFAULT_PINS["pir"])           # something else holds GPIO4
    with caplog.at_level(logging.ERROR, logger=counter.__name__):
        _, clock, sink = running({"retry_s": 5.0, "foot_switch": {}, "pir": {}})
        clock.advance(5.0)
        clock.advance(5.0)
    assert sink.states() == ["unknown"]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1, lines
    assert "pir" in lines[0] and "GPIO4" in lines[0] and "unknown" in lines[0]
    Button(DEFAULT_PINS["foot_switch"]).close()     # the half-opened foot switch was released
    blocker.close()
    clock.advance(5.0)
    assert sink.states() == ["unknown", "available"]


def test_distance_sensor_without_echo_reads_unknown(factory: MockFactory, running,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    """An unplugged HC-SR04 opens fine but never answers: that is not "nobody there"."""
    with caplog.at_level(logging.ERROR, logger=counter.__name__):
        _, _, sink = running({"distance": {}})     # plain MockPin trigger: no echo ever
    assert sink.states() == ["unknown"]
    [line] = [r.getMessage() for r in caplog.records]
    assert "distance (trigger GPIO23, echo GPIO24) gives no reading for 3 s" in line


def test_distance_sensor_unplugged_while_running_reads_unknown(
        factory: MockFactory, running, caplog: pytest.LogCaptureFixture) -> None:
    """gpiozero keeps its last reading when echoes stop; the counter must not."""
    echo = factory.pin(DEFAULT_PINS["echo"])
    trigger = factory.pin(DEFAULT_PINS["trigger"], pin_class=MockTriggerPin, echo_pin=echo,
                          echo_time=0.02)
    with caplog.at_level(logging.ERROR, logger=counter.__name__):
        _, clock, sink = running({"retry_s": 1.0, "distance": {}})
        assert sink.states() == ["available"]
        trigger.echo_time = 0.5                     # echoes stop arriving in time
        give_up = time.monotonic() + 20
        while sink.states()[-1] != "unknown" and time.monotonic() < give_up:
            clock.advance(1.0)                      # let the counter look again
            time.sleep(0.2)                         # real time for gpiozero's sampling
        clock.advance(1.0)                          # a retry: still silent
    assert sink.states() == ["available", "unknown"]
    [line] = [r.getMessage() for r in caplog.records]
    assert "distance (trigger GPIO23, echo GPIO24) gives no reading for 3 s" in line


def test_no_pin_factory_at_all_reads_unknown(monkeypatch: pytest.MonkeyPatch, running,
                                             caplog: pytest.LogCaptureFixture) -> None:
    """Off a Pi, gpiozero finds no pin library: the bridge must keep running."""
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "no-such-factory")
    Device.pin_factory = None
    with caplog.at_level(logging.ERROR, logger=counter.__name__):
        running({"foot_switch": {}})
    assert caplog.records and "foot_switch" in caplog.records[0].getMessage()


# -- config ---------------------------------------------------------------------------------

def build(table: dict, agents: tuple[str, ...] = (AGENT,)) -> CounterSource:
    return from_config(Section({"agent": AGENT, **table}, "site.toml", "sources[2]"), agents)


def test_empty_tables_use_the_documented_default_pins() -> None:
    source = build({"foot_switch": {}, "bell": {}, "pir": {}, "distance": {}})
    pins = {spec.role: spec.pins() for spec in source.inputs}
    assert pins == {"foot_switch": {"pin": 17}, "bell": {"pin": 27}, "pir": {"pin": 4},
                    "distance": {"trigger": 23, "echo": 24}}
    assert (source.name, source.agents) == ("counter", (AGENT,))


@pytest.mark.parametrize(("table", "agents", "message"), [
    ({}, (AGENT,), "site.toml: sources[2].foot_switch: expected at least one input table"),
    ({"mat": {}}, (AGENT,), "sources[2].mat.pin: expected an integer in 0..27, it is missing"),
    ({"bell": {"pin": 40}}, (AGENT,), "sources[2].bell.pin: expected an integer in 0..27"),
    ({"bell": {"mode": "latch"}}, (AGENT,), "bell.mode: expected one of hold, toggle"),
    ({"pir": {"pin": 17}, "foot_switch": {}}, (AGENT,),
     "sources[2].pir: expected a pin not already used by foot_switch, got 'GPIO17'"),
    ({"pir": {"pinn": 5}}, (AGENT,), "sources[2].pir.pinn: expected a known key"),
    ({"pir": {}, "arrive_s": -1}, (AGENT,), "sources[2].arrive_s: expected a number in 0..600"),
    ({"pir": {}}, ("alice",),
     "sources[2].agent: expected agents declared under [agents] (alice), got 'counter-1'"),
])
def test_config_errors_name_the_key(table: dict, agents: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=None) as err:
        build(table, agents)
    assert message in str(err.value)


def test_the_documented_examples_load(tmp_path: Path) -> None:
    sources = load_doc_examples("counter", tmp_path)
    counters = [s for s in sources if isinstance(s, CounterSource)]
    assert len(counters) == 2 and [s.queue.pins() for s in counters if s.queue] == [{"pin": 5}]
    assert [s.name for s in sources if s not in counters] == ["phone"]  # the counter's phone


# -- end to end: the real bridge process and a real mosquitto --------------------------------

def test_counter_reaches_mqtt_through_the_real_bridge(mosquitto, peer_factory, tmp_path: Path,
                                                      private_state_dir: Path) -> None:
    """The CLI's bridge runs in tests/helpers/counter_bridge.py, whose MockFactory pins we drive;
    it publishes the counter's status and its expected time (docs/counter-sign.md)."""
    prefix, status = "fl-counter", f"fl-counter/agents/{AGENT}/status"
    expected = f"{prefix}/agents/{AGENT}/expected"
    private_state_dir.mkdir(parents=True)
    (private_state_dir / f"walkups-{AGENT}-{prefix}.json").write_text(
        '{"v": 1, "contacts": [240, 300, 420]}')
    watcher, timer = peer_factory(mosquitto), peer_factory(mosquitto)
    watcher.subscribe(status)
    timer.subscribe(expected)
    source = ('type = "counter"\nagent = "counter-1"\narrive_s = 0.3\ndepart_s = 0.3\n'
              'ringing = true\n[sources.foot_switch]\n')
    bridge = BridgeProcess(tmp_path, bridge_config(mosquitto.url, prefix, [AGENT], source),
                           [sys.executable,
                            str(Path(__file__).resolve().parents[1] / "helpers"
                                / "counter_bridge.py")])
    try:
        bridge.start()
        watcher.wait_for_state(status, "available", timeout=15)
        # the contacts an earlier run timed (kept in the state directory) give the typical
        timed = timer.next_on(expected, lambda p: json.loads(p).get("typical_s") == 300)
        assert json.loads(timed.payload) == {"v": 1, "contacts": 3, "typical_s": 300,
                                             "bridge_id": prefix}
        bridge.send(f"low {DEFAULT_PINS['foot_switch']}")
        assert watcher.wait_for_state(status, "ringing")["source"] == "counter"
        engaged_at = watcher.wait_for_state(status, "engaged")["since"]
        serving = json.loads(timer.next_on(expected, lambda p: "serving_since" in
                                             json.loads(p)).payload)
        assert abs(serving["serving_since"] - engaged_at) < 1
        bridge.send(f"high {DEFAULT_PINS['foot_switch']}")
        watcher.wait_for_state(status, "wrap_up")
        timer.next_on(expected, lambda p: "serving_since" not in json.loads(p))
        assert bridge.alive(), bridge.text()
    finally:
        bridge.kill()


def test_counter_without_gpio_reads_unknown_and_the_bridge_keeps_serving(
        mosquitto, peer_factory, tmp_path: Path) -> None:
    """`focuslight bridge` whose pin library cannot load: one log line, `unknown`, and the
    bridge's other source (a webhook) still lights its agent."""
    prefix, port = "fl-nogpio", free_port()
    watcher = peer_factory(mosquitto)
    watcher.subscribe(f"{prefix}/agents/+/status")
    config = bridge_config(mosquitto.url, prefix, [AGENT, "alice"],
                           'type = "counter"\nagent = "counter-1"\n[sources.pir]\n')
    config += ('[[sources]]\ntype = "webhook"\nname = "cti"\nagents = ["alice"]\n'
               f'token = "0123456789abcdef"\nport = {port}\n')
    bridge = BridgeProcess(tmp_path, config, env={"GPIOZERO_PIN_FACTORY": "not-installed"})
    try:
        bridge.start()
        assert "cannot open pir (pin GPIO4)" in bridge.wait_for_log("counter counter:")
        watcher.wait_for_state(f"{prefix}/agents/{AGENT}/status", "unknown")
        wait_for_port("127.0.0.1", port)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/agents/alice/state", data=b'{"state": "engaged"}',
            headers={"Authorization": "Bearer 0123456789abcdef",
                     "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        watcher.wait_for_state(f"{prefix}/agents/alice/status", "engaged")
        assert bridge.alive(), bridge.text()
    finally:
        bridge.kill()
    errors = [line for line in bridge.text().splitlines() if "counter counter:" in line]
    assert len(errors) == 1 and "cannot open pir (pin GPIO4)" in errors[0], bridge.text()


def test_a_customer_waiting_while_the_counter_is_on_the_phone_is_cued_end_to_end(
        mosquitto, peer_factory, tmp_path: Path) -> None:
    """The counter Pi's bridge owns the counter agent and merges its phone (here a CTI
    webhook) with its pins (docs/deploy-a-site.md, "A walk-up counter unit"): a customer in
    the queue zone while the phone is engaged puts customer_waiting on the published status,
    the counter's beacon (the real firmware) blips it and the floor board's tile carries it;
    a coworker stepping in at the counter takes it off."""
    prefix, port, token = "fl-queue", free_port(), "0123456789abcdef"
    status = f"{prefix}/agents/{AGENT}/status"
    watcher = peer_factory(mosquitto)
    watcher.subscribe(status)
    config = bridge_config(mosquitto.url, prefix, [AGENT],
                           'type = "counter"\nagent = "counter-1"\narrive_s = 0\ndepart_s = 0\n'
                           '[sources.foot_switch]\n'
                           '[sources.queue]\nsensor = "pir"\npin = 5\nwait_s = 0.5\n'
                           'leave_s = 0.5\n')
    config += ('[[sources]]\ntype = "webhook"\nname = "phone"\n'
               f'token = "{token}"\nport = {port}\n')
    bridge = BridgeProcess(tmp_path, config, [sys.executable, str(
        Path(__file__).resolve().parents[1] / "helpers" / "counter_bridge.py")])
    board = FloorBoard(BrokerSettings(mosquitto.host, mosquitto.port), Topics(prefix),
                       ("127.0.0.1", 0))

    def phone(state: str) -> None:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/agents/{AGENT}/state",
            data=json.dumps({"state": state}).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200

    beacon = BeaconProcess(mosquitto.url, prefix, AGENT, "counter-1-lamp")
    try:
        bridge.start()
        board.start()
        wait_for_port("127.0.0.1", port)
        phone("available")
        watcher.wait_for_state(status, "available", timeout=15)
        bridge.send("high 5")                    # a customer waits; the agent is free: no cue
        time.sleep(1.5)
        phone("engaged")                         # the counter's phone rings and is answered
        cued = json.loads(watcher.wait_for(status, lambda p: b"customer_waiting" in p))
        assert (cued["state"], cued["source"]) == ("engaged", "phone")
        assert time.time() - 5 < cued["waiting_since"] < time.time()
        wait_until(lambda: [a.get("cue") for a in board.floor.view()["agents"]]
                   == ["customer_waiting"])
        seen = beacon.wait_look("cue customer_waiting", beacon.wait_look("engaged red solid"))
        phone("available")                       # the call ends: wrap-up, still cued
        bridge.send("low 17")                    # a coworker steps in at the counter
        served = json.loads(watcher.wait_for(status, lambda p: b"customer_waiting" not in p))
        assert served["state"] in ("engaged", "wrap_up")
        beacon.wait_look("cue off", seen)
        assert bridge.alive(), bridge.text()
    finally:
        beacon.stop()
        board.stop()
        bridge.kill()
