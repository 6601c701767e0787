#!/usr/bin/env python3
"""SIP busy lamp latency through a real Kamailio, and the time from its restart to a true lamp.

    .venv/bin/python bench/sip_latency.py [--calls 100] [--restarts 3] [--probe 30] [--grace 120]

Latency: sipp phones make ``--calls`` calls, one after the other, to
extension 201 through Kamailio (registrar + proxy + dialog + pua_dialoginfo
+ presence, tests/helpers/kamailio.py). The SIP source, the Hub and its
MqttOutput run in this process against mosquitto, as ``focuslight bridge``
runs them. A paho subscriber in another process (a beacon is another
machine) receives alice's status. Each sample is the time from the moment
the source's socket returned a NOTIFY to the moment the subscriber received
the status that NOTIFY caused (ringing, engaged, available; wrap-up off),
so it includes the bridge's merge, the publish, mosquitto and paho on both
ends. Both processes read CLOCK_MONOTONIC, one clock for the whole machine.

Baseline, in the same run: 60 ms after each ``ringing`` and ``engaged``
reaches the subscriber (mid-way through the 150 ms of ringing or talk, when
no NOTIFY is due), a bare paho client in the bridge's process publishes one
retained QoS 1 message to the same subscriber. That is the floor the bridge
cannot go below: paho -> mosquitto -> paho on this machine, at this moment.

Restart: a call is answered, Kamailio is restarted (it forgets every
subscription and the call), the call ends 1 s later. Measured: restart →
the lamp stops showing the stale ``engaged`` (``unknown``), and restart →
the lamp shows ``available`` again, with the source's ``probe`` and
``restart_grace`` settings (defaults 30 s and 120 s).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
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
BASELINE = "bench/baseline"
BASELINE_DELAY = 0.06
"""Seconds after a ``ringing`` or ``engaged`` arrives that a baseline message is published."""


def clock() -> float:
    """CLOCK_MONOTONIC in seconds: on Linux one clock for every process on the machine,
    so a time taken in the subscriber's process compares with one taken in the bridge's."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) / 1e9


def subscriber(port: int) -> None:
    """The beacon's end, run in its own process: one line per message, ``<ns> <what>``."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)

    def on_message(_client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        at = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        if msg.topic == BASELINE:
            print(at, "baseline", msg.payload.decode(), flush=True)
        elif msg.payload:
            print(at, "status", json.loads(msg.payload)["state"], flush=True)

    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe([(TOPIC, 1), (BASELINE, 1)])
    client.on_subscribe = lambda *_: print("ready", flush=True)
    client.connect("127.0.0.1", port)
    client.loop_forever()


class Timeline:
    """NOTIFY arrivals (the source's thread), statuses and baseline messages received (the
    subscriber process's lines, read by a thread of this process)."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.arrived: float | None = None  # the NOTIFY being handled now
        self.caused: dict[str, float] = {}  # state -> arrival of the NOTIFY that reported it
        self.samples: list[float] = []
        self.source_side: list[float] = []  # NOTIFY arrival -> the source hands the state on
        self.states: list[tuple[float, str]] = []
        self.sent: dict[str, float] = {}  # baseline message -> when it was published
        self.baseline: list[float] = []
        self.pending: list[float] = []  # when the next baseline messages are due

    def on_status(self, state: str, at: float) -> None:
        with self.cond:
            self.states.append((at, state))
            arrived = self.caused.pop(state, None)
            if arrived is not None:
                self.samples.append(at - arrived)
                if state in ("ringing", "engaged"):
                    self.pending.append(at + BASELINE_DELAY)
            self.cond.notify_all()

    def on_baseline(self, seq: str, at: float) -> None:
        with self.cond:
            sent = self.sent.pop(seq, None)
            if sent is not None:
                self.baseline.append(at - sent)

    def read(self, lines: Iterable[str], ready: threading.Event) -> None:
        """The subscriber process's lines (a thread of this process)."""
        for line in lines:
            if line.strip() == "ready":
                ready.set()
                continue
            ns, what, value = line.split()
            (self.on_baseline if what == "baseline" else self.on_status)(value, int(ns) / 1e9)

    def publish_baseline(self, client: mqtt.Client, stopping: threading.Event) -> None:
        """Publish one bare paho message when due (a thread of this process)."""
        seq = 0
        while not stopping.is_set():
            with self.cond:
                due = self.pending.pop(0) if self.pending else None
                if due is None:
                    self.cond.wait(0.5)
                    continue
            time.sleep(max(0.0, due - clock()))
            seq += 1
            with self.cond:
                self.sent[str(seq)] = clock()
            client.publish(BASELINE, str(seq), qos=1, retain=True)

    def wait_for(self, state: str, after: float, timeout: float) -> float:
        deadline = clock() + timeout
        with self.cond:
            while True:
                for at, seen in self.states:
                    if seen == state and at >= after:
                        return at
                left = deadline - clock()
                if left <= 0:
                    raise TimeoutError(f"no {state} within {timeout} s: {self.states[-5:]}")
                self.cond.wait(left)


def instrument(timeline: Timeline) -> None:
    """Note when each NOTIFY left the socket, and which reported state it caused."""
    handle, report = sip.BlfClient._handle, sip.BlfClient._set_state

    def timed_handle(self, data: bytes, now: float) -> None:
        timeline.arrived = clock() if data.startswith(b"NOTIFY ") else None
        handle(self, data, now)

    def timed_set_state(self, sub, state: str) -> None:
        if timeline.arrived is not None and self.reported.get(sub.agent) != state:
            with timeline.cond:
                timeline.caused[state] = timeline.arrived
                timeline.source_side.append(clock() - timeline.arrived)
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


def summary(what: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (f"{what}, {len(ms)} samples: p50 {percentile(ms, 50):.2f} ms, "
            f"p95 {percentile(ms, 95):.2f} ms, p99 {percentile(ms, 99):.2f} ms, "
            f"max {max(ms):.2f} ms, mean {statistics.mean(ms):.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--restarts", type=int, default=3)
    parser.add_argument("--probe", type=float, default=30.0)
    parser.add_argument("--grace", type=float, default=120.0)
    parser.add_argument("--subscriber", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.subscriber:
        subscriber(args.subscriber)
        return
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
        watcher = subprocess.Popen([sys.executable, __file__, "--subscriber", str(port)],
                                   stdout=subprocess.PIPE, text=True)
        ready, stopping = threading.Event(), threading.Event()
        threading.Thread(target=timeline.read, args=(watcher.stdout, ready), daemon=True).start()
        raw = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, "bench-baseline")
        raw.connect("127.0.0.1", port)
        raw.loop_start()
        threading.Thread(target=timeline.publish_baseline, args=(raw, stopping),
                         daemon=True).start()
        phones: list[Phone] = []
        try:
            assert ready.wait(15), "the subscriber process did not subscribe"
            print(f"load average {os.getloadavg()[0]:.2f} at start", flush=True)
            link.start()
            bridge.start()  # starts the SIP source too
            timeline.wait_for("available", 0, 15)
            with timeline.cond:  # published while the MQTT session was still being set up
                startup = timeline.samples[:]
                del timeline.samples[:], timeline.source_side[:]
            print(f"first state after start: {', '.join(f'{v * 1000:.2f}' for v in startup)}"
                  " ms (the MQTT session was still being set up; not counted)", flush=True)
            callee = Phone("callee_answer", tmp, pause_ms=150, calls=args.calls)
            phones.append(callee.start())
            kamailio.register("201", callee.port)
            caller = Phone("caller_hangup", tmp, kamailio=kamailio, pause_ms=150,
                           calls=args.calls, rate=5)
            phones.append(caller.start())
            assert caller.finish(timeout=args.calls * 2 + 30) == 0, caller.log()
            assert callee.finish() == 0, callee.log()
            timeline.wait_for("available", clock() - 1, 5)
            time.sleep(BASELINE_DELAY + 0.1)  # the last baseline message
            print(f"load average {os.getloadavg()[0]:.2f} at the end; {args.calls} calls "
                  "through Kamailio", flush=True)
            for what, values in (
                    ("raw paho -> mosquitto -> paho (same run, baseline)", timeline.baseline),
                    ("NOTIFY arrival -> status at the MQTT subscriber", timeline.samples),
                    ("NOTIFY arrival -> state handed to the hub", timeline.source_side)):
                print(summary(what, values), flush=True)
            for trial in range(args.restarts):
                callee = Phone("callee_answer", tmp, pause_ms=1000)
                phones.append(callee.start())
                kamailio.register("201", callee.port)
                began = clock()
                phones.append(Phone("caller_hangup", tmp, kamailio=kamailio,
                                    pause_ms=1000).start())
                timeline.wait_for("engaged", began, 10)
                restarted = clock()
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
            stopping.set()
            raw.loop_stop()
            watcher.terminate()
            watcher.wait()
            kamailio.stop()
            broker.kill()
            broker.wait()


if __name__ == "__main__":
    main()
