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

Loaded mode: the same beacon's latency while the same bridge carries N other
agents changing R times a second in all (Home Assistant discovery on, as by
default)::

    .venv/bin/python bench/latency.py --agents 50000 --rate 10000 [--count 300]

A load source (one more StatusSink source) changes the N agents round robin,
each report a change (engaged <-> ringing), paced in 5 ms ticks. The raw round
trip (paho -> mosquitto -> paho, QoS 1) runs in a process of its own, through
the same mosquitto, one sample after each LED sample, so both see the same
load; the ratio of the two p99s is the figure that survives a noisy machine.
It also prints the time from the bridge's start until a subscriber has seen
every agent's status (retained) and every discovery config, the load it
offered and the statuses the broker acknowledged per second under it, the
outbox's backlog, and this process's RSS (the bridge, its load source and the
benchmark's bookkeeping). At the end every retained status is read back and
compared with the bridge's own: a run that lost or reordered a change says so.
The run is bounded: a change that takes over --give-up seconds counts as
lost, and three lost ones end it.
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
import textwrap
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


def start_mosquitto(tmp: Path, unlimited: bool = False
                    ) -> tuple[subprocess.Popen[bytes], BrokerSettings]:
    """*unlimited*: no cap on messages queued for a slow subscriber (the loaded mode's
    counter of retained statuses must not miss one)."""
    port = free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    + ("max_queued_messages 0\n" if unlimited else ""))
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


LOAD_STATES = ("engaged", "ringing")
TICK_S = 0.005

RAW_PROBE = textwrap.dedent(r"""
    import queue, sys, threading, time
    import paho.mqtt.client as mqtt
    port, topic = int(sys.argv[1]), sys.argv[2]
    got = queue.Queue()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    sub.on_message = lambda _c, _u, _m: got.put(time.perf_counter())
    subscribed = threading.Event()
    sub.on_subscribe = lambda *_a: subscribed.set()
    sub.connect("127.0.0.1", port)
    sub.loop_start()
    sub.subscribe(topic, 1)
    subscribed.wait(5)
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    print("ready", flush=True)
    for _line in sys.stdin:
        start = time.perf_counter()
        pub.publish(topic, b"x", qos=1)
        try:
            print((got.get(timeout=10) - start) * 1000, flush=True)
        except queue.Empty:
            print("lost", flush=True)
""")

RETAINED_COUNTER = textwrap.dedent(r"""
    import sys, time
    import paho.mqtt.client as mqtt
    port, prefix, ha, statuses, configs = sys.argv[1:]
    statuses, configs = int(statuses), int(configs)
    seen = {"status": set(), "config": set()}
    def on_message(client, _u, msg):
        kind = "config" if msg.topic.startswith(ha + "/") else "status"
        if not msg.payload or msg.topic in seen[kind]:
            return
        seen[kind].add(msg.topic)
        if len(seen[kind]) == (statuses if kind == "status" else configs):
            print(kind, time.monotonic(), flush=True)
            if kind == "status":  # the load that follows is not ours to count
                client.unsubscribe(prefix + "/agents/+/status")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_message = on_message
    client.on_subscribe = lambda *_a: print("ready", flush=True)
    client.connect("127.0.0.1", int(port))
    client.subscribe([(prefix + "/agents/+/status", 1), (ha + "/#", 1)])
    client.loop_forever()
""")


class LoadSource(Source):
    """N agents changing R times a second in all, round robin, every report a change."""

    def __init__(self, agents: list[str]) -> None:
        super().__init__("load", agents)
        self.sink: StatusSink | None = None
        self.offered = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, sink: StatusSink) -> None:
        self.sink = sink

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()

    def run(self, rate: float) -> None:
        self._thread = threading.Thread(target=self._offer, args=(rate,), daemon=True)
        self._thread.start()

    def _offer(self, rate: float) -> None:
        assert self.sink is not None
        agents, count = self.agents, len(self.agents)
        started = time.monotonic()
        while not self._stop.wait(TICK_S):
            due = int(rate * (time.monotonic() - started))
            while self.offered < due:
                n = self.offered
                self.sink.report(agents[n % count], self.name, LOAD_STATES[n // count % 2])
                self.offered += 1


class Probe:
    """The raw round trip in a process of its own: one sample per :meth:`sample`."""

    def __init__(self, broker: BrokerSettings) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", RAW_PROBE, str(broker.port),
                                      f"{PREFIX}/rtt"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self._line() == "ready"

    def _line(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def sample(self) -> float | None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        line = self._line()
        return None if line == "lost" else float(line)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def rss_mb() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process, MB."""
    fields = dict(line.split(":", 1) for line in
                  Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return tuple(int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM"))  # type: ignore


def loaded_config(tmp: Path, broker: BrokerSettings, agents: list[str],
                  discovery_rate: float | None) -> Path:
    path = tmp / "focuslight.toml"
    rate = "" if discovery_rate is None else f"discovery_rate = {discovery_rate}\n"
    path.write_text(f'[bridge]\nid = "bench"\nbroker = "{broker.url}"\nprefix = "{PREFIX}"\n'
                    f'state_dir = "{tmp / "state"}"\n'
                    + (f"[home_assistant]\n{rate}" if rate else "")
                    + f"[agents.{AGENT}]\n" + "".join(f"[agents.{a}]\n" for a in agents))
    return path


def loaded_samples(source: BenchSource, beacon: VirtualBeacon, probe: Probe, count: int,
                   give_up: float) -> tuple[list[float], list[float], int]:
    """*count* LED changes and as many raw round trips, interleaved; lost LED changes."""
    led: list[float] = []
    raw: list[float] = []
    lost = 0
    for i in range(count):
        state = STATES[i % 2]
        start = time.perf_counter()
        source.say(state)
        try:
            wait_look(beacon, state, give_up)
            led.append((time.perf_counter() - start) * 1000)
        except queue.Empty:
            lost += 1
            print(f"  change {i} did not reach the LED within {give_up:g} s", flush=True)
            if lost == 3:
                break
        rtt = probe.sample()
        if rtt is not None:
            raw.append(rtt)
        time.sleep(0.01)
    return led, raw, lost


def retained_statuses(broker: BrokerSettings, expected: int, timeout: float) -> dict[str, bytes]:
    """Every retained status on the broker, read by a fresh subscriber."""
    got: dict[str, bytes] = {}
    done = threading.Event()

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        if msg.retain:
            got[msg.topic.split("/")[-2]] = msg.payload
            if len(got) >= expected:
                done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_message = on_message
    client.connect(broker.host, broker.port)
    client.subscribe(f"{PREFIX}/agents/+/status", 0)
    client.loop_start()
    done.wait(timeout)
    client.loop_stop()
    client.disconnect()
    return got


def truth_check(service: Service, broker: BrokerSettings) -> str:
    """Compare every retained status with the bridge's own newest."""
    service.bridge.flush(30)
    if not service.link.outbox.drain(120):
        return "the outbox did not drain within 120 s"
    mine = service.bridge.snapshot()
    theirs = retained_statuses(broker, len(mine), 60)
    wrong = [a for a, status in mine.items()
             if a not in theirs or json.loads(theirs[a])["state"] != status.state]
    return (f"all {len(mine)} retained statuses are the bridge's newest" if not wrong else
            f"{len(wrong)} of {len(mine)} retained statuses are NOT the bridge's newest"
            f" (e.g. {wrong[:3]})")


def discovery_line(later: list[str], started: float, configs: int) -> str:
    for line in later:
        kind, at = line.split()
        if kind == "config":
            return (f"every Home Assistant discovery config ({configs:,}) retained"
                    f" {float(at) - started:.1f} s after start")
    return (f"Home Assistant discovery ({configs:,} configs): not all retained by the end of"
            " the run" if configs else "Home Assistant discovery off")


def loaded_run(args: argparse.Namespace) -> int:
    ids = [f"load-{i:05d}" for i in range(args.agents)]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        mosquitto, broker = start_mosquitto(tmp, unlimited=True)
        config = load(loaded_config(tmp, broker, ids, args.discovery_rate))
        configs = 2 * len(config.agents) if config.home_assistant_prefix else 0
        counter = subprocess.Popen(
            [sys.executable, "-c", RETAINED_COUNTER, str(broker.port), PREFIX,
             config.home_assistant_prefix or "-", str(len(config.agents)), str(configs)],
            stdout=subprocess.PIPE, text=True)
        assert counter.stdout is not None
        assert counter.stdout.readline().strip() == "ready"
        source, load_source = BenchSource(), LoadSource(ids)
        started = time.monotonic()
        service = Service(config, sources=[source, load_source])
        service.start()
        beacon = probe = None
        try:
            kind, at = counter.stdout.readline().split()
            assert kind == "status", kind
            retained_s = float(at) - started
            later: list[str] = []
            threading.Thread(target=later.extend, args=(counter.stdout,), daemon=True).start()
            rss_start = rss_mb()
            print(f"{args.agents + 1} agents: every status retained {retained_s:.2f} s after"
                  f" start; RSS {rss_start[0]:.0f} MB (peak {rss_start[1]:.0f})", flush=True)
            firmware = compile_firmware(tmp / "mpy") if args.mpy else FIRMWARE_DIR
            beacon = VirtualBeacon(beacon_config(broker), firmware=firmware)
            wait_log(beacon, "mqtt: connected", 60)
            probe = Probe(broker)
            outbox = service.link.outbox
            acked_before, load_started = outbox.acknowledged, time.monotonic()
            load_source.run(args.rate)
            time.sleep(args.warm_up)
            led, raw, lost = loaded_samples(source, beacon, probe, args.count, args.give_up)
            load_s = time.monotonic() - load_started
            acked = outbox.acknowledged - acked_before
            backlog = outbox.backlog()
            load_source.stop()
            rss_end = rss_mb()
            verdict = truth_check(service, broker)
        finally:
            for part in (probe, beacon):
                if part is not None:
                    part.close()
            service.stop()
            counter.kill()
            mosquitto.terminate()
            mosquitto.wait()
    print(f"load: {args.agents} agents, offered {load_source.offered / load_s:,.0f} changes/s"
          f" (asked {args.rate:,.0f}) for {load_s:.1f} s; the broker acknowledged"
          f" {acked / load_s:,.0f} messages/s; outbox at the end: {backlog[0]} waiting,"
          f" {backlog[1]} in flight; RSS {rss_end[0]:.0f} MB (peak {rss_end[1]:.0f})")
    print(f"{'path':<52}{'p50':>8}{'p95':>8}{'p99':>8}  (ms, {len(led)} / {len(raw)} samples)")
    for name, samples in (("source -> bridge -> mosquitto -> beacon LED", led),
                          ("paho -> mosquitto -> paho (QoS 1), same run", raw)):
        if len(samples) < 2:
            print(f"{name:<52}{'(too few samples)':>24}")
            continue
        print(f"{name:<52}" + "".join(f"{v:8.2f}" for v in percentiles(samples)))
    ratio = (f"{percentiles(led)[2] / percentiles(raw)[2]:.2f}" if min(len(led), len(raw)) > 1
             else "n/a")
    print(f"p99 ratio LED / raw: {ratio}; lost changes: {lost}; {verdict}")
    print(discovery_line(later, started, configs))
    return 0 if not lost else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="LED changes to time")
    parser.add_argument("--messages", type=int, default=10_000, help="messages for the heap check")
    parser.add_argument("--mpy", action="store_true", help="run the firmware compiled to .mpy")
    parser.add_argument("--broker", help="mqtt://HOST:PORT of a running broker (default: start"
                                         " mosquitto on a free port)")
    parser.add_argument("--agents", type=int, default=0,
                        help="loaded mode: this many other agents on the same bridge")
    parser.add_argument("--rate", type=float, default=2000,
                        help="loaded mode: their changes per second, in all")
    parser.add_argument("--warm-up", type=float, default=2.0,
                        help="loaded mode: seconds of load before the first sample")
    parser.add_argument("--give-up", type=float, default=10.0,
                        help="loaded mode: a change slower than this (s) counts as lost")
    parser.add_argument("--discovery-rate", type=float,
                        help="loaded mode: [home_assistant] discovery_rate (default: the"
                             " bridge's)")
    parser.add_argument("--switch-interval", type=float,
                        help="sys.setswitchinterval for this process (an experiment)")
    args = parser.parse_args()
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    if args.agents:
        return loaded_run(args)
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
