"""The floor board's fan-out: many viewers of a big, busy floor; prints the figures.

Everything is real and on this machine: mosquitto on a free port, ``focuslight
board`` in its own process (its RSS and CPU are read from /proc), a paho
publisher changing random agents' statuses at ``--rate`` a second, and viewers
holding the board's ``/events`` stream open on raw asyncio sockets, spread over
``--procs`` processes so that 2,000 of them cost little.

Delivery latency is the time from a status's publish (its ``since``, stamped by
the publisher just before it publishes) to a viewer reading the delta (or the
fresh snapshot) that carries it. Every viewer times the arrival of every frame
by its SSE ``id``; one viewer per process also decodes the deltas to learn which
statuses each id carries, so every (viewer, status) pair counts without 2,000
JSON decoders. Only statuses the viewer's frames carry count: a status
overtaken by a newer one for the same agent within one tick is never sent, as
the page only ever needs each tile's newest state. At the end every decoding
viewer's floor is compared with what was published last for each agent.

Each phase runs on the same board and broker: ``--viewers 1,2000`` measures one
viewer (the same-run baseline) and then 2,000::

    python bench/board_fanout.py                                 # the documented run
    python bench/board_fanout.py --viewers 1,200 --agents 500 --duration 5   # quick

``--engine mqtt-ws`` measures option (b) of docs/board.md instead: each viewer
is a paho client subscribing to the statuses over mosquitto's websockets
listener, as a page would (a thread per viewer: keep ``--viewers`` to a few
hundred). It prints the same figures and mosquitto's CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from focuslight.protocol import STATES, Status, Topics
from focuslight.tools.embedded_broker import free_port, wait_for_port

PREFIX = "fanout"
TOPICS = Topics(PREFIX)
HIST_MS = 20_000
"""Latency histogram: 1 ms bins up to this; later arrivals land in the last bin."""
SETTLE_S = 3.0
"""After the publisher stops: time for the last deltas to reach everyone."""


# -- the world: broker, board, publisher ---------------------------------------------

def start_mosquitto(tmp: Path, websockets: bool = False) -> tuple[subprocess.Popen, int, int]:
    """mosquitto on a free port (and a websockets listener beside it, on request)."""
    port, ws_port = free_port(), free_port() if websockets else 0
    conf = f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n" \
           "max_queued_messages 100000\n"
    if websockets:  # 2.0.x: only beside a plain listener; binds every interface
        conf += f"listener {ws_port}\nprotocol websockets\n"
    (tmp / "mosquitto.conf").write_text(conf)
    proc = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c",
                             str(tmp / "mosquitto.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port("127.0.0.1", port)
    return proc, port, ws_port


def start_board(port: int) -> tuple[subprocess.Popen, str, int]:
    """``focuslight board`` in its own process; (process, host, port)."""
    proc = subprocess.Popen([sys.executable, "-m", "focuslight", "board", "--broker",
                             f"mqtt://127.0.0.1:{port}", "--prefix", PREFIX, "--listen",
                             "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    assert proc.stdout is not None
    match = re.search(r"http://([\d.]+):(\d+)/", proc.stdout.readline())
    if not match:
        raise SystemExit("board did not start")
    return proc, match.group(1), int(match.group(2))


def proc_figures(pid: int) -> dict[str, float]:
    """RSS, peak RSS (MB) and CPU seconds so far of process *pid*."""
    status = Path(f"/proc/{pid}/status").read_text()
    kb = {k: int(v.split()[0]) for k, v in re.findall(r"(VmRSS|VmHWM):\s+(.*)", status)}
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return {"rss_mb": kb["VmRSS"] / 1024, "peak_mb": kb["VmHWM"] / 1024, "cpu_s": cpu}


class Publisher:
    """Publishes every agent's status once (retained), then random changes at a rate."""

    def __init__(self, port: int, agents: int) -> None:
        self.agents = [f"agent-{n:05d}" for n in range(agents)]
        self.last: dict[str, str] = {}
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fanout-pub")
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(self, agent: str, state: str) -> None:
        self.last[agent] = state
        self.client.publish(TOPICS.status(agent), Status(state, "phone", time.time()).encode(),
                            retain=True)

    def fill(self) -> None:
        for agent in self.agents:
            self.publish(agent, "available")

    def run(self, rate: float, seconds: float) -> int:
        """*rate* changes a second, evenly spaced, for *seconds*; returns how many."""
        states = [s for s in STATES if s != "unknown"]
        start, sent = time.monotonic(), 0
        while (now := time.monotonic()) < start + seconds:
            due = int((now - start) * rate) + 1
            for _ in range(due - sent):
                agent = random.choice(self.agents)
                self.publish(agent, random.choice([s for s in states if s != self.last[agent]]))
            sent = due
            time.sleep(max(0.0, start + sent / rate - time.monotonic()))
        return sent

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


# -- SSE viewers ----------------------------------------------------------------------

FRAME_HEAD = re.compile(rb"event: (\w+)\n(?:id: (\d+)\n)?")


class Viewer(asyncio.Protocol):
    """One page's stream on a raw socket (a protocol: no task, no copy per read): when each
    frame arrived, by its id."""

    def __init__(self, decode: bool) -> None:
        self.decode = decode
        self.arrivals: list[tuple[str, int, float]] = []  # (kind, id, arrival time)
        self.carried: dict[int, list[tuple[str, str, float]]] = {}  # id -> (agent, state, since)
        self.floor: dict[str, str] = {}
        self.buffer = bytearray()
        self.ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(b"GET /events HTTP/1.1\r\nHost: board\r\n\r\n")

    def data_received(self, data: bytes) -> None:
        self.feed(data, time.time())

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ended.done():
            self.ended.set_exception(ConnectionError(f"the board closed the stream: {exc}"))

    def feed(self, data: bytes, at: float) -> None:
        """Chunked transfer framing stays in the buffer: frames are found by their head."""
        start = len(self.buffer)
        self.buffer += data
        end = self.buffer.rfind(b"\n\n", max(0, start - 1))
        if end < 0:
            return
        for match in FRAME_HEAD.finditer(self.buffer, 0, end + 2):
            kind, ident = match.group(1).decode(), match.group(2)
            if ident is None:
                continue
            self.arrivals.append((kind, int(ident), at))
            if self.decode:
                line_end = self.buffer.find(b"\n\n", match.end())
                self.parse(kind, int(ident), bytes(self.buffer[match.end():line_end]))
        del self.buffer[:end + 2]

    def parse(self, kind: str, ident: int, raw: bytes) -> None:
        # Between chunk boundaries a chunk-size line can sit inside the data: drop it.
        data = re.sub(rb"\r\n[0-9a-f]+\r\n", b"", raw).removeprefix(b"data: ")
        view = json.loads(data)
        if kind == "snapshot":
            self.floor = {a["id"]: a["state"] for a in view["agents"]}
            return
        self.carried[ident] = [(a["id"], a["state"], a["since"]) for a in view["agents"]]
        for a in view["agents"]:
            self.floor[a["id"]] = a["state"]
        for gone in view.get("gone", []):
            self.floor.pop(gone, None)


def latencies(viewer: Viewer, carried: dict[int, list[tuple[str, str, float]]],
              after: float, hist: list[int]) -> None:
    """Add *viewer*'s delivery latencies of statuses published after *after* to *hist*:
    a delta delivers its own statuses; a snapshot (a resync) those of every delta since
    the viewer's last frame."""
    last: int | None = None
    for kind, ident, at in viewer.arrivals:
        if last is None or ident <= last:
            last = ident if last is None else last
            continue
        delivered = range(last + 1, ident + 1) if kind == "snapshot" else (ident,)
        last = ident
        for seq in delivered:
            for _, _, since in carried.get(seq, ()):
                if since >= after:
                    hist[min(HIST_MS - 1, int((at - since) * 1000))] += 1


def viewer_process(host: str, port: int, count: int, ready: Any, go: Any, results: Any) -> None:
    """*count* viewers on one event loop; reports when all have their snapshot, then
    measures until *go* is cleared again."""
    asyncio.run(_viewers(host, port, count, ready, go, results))


async def _viewers(host: str, port: int, count: int, ready: Any, go: Any, results: Any) -> None:
    loop = asyncio.get_running_loop()
    viewers = [Viewer(decode=n == 0) for n in range(count)]
    for viewer in viewers:
        await loop.create_connection(lambda v=viewer: v, host, port)
        await asyncio.sleep(0.001)  # a human-paced crowd, not one SYN flood
    while not all(v.arrivals for v in viewers):
        await asyncio.sleep(0.1)
        if broken := [v.ended.exception() for v in viewers if v.ended.done()]:
            raise SystemExit(f"viewers failed to connect: {broken[0]!r}")
    ready.put(count)
    while not go.is_set():
        await asyncio.sleep(0.05)
    after = time.time()
    cpu_before = _cpu_s()
    while go.is_set():
        await asyncio.sleep(0.05)
    errors = [repr(v.ended.exception()) for v in viewers if v.ended.done()]  # ended early
    for viewer in viewers:
        if not viewer.ended.done():
            viewer.ended.set_result(None)
        if viewer.transport is not None:
            viewer.transport.abort()
    cpu_pct = 100 * (_cpu_s() - cpu_before) / (time.time() - after)
    hist = [0] * HIST_MS
    carried = viewers[0].carried
    resyncs = 0
    for viewer in viewers:
        latencies(viewer, carried, after, hist)
        resyncs += sum(1 for kind, *_ in viewer.arrivals if kind == "snapshot") - 1
    results.put({"hist": hist, "resyncs": resyncs, "floor": viewers[0].floor,
                 "cpu_pct": cpu_pct,
                 "errors": errors[:3], "failed": len(errors)})


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measured(pid: int, publish: Any) -> tuple[int, float]:
    """Run *publish* and let its changes settle; what it returns and the CPU (% of one
    core) process *pid* used meanwhile."""
    before, start = proc_figures(pid)["cpu_s"], time.monotonic()
    sent = publish()
    time.sleep(SETTLE_S)
    cpu = proc_figures(pid)["cpu_s"] - before
    return sent, round(100 * cpu / (time.monotonic() - start), 1)


def percentile(hist: list[int], p: float) -> float:
    total = sum(hist)
    if not total:
        return float("nan")
    want, seen = p * total, 0
    for ms, n in enumerate(hist):
        seen += n
        if seen >= want:
            return ms + 0.5
    return float(HIST_MS)


def sse_phase(host: str, port: int, viewers: int, procs: int, publisher: Publisher,
              rate: float, duration: float, pid: int) -> dict[str, Any]:
    """One phase: *viewers* streams, *rate* changes/s for *duration* s; the figures."""
    ctx = multiprocessing.get_context("fork")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    shares = [viewers // procs + (1 if n < viewers % procs else 0) for n in range(procs)]
    workers = [ctx.Process(target=viewer_process, args=(host, port, n, ready, go, results))
               for n in shares if n]
    for worker in workers:
        worker.start()
    connect_start = time.monotonic()
    for _ in workers:
        ready.get(timeout=300)
    connected_s = time.monotonic() - connect_start
    go.set()
    time.sleep(0.2)
    sent, cpu_pct = measured(pid, lambda: publisher.run(rate, duration))
    go.clear()
    reports = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(30)
    hist = [sum(r["hist"][ms] for r in reports) for ms in range(HIST_MS)]
    wrong = sum(1 for r in reports for agent, state in publisher.last.items()
                if r["floor"].get(agent) != state)
    return {"viewers": viewers, "changes": sent, "connected_s": round(connected_s, 1),
            "cpu_pct": cpu_pct, "deliveries": sum(hist), "p50_ms": percentile(hist, 0.5),
            "p99_ms": percentile(hist, 0.99), "max_ms": percentile(hist, 1.0),
            "resyncs": sum(r["resyncs"] for r in reports),
            "failed": sum(r["failed"] for r in reports),
            "viewers_cpu_pct": round(sum(r["cpu_pct"] for r in reports), 1),
            "wrong_tiles_at_end": wrong, "errors": [e for r in reports for e in r["errors"]]}


# -- MQTT-over-WebSocket viewers (option b) -------------------------------------------

def mqtt_ws_phase(ws_port: int, viewers: int, agents: int, publisher: Publisher,
                  rate: float, duration: float, pid: int) -> dict[str, Any]:
    """*viewers* paho clients over websockets, each subscribed to every status."""
    lock = threading.Lock()
    hist = [0] * HIST_MS
    retained = [0] * viewers
    measuring = threading.Event()

    def on_message(client: mqtt.Client, index: int, msg: mqtt.MQTTMessage) -> None:
        if msg.retain:
            retained[index] += 1
            return
        if measuring.is_set():
            since = json.loads(msg.payload)["since"]
            with lock:
                hist[min(HIST_MS - 1, int((time.time() - since) * 1000))] += 1

    clients = []
    start = time.monotonic()
    for n in range(viewers):
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, transport="websockets",
                             userdata=n, client_id=f"ws-{n}")
        client.on_message = on_message
        client.connect("127.0.0.1", ws_port)
        client.subscribe(f"{PREFIX}/agents/+/status")
        client.loop_start()
        clients.append(client)
    deadline = time.monotonic() + 300
    while min(retained) < agents and time.monotonic() < deadline:
        time.sleep(0.1)
    connected_s = time.monotonic() - start
    measuring.set()
    sent, cpu_pct = measured(pid, lambda: publisher.run(rate, duration))
    measuring.clear()
    for client in clients:
        client.loop_stop()
        client.disconnect()
    return {"viewers": viewers, "changes": sent, "connected_s": round(connected_s, 1),
            "cpu_pct": cpu_pct, "deliveries": sum(hist), "expected": sent * viewers,
            "p50_ms": percentile(hist, 0.5), "p99_ms": percentile(hist, 0.99),
            "max_ms": percentile(hist, 1.0)}


# -- main -----------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--viewers", default="1,2000",
                        help="viewers per phase, comma-separated (default 1,2000: baseline, goal)")
    parser.add_argument("--agents", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=200.0, help="status changes a second")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per phase")
    parser.add_argument("--procs", type=int, default=2, help="viewer processes (SSE)")
    parser.add_argument("--engine", choices=("sse", "mqtt-ws"), default="sse")
    parser.add_argument("--json", action="store_true", help="one JSON object per phase")
    args = parser.parse_args()
    phases = [int(n) for n in args.viewers.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        broker, port, ws_port = start_mosquitto(Path(tmp), websockets=args.engine == "mqtt-ws")
        board = None
        publisher = Publisher(port, args.agents)
        try:
            publisher.fill()
            if args.engine == "sse":
                board, host, board_port = start_board(port)
                time.sleep(2.0)  # the retained floor reaches the board
            served = board or broker
            for viewers in phases:
                if args.engine == "sse":
                    figures = sse_phase(host, board_port, viewers, args.procs, publisher,
                                        args.rate, args.duration, served.pid)
                else:
                    figures = mqtt_ws_phase(ws_port, viewers, args.agents, publisher,
                                            args.rate, args.duration, served.pid)
                memory = proc_figures(served.pid)
                figures.update(engine=args.engine, agents=args.agents, rate=args.rate,
                               load=Path("/proc/loadavg").read_text().split()[0],
                               rss_mb=round(memory["rss_mb"], 1),
                               peak_rss_mb=round(memory["peak_mb"], 1),
                               cpu_of="board" if board else "mosquitto")
                report(figures, args.json)
        finally:
            publisher.close()
            for proc in (board, broker):
                if proc is not None:
                    proc.kill()
                    proc.wait()
    return 0


def report(figures: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(figures), flush=True)
        return
    print(f"{figures['engine']}: {figures['viewers']} viewers, {figures['agents']} agents, "
          f"{figures['rate']:g} changes/s ({figures['changes']} sent): delivery p50 "
          f"{figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, max {figures['max_ms']} ms "
          f"over {figures['deliveries']} deliveries; {figures['cpu_of']} RSS "
          f"{figures['rss_mb']} MB (peak {figures['peak_rss_mb']} MB), CPU "
          f"{figures['cpu_pct']} %; all connected in {figures['connected_s']} s", flush=True)
    print(f"  load average {figures['load']} on {os.cpu_count()} cores" + (
        f"; viewer processes' CPU while measuring: {figures['viewers_cpu_pct']} % (of one core)"
        if "viewers_cpu_pct" in figures else ""), flush=True)
    extra = {k: figures[k] for k in ("resyncs", "failed", "wrong_tiles_at_end", "expected",
                                     "errors") if figures.get(k)}
    if extra:
        print(f"  {extra}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
