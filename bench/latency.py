"""Beacon latency: a source event -> the bridge -> the broker -> the beacon's LED.

Everything is real and on this machine: mosquitto (started here unless
--broker is given), the bridge (focuslight.app.Service, in this process)
fed by a source that reports through the same StatusSink interface the SIP
and counter sources use, and the virtual beacon (the real firmware on the
MicroPython unix port, 200 KB heap). A change counts as seen when the
firmware logs the new look (``led <state> ...``), the moment it drives its
LED seam; the line reaches this process through a pipe and a reader thread,
which the figures include.

For scale the same run measures the raw broker round trip, paho -> paho at
QoS 1, and the unix port's heap (gc.mem_alloc() after gc.collect()) before
and after 10,000 status messages.

    .venv/bin/python bench/latency.py [--count 1000] [--messages 10000] [--mpy]

--mpy runs the firmware compiled with mpy-cross (-march=x64), as
``focuslight flash`` deploys it, instead of from source.
"""

from __future__ import annotations

import argparse
import json
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from focuslight.app import Service
from focuslight.config import load
from focuslight.mqtt.client import BrokerSettings
from focuslight.sources.base import Source, StatusSink
from focuslight.tools.embedded_broker import free_port, wait_for_port
from focuslight.tools.virtual_beacon import FIRMWARE_DIR, VirtualBeacon

PREFIX = "bench"
AGENT = "alice"
STATES = ("engaged", "ringing")  # alternate: every report is a change the bridge publishes


class BenchSource(Source):
    """Reports what the benchmark tells it to, like a telephony source would."""

    def __init__(self) -> None:
        super().__init__("bench", [AGENT])
        self.sink: StatusSink | None = None

    def start(self, sink: StatusSink) -> None:
        self.sink = sink

    def stop(self) -> None:
        self.sink = None

    def say(self, state: str) -> None:
        assert self.sink is not None
        self.sink.report(AGENT, self.name, state)


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]


def wait_look(beacon: VirtualBeacon, state: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        kind, value = beacon.events.get(timeout=max(0.0, deadline - time.monotonic()))
        if kind == "look" and value.state == state:
            return
        if kind == "exit":
            raise RuntimeError(f"the firmware exited with {value}")


def wait_log(beacon: VirtualBeacon, text: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while True:
        kind, value = beacon.events.get(timeout=max(0.0, deadline - time.monotonic()))
        if kind == "log" and text in value:
            return value


def beacon_latency(source: BenchSource, beacon: VirtualBeacon, count: int) -> list[float]:
    out = []
    for i in range(count):
        state = STATES[i % 2]
        start = time.perf_counter()
        source.say(state)
        wait_look(beacon, state)
        out.append((time.perf_counter() - start) * 1000)
    return out


def paho_round_trip(broker: BrokerSettings, count: int) -> list[float]:
    got: queue.Queue[float] = queue.Queue()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    sub.on_message = lambda _c, _u, _m: got.put(time.perf_counter())
    subscribed = threading.Event()
    sub.on_subscribe = lambda *_a: subscribed.set()
    sub.connect(broker.host, broker.port)
    sub.loop_start()
    sub.subscribe(f"{PREFIX}/rtt", 1)
    subscribed.wait(5)
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    pub.connect(broker.host, broker.port)
    pub.loop_start()
    out = []
    for _ in range(count):
        start = time.perf_counter()
        pub.publish(f"{PREFIX}/rtt", b"x", qos=1)
        out.append((got.get(timeout=5) - start) * 1000)
    for client in (pub, sub):
        client.loop_stop()
        client.disconnect()
    return out


def heap_after_messages(broker: BrokerSettings, beacon: VirtualBeacon,
                        messages: int) -> tuple[int, int]:
    """gc.mem_alloc() of the firmware before and after *messages* status messages."""
    beacon.send("mem")
    before = _alloc(wait_log(beacon, "mem alloc="))
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    pub.connect(broker.host, broker.port)
    pub.loop_start()
    topic = f"{PREFIX}/agents/{AGENT}/status"
    for i in range(messages):
        body = {"v": 1, "state": ("hold", "dnd")[i % 2], "source": "bench", "since": i}
        pub.publish(topic, json.dumps(body).encode(), qos=1).wait_for_publish(5)
    wait_look(beacon, ("hold", "dnd")[(messages - 1) % 2])
    pub.loop_stop()
    pub.disconnect()
    time.sleep(0.5)
    beacon.send("mem")
    return before, _alloc(wait_log(beacon, "mem alloc="))


def _alloc(line: str) -> int:
    return int(line.split("alloc=")[1].split()[0])


def start_mosquitto(tmp: Path) -> tuple[subprocess.Popen[bytes], BrokerSettings]:
    port = free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen([shutil.which("mosquitto") or "mosquitto", "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port("127.0.0.1", port)
    return proc, BrokerSettings("127.0.0.1", port)


def start_bridge(tmp: Path, broker: BrokerSettings) -> tuple[Service, BenchSource]:
    path = tmp / "focuslight.toml"
    path.write_text(f'[bridge]\nid = "bench"\nbroker = "{broker.url}"\nprefix = "{PREFIX}"\n'
                    f"[agents.{AGENT}]\n")
    config = load(path)
    source = BenchSource()
    config.sources = [source]
    service = Service(config)
    service.start()
    return service, source


def beacon_config(broker: BrokerSettings) -> dict[str, Any]:
    return {"agent": AGENT, "beacon": f"{AGENT}-bench", "board": "unix", "transport": "mqtt",
            "broker": broker.host, "port": broker.port, "prefix": PREFIX}


def compile_firmware(out: Path) -> Path:
    """``beacon/*.py`` -> ``out/beacon/*.mpy`` for the unix port, plus main.py."""
    (out / "beacon").mkdir(parents=True)
    for src in sorted((FIRMWARE_DIR / "beacon").glob("*.py")):
        subprocess.run([sys.executable, "-m", "mpy_cross", "-march=x64", "-s",
                        f"beacon/{src.name}", "-o", str(out / "beacon" / f"{src.stem}.mpy"),
                        str(src)], check=True)
    shutil.copy(FIRMWARE_DIR / "main.py", out / "main.py")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="LED changes to time")
    parser.add_argument("--messages", type=int, default=10_000, help="messages for the heap check")
    parser.add_argument("--mpy", action="store_true", help="run the firmware compiled to .mpy")
    parser.add_argument("--broker", help="mqtt://HOST:PORT of a running broker (default: start"
                                         " mosquitto on a free port)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        mosquitto = None
        if args.broker:
            broker = BrokerSettings.parse(args.broker)
        else:
            mosquitto, broker = start_mosquitto(tmp)
        service, source = start_bridge(tmp, broker)
        firmware = compile_firmware(tmp / "mpy") if args.mpy else FIRMWARE_DIR
        beacon = VirtualBeacon(beacon_config(broker), firmware=firmware)
        try:
            wait_look(beacon, "unknown")
            wait_log(beacon, "mqtt: connected")
            led = beacon_latency(source, beacon, args.count)
            rtt = paho_round_trip(broker, args.count)
            before, after = heap_after_messages(broker, beacon, args.messages)
        finally:
            beacon.close()
            service.stop()
            if mosquitto:
                mosquitto.terminate()
                mosquitto.wait()
    print(f"broker {broker.url}, firmware from {'.mpy' if args.mpy else 'source'},"
          f" {args.count} changes each (ms)")
    print(f"{'path':<52}{'p50':>8}{'p95':>8}{'p99':>8}")
    for name, samples in (("source -> bridge -> mosquitto -> beacon LED", led),
                          ("paho -> mosquitto -> paho (QoS 1)", rtt)):
        print(f"{name:<52}" + "".join(f"{v:8.2f}" for v in percentiles(samples)))
    print(f"unix port heap (gc.mem_alloc after gc.collect): {before} bytes before, {after} bytes"
          f" after {args.messages} messages ({after - before:+d})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
