"""Hostile load on focuslight's HTTP servers: slowloris, then a burst; prints the figures.

Two phases against one server (the CTI webhook or the floor board):

1. **Slowloris**: ``--slowloris`` connections each send a request head one
   byte a second and never finish it; a connection the server cuts is
   reopened at once, so that many stay open for ``--hold`` seconds. Meanwhile
   ``--legit`` ordinary requests, evenly spread, each on a new connection:
   how many got their answer (200) within 2 s, and the latency percentiles.
2. **Burst**: ``--burst`` requests opened at the same instant: how many were
   answered (200), and the slowest.

Without ``--url`` the server is started in a child process (the webhook on a
free port; the board with no broker behind it, which does not matter for its
HTTP side), so the figures are the server's and not this load generator's::

    python bench/http_load.py --target webhook --hold 60       # the documented run
    python bench/http_load.py --target board --hold 60
    python bench/http_load.py --url http://127.0.0.1:8787/ --token ... --hold 15 --json

``--json`` prints one JSON object (the suite's load test reads it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import time
from urllib.parse import urlsplit

TOKEN = "bench-token-0123456789"
AGENT = "alice"
ANSWER_WITHIN_S = 2.0


def request_bytes(target: str, host: str, token: str) -> bytes:
    if target == "webhook":
        body = b'{"state": "engaged"}'
        return (f"POST /v1/agents/{AGENT}/state HTTP/1.1\r\nHost: {host}\r\n"
                f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
    return f"GET /api/agents HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()


async def one_request(host: str, port: int, raw: bytes, timeout: float) -> tuple[int, float]:
    """Send *raw* on a new connection; (status or 0 on failure/timeout, seconds taken)."""
    start = time.monotonic()
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                writer.write(raw)
                await writer.drain()
                answer = await reader.read()  # Connection: close: the answer ends at EOF
            finally:
                writer.close()
        status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.") else 0
    except (OSError, TimeoutError, ValueError, IndexError):
        status = 0
    return status, time.monotonic() - start


class Slowloris:
    """*n* connections trickling a request head, a byte a second, reopened when cut."""

    def __init__(self, host: str, port: int, n: int) -> None:
        self.host, self.port, self.n = host, port, n
        self.open = 0
        self.cut = 0
        self.refused = 0
        self.tasks: list[asyncio.Task] = []
        self.stopping = False

    def start(self) -> None:
        self.tasks = [asyncio.create_task(self._one()) for _ in range(self.n)]

    async def stop(self) -> None:
        self.stopping = True
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _one(self) -> None:
        head = (f"POST /v1/agents/{AGENT}/state HTTP/1.1\r\nHost: {self.host}\r\n"
                "X-Slow: ").encode()
        while not self.stopping:
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                self.refused += 1
                await asyncio.sleep(0.1)
                continue
            self.open += 1
            try:
                writer.write(head[:1])
                sent = 1
                while True:
                    await writer.drain()
                    try:  # the one-second pause, watching for the server cutting us
                        async with asyncio.timeout(1.0):
                            data = await reader.read(4096)
                    except TimeoutError:
                        writer.write(head[sent:sent + 1] if sent < len(head) else b"a")
                        sent += 1
                        continue
                    del data  # answered (408/503) or closed: a cut either way
                    self.cut += 1
                    break
            except OSError:
                self.cut += 1
            finally:
                self.open -= 1
                writer.close()


def percentile(values: list[float], p: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)]


def rss_mb(pid: int | None) -> float | None:
    """Resident memory of the server process (when this tool started it), in MB."""
    if pid is None:
        return None
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


async def run_load(url: str, target: str, token: str, slowloris: int, hold: float,
                   legit: int, burst: int, server_pid: int | None = None) -> dict:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    raw = request_bytes(target, host, token)
    result: dict = {"target": target, "url": url, "server_rss_mb_idle": rss_mb(server_pid)}

    if slowloris:
        slow = Slowloris(host, port, slowloris)
        slow.start()
        settle = time.monotonic() + 5
        while slow.open < slowloris and time.monotonic() < settle:
            await asyncio.sleep(0.05)
        held, results = [], []
        start = time.monotonic()
        tasks = []
        for i in range(legit):
            await asyncio.sleep(max(0.0, start + i * hold / legit - time.monotonic()))
            held.append(slow.open)
            if i == legit // 2:
                result["server_rss_mb_slowloris"] = rss_mb(server_pid)
            tasks.append(asyncio.create_task(one_request(host, port, raw, 10.0)))
        results = await asyncio.gather(*tasks)
        await asyncio.sleep(max(0.0, start + hold - time.monotonic()))
        await slow.stop()
        latencies = [t for _, t in results]
        ok = sum(1 for status, t in results if status == 200 and t <= ANSWER_WITHIN_S)
        result["slowloris"] = {
            "connections": slowloris, "held_s": round(time.monotonic() - start, 1),
            "open_min": min(held, default=0), "open_mean": round(sum(held) / max(1, len(held))),
            "cut_by_server": slow.cut, "connect_failures": slow.refused,
            "legit": legit, "legit_ok_within_2s": ok,
            "legit_statuses": _count(status for status, _ in results),
            "p50_ms": round(percentile(latencies, 50) * 1000, 1),
            "p99_ms": round(percentile(latencies, 99) * 1000, 1),
            "max_ms": round(max(latencies, default=math.nan) * 1000, 1)}

    if burst:
        gate = asyncio.Event()

        async def gated() -> tuple[int, float]:
            await gate.wait()
            return await one_request(host, port, raw, 15.0)

        tasks = [asyncio.create_task(gated()) for _ in range(burst)]
        await asyncio.sleep(0.1)
        gate.set()
        results = await asyncio.gather(*tasks)
        latencies = [t for _, t in results]
        result["burst"] = {
            "requests": burst,
            "answered_200": sum(1 for status, _ in results if status == 200),
            "answered_200_within_10s": sum(1 for s, t in results if s == 200 and t <= 10),
            "statuses": _count(status for status, _ in results),
            "p50_ms": round(percentile(latencies, 50) * 1000, 1),
            "p99_ms": round(percentile(latencies, 99) * 1000, 1),
            "max_ms": round(max(latencies, default=math.nan) * 1000, 1)}
    return result


def _count(statuses) -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in statuses:
        counts[str(status)] = counts.get(str(status), 0) + 1
    return counts


def serve(target: str) -> None:
    """Child mode: run one server, print its URL, serve until stdin closes."""
    import logging

    from focuslight.mqtt.client import BrokerSettings
    from focuslight.protocol import Topics
    from focuslight.tools.embedded_broker import free_port

    logging.basicConfig(level=logging.ERROR)
    if target == "webhook":
        from focuslight.sources.webhook import WebhookSource

        class Sink:
            def report(self, agent: str, source: str, state: str) -> None:
                pass

        port = free_port()
        source = WebhookSource("cti", (AGENT,), token=TOKEN, port=port)
        source.start(Sink())
        while source.server is None:
            time.sleep(0.01)
        print(f"http://127.0.0.1:{port}/", flush=True)
        sys.stdin.read()
        source.stop()
    else:
        from focuslight.views.floor_board import FloorBoard

        board = FloorBoard(BrokerSettings("127.0.0.1", free_port()), Topics(), ("127.0.0.1", 0),
                      {AGENT: "Alice"}).start()
        print(board.url, flush=True)
        sys.stdin.read()
        board.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", choices=["webhook", "board"], default="webhook")
    parser.add_argument("--url", help="an already running server (default: start one)")
    parser.add_argument("--token", default=TOKEN, help="the webhook's bearer token")
    parser.add_argument("--slowloris", type=int, default=200, metavar="N")
    parser.add_argument("--hold", type=float, default=60.0, metavar="S")
    parser.add_argument("--legit", type=int, default=600, metavar="N",
                        help="ordinary requests spread over the hold (default 600: 10/s)")
    parser.add_argument("--burst", type=int, default=500, metavar="N")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--serve", choices=["webhook", "board"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    child = None
    url = args.url
    if url is None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        child = subprocess.Popen([sys.executable, __file__, "--serve", args.target],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                 env=env)
        url = child.stdout.readline().strip()
    try:
        result = asyncio.run(run_load(url, args.target, args.token, args.slowloris, args.hold,
                                      args.legit, args.burst, child.pid if child else None))
    finally:
        if child:
            child.stdin.close()
            child.wait(10)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{result['target']} at {result['url']}")
    if result["server_rss_mb_idle"] is not None:
        print(f"server RSS: {result['server_rss_mb_idle']} MB idle, "
              f"{result.get('server_rss_mb_slowloris')} MB during slowloris")
    if "slowloris" in result:
        s = result["slowloris"]
        print(f"slowloris: {s['connections']} connections for {s['held_s']} s (open: min "
              f"{s['open_min']}, mean {s['open_mean']}; cut by the server {s['cut_by_server']})")
        print(f"  legitimate requests answered 200 within 2 s: {s['legit_ok_within_2s']}/"
              f"{s['legit']}; p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms, max {s['max_ms']} ms;"
              f" statuses {s['legit_statuses']}")
    if "burst" in result:
        b = result["burst"]
        print(f"burst: {b['answered_200_within_10s']}/{b['requests']} answered 200 within 10 s; "
              f"p50 {b['p50_ms']} ms, p99 {b['p99_ms']} ms, max {b['max_ms']} ms; "
              f"statuses {b['statuses']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
