"""MQTT over TLS on the beacon: the real firmware (unix port, mbedtls) against a mosquitto
TLS listener whose certificate a self-made site CA signed (openssl CLI).

The beacon is started as an admin would, ``focuslight beacon --virtual --broker
mqtts://... --ca-file ca.pem``: it shows the status over TLS; pointed at a broker whose
certificate another CA signed, it stays ``unknown`` and says why in one line per attempt.
The heap with TLS up is measured through the unix seam's ``mem`` datagram.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.firmware import PREFIX, STATUS, beacon_factory, heap, run_script, status
from helpers.pty_peers import FIRMWARE, Socat, micropython_env, micropython_peer
from helpers.tls_certs import Pair, make_pair, mosquitto_tls_conf, wrong_host
from helpers.waiting import wait_event

from focuslight.tools.embedded_broker import free_port, wait_for_port
from focuslight.tools.virtual_beacon import VirtualBeacon

HEAP = 200 * 1024


@dataclass(frozen=True)
class TlsBroker:
    host: str
    port: int  # plain, for the test's own paho peer
    tls_port: int  # certificate signed by the site CA
    rogue_port: int  # certificate signed by another CA
    site: Pair
    rogue: Pair
    wrong_host_port: int  # signed by the site CA, for another host name


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> tuple[Pair, Pair, Pair]:
    folder = tmp_path_factory.mktemp("pki")
    site = make_pair(folder, "site")
    return site, make_pair(folder, "rogue"), wrong_host(folder, "site")


@pytest.fixture
def tls_broker(pairs, tmp_path: Path) -> Iterator[TlsBroker]:
    site, rogue, wrong = pairs
    broker = TlsBroker("127.0.0.1", free_port(), free_port(), free_port(), site, rogue,
                       free_port())
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(mosquitto_tls_conf(broker.port, [(broker.tls_port, site),
                                                     (broker.rogue_port, rogue),
                                                     (broker.wrong_host_port, wrong)]))
    proc = subprocess.Popen([shutil.which("mosquitto") or "mosquitto", "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for port in (broker.port, broker.tls_port, broker.rogue_port, broker.wrong_host_port):
            wait_for_port(broker.host, port)
        yield broker
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def beacons():
    yield from beacon_factory()


def test_the_beacon_shows_the_status_over_tls(tls_broker, peer_factory, beacons) -> None:
    peer = peer_factory(tls_broker)
    peer.publish(STATUS, status("engaged"), retain=True)
    beacon = beacons(f"mqtts://127.0.0.1:{tls_broker.tls_port}", PREFIX, "alice",
                     "alice-desk", "--ca-file", str(tls_broker.site.ca))
    seen = beacon.wait_look("engaged red solid", timeout=20)
    beacon.logs.wait_for(f"mqtt: connected to 127.0.0.1:{tls_broker.tls_port} over TLS")
    peer.publish(STATUS, status("hold"))
    beacon.wait_look("hold red pulse", seen)


def test_a_broker_signed_by_another_ca_is_refused(tls_broker, peer_factory, beacons) -> None:
    peer_factory(tls_broker).publish(STATUS, status("available"), retain=True)
    beacon = beacons(f"mqtts://127.0.0.1:{tls_broker.rogue_port}", PREFIX, "alice",
                     "alice-desk", "--ca-file", str(tls_broker.site.ca))
    _refused_and_retried(beacon, "not correctly signed by the trusted CA")


def test_a_site_certificate_for_another_host_is_refused(tls_broker, peer_factory,
                                                       beacons) -> None:
    """The docs promise the host name is checked: a certificate the site CA signed for
    another host (any of a site's machines could hold one) must not let a broker pass
    as the one in config.json."""
    peer_factory(tls_broker).publish(STATUS, status("available"), retain=True)
    beacon = beacons(f"mqtts://127.0.0.1:{tls_broker.wrong_host_port}", PREFIX, "alice",
                     "alice-desk", "--ca-file", str(tls_broker.site.ca))
    _refused_and_retried(beacon, "Common Name (CN) does not match")


def _refused_and_retried(beacon: VirtualBeacon, why: str) -> None:
    """The certificate is refused saying *why*, the beacon says so once per attempt (one
    line of why, one of when) and tries again, and its light never leaves unknown."""
    first = beacon.logs.wait_for("TLS: the broker's certificate was refused", timeout=20)
    assert why in beacon.logs.lines[first]
    again = beacon.logs.wait_for("TLS: the broker's certificate was refused", first + 1,
                                 timeout=20)
    attempt = beacon.logs.lines[first + 1:again]
    assert len(attempt) == 1 and "reconnecting in" in attempt[0], attempt
    assert beacon.looks.lines == ["unknown blue blink"]  # never anything else


def test_mqtts_needs_a_ca_file(tls_broker) -> None:
    done = subprocess.run([sys.executable, "-m", "focuslight.tools.virtual_beacon", "--agent", "a",
                           "--broker", f"mqtts://127.0.0.1:{tls_broker.tls_port}"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "needs --ca-file" in done.stderr


def _malloc_heap(pid: int) -> int:
    """Bytes resident in the process's C heap ([heap] in smaps), where the unix port's
    mbedtls allocates; on a Pico W the same buffers come out of MicroPython's heap."""
    text = Path(f"/proc/{pid}/smaps").read_text()
    section = text.split("[heap]\n", 1)[1] if "[heap]\n" in text else ""
    for line in section.splitlines():
        if line.startswith("Rss:"):
            return int(line.split()[1]) * 1024
    return 0


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_heap_with_tls_up(tls_broker, peer_factory, tls: bool) -> None:
    """The Pico-W-sized heap (200 KB) holds a TLS session with room to spare; the
    figures go to docs/performance.md (run with -s to see them)."""
    peer_factory(tls_broker).publish(STATUS, status("engaged"), retain=True)
    config = {"agent": "alice", "beacon": "alice-desk", "board": "unix",
              "broker": "127.0.0.1", "prefix": PREFIX,
              "port": tls_broker.tls_port if tls else tls_broker.port, "tls": tls}
    files = {"ca.pem": tls_broker.site.ca.read_bytes()} if tls else {}
    with VirtualBeacon(config, files=files) as beacon:
        wait_event(beacon, "look", "engaged", timeout=20)
        alloc, free = heap(beacon)
        print(f"heap with {'TLS' if tls else 'plain MQTT'} up: {alloc} B used, {free} B free"
              f" of {HEAP}; C heap (mbedtls on the unix port)"
              f" {_malloc_heap(beacon.proc.pid)} B")
        assert free > 60 * 1024, (alloc, free)


# -- focuslight flash --ca-file ------------------------------------------------------------


def _flash(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "focuslight", "flash", *args],
                          capture_output=True, text=True, timeout=120)


def test_flash_writes_the_site_ca_and_the_beacon_comes_online_over_tls(tls_broker,
                                                                       tmp_path) -> None:
    """The unix port behind a pty stands in for the board (as in test_tools_flash.py)."""
    root = tmp_path / "board"
    root.mkdir()
    socat = Socat(tmp_path / "tty", micropython_peer(), cwd=root,
                  env=micropython_env(FIRMWARE / "unix"))
    try:
        done = _flash("--port", str(socat.link), "--agent", "alice", "--beacon", "alice-desk",
                      "--broker", f"mqtts://127.0.0.1:{tls_broker.tls_port}",
                      "--ca-file", str(tls_broker.site.ca), "--prefix", "tls1",
                      "--ntp-host", "ntp.example.lan", "--timeout", "60")
    finally:
        socat.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "copy main.py, config.json and ca.pem" in done.stdout
    assert "beacon alice-desk is online" in done.stdout  # it said so over TLS
    assert (root / "ca.pem").read_bytes() == tls_broker.site.ca.read_bytes()
    config = json.loads((root / "config.json").read_text())
    assert (config["tls"], config["ca_file"], config["port"], config["ntp_host"]) == (
        True, "ca.pem", tls_broker.tls_port, "ntp.example.lan")


def test_flash_mqtts_without_a_usable_ca_file_says_what_to_do(tmp_path) -> None:
    common = ("--dry-run", "--port", str(tmp_path / "tty"), "--board", "pico_w", "--agent",
              "alice", "--wifi-ssid", "office", "--broker", "mqtts://192.168.1.10:8883")
    done = _flash(*common)
    assert done.returncode == 1
    assert "an mqtts:// beacon needs --ca-file" in done.stderr
    (tmp_path / "notes.txt").write_text("not a certificate")
    done = _flash(*common, "--ca-file", str(tmp_path / "notes.txt"))
    assert "not a PEM certificate" in done.stderr


def test_a_board_with_tls_asks_ntp_for_the_time_and_says_when_it_cannot(pairs,
                                                                      tmp_path) -> None:
    """The unix port never sets its clock; configured as a Pico W, the link tries NTP
    before its first TLS connect and, without ntptime, says so in one line and goes on."""
    (tmp_path / "ca.pem").write_bytes(pairs[0].ca.read_bytes())
    script = """
from beacon import config
from beacon.net import MqttLink
from beacon.view import View

cfg = config.validate({"agent": "alice", "beacon": "a-1", "board": "pico_w", "wifi_ssid": "x",
                       "broker": "10.0.0.2", "tls": True, "ntp_host": "ntp.example.lan"})
link = MqttLink(cfg, View(), lambda: None)
link._clock()
print("port", cfg["port"], "ca", cfg["ca_file"])
"""
    out = run_script(script, tmp_path).stdout
    assert "beacon: clock: no time from NTP server ntp.example.lan" in out
    assert "port 8883 ca ca.pem" in out
