"""The brokers themselves: what the bridge relies on works on both (retain, QoS 1, will)."""

from __future__ import annotations

import paho.mqtt.client as mqtt


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
