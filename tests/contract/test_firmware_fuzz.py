"""Seeded fuzzing of the firmware's readers, on the real MicroPython unix port.

12,000 payloads from ``tests/helpers/status_fuzz.py`` (almost-valid ``available``
statuses broken in every way a lenient parser forgives) go through the
firmware decoder in one ``micropython -X heapsize=200k`` process; every
decision must equal the host decoder's, nothing may raise anything but
ValueError, and no payload the host rejects may come out as a state. Then a
few hundred of the rejected ones go through a real mosquitto to the running
virtual beacon, which must show nothing for any of them (no ``available``
look, no crash) and still show the next valid status.

The other readers get 10,000 each, one micropython process per reader: bridge
availability and the USB serial link's lines (fed byte by byte through
``SerialLink``) against the host's decoders, and the retained update offer
(``update.offer_of``) against the documented rule on the host's strict JSON
(the host writes offers, it has no reader for them), and sets of looks
(``looks.decode``) against the host's ``decode_looks``.
"""

from __future__ import annotations

import struct
import time
from pathlib import Path

import pytest
from helpers.firmware import PREFIX, STATUS, beacon_factory, run_script, status
from helpers.status_fuzz import (
    availability_payloads,
    host_availability,
    host_decision,
    host_looks,
    host_serial_line,
    looks_payloads,
    offers,
    payloads,
    reference_offer,
    serial_lines,
)

SEED = 20261201
COUNT = 12_000
EACH = 10_000
OVER_BROKER = 300

READER = """
import sys
from beacon import protocol
if KIND == "offer":
    from beacon import update
if KIND == "looks":
    from beacon import looks

    def one_line(payload):
        table, cues, bright = looks.decode(payload)
        words = [str(bright)]
        for s in protocol.STATES:
            v = table[s]
            words.append("%s=%02x%02x%02x %s%s" % (s, v[1][0], v[1][1], v[1][2], v[2],
                                                   " %d" % v[3] if v[3] else ""))
        for c in sorted(cues):
            v = cues[c]
            words.append("%s=%02x%02x%02x %s" % (c, v[1][0], v[1][1], v[1][2], v[2]))
        return " ".join(words)
if KIND == "serial":
    from beacon.serial import SerialLink

    class View:  # what SerialLink hands a decision to (beacon.view.View's face)
        status = linked = None
        def bridge(self, name, online):
            self.got = "ok bridge %s" % online

    view = View()
    changed = []
    link = SerialLink({"beacon": "b", "agent": "a"}, view, lambda: changed.append(1))
    link.looks = lambda v: setattr(view, "got", "ok looks %d" % v[2])

    def serial_line(line):
        \"\"\"Byte by byte through the reader, as the host writes it, ending in \\n.\"\"\"
        view.got, view.status, changed[:] = None, None, []
        for c in line:
            link._byte(c)
        link._byte(10)
        if not changed:
            print("rejected")
        elif view.got:
            print(view.got)
        else:
            print("ok status", view.status)

f = open("payloads.bin", "rb")
while True:
    head = f.read(2)
    if not head:
        break
    payload = f.read(head[0] | head[1] << 8)
    try:
        if KIND == "serial":
            serial_line(payload)
            continue
        if KIND == "offer":
            print("ok %s %s %d %s %d" % update.offer_of(payload))
            continue
        if KIND == "looks":
            print("ok " + one_line(payload))
            continue
        if KIND == "status":
            state, source, since, bridge, cue = protocol.decode_status(payload)
            print("ok", state, source, repr(since), bridge, cue)
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
    lines = [line for line in run_script(f"KIND = {kind!r}\n" + READER, tmp_path,
                                         timeout=120).stdout.splitlines()
             if not line.startswith("beacon: ")]  # the reader's own log lines
    assert len(lines) == len(cases), lines[-5:]
    return lines


def _agrees(line: str, host: tuple | None) -> bool:
    word = line.split(" ")
    if host is None:
        return word == ["rejected"]
    if word[0] != "ok":
        return False
    state, source, since, bridge, cue = host
    return (word[1], word[2], word[4], word[5]) == (state, source, str(bridge), str(cue)) and (
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


def test_10000_fuzzed_availability_payloads_decide_as_the_host_does(tmp_path: Path) -> None:
    """A bridge's ``offline`` the beacon does not understand would leave it trusting the
    bridge: both sides must read every availability payload alike."""
    cases = availability_payloads(SEED, EACH)
    lines = firmware_decisions(cases, tmp_path, "availability")
    host = [host_availability(p) for p in cases]
    disagree = [(p, line, h) for p, line, h in zip(cases, lines, host, strict=True)
                if line != ("rejected" if h is None else f"ok {h}")]
    assert disagree == []
    assert 0 < sum(h is not None for h in host) < len(cases)


def test_10000_fuzzed_serial_lines_decide_as_the_host_does(tmp_path: Path) -> None:
    """The USB link's reader (beacon.serial.SerialLink, fed byte by byte): every line the
    host's rules reject changes nothing, every other one gives the host's reading."""
    cases = serial_lines(SEED, EACH)
    lines = firmware_decisions(cases, tmp_path, "serial")
    host = [host_serial_line(line) for line in cases]
    expected = ["rejected" if h is None else f"ok {h[0]} {h[1]}" for h in host]
    disagree = [(p, line, e) for p, line, e in zip(cases, lines, expected, strict=True)
                if line != e]
    assert disagree[:5] == []
    accepted = [e for e in expected if e != "rejected"]
    assert "ok status available" in accepted and "ok bridge True" in accepted
    assert "ok bridge False" in accepted and len(accepted) < len(cases) / 2


def test_10000_fuzzed_update_offers_decide_as_the_rules_say(tmp_path: Path) -> None:
    """The retained offer (beacon.update.offer_of) starts a download and a trial: one taken
    that the rules refuse would put a beacon through an update nobody offered."""
    cases = offers(SEED, EACH)
    lines = firmware_decisions(cases, tmp_path, "offer")
    reference = [reference_offer(p) for p in cases]
    expected = ["rejected" if ref is None else "ok " + " ".join(map(str, ref)) for ref in reference]
    disagree = [(p, line, e) for p, line, e in zip(cases, lines, expected, strict=True)
                if line != e]
    assert disagree[:5] == []
    assert 0 < sum(ref is not None for ref in reference) < len(cases) / 2


def test_10000_fuzzed_sets_of_looks_decide_as_the_host_does(tmp_path: Path) -> None:
    """A set the host refuses (a blink over 3 flashes/s, a dark or green ``unknown``) that
    the beacon took would put that on every light of the site: both sides must read every
    set alike, and one a side accepts must mean the same looks on both."""
    cases = looks_payloads(SEED, EACH)
    lines = firmware_decisions(cases, tmp_path, "looks")
    host = [host_looks(p) for p in cases]
    expected = ["rejected" if h is None else f"ok {h}" for h in host]
    crashes = [line for line in lines if line.startswith("crash")]
    disagree = [(p, line, e) for p, line, e in zip(cases, lines, expected, strict=True)
                if line != e]
    assert crashes == []
    assert disagree[:5] == []
    assert 0.1 < sum(h is not None for h in host) / len(cases) < 0.9


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
