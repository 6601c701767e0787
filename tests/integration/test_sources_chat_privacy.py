"""End to end: a real ``focuslight bridge`` with Chatwoot and Intercom chat sources, a real
mosquitto, the floor board following it. Real-shaped platform payloads full of message text,
customer names, e-mails, phone numbers and ids go in; the cue, escalation and chat counts come
out on the agent's status and the board's tile, and not one of those strings appears on any
topic (a peer subscribed to ``#``), in the board's ``/events`` stream or in the bridge's log.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.request
from pathlib import Path

from helpers.chat import SECRET, payload, post
from helpers.sources import BridgeProcess, bridge_config

from focuslight.mqtt.client import BrokerSettings
from focuslight.protocol import Topics
from focuslight.tools.embedded_broker import free_port, wait_for_port
from focuslight.views.floor_board import FloorBoard

PREFIX = "fl-chat"
SECRETS = ("Jane Roe", "jane.roe@example.com", "+4915112345678", "cust-88231", "order #4411",
           "card ending 4242", "6650a1b2c3d4e5f6a7b8c9d0", "Roe Logistics", "Alice Agent",
           "alice@support.example", "Bob Backup", "7f0c2a8e-5c1d-4a57-9d1e-3c9b2e1f0a11",
           "notif_", "814860", "Leipzig", "shop.example")
"""What the fixtures say about customers and the agents' platform identities: each long
enough that no timestamp or port can hold it by chance."""


def chat_tables(cw_port: int, ic_port: int) -> str:
    common = f'secret = "{SECRET}"\nreply_after_seconds = 1\nescalate_after_seconds = 2\n'
    return (f'type = "chat"\nname = "chatwoot"\nplatform = "chatwoot"\nport = {cw_port}\n'
            f'{common}[sources.users]\n"7" = "alice"\n"9" = "bob"\n\n'
            f'[[sources]]\ntype = "chat"\nname = "intercom"\nplatform = "intercom"\n'
            f'port = {ic_port}\n{common}[sources.users]\n"814860" = "carol"\n')


class Stream:
    """Everything the board's ``/events`` stream sends, read on a thread until it ends."""

    def __init__(self, url: str) -> None:
        self.data = bytearray()
        self._reply = urllib.request.urlopen(url + "events", timeout=30)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            while chunk := self._reply.read1(65536):
                self.data += chunk
        except (OSError, http.client.HTTPException):  # the board stopped mid-chunk
            pass


def test_no_customer_data_leaves_the_bridge(mosquitto, peer_factory, tmp_path: Path) -> None:
    cw_port, ic_port = free_port(), free_port()
    everything = peer_factory(mosquitto)
    everything.subscribe("#")
    watcher = peer_factory(mosquitto)
    watcher.subscribe(f"{PREFIX}/agents/+/status")
    board = FloorBoard(BrokerSettings(mosquitto.host, mosquitto.port), Topics(PREFIX),
                       ("127.0.0.1", 0)).start()
    config = bridge_config(mosquitto.url, PREFIX, ["alice", "bob", "carol"],
                           chat_tables(cw_port, ic_port))
    bridge = BridgeProcess(tmp_path, config).start_connected()
    try:
        stream = Stream(board.url)
        wait_for_port("127.0.0.1", cw_port)
        wait_for_port("127.0.0.1", ic_port)
        alice = f"{PREFIX}/agents/alice/status"
        assert post(cw_port, "chatwoot", payload("chatwoot", "message_created_incoming"))[0] == 200
        due = watcher.wait_for(alice, lambda p: json.loads(p).get("escalated") is True)
        assert json.loads(due) | {"since": 0, "waiting_since": 0} == {
            "v": 1, "state": "engaged", "source": "chatwoot", "since": 0, "bridge_id": PREFIX,
            "cue": "reply_due", "waiting_since": 0, "escalated": True, "chats": 1}
        tile = _wait_tile(board, "alice", lambda t: t.get("escalated"))
        assert {k: tile[k] for k in ("state", "cue", "escalated", "chats")} == {
            "state": "engaged", "cue": "reply_due", "escalated": True, "chats": 1}
        assert abs(tile["waiting_since"] - time.time()) < 30
        for name in ("message_created_private_note", "message_created_outgoing",
                     "conversation_created", "conversation_updated_transfer",
                     "conversation_status_changed_resolved"):
            assert post(cw_port, "chatwoot", payload("chatwoot", name))[0] == 200
        for name in ("conversation.user.created", "conversation.admin.assigned",
                     "conversation.user.replied", "conversation.admin.replied", "ping"):
            assert post(ic_port, "intercom", payload("intercom", name))[0] == 200
        watcher.wait_for(f"{PREFIX}/agents/carol/status", lambda p: json.loads(p) == {
            **json.loads(p), "state": "engaged", "chats": 1} and "cue" not in json.loads(p))
        _wait_tile(board, "bob", lambda t: t["state"] == "wrap_up" and "chats" not in t)
    finally:
        log = bridge.stop()
        board.stop()
    time.sleep(0.5)  # the last retained messages and stream frames
    heard = []
    while not everything.messages.empty():
        msg = everything.messages.get()
        heard.append(msg.topic.encode() + b" " + msg.payload)
    assert len(heard) > 10 and any(b'"cue":"reply_due"' in m for m in heard)
    assert b"reply_due" in stream.data
    for secret in SECRETS:
        word = secret.encode()
        assert not [m for m in heard if word in m], secret
        assert word not in stream.data, secret
        assert secret not in log, secret


def _wait_tile(board: FloorBoard, agent: str, check, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen(board.url + "api/agents", timeout=5) as reply:
            tiles = {t["id"]: t for t in json.loads(reply.read())["agents"]}
        if agent in tiles and check(tiles[agent]):
            return tiles[agent]
        if time.monotonic() > deadline:
            raise AssertionError(f"{agent}'s tile never matched: {tiles.get(agent)}")
        time.sleep(0.05)
