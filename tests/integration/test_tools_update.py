"""Over-the-air update (issue 9.10), end to end: `focuslight update` (or its Session with a
tampered file) against the real firmware on the unix port (the virtual beacon, which
restarts the process when the firmware calls machine.reset()) through a real mosquitto.

Each case ends by checking what the beacon reports about itself (telemetry) and what is on
its filesystem: the firmware it runs, and the rollback copy."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.firmware import ROOT, Lines, status

from focuslight.mqtt.client import BrokerSettings
from focuslight.protocol import Topics
from focuslight.tools.embedded_broker import free_port
from focuslight.tools.update import Offer, Session
from focuslight.tools.virtual_beacon import VirtualBeacon

PREFIX = "otatest"
BEACON = "alice-desk"
BASE = f"{PREFIX}/beacons/{BEACON}"
OLD = (ROOT / "firmware" / "beacon" / "version.py").read_text().split('"')[1]


class Device:
    """A virtual beacon in this process: its log lines, waited on, and its filesystem."""

    def __init__(self, broker, **extra) -> None:
        config = {"agent": "alice", "beacon": BEACON, "board": "unix", "transport": "mqtt",
                  "broker": broker.host, "port": broker.port, "prefix": PREFIX, **extra}
        self.beacon = VirtualBeacon(config)
        self.root = self.beacon.root
        self.log = Lines(_event_lines(self.beacon))

    @property
    def lines(self) -> list[str]:
        return self.log.lines

    def wait_for(self, text: str, start: int = 0, timeout: float = 30) -> int:
        return self.log.wait_for(text, start, timeout)

    def count(self, text: str) -> int:
        return sum(text in line for line in list(self.log.lines))

    def close(self) -> None:
        self.beacon.close()


def _event_lines(beacon: VirtualBeacon) -> Iterator[str]:
    """The virtual beacon's events as ``kind: value`` lines, until it exits."""
    while True:
        kind, value = beacon.events.get()
        print(f"{time.monotonic():.2f} {kind}: {value}")
        yield f"{kind}: {value}"
        if kind == "exit":
            return


@pytest.fixture
def device(mosquitto, peer_factory):
    peer_factory(mosquitto).publish(f"{PREFIX}/agents/alice/status", status("engaged"),
                                    retain=True)
    made: list[Device] = []

    def start(**extra) -> Device:
        made.append(Device(mosquitto, **extra))
        made[-1].wait_for("look: engaged red solid")
        return made[-1]

    yield start
    for d in made:
        d.close()


def firmware(tmp_path: Path, version: str, *, broken: str | None = None,
             hangs: bool = False) -> Path:
    """A copy of the firmware with another version (and, if asked, an app.py that raises,
    or one whose event loop hangs as soon as it runs: a busy loop in a task)."""
    copy = tmp_path / f"firmware-{version}"
    shutil.copytree(ROOT / "firmware", copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "beacon" / "version.py").write_text(f'VERSION = "{version}"\n')
    app = copy / "beacon" / "app.py"
    if broken:
        app.write_text(f"raise RuntimeError({broken!r})\n" + app.read_text())
    if hangs:
        text = app.read_text()
        start = "    async def run(self):\n        self.changed()\n"
        assert start in text
        app.write_text(text.replace(start, start + "        asyncio.create_task(_hang())\n")
                       + "\n\nasync def _hang():\n    print('beacon: hanging now')\n"
                         "    while True:\n        pass\n")
    return copy


def update(mosquitto, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "focuslight", "update", "--beacon", BEACON,
                           "--broker", mosquitto.url, "--prefix", PREFIX, "--timeout", "60",
                           *args], capture_output=True, text=True, timeout=timeout)


def telemetry(peer) -> dict:
    return json.loads(peer.wait_for(f"{BASE}/telemetry"))


def retained(peer_factory, mosquitto, topic: str) -> bytes | None:
    """What the broker keeps on *topic* (None: nothing)."""
    peer = peer_factory(mosquitto)
    peer.subscribe(topic)
    try:
        return peer.wait_for(topic, timeout=1)
    except AssertionError:
        return None


def test_a_good_update_is_installed_confirmed_and_reported(mosquitto, peer_factory, device,
                                                           tmp_path: Path) -> None:
    board = device()
    peer = peer_factory(mosquitto)
    peer.subscribe(f"{BASE}/telemetry")
    assert telemetry(peer)["firmware"] == OLD
    started = time.monotonic()
    done = update(mosquitto, "--firmware", str(firmware(tmp_path, "0.2.1")))  # .mpy for x64
    took = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"beacon {BEACON} runs firmware {OLD} (unix" in done.stdout
    assert f"beacon {BEACON} runs 0.2.1 and is connected" in done.stdout
    report = json.loads(peer.wait_for(f"{BASE}/telemetry",
                                      lambda p: json.loads(p)["firmware"] == "0.2.1"))
    assert report["reset_cause"] == "soft"
    board.wait_for("beacon: update: firmware 0.2.1 confirmed")
    assert board.count("reset: None") == 1
    after = board.wait_for("look: engaged red solid", board.wait_for("reset: None"))
    assert after  # the light is back on the agent's state after the restart
    # the new package is compiled for the beacon; the old one is the rollback copy
    assert sorted(p.suffix for p in (board.root / "beacon").iterdir()) == [".mpy"] * len(
        list((ROOT / "firmware" / "beacon").glob("*.py")))
    assert (board.root / "beacon.old" / "version.py").read_text().count(OLD) == 1
    assert not (board.root / "beacon.new").exists()
    status_now = json.loads(retained(peer_factory, mosquitto, f"{BASE}/update/status"))
    assert (status_now["state"], status_now["running"]) == ("done", "0.2.1")
    assert retained(peer_factory, mosquitto, BASE + "/update") is None  # offer withdrawn
    print(f"good update with mpy-cross, 16 modules: {took:.1f} s")


def test_a_corrupt_file_is_refused_and_the_old_firmware_keeps_running(
        mosquitto, peer_factory, device, tmp_path: Path) -> None:
    board = device()
    peer = peer_factory(mosquitto)
    peer.subscribe(f"{BASE}/update/status")
    new = firmware(tmp_path, "0.2.1")
    files = [(f"beacon/{p.name}", p.read_bytes()) for p in sorted((new / "beacon").glob("*.py"))]
    offer = Offer("0.2.1", files, 90)
    index = offer.paths.index("beacon/view.py")
    good = offer.blobs[index]
    offer.blobs[index] = good.replace(b"unknown", b"engaged")  # same size, other bytes
    assert len(offer.blobs[index]) == len(good) and offer.blobs[index] != good
    settings = BrokerSettings(mosquitto.host, mosquitto.port)
    with Session(settings, Topics(PREFIX), BEACON) as session:
        assert session.telemetry().firmware == OLD
        assert session.serve(offer, 30) == 1
    refused = [line for line in board.lines if "refused" in line]
    assert refused == [f"log: beacon: update: 0.2.1 refused: beacon/view.py: sha256 mismatch;"
                       f" keeping {OLD}"]
    body = json.loads(peer.wait_for(f"{BASE}/update/status",
                                    lambda p: json.loads(p)["state"] == "failed"))
    assert body == {"v": 1, "id": offer.ident, "state": "failed", "version": "0.2.1",
                    "running": OLD, "reason": "beacon/view.py: sha256 mismatch"}
    assert board.count("reset: None") == 0 and board.beacon.proc.poll() is None
    assert not (board.root / "beacon.new").exists() and not (board.root / "beacon.old").exists()
    remembered = json.loads((board.root / "update.json").read_text())
    assert (remembered["state"], remembered["id"]) == ("failed", offer.ident)
    # it still runs and shows the agent: the next status reaches the light
    peer.publish(f"{PREFIX}/agents/alice/status", status("dnd"), retain=True)
    board.wait_for("look: dnd purple solid")
    # the refused offer, still retained somewhere, is never tried again
    peer.publish(BASE + "/update", offer.payload(), retain=True)
    online = peer_factory(mosquitto)
    online.subscribe(f"{BASE}/availability")
    online.wait_for(f"{BASE}/availability")  # the retained one, whatever it says
    board.beacon.wifi(False)
    board.wait_for("wifi: lost")
    mark = len(board.lines)
    board.beacon.wifi(True)
    board.wait_for("mqtt: connected", mark)
    # a marker, not a sleep: the beacon says "online" after its last SUBSCRIBE, so the
    # broker hands it the retained offer before the status sent after that "online", and
    # the beacon reads them in order: once the status shows, the offer has been read
    online.wait_for(f"{BASE}/availability", lambda p: p == b"online")
    peer.publish(f"{PREFIX}/agents/alice/status", status("away"), retain=True)
    board.wait_for("look: away", mark)
    assert board.count("downloading") == 1
    peer.publish(BASE + "/update", b"", retain=True)


def test_a_firmware_that_does_not_start_is_rolled_back(mosquitto, peer_factory, device,
                                                       tmp_path: Path) -> None:
    board = device()
    peer = peer_factory(mosquitto)
    peer.subscribe(f"{BASE}/telemetry")
    telemetry(peer)
    bad = firmware(tmp_path, "0.2.1", broken="this firmware does not start")
    done = update(mosquitto, "--firmware", str(bad), "--source")
    assert done.returncode == 1, done.stdout + done.stderr
    assert (f"beacon {BEACON} rolled back 0.2.1: RuntimeError: this firmware does not start;"
            f" it runs {OLD}") in done.stderr
    board.wait_for("beacon: trying firmware 0.2.1")
    board.wait_for("beacon: update to 0.2.1 rolled back: RuntimeError: this firmware does not"
                   " start")
    assert board.count("reset: None") == 2  # into the new firmware, and back
    report = json.loads(peer.wait_for(f"{BASE}/telemetry",
                                      lambda p: json.loads(p)["uptime"] < 5))
    assert report["firmware"] == OLD
    assert "does not start" not in (board.root / "beacon" / "app.py").read_text()
    assert not (board.root / "beacon.old").exists()
    board.wait_for("look: engaged red solid", board.wait_for("rolled back"))


def test_a_firmware_that_hangs_is_rolled_back_by_the_watchdog(mosquitto, peer_factory, device,
                                                               tmp_path: Path) -> None:
    """A hang blocks the event loop, so the trial's deadline (an asyncio task) never runs:
    main.py's watchdog (the unix port's machine.WDT, a thread that kills the process as a
    board's watchdog resets it) fires, and the boot after it rolls back."""
    board = device()
    peer = peer_factory(mosquitto)
    peer.subscribe(f"{BASE}/telemetry")
    telemetry(peer)
    done = update(mosquitto, "--firmware", str(firmware(tmp_path, "0.2.1", hangs=True)),
                  "--source", "--trial", "600")  # only the watchdog can end this trial
    assert done.returncode == 1, done.stdout + done.stderr
    assert (f"beacon {BEACON} rolled back 0.2.1: the new firmware hung (watchdog reset) before"
            f" it reached the broker; it runs {OLD}") in done.stderr
    hung = board.wait_for("beacon: hanging now", board.wait_for("beacon: trying firmware 0.2.1"))
    board.wait_for("reset: watchdog", hung)
    board.wait_for("beacon: update to 0.2.1 rolled back: the new firmware hung", hung)
    report = json.loads(peer.wait_for(f"{BASE}/telemetry",
                                      lambda p: json.loads(p)["uptime"] < 5))
    assert report["firmware"] == OLD
    assert "_hang" not in (board.root / "beacon" / "app.py").read_text()
    board.wait_for("look: engaged red solid", board.wait_for("rolled back"))


def test_a_config_change_that_loses_the_broker_is_rolled_back_after_the_trial(
        mosquitto, peer_factory, device) -> None:
    board = device()
    nowhere = free_port()
    done = update(mosquitto, "--source", "--set", f"port={nowhere}", "--set", "brightness=0.3",
                  "--trial", "10")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "rolled back" in done.stderr and "did not reach the broker within 10 s" in done.stderr
    config = json.loads((board.root / "config.json").read_text())
    assert config["port"] == mosquitto.port and "brightness" not in config
    assert not (board.root / "config.old").exists() or json.loads(
        (board.root / "config.old").read_text()) != config


def test_a_config_value_the_new_firmware_refuses_is_rolled_back(mosquitto, device) -> None:
    board = device()
    done = update(mosquitto, "--source", "--set", "brightness=2")
    assert done.returncode == 1, done.stdout + done.stderr
    assert ("rolled back 0.2.0: ConfigError: config.json: key 'brightness' must be a number"
            " from 0 to 1, got 2") in done.stderr
    assert "brightness" not in json.loads((board.root / "config.json").read_text())
    board.wait_for("look: engaged red solid", board.wait_for("rolled back"))


def test_a_mistyped_config_key_is_refused_before_anything_is_sent(mosquitto, device) -> None:
    device()
    done = update(mosquitto, "--set", "brightnes=0.3")
    assert done.returncode == 1
    assert "--set wants KEY=VALUE with a config.json key (agent, available_off," in done.stderr
    assert "got 'brightnes=0.3'" in done.stderr


def test_a_config_change_is_applied(mosquitto, device) -> None:
    board = device()
    done = update(mosquitto, "--source", "--set", "brightness=0.3", "--set", "telemetry=30")
    assert done.returncode == 0, done.stdout + done.stderr
    config = json.loads((board.root / "config.json").read_text())
    assert (config["brightness"], config["telemetry"]) == (0.3, 30)
    assert "brightness" not in json.loads((board.root / "config.old").read_text())


def test_update_explains_a_beacon_that_never_reported(mosquitto) -> None:
    done = update(mosquitto, "--timeout", "5")
    assert done.returncode == 1
    assert "has never reported telemetry" in done.stderr and "focuslight flash" in done.stderr


def stub_package(folder: Path, name: str) -> None:
    """A firmware that only says which one it is (the bootloader does not care), then
    returns as after a Ctrl-C (any other return makes main.py reset the board)."""
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "app.py").write_text(f"def main(wdt=None):\n    print('running {name}')\n"
                                   "    return 'stopped'\n")
    (folder / "config.py").write_text("def load():\n    pass\n")


CUTS = {
    "nothing moved yet": [],
    "beacon/ moved to beacon.old/": [("beacon", "beacon.old")],
    "package swapped": [("beacon", "beacon.old"), ("beacon.new", "beacon")],
    "config.json moved to config.old": [("beacon", "beacon.old"), ("beacon.new", "beacon"),
                                        ("config.json", "config.old")],
    "everything moved": [("beacon", "beacon.old"), ("beacon.new", "beacon"),
                         ("config.json", "config.old"), ("config.new", "config.json")],
}


@pytest.mark.parametrize("cut", list(CUTS))
def test_a_swap_cut_short_by_a_power_loss_finishes_on_the_next_boot(cut: str,
                                                                   tmp_path: Path) -> None:
    """main.py, the real bootloader, on a filesystem left at each point of its swap."""
    root = tmp_path / "board"
    root.mkdir()
    shutil.copy(ROOT / "firmware" / "main.py", root)
    stub_package(root / "beacon", "old")
    stub_package(root / "beacon.new", "new")
    (root / "beacon.old").mkdir()  # a rollback copy from an earlier update: replaced
    (root / "config.json").write_text('{"old": 1}')
    (root / "config.new").write_text('{"new": 1}')
    (root / "update.json").write_text(json.dumps({"state": "pending", "id": "a1",
                                                  "version": "0.2.1", "config": True}))
    for src, dst in CUTS[cut]:
        (root / src).rename(root / dst)
    env = {"MICROPYPATH": f"{ROOT / 'firmware' / 'unix'}:.frozen", "PATH": "/usr/bin:/bin"}
    from focuslight.tools.virtual_beacon import micropython_binary

    done = subprocess.run([micropython_binary(), "main.py"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == ["beacon: trying firmware 0.2.1", "running new"]
    assert "running new" in (root / "beacon" / "app.py").read_text()
    assert "running old" in (root / "beacon.old" / "app.py").read_text()
    assert not (root / "beacon.new").exists() and not (root / "config.new").exists()
    assert json.loads((root / "config.json").read_text()) == {"new": 1}
    assert json.loads((root / "config.old").read_text()) == {"old": 1}
    assert json.loads((root / "update.json").read_text())["state"] == "trial"


# -- moving a beacon to MQTT over TLS without a cable -------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    from helpers.tls_certs import make_pair

    folder = tmp_path_factory.mktemp("pki")
    return make_pair(folder, "site"), make_pair(folder, "rogue")


@pytest.fixture
def tls_mosquitto(pki, tmp_path: Path):
    """mosquitto with a plain listener (the beacon today, the admin) and a TLS one."""
    from helpers.tls_certs import mosquitto_tls_conf

    from focuslight.tools.embedded_broker import wait_for_port

    class Broker:
        host, port, tls_port = "127.0.0.1", free_port(), free_port()
        url = f"mqtt://127.0.0.1:{port}"

    conf = tmp_path / "mosquitto-tls.conf"
    conf.write_text(mosquitto_tls_conf(Broker.port, [(Broker.tls_port, pki[0])]))
    proc = subprocess.Popen([shutil.which("mosquitto") or "mosquitto", "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(Broker.host, Broker.port)
        wait_for_port(Broker.host, Broker.tls_port)
        yield Broker
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("ca", ["site", "rogue"])
def test_a_beacon_moves_to_tls_over_the_air_or_back_when_the_ca_is_wrong(
        ca: str, tls_mosquitto, pki, peer_factory) -> None:
    peer_factory(tls_mosquitto).publish(f"{PREFIX}/agents/alice/status", status("engaged"),
                                        retain=True)
    board = Device(tls_mosquitto)
    try:
        board.wait_for("look: engaged red solid")
        pem = pki[0 if ca == "site" else 1].ca
        done = update(tls_mosquitto, "--source", "--set", "tls=true", "--set",
                      f"port={tls_mosquitto.tls_port}", "--beacon-ca", str(pem),
                      "--trial", "10")
        config = json.loads((board.root / "config.json").read_text())
        if ca == "site":
            assert done.returncode == 0, done.stdout + done.stderr
            board.wait_for(f"mqtt: connected to 127.0.0.1:{tls_mosquitto.tls_port} over TLS")
            assert (config["tls"], config["port"]) == (True, tls_mosquitto.tls_port)
            assert (board.root / "ca.pem").read_bytes() == pem.read_bytes()
        else:
            assert done.returncode == 1, done.stdout + done.stderr
            assert "did not reach the broker within 10 s" in done.stderr
            assert "tls" not in config and config["port"] == tls_mosquitto.port
            assert not (board.root / "ca.pem").exists()  # it had none before the update
        last_reset = max(i for i, line in enumerate(board.lines) if line.startswith("reset:"))
        board.wait_for("look: engaged red solid", last_reset)  # shows the agent again
    finally:
        board.close()
