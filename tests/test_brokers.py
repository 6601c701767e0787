"""The brokers themselves: what the bridge relies on works on both (retain, QoS 1, will)."""

from __future__ import annotations

import socket
import subprocess
import sys

import paho.mqtt.client as mqtt
import pytest

from focuslight.connection import BrokerError
from focuslight.embedded_broker import spawn


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
        done = subprocess.run([sys.executable, "-m", "focuslight.embedded_broker",
                               "--port", str(port)], capture_output=True, text=True, timeout=30)
        assert done.returncode == 2
        assert done.stderr.strip().splitlines() == [
            f"embedded broker: cannot listen on 127.0.0.1:{port}: [Errno 98] error while "
            f"attempting to bind on address ('127.0.0.1', {port}): address already in use"]
        with pytest.raises(BrokerError, match=f"did not start on 127.0.0.1:{port}"):
            spawn(port=port)


def test_spawned_embedded_broker_is_ready_without_being_probed(capfd) -> None:
    """spawn() waits for the broker's own line; a probe connection made amqtt log an ERROR."""
    proc, port = spawn()
    try:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        client.connect("127.0.0.1", port)  # no retry: it listens already
        client.disconnect()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert "ERROR" not in capfd.readouterr().err
