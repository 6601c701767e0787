#!/usr/bin/env python3
"""SIP busy lamp latency through a real Kamailio, and the time from its restart to a true lamp.

    .venv/bin/python bench/sip_latency.py [--calls 100] [--restarts 3] [--probe 30] [--grace 120]

Latency: sipp phones make ``--calls`` calls, one after the other, to
extension 201 through Kamailio (registrar + proxy + dialog + pua_dialoginfo
+ presence, tests/helpers/kamailio.py). The SIP source, the Hub and its
MqttOutput run in this process against mosquitto, as ``focuslight bridge``
runs them; a paho subscriber in this process receives alice's status. Each
sample is the time from the moment the source's socket returned a NOTIFY
to the moment the subscriber received the status that NOTIFY caused
(ringing, engaged, available; wrap-up off), so it includes the bridge's
merge, the publish, mosquitto and paho on both ends.

Restart: a call is answered, Kamailio is restarted (it forgets every
subscription and the call), the call ends 1 s later. Measured: restart →
the lamp stops showing the stale ``engaged`` (``unknown``), and restart →
the lamp shows ``available`` again, with the source's ``probe`` and
``restart_grace`` settings (defaults 30 s and 120 s).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from helpers.kamailio import DOMAIN, PASSWORD, USERNAME, Kamailio, Phone

from focuslight.config import Config
from focuslight.core.agents import agents_from_ids
from focuslight.core.hub import Hub
from focuslight.mqtt.client import BrokerSettings
from focuslight.outputs.mqtt import MqttOutput
from focuslight.sources.sip import blf as sip
from focuslight.tools.embedded_broker import free_port, wait_for_port

TOPIC = "bench/agents/alice/status"


class Timeline:
    """NOTIFY arrivals (from the source's thread) and statuses received (from paho's)."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.arrived: float | None = None  # the NOTIFY being handled now
        self.caused: dict[str, float] = {}  # state -> arrival of the NOTIFY that reported it
        self.samples: list[float] = []
        self.source_side: list[float] = []  # NOTIFY arrival -> the source hands the state on
        self.states: list[tuple[float, str]] = []

    def on_status(self, state: str, at: float) -> None:
        with self.cond:
            self.states.append((at, state))
            arrived = self.caused.pop(state, None)
            if arrived is not None:
                self.samples.append(at - arrived)
            self.cond.notify_all()

    def wait_for(self, state: str, after: float, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for at, seen in self.states:
                    if seen == state and at >= after:
                        return at
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {state} within {timeout} s: {self.states[-5:]}")
                self.cond.wait(left)


def instrument(timeline: Timeline) -> None:
    """Note when each NOTIFY left the socket, and which reported state it caused."""
    handle, report = sip.BlfClient._handle, sip.BlfClient._set_state

    def timed_handle(self, data: bytes, now: float) -> None:
        timeline.arrived = time.monotonic() if data.startswith(b"NOTIFY ") else None
        handle(self, data, now)

    def timed_set_state(self, sub, state: str) -> None:
        if timeline.arrived is not None and self.reported.get(sub.agent) != state:
            with timeline.cond:
                timeline.caused[state] = timeline.arrived
                timeline.source_side.append(time.monotonic() - timeline.arrived)
        report(self, sub, state)

    sip.BlfClient._handle, sip.BlfClient._set_state = timed_handle, timed_set_state


def start_mosquitto(tmp: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
    proc = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)],
                            stderr=subprocess.DEVNULL)
    wait_for_port("127.0.0.1", port)
    return proc, port


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--restarts", type=int, default=3)
    parser.add_argument("--probe", type=float, default=30.0)
    parser.add_argument("--grace", type=float, default=120.0)
    args = parser.parse_args()
    timeline = Timeline()
    instrument(timeline)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        broker, port = start_mosquitto(tmp)
        kamailio = Kamailio(tmp).start()
        source = sip.SipSource("phone", sip.SipSettings(
            server="127.0.0.1", port=kamailio.port, domain=DOMAIN, username=USERNAME,
            password=PASSWORD, extensions={"201": "alice"}, probe=args.probe,
            restart_grace=args.grace))
        bridge = Hub(agents_from_ids(["alice"]), sources=[source], wrap_up_s=0)
        config = Config("bench", "bench", BrokerSettings("127.0.0.1", port), "bench", 0,
                        bridge.agents, [source])
        link = MqttOutput(bridge, config)
        bridge.outputs.append(link)
        watcher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        watcher.on_message = lambda _c, _u, msg: timeline.on_status(
            json.loads(msg.payload)["state"], time.monotonic())
        watcher.on_connect = lambda c, *_: c.subscribe(TOPIC, 1)
        watcher.connect("127.0.0.1", port)
        watcher.loop_start()
        phones: list[Phone] = []
        try:
            link.start()
            bridge.start()  # starts the SIP source too
            timeline.wait_for("available", 0, 15)
            callee = Phone("callee_answer", tmp, pause_ms=150, calls=args.calls)
            phones.append(callee.start())
            kamailio.register("201", callee.port)
            caller = Phone("caller_hangup", tmp, kamailio=kamailio, pause_ms=150,
                           calls=args.calls, rate=5)
            phones.append(caller.start())
            assert caller.finish(timeout=args.calls * 2 + 30) == 0, caller.log()
            assert callee.finish() == 0, callee.log()
            timeline.wait_for("available", time.monotonic() - 1, 5)
            for what, values in (("status at an MQTT subscriber", timeline.samples),
                                 ("state handed to the bridge", timeline.source_side)):
                ms = [v * 1000 for v in values]
                print(f"NOTIFY arrival -> {what}, {args.calls} calls through Kamailio, "
                      f"{len(ms)} state changes: p50 {percentile(ms, 50):.2f} ms, "
                      f"p95 {percentile(ms, 95):.2f} ms, p99 {percentile(ms, 99):.2f} ms, "
                      f"max {max(ms):.2f} ms, mean {statistics.mean(ms):.2f} ms", flush=True)
            for trial in range(args.restarts):
                callee = Phone("callee_answer", tmp, pause_ms=1000)
                phones.append(callee.start())
                kamailio.register("201", callee.port)
                began = time.monotonic()
                phones.append(Phone("caller_hangup", tmp, kamailio=kamailio,
                                    pause_ms=1000).start())
                timeline.wait_for("engaged", began, 10)
                restarted = time.monotonic()
                kamailio.restart()
                kamailio.register("201", callee.port)
                stale_gone = timeline.wait_for("unknown", restarted, args.probe + 30)
                correct = timeline.wait_for("available", stale_gone, args.grace + args.probe + 30)
                print(f"restart {trial + 1}: stale engaged gone after "
                      f"{stale_gone - restarted:.1f} s, available (true) after "
                      f"{correct - restarted:.1f} s (probe {args.probe:g} s, grace "
                      f"{args.grace:g} s)", flush=True)
        finally:
            for phone in phones:
                phone.kill()
            source.stop()
            bridge.stop()
            link.stop()
            watcher.loop_stop()
            kamailio.stop()
            broker.kill()
            broker.wait()


if __name__ == "__main__":
    main()
