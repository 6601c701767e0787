"""The shared trust rule (``tests/contract/vectors/trust.json``) through the host's one
implementation.

``host/focuslight/protocol/trust.py`` decides for the board and ``focuslight watch``; the
firmware's View replays the same file on the unix port (``test_firmware_vectors.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from focuslight.protocol import Status
from focuslight.protocol.trust import kept, offline_bridges, shown, site_linked

CASES = json.loads((Path(__file__).parent / "vectors" / "trust.json").read_text())["cases"]


def replay(events: list[list], site: str | None = None) -> str:
    """What a reader that saw *events* may show, by the host's rule; *site*: the site
    whose link the status (and its bridges) came through, if any."""
    linked, status, bridges, links = False, None, {}, {}
    for event in events:
        if event[0] == "link":
            linked = event[1]
            if not linked:  # everything heard is stale; retained messages come again
                status, bridges, links = None, {}, {}
        elif event[0] == "status":
            if kept(site, links):
                status = Status(event[1], "phone", 1.0, event[2] if len(event) > 2 else None)
        elif event[0] == "site":
            _site_link(links, event[1], event[2])
            if event[1] == site and links.get(site) is False:  # what came through is stale
                status, bridges = None, {}
        elif event[2] is None:
            bridges.pop(event[1], None)
        else:
            bridges[event[1]] = event[2]
    return shown(status, linked=linked and site_linked(site, links),
                 offline=offline_bridges(bridges))


def _site_link(links: dict[str, bool], site: str, word: str | None) -> None:
    if word is None:
        links.pop(site, None)
    else:
        links[site] = word == "1"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_trust_vectors_on_the_host(case: dict) -> None:
    assert replay(case["events"], case.get("site")) == case["shown"]
