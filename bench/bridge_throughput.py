#!/usr/bin/env python3
"""State changes per second through the bridge into a real broker, and the bridge's RSS.

    .venv/bin/python bench/bridge_throughput.py [--agents 1000 5000] [--changes-per-agent 20]

For each agent count it starts a fresh broker (mosquitto if installed, else
the embedded one), runs the real Hub + MqttOutput in this process, and a
separate paho subscriber process that counts every status message that
arrives. Each round changes every agent once (engaged ↔ available, no
wrap-up) and waits until the subscriber has received every change of the
round, so no change is coalesced away in the bridge's outbox. "changes/s" is
end to end: source report → merge → publish (retained, QoS 1) → broker →
subscriber. "bridge-side/s" counts only the time the bridge took to apply
the changes and hand them to the outbox.
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

from focuslight.config import Config
from focuslight.core.agents import agents_from_ids
from focuslight.core.hub import Hub
from focuslight.mqtt.client import BrokerSettings
from focuslight.outputs.mqtt import MqttOutput
from focuslight.tools.embedded_broker import free_port, wait_for_port

COUNTER = r"""
import sys, time, paho.mqtt.client as mqtt
port, per_round, expected = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
seen = 0
def on_message(c, u, msg):
    global seen
    if b'"source":"bench"' in msg.payload:
        seen += 1
        if seen % per_round == 0:
            print(seen, time.monotonic(), flush=True)
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
c.on_message = on_message
c.on_connect = lambda c, *a: c.subscribe("bench/agents/+/status", 1)
c.connect("127.0.0.1", port)
c.loop_start()
print("ready", flush=True)
deadline = time.monotonic() + 120
while seen < expected and time.monotonic() < deadline:
    time.sleep(0.05)
if seen < expected:
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
        proc = subprocess.Popen([sys.executable, "-m", "focuslight.tools.embedded_broker",
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
        bridge = Hub(agents_from_ids(ids), wrap_up_s=0)
        config = Config("bench", "bench", BrokerSettings("127.0.0.1", port), "bench", 0,
                        bridge.agents, [])
        link = MqttOutput(bridge, config)
        bridge.outputs.append(link)
        total = agents * per_agent
        counter = subprocess.Popen([sys.executable, "-c", COUNTER, str(port), str(agents),
                                    str(total)], stdout=subprocess.PIPE, text=True)
        try:
            assert counter.stdout.readline().strip() == "ready"
            link.start()
            bridge.start()
            while not link.connected:
                time.sleep(0.01)
            bridge.flush(30)
            link.outbox.drain(60)  # the initial statuses and Home Assistant discovery
            rss_before = rss_mb()
            states = ("engaged", "available")
            started = time.monotonic()
            bridge_s, seen, finished = 0.0, 0, started
            for round_ in range(per_agent):
                round_started = time.monotonic()
                for agent in ids:
                    bridge.report(agent, "bench", states[round_ % 2])
                bridge.flush(120)
                bridge_s += time.monotonic() - round_started
                # Wait until the subscriber has every change of this round: the
                # next round would otherwise replace statuses still waiting in
                # the outbox, and a replaced change is never delivered.
                count, at = counter.stdout.readline().split()
                seen, finished = int(count), float(at)
                if seen < (round_ + 1) * agents:
                    break  # the subscriber gave up waiting
            elapsed = finished - started
            return {"broker": broker_name, "agents": agents, "changes": total,
                    "received": seen, "seconds": elapsed,
                    "changes_per_s": seen / elapsed,
                    "bridge_side_per_s": total / bridge_s,
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
