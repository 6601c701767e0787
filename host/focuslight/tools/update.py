"""``focuslight update``: new firmware (and config) onto a beacon over the network.

No trip to the desk with a USB cable, as ESPHome, Tasmota and WLED users
expect. The beacon does the careful part (``firmware/beacon/update.py`` and
the bootloader in ``firmware/main.py``); this command offers and serves:

1. reads the beacon's retained telemetry (``<prefix>/beacons/<beacon>/telemetry``):
   its firmware version and which ``.mpy`` files its MicroPython loads;
2. builds the package as ``flash`` does (``mpy-cross`` for the beacon's arch,
   or ``.py`` with ``--source``) and a manifest, one line per file:
   ``<path> <size> <sha256>``; ``--set KEY=VALUE`` adds a ``config.json``
   entry, the keys the beacon changes in its config.json, and ``--beacon-ca``
   a new ``ca.pem`` (the site CA for MQTT over TLS);
3. publishes the offer, retained, on ``<prefix>/beacons/<beacon>/update``:
   ``{"v":1,"id":...,"version":...,"manifest":{"size":...,"sha256":...},"trial_s":90}``;
4. answers the beacon's chunk requests (``update/get``) on ``update/data``, one
   chunk of at most :data:`CHUNK` bytes per request, so the beacon's memory
   holds one chunk at a time and sets the pace;
5. follows ``update/status`` until the beacon reports ``done`` (the new
   firmware reached the broker), ``failed`` (a hash or size mismatch: the
   beacon refused the update and kept running) or ``rolled_back`` (the new
   firmware did not come up; the old one runs again), then withdraws the offer.

Exit status: 0 updated, 1 refused / rolled back / an error, 3 no result in time.

Example::

    focuslight update -c /etc/focuslight/focuslight.toml --beacon alice-desk
    focuslight update --beacon alice-desk --set broker=192.168.1.11
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import logging
import queue
import re
import secrets
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from ..mqtt.client import BrokerSettings, last_resort, make_client
from ..protocol import ProtocolError, Topics, check_id
from ..protocol.payloads import load_object
from ..protocol.telemetry import Telemetry, decode_telemetry
from .flash.board import Board, wants_mpy
from .flash.device_config import CA_FILE, bridge_settings, check_ca_file
from .flash.plan import PACKAGE, Plan, check_firmware

log = logging.getLogger(__name__)

CHUNK = 384
"""Data bytes per chunk: with its header line, well inside the beacon's 512-byte payloads."""
TELEMETRY_WAIT_S = 5.0
EXIT_FAILED, EXIT_NO_RESULT = 1, 3
FINAL = ("done", "failed", "rolled_back")


class UpdateError(Exception):
    """The update cannot be offered; the message says what to do."""


@dataclass(frozen=True, slots=True)
class UpdateTopics:
    """The update topics of one beacon (see docs/protocol.md)."""

    offer: str
    get: str
    data: str
    status: str

    @classmethod
    def of(cls, topics: Topics, beacon: str) -> UpdateTopics:
        base = f"{topics.prefix}/beacons/{beacon}/update"
        return cls(base, f"{base}/get", f"{base}/data", f"{base}/status")


def update(args: argparse.Namespace) -> int:
    """Everything ``focuslight update`` does, from its options; UpdateError, FlashError or
    ProtocolError say what went wrong."""
    beacon = check_id(args.beacon, "--beacon")
    firmware = check_firmware(args.firmware)
    if not 10 <= args.trial <= 3600:
        raise UpdateError(f"--trial must be 10..3600 seconds, got {args.trial}")
    changes = config_changes(args.changes, config_keys(firmware))
    if args.beacon_ca:
        try:
            check_ca_file(args.beacon_ca)
        except ValueError as err:
            raise UpdateError(str(err).replace("--ca-file", "--beacon-ca")) from None
    bridge = bridge_settings(args)
    version = firmware_version(firmware)
    account = bridge.tool_account(bridge.broker, "--username/--password")
    with Session(account, Topics(bridge.prefix), beacon) as session:
        report = session.telemetry()
        if report is None:
            raise UpdateError(
                f"beacon {beacon} has never reported telemetry on this broker and prefix: it is"
                " not there, or runs firmware older than 0.2.0, which cannot update over the"
                " network (flash it once over USB with `focuslight flash`)")
        print(f"beacon {beacon} runs firmware {report.firmware} ({report.board or 'board?'},"
              f" link {session.link or '?'})")
        if report.firmware == version and not changes and not args.beacon_ca and not args.force:
            print(f"beacon {beacon} already runs {version}: nothing to do (--force sends it"
                  " again)")
            return 0
        files = build(firmware, report, args.source)
        if changes:
            files.append(("config.json", json.dumps(changes).encode()))
        if args.beacon_ca:
            files.append((CA_FILE, Path(args.beacon_ca).read_bytes()))
        offer = Offer(version, files, args.trial)
        print(f"offering {version}: {len(files)} files, {offer.total // 1024} KB")
        return session.serve(offer, args.timeout)


def firmware_version(firmware: Path) -> str:
    """``VERSION`` from the firmware's ``beacon/version.py``."""
    path = firmware / "beacon" / "version.py"
    found = re.search(r'^VERSION = "([0-9A-Za-z.+_-]{1,32})"$',
                      path.read_text() if path.exists() else "", re.M)
    if not found:
        raise UpdateError(f"{path} holds no VERSION = \"x.y.z\": not a firmware that can be"
                          " offered over the network")
    return found[1]


def config_keys(firmware: Path) -> frozenset[str]:
    """The keys the firmware's config.json takes (``KEYS`` in ``beacon/config.py``)."""
    tree = ast.parse((firmware / "beacon" / "config.py").read_text())
    for node in tree.body:
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)
                and any(isinstance(t, ast.Name) and t.id == "KEYS" for t in node.targets)):
            return frozenset(k.value for k in node.value.keys if isinstance(k, ast.Constant))
    raise UpdateError(f"{firmware}/beacon/config.py has no KEYS: not a focuslight firmware")


def config_changes(pairs: list[str], known: frozenset[str]) -> dict[str, Any]:
    """``--set KEY=VALUE`` flags as the JSON object the beacon merges into its config.

    Key names are checked here (a typo would otherwise cost a restart and a rollback);
    values are checked by the new firmware itself on its trial boot.
    """
    changes: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or key not in known:
            raise UpdateError(f"--set wants KEY=VALUE with a config.json key"
                              f" ({', '.join(sorted(known))}), got {pair!r}")
        try:
            changes[key] = json.loads(text)
        except ValueError:
            changes[key] = text
    return changes


def build(firmware: Path, report: Telemetry, source: bool) -> list[tuple[str, bytes]]:
    """The package as the beacon will import it: ``(path, bytes)`` per module."""
    board = Board("?", (), report.mpy or 0)
    compile_mpy = not source and bool(report.mpy) and wants_mpy(board)
    plan = Plan("", board, firmware, compile_mpy=compile_mpy, start=False)
    with tempfile.TemporaryDirectory(prefix="focuslight-update-") as stage:
        return [(f"{PACKAGE}/{out.name}", out.read_bytes())
                for out in plan.stage_package(Path(stage))]


class Offer:
    """The files of one update, the manifest listing them, and the offer naming it."""

    def __init__(self, version: str, files: list[tuple[str, bytes]], trial_s: int) -> None:
        self.version, self.trial_s = version, trial_s
        self.ident = secrets.token_hex(4)
        self.paths = ["manifest", *(path for path, _ in files)]
        manifest = "".join(f"{path} {len(data)} {hashlib.sha256(data).hexdigest()}\n"
                           for path, data in files).encode()
        self.blobs = [manifest, *(data for _, data in files)]
        self.total = sum(len(b) for b in self.blobs)

    def payload(self) -> bytes:
        manifest = self.blobs[0]
        return json.dumps({"v": 1, "id": self.ident, "version": self.version,
                           "manifest": {"size": len(manifest),
                                        "sha256": hashlib.sha256(manifest).hexdigest()},
                           "trial_s": self.trial_s}, separators=(",", ":")).encode()

    def chunk(self, request: bytes) -> bytes | None:
        """The data message answering a ``get``, or None for a request that is not ours."""
        body = load_object(request)
        index, offset = body.get("file"), body.get("offset")
        if (body.get("id") != self.ident or not isinstance(index, int)
                or not isinstance(offset, int) or not 0 <= index < len(self.blobs)
                or not 0 <= offset < len(self.blobs[index])):
            return None
        head = f"{self.ident} {index} {offset}\n".encode()
        return head + self.blobs[index][offset:offset + CHUNK]


class Session:
    """One broker connection following a beacon's telemetry, availability and update status."""

    def __init__(self, settings: BrokerSettings, topics: Topics, beacon: str) -> None:
        self.beacon, self.settings = beacon, settings
        self.topics = UpdateTopics.of(topics, beacon)
        self.t_telemetry = topics.beacon_telemetry(beacon)
        self.t_link = topics.beacon_availability(beacon)
        self.report: Telemetry | None = None
        self.link: str | None = None
        self.offer: Offer | None = None
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._asked: set[int] = set()
        self._subscribed = threading.Event()
        self._heard = threading.Event()
        self.client = make_client(settings)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        try:
            self.client.connect(settings.host, settings.port, keepalive=30)
        except OSError as err:
            raise UpdateError(f"cannot reach the broker {settings.url} ({err}): fix --broker"
                              " or -c") from None
        self.client.loop_start()
        if not self._subscribed.wait(10):
            self.close()
            raise UpdateError(f"the broker {settings.url} did not accept a subscription"
                              " (credentials?): fix --username/--password or -c")

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def telemetry(self) -> Telemetry | None:
        """The beacon's retained report, if the broker has one."""
        self._heard.wait(TELEMETRY_WAIT_S)
        return self.report

    def serve(self, offer: Offer, timeout: float) -> int:
        """Offer, answer chunk requests, and wait for the beacon's verdict."""
        self.offer = offer
        self.client.publish(self.topics.offer, offer.payload(), qos=1,
                            retain=True).wait_for_publish(10)
        if self.link != "online":
            print(f"beacon {self.beacon} is {self.link or 'not seen'}: it takes the update when"
                  f" it comes online (waiting up to {timeout:g} s)")
        try:
            return self._wait(offer, timeout)
        finally:
            self.client.publish(self.topics.offer, b"", qos=1, retain=True).wait_for_publish(10)

    def _wait(self, offer: Offer, timeout: float) -> int:
        try:
            while True:
                kind, value = self.events.get(timeout=timeout)
                if kind == "file":
                    print(f"  sending {offer.paths[value]} ({len(offer.blobs[value])} bytes)")
                    continue
                state, body = value
                if state == "downloading":
                    print(f"beacon {self.beacon} is downloading {offer.version}")
                elif state == "installing":
                    print(f"beacon {self.beacon} verified every file and restarts into"
                          f" {offer.version}")
                elif state == "done":
                    print(f"beacon {self.beacon} runs {body.get('running')} and is connected")
                    return 0
                else:
                    verb = "refused" if state == "failed" else "rolled back"
                    print(f"focuslight update: beacon {self.beacon} {verb} {offer.version}:"
                          f" {body.get('reason', 'no reason given')}; it runs"
                          f" {body.get('running')}", file=sys.stderr)
                    return EXIT_FAILED
        except queue.Empty:
            print(f"focuslight update: no result from beacon {self.beacon} within {timeout:g} s;"
                  " the offer is withdrawn. Is it online (`focuslight watch`)?", file=sys.stderr)
            return EXIT_NO_RESULT

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()

    def _on_connect(self, client: mqtt.Client, *_: object) -> None:
        client.subscribe([(self.t_telemetry, 1), (self.t_link, 1), (self.topics.get, 1),
                          (self.topics.status, 1)])

    def _on_message(self, client: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with last_resort(log, "update: on_message"):
            self._read(client, msg)

    def _read(self, client: mqtt.Client, msg: mqtt.MQTTMessage) -> None:
        try:
            if msg.topic == self.t_telemetry:
                self.report = decode_telemetry(self.beacon, msg.payload) if msg.payload else None
                self._heard.set()
            elif msg.topic == self.t_link:
                self.link = msg.payload.decode("utf-8", "replace") or None
            elif msg.topic == self.topics.get and self.offer:
                self._answer(client, msg.payload)
            elif msg.topic == self.topics.status and self.offer and msg.payload:
                body = load_object(msg.payload)
                if body.get("id") == self.offer.ident and body.get("state") in (
                        "downloading", "installing", *FINAL):
                    self.events.put(("status", (body["state"], body)))
        except ProtocolError as err:
            print(f"focuslight update: ignored a message on {msg.topic}: {err}",
                  file=sys.stderr)

    def _answer(self, client: mqtt.Client, request: bytes) -> None:
        assert self.offer
        data = self.offer.chunk(request)
        if data is None:
            return
        index = int(data.split(b" ", 2)[1])
        if index not in self._asked:
            self._asked.add(index)
            self.events.put(("file", index))
        client.publish(self.topics.data, data, qos=0)  # the beacon retries; QoS 1 would add
        # a PUBACK per chunk, which Nagle holds back with the next request (40 ms each)
