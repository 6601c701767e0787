"""The shared vectors through the firmware on the real MicroPython unix port.

Every file in ``tests/contract/vectors/`` that the firmware implements runs
here, as on the host: payloads (status, availability, ids, events, hello),
the trust rule (through the firmware's View), topics (``protocol.topic``) and
serial lines (``protocol.host_line``, ``event``, ``hello``).
"""

from __future__ import annotations

import json

import pytest
from helpers.firmware import VECTORS, run_script

from focuslight.protocol import decode_event
from focuslight.protocol.looks import COLOURS

VECTOR_SCRIPT = f"""
import json
from beacon import protocol

def run(name, decode):
    out = []
    for case in json.load(open("{VECTORS}/" + name + ".json"))["cases"]:
        if "payload_hex" in case:
            payload = bytes.fromhex(case["payload_hex"])
        else:
            payload = case["payload"].encode()
        try:
            out.append(["ok", decode(payload)])
        except ValueError as e:
            out.append(["error", str(e)])
    return out

ids = [protocol.is_id(c["id"]) for c in json.load(open("{VECTORS}/ids.json"))["cases"]]
print(json.dumps({{"status": run("status", protocol.decode_status),
                  "availability": run("availability", protocol.decode_availability),
                  "site_link": run("site_link", protocol.decode_site_link),
                  "ids": ids, "press": protocol.event("press"), "hold": protocol.event("hold"),
                  "hello": protocol.hello("alice-desk", "alice")}}))
"""


@pytest.fixture(scope="module")
def decoded(tmp_path_factory) -> dict:
    return json.loads(run_script(VECTOR_SCRIPT, tmp_path_factory.mktemp("vectors")).stdout)


def _vectors(name: str) -> dict:
    return json.loads((VECTORS / f"{name}.json").read_text())


def _cases(name: str) -> list[dict]:
    return _vectors(name)["cases"]


def test_status_vectors_pass_the_firmware_decoder(decoded) -> None:
    for case, (verdict, value) in zip(_cases("status"), decoded["status"], strict=True):
        if case["ok"]:
            assert verdict == "ok", (case["name"], value)
            assert value == [case["state"], case["source"], pytest.approx(case["since"]),
                             case.get("bridge_id"), case.get("cue")]
        else:
            assert verdict == "error", case["name"]
            assert case["reason"].lower() in value.lower(), (case["name"], value)


def test_availability_and_id_vectors_pass_the_firmware_decoder(decoded) -> None:
    for case, (verdict, value) in zip(_cases("availability"), decoded["availability"],
                                      strict=True):
        assert (verdict == "ok") == case["ok"], case
        if case["ok"]:
            assert value == case["value"]
    assert decoded["ids"] == [case["ok"] for case in _cases("ids")]


def test_site_link_vectors_pass_the_firmware_decoder(decoded) -> None:
    for case, (verdict, value) in zip(_cases("site_link"), decoded["site_link"], strict=True):
        assert (verdict == "ok") == case["ok"], case
        if case["ok"]:
            assert value is case["value"], case


def test_firmware_events_and_hello_are_valid_protocol(decoded) -> None:
    assert decode_event(decoded["press"].encode()).button == "press"
    assert decode_event(decoded["hold"].encode()).button == "hold"
    assert json.loads(decoded["hello"]) == {"v": 1, "hello": "alice-desk", "agent": "alice"}


TRUST_SCRIPT = f"""
import json
from beacon.view import View

out = []
for case in json.load(open("{VECTORS}/trust.json"))["cases"]:
    view, retained = View(case.get("site")), {{}}  # retained: what the broker sends again
    for event in case["events"]:
        if event[0] == "link":
            if event[1]:
                view.linked = True
            else:
                view.lost()
        elif event[0] == "status":
            view.set_status(event[1], event[2] if len(event) > 2 else None)
        elif event[0] == "site":
            view.site_link(event[1], None if event[2] is None else event[2] == "1")
        else:
            name, avail = event[1], event[2]
            if avail is None:
                retained.pop(name, None)
            else:
                retained[name] = avail
            view.bridge(name, None if avail is None else avail == "online")
        asked = view.unsure()  # net.py re-subscribes to that bridge's topic: play the broker
        if asked and asked in retained:
            view.bridge(asked, retained[asked] == "online")
    out.append(view.shown())
print(json.dumps(out))
"""


def test_trust_vectors_through_the_firmware_view(tmp_path) -> None:
    """tests/contract/vectors/trust.json, also run against host/focuslight/protocol/trust.py."""
    cases = _cases("trust")
    got = json.loads(run_script(TRUST_SCRIPT, tmp_path).stdout)
    assert {c["name"]: g for c, g in zip(cases, got, strict=True)} == {
        c["name"]: c["shown"] for c in cases}


TOPICS_AND_SERIAL_SCRIPT = f"""
import json
from beacon import protocol

topics = json.load(open("{VECTORS}/topics.json"))
built = [protocol.topic(c["prefix"], c["family"], c["id"], c["leaf"]) for c in topics["build"]]
sites = [protocol.site_of(c["prefix"]) for c in topics["sites"]]
serial = json.load(open("{VECTORS}/serial.json"))
read = []
for case in serial["to_beacon"]:
    try:
        said = protocol.host_line(case["line"].encode())
        read.append(["ok", [said[0], said[1][2]] if said[0] == "looks" else list(said)])
    except ValueError as e:
        read.append(["error", str(e)])
writes = {{"press": protocol.event("press"), "hold": protocol.event("hold"),
          "hello": protocol.hello("alice-usb", "alice")}}
print(json.dumps({{"built": built, "sites": sites, "read": read, "writes": writes}}))
"""


@pytest.fixture(scope="module")
def topics_and_serial(tmp_path_factory) -> dict:
    script = tmp_path_factory.mktemp("topics")
    return json.loads(run_script(TOPICS_AND_SERIAL_SCRIPT, script).stdout)


def test_the_firmware_builds_every_topic_as_the_vectors_say(topics_and_serial) -> None:
    """tests/contract/vectors/topics.json, also run against the host's Topics."""
    assert topics_and_serial["built"] == [c["topic"] for c in _vectors("topics")["build"]]


def test_the_firmware_knows_a_site_tree_as_the_vectors_say(topics_and_serial) -> None:
    """A beacon whose prefix is a site's tree follows <prefix>/link (net.py)."""
    assert topics_and_serial["sites"] == [c["site"] for c in _vectors("topics")["sites"]]


def test_the_firmware_reads_every_host_line_as_the_vectors_say(topics_and_serial) -> None:
    """tests/contract/vectors/serial.json: what the host writes, as the beacon reads it."""
    for case, (verdict, value) in zip(_vectors("serial")["to_beacon"], topics_and_serial["read"],
                                      strict=True):
        if "read" in case:
            assert verdict == "ok" and value == case["read"], (case["name"], value)
        else:
            assert verdict == "error", case["name"]
            assert case["reason"].lower() in value.lower(), (case["name"], value)


def test_the_firmware_writes_the_lines_the_vectors_hold(topics_and_serial) -> None:
    """The event and hello lines the host reads (read_beacon_line) are the firmware's own."""
    for case in _vectors("serial")["to_host"]:
        if "firmware_writes" in case:
            assert topics_and_serial["writes"][case["firmware_writes"]] == case["line"], case


LOOKS_SCRIPT = f"""
import json
from beacon import look, looks

def plain(table):
    return {{s: [v[1][0], v[1][1], v[1][2], v[2], v[3]] for s, v in table.items()}}

vectors = json.load(open("{VECTORS}/looks.json"))
for case in vectors["cases"]:  # a line each: one JSON text of them all outgrows a Pico's heap
    try:
        table, cues, bright = looks.decode(case["payload"].encode())
        print(json.dumps(["ok", {{"brightness": bright, "looks": plain(table), "cues": {{
            c: [v[1][0], v[1][1], v[1][2], v[2]] for c, v in cues.items()}}}}]))
    except ValueError as e:
        print(json.dumps(["error", str(e)]))
names = {{look.colour_name(((n >> 16), (n >> 8) & 255, n & 255)): n for n in look._NAMES}}
print(json.dumps({{"names": names,
                  "topics": [looks.topic(c["prefix"], c["name"]) for c in vectors["topics"]]}}))
"""


@pytest.fixture(scope="module")
def looks_decoded(tmp_path_factory) -> dict:
    lines = run_script(LOOKS_SCRIPT, tmp_path_factory.mktemp("looks")).stdout.splitlines()
    return {"cases": [json.loads(line) for line in lines[:-1]], **json.loads(lines[-1])}


def test_looks_vectors_pass_the_firmware_decoder(looks_decoded) -> None:
    """tests/contract/vectors/looks.json, also run against host/focuslight/protocol/looks.py."""
    vectors = _vectors("looks")
    for case, (verdict, value) in zip(vectors["cases"], looks_decoded["cases"], strict=True):
        if case["ok"]:
            assert verdict == "ok", (case["name"], value)
            assert value == {k: case[k] for k in ("brightness", "looks", "cues")}
        else:
            assert verdict == "error", case["name"]
            assert case["reason"].lower() in value.lower(), (case["name"], value)
    assert looks_decoded["topics"] == [c["topic"] for c in vectors["topics"]]


def test_the_firmware_names_colours_as_the_config_does(looks_decoded) -> None:
    """The colour in a ``led`` log line is the config's name for it (protocol.looks.COLOURS)."""
    assert looks_decoded["names"] == {name: r << 16 | g << 8 | b
                                      for name, (r, g, b) in COLOURS.items()}
