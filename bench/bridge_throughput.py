#!/usr/bin/env python3
"""State changes per second through the bridge into a real broker, and the bridge's RSS.

    .venv/bin/python bench/bridge_throughput.py [--agents 1000 5000] [--changes-per-agent 20]

For each agent count it starts a fresh broker (mosquitto if installed, else
the embedded one), runs the real Bridge + MqttLink in this process, and a
separate paho subscriber process that counts every status message that
arrives. Each round changes every agent once (engaged ↔ available, no
wrap-up) and waits for the bridge to apply it, so no change is coalesced
away. A change is counted only when the subscriber has received it, so
"changes/s" is end to end: source report → merge → publish (retained,
QoS 1) → broker → subscriber.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from focuslight.bridge import Bridge, agents_from_ids
from focuslight.config import Config
from focuslight.connection import BrokerSettings
from focuslight.embedded_broker import free_port, wait_for_port
from focuslight.mqtt_link import MqttLink

COUNTER = r"""
import sys, time, paho.mqtt.client as mqtt
port, expected = int(sys.argv[1]), int(sys.argv[2])
seen, first = 0, None
def on_message(c, u, msg):
    global seen, first
    if b'"source":"bench"' in msg.payload:
        seen += 1
        first = first or time.monotonic()
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
c.on_message = on_message
c.on_connect = lambda c, *a: c.subscribe("bench/agents/+/status", 1)
c.connect("127.0.0.1", port)
c.loop_start()
print("ready", flush=True)
deadline = time.monotonic() + 120
while seen < expected and time.monotonic() < deadline:
    time.sleep(0.005)
print(seen, time.monotonic(), flush=True)
"""


def start_broker(tmp: Path) -> tuple[subprocess.Popen, int, str]:
    port = free_port()
    if shutil.which("mosquitto"):
        conf = tmp / "m.conf"
        conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n"
                        "max_queued_messages 0\nmax_inflight_messages 0\n")
        proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stderr=subprocess.DEVNULL)
        name = "mosquitto"
    else:
        proc = subprocess.Popen([sys.executable, "-m", "focuslight.embedded_broker",
                                 "--port", str(port)], stdout=subprocess.DEVNULL)
        name = "embedded amqtt"
    wait_for_port("127.0.0.1", port)
    return proc, port, name


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_once(agents: int, per_agent: int) -> dict[str, float | str]:
    with tempfile.TemporaryDirectory() as tmp:
        broker, port, broker_name = start_broker(Path(tmp))
        ids = [f"agent-{i:05d}" for i in range(agents)]
        bridge = Bridge(agents_from_ids(ids), wrap_up_s=0)
        config = Config("bench", "bench", BrokerSettings("127.0.0.1", port), "bench", 0,
                        bridge.agents, [])
        link = MqttLink(bridge, config)
        bridge.outputs.append(link)
        total = agents * per_agent
        counter = subprocess.Popen([sys.executable, "-c", COUNTER, str(port), str(total)],
                                   stdout=subprocess.PIPE, text=True)
        try:
            assert counter.stdout.readline().strip() == "ready"
            link.start()
            bridge.start()
            while not link.connected:
                time.sleep(0.01)
            bridge.flush(30)
            rss_before = rss_mb()
            states = ("engaged", "available")
            started = time.monotonic()
            for round_ in range(per_agent):  # a flush per round: every report is a change
                for agent in ids:
                    bridge.report(agent, "bench", states[round_ % 2])
                bridge.flush(120)
            queued_s = time.monotonic() - started
            seen, finished = counter.stdout.readline().split()
            elapsed = float(finished) - started
            return {"broker": broker_name, "agents": agents, "changes": total,
                    "received": int(seen), "seconds": elapsed,
                    "changes_per_s": int(seen) / elapsed,
                    "bridge_side_per_s": total / queued_s,
                    "rss_mb_idle": rss_before, "rss_mb_after": rss_mb()}
        finally:
            bridge.stop()
            link.stop()
            counter.kill()
            broker.kill()
            broker.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--changes-per-agent", type=int, default=20)
    args = parser.parse_args()
    print(f"{'broker':<15} {'agents':>6} {'changes':>8} {'received':>8} {'seconds':>8} "
          f"{'changes/s':>10} {'bridge-side/s':>13} {'RSS idle MB':>11} {'RSS after MB':>12}")
    for agents in args.agents:
        r = run_once(agents, args.changes_per_agent)
        print(f"{r['broker']:<15} {r['agents']:>6} {r['changes']:>8} {r['received']:>8} "
              f"{r['seconds']:>8.2f} {r['changes_per_s']:>10.0f} {r['bridge_side_per_s']:>13.0f} "
              f"{r['rss_mb_idle']:>11.1f} {r['rss_mb_after']:>12.1f}", flush=True)


if __name__ == "__main__":
    main()
