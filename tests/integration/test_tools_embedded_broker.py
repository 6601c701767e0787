"""The brokers themselves: what the bridge relies on works on both (retain, QoS 1, will)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from focuslight.mqtt.client import BrokerError
from focuslight.tools.embedded_broker import MISSING, spawn, stop

ROOT = Path(__file__).resolve().parents[2]


def test_retained_qos1_and_will(broker, peer_factory) -> None:
    watcher = peer_factory(broker)
    watcher.subscribe("t/#")
    dying = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="dying")
    dying.will_set("t/will", b"offline", qos=1, retain=True)
    dying.connect(broker.host, broker.port, keepalive=2)
    dying.loop_start()
    dying.publish("t/retained", b"kept", qos=1, retain=True).wait_for_publish(5)
    assert watcher.wait_for("t/retained") == b"kept"
    dying._sock.close()  # vanish without DISCONNECT, as a crashed process would
    dying.loop_stop()
    assert watcher.wait_for("t/will", timeout=10) == b"offline"
    late = peer_factory(broker)
    late.subscribe("t/#")
    seen = {late.wait_for("t/retained"), late.wait_for("t/will")}
    assert seen == {b"kept", b"offline"}


def test_embedded_broker_on_a_taken_port_says_so_in_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "focuslight.tools.embedded_broker",
                               "--port", str(port)], capture_output=True, text=True, timeout=30)
        assert done.returncode == 2
        assert done.stderr.strip().splitlines() == [
            f"embedded broker: cannot listen on 127.0.0.1:{port}: [Errno 98] error while "
            f"attempting to bind on address ('127.0.0.1', {port}): address already in use"]
        for kind in ("amqtt", "mosquitto"):
            with pytest.raises(BrokerError, match=f"did not start on 127.0.0.1:{port}"):
                spawn(port=port, kind=kind)


def test_spawned_embedded_broker_is_ready_without_being_probed(capfd) -> None:
    """spawn() waits for the broker's own line; a probe connection made amqtt log an ERROR."""
    proc, port = spawn(kind="amqtt")
    try:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        client.connect("127.0.0.1", port)  # no retry: it listens already
        client.disconnect()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert "ERROR" not in capfd.readouterr().err


def test_a_client_gets_retained_messages_once_and_only_for_its_own_subscriptions(
        broker, peer_factory) -> None:
    """amqtt 0.12 replayed, on every connect, the retained messages matching *any* client's
    subscriptions: a second copy of each, and a beacon's availability to a client that
    subscribed to bridges only (``watch`` then listed the beacon as a bridge)."""
    board = peer_factory(broker)  # another client holding other filters, like the board
    board.subscribe("r/beacons/+/availability")
    board.subscribe("r/agents/+/status")
    writer = peer_factory(broker)
    writer.publish("r/agents/alice/status", b'{"v":1}', retain=True)
    writer.publish("r/bridges/main/availability", b"online", retain=True)
    writer.publish("r/beacons/alice-desk/availability", b"online", retain=True)
    board.wait_for("r/beacons/alice-desk/availability")
    reader = peer_factory(broker)
    reader.subscribe("r/bridges/+/availability")
    writer.publish("r/bridges/marker/availability", b"end")  # not retained: comes after
    seen = []
    while (msg := reader.messages.get(timeout=10)).payload != b"end":
        seen.append((msg.topic, msg.payload))
    assert seen == [("r/bridges/main/availability", b"online")]


def test_spawn_prefers_the_local_mosquitto(peer_factory) -> None:
    """The demo runs on what sites run; amqtt is only the fallback (the demo extra)."""
    proc, _port = spawn()
    try:
        assert Path(proc.args[0]).name == "mosquitto"
    finally:
        stop(proc)


def test_the_embedded_broker_without_amqtt_says_what_to_install() -> None:
    """The demo extra is missing: one line naming mosquitto and pip install -e '.[demo]'."""
    done = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['amqtt'] = None\n"
         "from focuslight.cli import main; sys.exit(main(['demo', '--local-broker', 'amqtt']))"],
        capture_output=True, text=True, timeout=60, env=_without_broker_env())
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [f"focuslight demo: {MISSING}"]
    assert "pip install -e '.[demo]'" in MISSING and "apt install mosquitto" in MISSING


def test_amqtt_is_an_extra_not_a_dependency() -> None:
    """A site's install (pip install . / a wheel) must not pull amqtt's dependency tree."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any(dep.startswith("amqtt") for dep in project["dependencies"])
    assert any(dep.startswith("amqtt") for dep in project["optional-dependencies"]["demo"])
    assert "pip install -e '.[demo]'" in (ROOT / "README.md").read_text()
    installed = re.search(r'-e "\.\[([a-z,]+)\]"', (ROOT / "tests" / "run").read_text())
    assert installed and "demo" in installed[1].split(","), "tests/run must install the demo extra"


def _without_broker_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "FOCUSLIGHT_BROKER"}


def test_watch_never_lists_a_beacon_as_a_bridge(broker, peer_factory) -> None:
    """The demo's symptom: with a board holding ``beacons/+/availability``, amqtt handed the
    beacon's availability to ``watch``, which filed it under bridges."""
    board = peer_factory(broker)
    board.subscribe("focuslight/beacons/+/availability")
    writer = peer_factory(broker)
    writer.publish("focuslight/bridges/demo/availability", b"online", retain=True)
    writer.publish("focuslight/beacons/alice-desk/availability", b"online", retain=True)
    writer.publish("focuslight/agents/alice/status",
                   b'{"v":1,"state":"available","source":"desk","since":1,"bridge_id":"demo"}',
                   retain=True)
    board.wait_for("focuslight/beacons/alice-desk/availability")
    done = subprocess.run([sys.executable, "-m", "focuslight", "watch", "--once", "--broker",
                           broker.url], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    bridges = [line for line in done.stdout.splitlines() if line.startswith("bridges:")]
    assert bridges == ["bridges: demo online"], done.stdout


def test_overlapping_subscriptions_get_each_retained_message_once_per_matching_filter(
        broker, peer_factory) -> None:
    """The issue's repro, with mosquitto as the reference: a client holding ``o/#`` and
    ``o/+/x`` gets a retained ``o/a/x`` once per SUBSCRIBE whose filter matches it (MQTT-3.8.4-3:
    mosquitto 2.0.11 sends it twice, once per filter), ``o/b/y`` once, and never ``p/a/x``,
    which only another client's filter matches; a later client connecting replays nothing."""
    other = peer_factory(broker)
    other.subscribe("p/#")  # another client's filter: amqtt 0.12 replayed it to everyone
    writer = peer_factory(broker)
    for topic in ("o/a/x", "o/b/y", "p/a/x"):
        writer.publish(topic, topic, retain=True)
    other.wait_for("p/a/x")
    reader = peer_factory(broker)
    reader.subscribe("o/#")
    seen = _until_marker(reader, writer, "o/end/1")
    reader.subscribe("o/+/x")
    seen += _until_marker(reader, writer, "o/end/x")  # matches both filters: live copies vary
    peer_factory(broker)  # a later connect must not replay anything to anyone
    seen += _until_marker(reader, writer, "o/end/2")
    retained = sorted(topic for topic, was_retained in seen if was_retained)
    assert retained == ["o/a/x", "o/a/x", "o/b/y"]
    assert all(topic.startswith("o/") for topic, _ in seen)


def _until_marker(reader, writer, marker: str) -> list[tuple[str, bool]]:
    """Every (topic, retained) *reader* got before the live *marker*: what a filter's SUBSCRIBE
    replays and what a connect may wrongly replay are all in by then (amqtt sends the replay
    after the SUBACK, before it handles the marker's PUBLISH from another client)."""
    writer.publish(marker, b"end")
    seen = []
    while (msg := reader.messages.get(timeout=10)).topic != marker:
        seen.append((msg.topic, bool(msg.retain)))
    return seen


def test_the_embedded_broker_refuses_an_amqtt_without_the_hooked_method() -> None:
    """A future amqtt that renames the private method the fix overrides would bring the
    double replay back silently: the broker refuses to start, in one line, instead."""
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from amqtt.broker import Broker\n"
         "del Broker._publish_retained_messages_for_subscription\n"
         "from focuslight.tools.embedded_broker import main; sys.exit(main(['--port', '0']))"],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "has no Broker._publish_retained_messages_for_subscription" in lines[0]
    assert "pip install 'amqtt>=0.12.1,<0.13'" in lines[0]


def test_the_demo_extra_pins_amqtt_to_the_verified_release() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["optional-dependencies"]["demo"] == ["amqtt>=0.12.1,<0.13"]
