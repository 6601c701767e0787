"""Seeded fuzzing of the firmware's status reader, on the real MicroPython unix port.

12,000 payloads from ``tests/helpers/status_fuzz.py`` (almost-valid ``available``
statuses broken in every way a lenient parser forgives) go through the
firmware decoder in one ``micropython -X heapsize=200k`` process; every
decision must equal the host decoder's, nothing may raise anything but
ValueError, and no payload the host rejects may come out as a state. Then a
few hundred of the rejected ones go through a real mosquitto to the running
virtual beacon, which must show nothing for any of them (no ``available``
look, no crash) and still show the next valid status.
"""

from __future__ import annotations

import struct
import time
from pathlib import Path

import pytest
from helpers.firmware import PREFIX, STATUS, beacon_factory, run_script, status
from helpers.status_fuzz import availability_payloads, host_availability, host_decision, payloads

SEED = 20261201
COUNT = 12_000
OVER_BROKER = 300

READER = """
import sys
from beacon import protocol

f = open("payloads.bin", "rb")
while True:
    head = f.read(2)
    if not head:
        break
    payload = f.read(head[0] | head[1] << 8)
    try:
        if KIND == "status":
            state, source, since, bridge = protocol.decode_status(payload)
            print("ok", state, source, repr(since), bridge)
        else:
            print("ok", protocol.decode_availability(payload))
    except ValueError:
        print("rejected")
    except Exception as e:  # what the test is looking for: must never happen
        print("crash", type(e).__name__, str(e).replace("\\n", " "))
"""


def firmware_decisions(cases: list[bytes], tmp_path: Path, kind: str = "status") -> list[str]:
    with open(tmp_path / "payloads.bin", "wb") as out:
        for payload in cases:
            out.write(struct.pack("<H", len(payload)) + payload)
    lines = run_script(f"KIND = {kind!r}\n" + READER, tmp_path,
                       timeout=120).stdout.splitlines()
    assert len(lines) == len(cases), lines[-5:]
    return lines


def _agrees(line: str, host: tuple | None) -> bool:
    word = line.split(" ")
    if host is None:
        return word == ["rejected"]
    if word[0] != "ok":
        return False
    state, source, since, bridge = host
    return (word[1], word[2], word[4]) == (state, source, str(bridge)) and (
        float(word[3]) == pytest.approx(since, rel=1e-9, abs=1e-9))


def test_12000_fuzzed_payloads_decide_as_the_host_does(tmp_path: Path) -> None:
    cases = payloads(SEED, COUNT)
    lines = firmware_decisions(cases, tmp_path)
    host = [host_decision(p) for p in cases]
    crashes = [(p, line) for p, line in zip(cases, lines, strict=True)
               if line.startswith("crash")]
    wrongly_shown = [(p, line) for p, line, h in zip(cases, lines, host, strict=True)
                     if h is None and line.startswith("ok")]
    disagree = [(p, line, h) for p, line, h in zip(cases, lines, host, strict=True)
                if not _agrees(line, h)]
    available = sum(line.startswith("ok available") for line in lines)
    green = sum(line.startswith("ok available") for _, line in wrongly_shown)
    print(f"{len(cases)} payloads: {len(crashes)} crashes, {len(wrongly_shown)} invalid ones"
          f" shown ({green} as available), {len(disagree)} disagreements; host accepted"
          f" {sum(h is not None for h in host)}, {available} of them available")
    assert crashes == []
    assert wrongly_shown == []
    assert disagree == []
    assert 0 < available < len(cases)  # the comparison saw both answers


def test_3000_fuzzed_availability_payloads_decide_as_the_host_does(tmp_path: Path) -> None:
    """A bridge's ``offline`` the beacon does not understand would leave it trusting the
    bridge: both sides must read every availability payload alike."""
    cases = availability_payloads(SEED, 3000)
    lines = firmware_decisions(cases, tmp_path, "availability")
    host = [host_availability(p) for p in cases]
    disagree = [(p, line, h) for p, line, h in zip(cases, lines, host, strict=True)
                if line != ("rejected" if h is None else f"ok {h}")]
    assert disagree == []
    assert 0 < sum(h is not None for h in host) < len(cases)


@pytest.fixture
def beacons():
    yield from beacon_factory()


def test_fuzzed_payloads_over_mosquitto_never_show_on_the_beacon(mosquitto, peer_factory,
                                                                beacons) -> None:
    # an empty payload is no malformed status but a cleared one (the beacon shows unknown)
    rejected = [p for p in payloads(SEED + 1, 4 * OVER_BROKER)
                if p and host_decision(p) is None][:OVER_BROKER]
    assert len(rejected) == OVER_BROKER
    peer = peer_factory(mosquitto)
    peer.publish(STATUS, status("engaged"), retain=True)
    beacon = beacons(mosquitto.url, PREFIX)
    seen = beacon.wait_look("engaged red solid")
    for payload in rejected:
        peer.publish(STATUS, payload)
    peer.publish(STATUS, status("hold"))
    beacon.wait_look("hold red pulse", seen, timeout=30)
    deadline = time.monotonic() + 10
    while (ignored := sum("ignored message on " + STATUS in line
                          for line in beacon.logs.lines)) < OVER_BROKER:
        assert time.monotonic() < deadline, ignored
        time.sleep(0.05)
    assert beacon.looks.lines[seen + 1:] == ["hold red pulse"]  # nothing in between
    assert ignored == OVER_BROKER
    assert beacon.proc.poll() is None
    assert not any("Traceback" in line for line in beacon.logs.lines)
