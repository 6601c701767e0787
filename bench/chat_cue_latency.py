"""Chat cue latency: a customer's chat message passing reply_after_seconds -> the beacon's cue.

Everything is real and on this machine: mosquitto (started here unless --broker is given),
the bridge (focuslight.app.Service, in this process) with a chat source (the Chatwoot
mapping, a bearer token, reply_after_seconds = --reply-after), and the virtual beacon (the
real firmware on the MicroPython unix port). Each run:

1. posts a Chatwoot ``message_created`` (incoming) webhook for a new conversation over HTTP;
   the firmware's ``led engaged`` line gives the **baseline**: a webhook -> the light;
2. sends nothing more: the source's own timer makes the message due after reply_after
   seconds. The **cue latency** is the time from (the moment the webhook was sent +
   reply_after) to the firmware logging ``led cue reply_due``: the timer's wake-up, the hub,
   the MQTT output, mosquitto, the firmware's decode and draw, and the pipe to this process;
3. resolves the conversation (``conversation_status_changed``) and waits for ``available``.

    .venv/bin/python bench/chat_cue_latency.py [--count 50] [--reply-after 1]
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from latency import beacon_config, percentiles, start_mosquitto

from focuslight.app import Service
from focuslight.config import load
from focuslight.mqtt.client import BrokerSettings
from focuslight.tools.embedded_broker import free_port, wait_for_port
from focuslight.tools.virtual_beacon import VirtualBeacon

PREFIX, AGENT, TOKEN = "bench", "alice", "bench-token-0123456789"


def start_bridge(tmp: Path, broker: BrokerSettings, port: int, reply_after: float) -> Service:
    path = tmp / "focuslight.toml"
    path.write_text(
        f'[bridge]\nid = "bench"\nbroker = "{broker.url}"\nprefix = "{PREFIX}"\n'
        f"[policy]\nwrap_up_seconds = 0\n[agents.{AGENT}]\n"
        f'[[sources]]\ntype = "chat"\nplatform = "chatwoot"\nport = {port}\n'
        f'token = "{TOKEN}"\nreply_after_seconds = {reply_after}\n'
        f'escalate_after_seconds = {reply_after + 3600}\n[sources.users]\n"1" = "{AGENT}"\n')
    service = Service(load(path))
    service.start()
    wait_for_port("127.0.0.1", port)
    return service


def webhook(port: int, conversation: int, closed: bool = False) -> None:
    """The Chatwoot fields the mapping reads, for *conversation* assigned to user 1."""
    chat: dict[str, Any] = {"id": conversation, "account_id": 1,
                            "status": "resolved" if closed else "open",
                            "meta": {"assignee": {"id": 1}}}
    body = ({"event": "conversation_status_changed", **chat} if closed else
            {"event": "message_created", "message_type": "incoming", "private": False,
             "conversation": chat})
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/chat/chatwoot", json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as reply:
        assert reply.status == 200


def wait_event(beacon: VirtualBeacon, kind: str, test, timeout: float = 30) -> float:
    """perf_counter() when the beacon reported an event of *kind* whose value passes *test*."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            got, value = beacon.events.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise RuntimeError(f"no {kind} event within {timeout} s") from None
        if got == "exit":
            raise RuntimeError(f"the firmware exited with {value}")
        if got == kind and test(value):
            return time.perf_counter()


def run(beacon: VirtualBeacon, port: int, count: int,
        reply_after: float) -> tuple[list[float], list[float]]:
    light, cue = [], []
    for conversation in range(1, count + 1):
        sent = time.perf_counter()
        webhook(port, conversation)
        light.append((wait_event(beacon, "look", lambda v: v.state == "engaged") - sent) * 1000)
        due = wait_event(beacon, "cue", lambda v: v == "reply_due", timeout=reply_after + 30)
        cue.append((due - (sent + reply_after)) * 1000)
        webhook(port, conversation, closed=True)
        wait_event(beacon, "look", lambda v: v.state == "available")
    return light, cue


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=50, help="chats to time")
    parser.add_argument("--reply-after", type=float, default=1.0,
                        help="reply_after_seconds of the chat source (default 1)")
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
        port = free_port()
        service = start_bridge(tmp, broker, port, args.reply_after)
        beacon = VirtualBeacon(beacon_config(broker))
        try:
            wait_event(beacon, "look", lambda v: v.state == "available")
            light, cue = run(beacon, port, args.count, args.reply_after)
        finally:
            beacon.close()
            service.stop()
            if mosquitto:
                mosquitto.terminate()
                mosquitto.wait()
    print(f"broker {broker.url}, reply_after_seconds {args.reply_after:g}, {args.count} chats"
          " (ms)")
    print(f"{'path':<62}{'p50':>8}{'p95':>8}{'p99':>8}")
    for name, samples in (("customer message webhook -> beacon engaged (baseline)", light),
                          ("message passes reply_after -> beacon cue reply_due", cue)):
        print(f"{name:<62}" + "".join(f"{v:8.2f}" for v in percentiles(samples)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
