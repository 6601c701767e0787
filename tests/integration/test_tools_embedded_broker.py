"""The brokers themselves: what the bridge relies on works on both (retain, QoS 1, will)."""

from __future__ import annotations

import os
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
    assert '".[test,demo]"' in (ROOT / "tests" / "run").read_text()


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
