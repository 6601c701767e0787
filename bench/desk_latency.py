"""How soon the focus guard silences the desktop once a call is answered, and gives it back.

Everything is real and on this machine: mosquitto on a free port, dunst under Xvfb on a
private session bus (tests/helpers/desktop.py), the guard (``focuslight.desk.guard.Guard``
with the dunst silencer and its journal) and a paho peer publishing the agent's status as a
bridge does. Each round publishes ``engaged`` and then ``available``; the time is from the
publish to the guard having dunst's ``set-paused`` answered (it logs right after), so it
includes the MQTT hop, the trust rule, the journal write (fsync) and both ``dunstctl`` calls.

Same-run baselines: the MQTT hop alone (publish → a plain paho subscriber's callback) and
one ``dunstctl set-paused`` alone (the guard makes two such calls per change: read, write).

    .venv/bin/python bench/desk_latency.py [--rounds 30]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from latency import start_mosquitto

from focuslight.desk.guard import Guard
from focuslight.desk.journal import Journal
from focuslight.desk.silencers import Dunst, Silencers
from focuslight.mqtt.client import BrokerSettings
from focuslight.protocol import Topics

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from helpers.desktop import Session

PREFIX = "deskbench"
STATUS = f"{PREFIX}/agents/alice/status"


class Marks(logging.Handler):
    """When the guard logged that it silenced or gave back."""

    def __init__(self) -> None:
        super().__init__()
        self.event = threading.Event()
        self.at = 0.0

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if "notifications silenced" in text or "notifications given back" in text:
            self.at = time.perf_counter()
            self.event.set()


def payload(state: str) -> bytes:
    return json.dumps({"v": 1, "state": state, "source": "phone", "since": time.time(),
                       "bridge_id": "main"}).encode()


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def line(name: str, ms: list[float]) -> str:
    return (f"| {name} | {len(ms)} | {statistics.median(ms):.1f} | {pct(ms, 0.9):.1f} |"
            f" {max(ms):.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        broker_proc, broker = start_mosquitto(tmp)
        session = Session(tmp)
        try:
            session.start_bus()
            session.start_screen()
            session.start_dunst()
            run(args.rounds, tmp, session, broker)
        finally:
            session.close()
            broker_proc.kill()


def run(rounds: int, tmp: Path, session: Session, broker: BrokerSettings) -> None:
    os.environ.update(session.vars)  # the guard's dunstctl calls run in this session
    marks = Marks()
    logging.getLogger("focuslight.desk.guard").addHandler(marks)
    logging.getLogger("focuslight.desk.guard").setLevel(logging.INFO)
    journal = Journal(tmp / "state" / "desk-alice.json")
    guard = Guard(broker, Topics(PREFIX), "alice",
                  silencers=Silencers([Dunst(journal)], journal))
    peer = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    heard = threading.Event()
    heard_at = [0.0]

    def on_message(*_a: object) -> None:
        heard_at[0] = time.perf_counter()
        heard.set()

    peer.on_message = on_message
    peer.connect(broker.host, broker.port)
    peer.loop_start()
    peer.subscribe(f"{PREFIX}/hop", qos=1)
    peer.publish(f"{PREFIX}/bridges/main/availability", "online", qos=1,
                 retain=True).wait_for_publish(5)
    guard.start()
    time.sleep(1.0)
    silence, give_back, hop, dunstctl = [], [], [], []
    try:
        for _ in range(rounds):
            for state, into in (("engaged", silence), ("available", give_back)):
                marks.event.clear()
                start = time.perf_counter()
                peer.publish(STATUS, payload(state), qos=1, retain=True)
                assert marks.event.wait(10), f"the guard did not act on {state}"
                into.append((marks.at - start) * 1000)
            heard.clear()
            start = time.perf_counter()
            peer.publish(f"{PREFIX}/hop", b"x", qos=1)
            assert heard.wait(10)
            hop.append((heard_at[0] - start) * 1000)
            start = time.perf_counter()
            subprocess.run(["dunstctl", "set-paused", "false"], env=session.env(), check=True)
            dunstctl.append((time.perf_counter() - start) * 1000)
    finally:
        guard.stop()
        peer.loop_stop()
    print("| what | n | p50 ms | p90 ms | max ms |\n|---|---:|---:|---:|---:|")
    print(line("status `engaged` published → dunst paused", silence))
    print(line("status `available` published → dunst unpaused", give_back))
    print(line("baseline: MQTT hop alone (publish → subscriber)", hop))
    print(line("baseline: one `dunstctl set-paused` alone", dunstctl))


if __name__ == "__main__":
    main()
