"""Time-to-unknown: how long a beacon shows a state nobody can vouch for any more.

Everything is real and on this machine: mosquitto on a free port, the
virtual beacon (the real firmware on the MicroPython unix port, 200 KB heap,
default config: keepalive 30 s, link_timeout 4 s) and a paho peer that
publishes the status. Three silent faults, each *--runs* times:

* a cut link: a TCP relay between beacon and broker stops forwarding
  (nothing is closed, like an access point dying mid-air);
* a frozen broker: SIGSTOP on mosquitto (its kernel still ACKs, it never
  answers);
* a silent serial link: the host stops writing to a serial beacon (a raw
  pty), which has only its 15 s silence limit to go by.

For each: the time from the fault to the firmware logging ``led unknown``.
Then the price of finding out fast: the beacon's idle link (no status
changes) is watched for *--idle* seconds with ``ss -tin``, giving MQTT
bytes, TCP segments and bytes on the wire (payload + 52 bytes of IPv4/TCP
header with timestamps per segment) per second, in each direction.

    .venv/bin/python bench/time_to_unknown.py [--runs 10] [--serial-runs 3] [--idle 60]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tty
from pathlib import Path

import paho.mqtt.client as mqtt
from latency import start_mosquitto, wait_look

from focuslight.mqtt.client import BrokerSettings
from focuslight.tools.virtual_beacon import (
    VirtualBeacon,
    firmware_command,
    firmware_env,
    free_udp_port,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from helpers.relay import FreezableProxy

PREFIX = "ttu"
AGENT = "alice"
STATUS = f"{PREFIX}/agents/{AGENT}/status"
HEADER = 52
"""IPv4 (20) + TCP (20) + timestamp option (12) bytes per segment, as Linux and lwIP send."""


def publish(broker: BrokerSettings, state: str) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.connect(broker.host, broker.port)
    client.loop_start()
    body = {"v": 1, "state": state, "source": "bench", "since": time.time()}
    client.publish(STATUS, json.dumps(body), qos=1, retain=True).wait_for_publish(5)
    client.loop_stop()
    client.disconnect()


def config(host: str, port: int) -> dict[str, object]:
    return {"agent": AGENT, "beacon": "alice-ttu", "board": "unix", "broker": host,
            "port": port, "prefix": PREFIX}


def cut_link(broker: BrokerSettings, runs: int) -> list[float]:
    relay, out = FreezableProxy(broker.port), []
    with VirtualBeacon(config("127.0.0.1", relay.port)) as beacon:
        wait_look(beacon, "engaged", 15)
        for _ in range(runs):
            time.sleep(random.uniform(0.5, 3))  # anywhere between two pings
            relay.frozen.set()
            start = time.monotonic()
            wait_look(beacon, "unknown", 30)
            out.append(time.monotonic() - start)
            relay.frozen.clear()
            wait_look(beacon, "engaged", 40)
    relay.server.close()
    return out


def frozen_broker(proc: subprocess.Popen[bytes], broker: BrokerSettings,
                  runs: int) -> list[float]:
    out = []
    with VirtualBeacon(config(broker.host, broker.port)) as beacon:
        wait_look(beacon, "engaged", 15)
        for _ in range(runs):
            time.sleep(random.uniform(0.5, 3))
            proc.send_signal(signal.SIGSTOP)
            start = time.monotonic()
            try:
                wait_look(beacon, "unknown", 30)
                out.append(time.monotonic() - start)
            finally:
                proc.send_signal(signal.SIGCONT)
            wait_look(beacon, "engaged", 40)
    return out


def silent_serial(runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            Path(tmp, "config.json").write_text(json.dumps(
                {"agent": AGENT, "beacon": "alice-usb", "board": "unix", "transport": "serial"}))
            master, slave = os.openpty()
            tty.setraw(slave)
            proc = subprocess.Popen(firmware_command(), cwd=tmp, env=firmware_env(
                free_udp_port()), stdin=slave, stdout=slave, stderr=subprocess.DEVNULL,
                start_new_session=True)
            os.close(slave)
            seen = b""
            try:
                os.write(master, b'{"v":1,"state":"engaged","source":"phone","since":1}\n')
                while b"led engaged" not in seen:
                    seen += os.read(master, 4096)
                start, seen = time.monotonic(), b""  # the host says nothing from now on
                while b"led unknown" not in seen:
                    seen += os.read(master, 4096)
                out.append(time.monotonic() - start)
            finally:
                proc.kill()
                proc.wait()
                os.close(master)
    return out


def _ss(port: int) -> dict[str, int]:
    """Counters of the beacon's socket: the one whose peer is the broker's *port*."""
    text = subprocess.run(["ss", "-tinH", "dst", f"127.0.0.1:{port}"], capture_output=True,
                          text=True, check=True).stdout
    return {k: int(v) for k, v in re.findall(
        r"\b(bytes_sent|bytes_received|segs_out|segs_in):(\d+)", text)}


def idle_cost(broker: BrokerSettings, seconds: float) -> dict[str, float]:
    with VirtualBeacon(config(broker.host, broker.port)) as beacon:
        wait_look(beacon, "engaged", 15)
        time.sleep(2)
        before, start = _ss(broker.port), time.monotonic()
        time.sleep(seconds)
        after, took = _ss(broker.port), time.monotonic() - start
    d = {k: (after.get(k, 0) - before.get(k, 0)) / took for k in
         ("bytes_sent", "bytes_received", "segs_out", "segs_in")}
    return {"mqtt_out": d["bytes_sent"], "mqtt_in": d["bytes_received"],
            "segs_out": d["segs_out"], "segs_in": d["segs_in"],
            "wire_out": d["bytes_sent"] + HEADER * d["segs_out"],
            "wire_in": d["bytes_received"] + HEADER * d["segs_in"]}


def show(name: str, samples: list[float]) -> None:
    print(f"{name:<22} n={len(samples):<3} min {min(samples):.2f} s  median"
          f" {statistics.median(samples):.2f} s  max {max(samples):.2f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="faults of each MQTT kind")
    parser.add_argument("--serial-runs", type=int, default=3, help="silent serial links")
    parser.add_argument("--idle", type=float, default=60, help="seconds of idle link to watch")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, broker = start_mosquitto(Path(tmp))
        try:
            publish(broker, "engaged")
            show("cut link", cut_link(broker, args.runs))
            show("frozen broker", frozen_broker(proc, broker, args.runs))
            if args.serial_runs:
                show("silent serial link", silent_serial(args.serial_runs))
            if args.idle:
                cost = idle_cost(broker, args.idle)
                print("idle link, per second: MQTT {mqtt_out:.2f} B out / {mqtt_in:.2f} B in;"
                      " {segs_out:.2f} segments out / {segs_in:.2f} in; on the wire (+52 B"
                      " IPv4/TCP header each) {wire_out:.1f} B out / {wire_in:.1f} B in"
                      .format(**cost))
        finally:
            proc.kill()
            proc.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
