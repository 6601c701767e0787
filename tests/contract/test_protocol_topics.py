"""The shared topic vectors (``tests/contract/vectors/topics.json``) through the host's Topics.

The firmware builds the same topics with ``beacon.protocol.topic``
(``test_firmware_vectors.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from focuslight.protocol import ProtocolError, Topics
from focuslight.tools.update import UpdateTopics

VECTORS = json.loads((Path(__file__).parent / "vectors" / "topics.json").read_text())
BUILDERS = {
    ("agents", "status"): Topics.status, ("agents", "set"): Topics.set,
    ("agents", "reply"): Topics.reply, ("beacons", "availability"): Topics.beacon_availability,
    ("beacons", "event"): Topics.beacon_event, ("beacons", "telemetry"): Topics.beacon_telemetry,
    ("beacons", "update"): lambda topics, beacon: UpdateTopics.of(topics, beacon).offer,
    ("bridges", "availability"): Topics.bridge_availability,
    ("bridges", "check"): Topics.bridge_check,
}


@pytest.mark.parametrize("case", VECTORS["build"], ids=lambda c: c["topic"])
def test_the_host_builds_every_topic_as_the_vectors_say(case: dict) -> None:
    build = BUILDERS[case["family"], case["leaf"]]
    assert build(Topics(case["prefix"]), case["id"]) == case["topic"]


@pytest.mark.parametrize("case", VECTORS["parse"], ids=lambda c: c["topic"][:60])
def test_the_host_parses_or_refuses_every_topic_as_the_vectors_say(case: dict) -> None:
    topics = Topics(case["prefix"])
    if "parts" in case:
        assert list(topics.parse(case["topic"])) == case["parts"]
    else:
        with pytest.raises(ProtocolError, match=case["reason"]):
            topics.parse(case["topic"])


def test_every_topic_the_host_builds_has_a_vector() -> None:
    """A new topic family or leaf gets a vector, so the firmware is checked against it too."""
    assert {(c["family"], c["leaf"]) for c in VECTORS["build"]} == set(BUILDERS)


@pytest.mark.parametrize("case", VECTORS["sites"], ids=lambda c: c["prefix"])
def test_the_host_knows_a_site_tree_as_the_vectors_say(case: dict) -> None:
    topics = Topics(case["prefix"])
    assert (topics.site, topics.own_link()) == (case["site"], case["link"])


@pytest.mark.parametrize("case", VECTORS["locate"], ids=lambda c: c["topic"][:60])
def test_the_host_locates_or_refuses_every_view_topic_as_the_vectors_say(case: dict) -> None:
    topics = Topics(case["prefix"])
    if "parts" in case:
        assert list(topics.locate(case["topic"])) == case["parts"]
    else:
        with pytest.raises(ProtocolError, match=case["reason"]):
            topics.locate(case["topic"])
