"""What the views file from a central broker that joins several sites (views/heard.py), and
how the floor board and ``watch`` apply a site's link to it: the same messages to both."""

from __future__ import annotations

import json

import pytest

from focuslight.protocol import ProtocolError, Topics
from focuslight.views.floor_board.floor import Floor
from focuslight.views.heard import AGENTS, SITE_LINKS, heard
from focuslight.views.watch import LiveTable

TOPICS = Topics()


def status(state: str, bridge: str = "main") -> bytes:
    return json.dumps({"v": 1, "state": state, "source": "phone", "since": 1.0,
                       "bridge_id": bridge}).encode()


class Both:
    """The floor board's model and watch's table, fed the same messages."""

    def __init__(self) -> None:
        self.floor, self.table = Floor(), LiveTable()
        self.floor.link(True)
        self.table.link(True)
        self._file = {AGENTS: self.floor.agent, SITE_LINKS: self.floor.site_link,
                      "bridges": self.floor.bridge}

    def hear(self, topic: str, payload: bytes | str) -> None:
        payload = payload.encode() if isinstance(payload, str) else payload
        table, ident, value = heard(TOPICS, topic, payload, "test")
        self._file[table](ident, value)
        self.table.receive(TOPICS, topic, payload)

    def shown(self) -> dict[str, tuple[str, str]]:
        """``agent → (board state, watch state)``."""
        tiles = {t["id"]: t["state"] for t in self.floor.view()["agents"]}
        return {a: (tiles[a], shown) for a, (_s, shown, _w) in self.table.shown().items()}


@pytest.fixture
def both() -> Both:
    return Both()


def test_the_same_ids_at_two_sites_are_two_agents_judged_by_their_own_bridge(both) -> None:
    for site, state in (("north", "engaged"), ("south", "available")):
        both.hear(f"focuslight/sites/{site}/link", "1")
        both.hear(f"focuslight/sites/{site}/agents/alice/status", status(state))
    both.hear("focuslight/sites/south/bridges/main/availability", "offline")
    assert both.shown() == {"north/alice": ("engaged", "engaged"),
                            "south/alice": ("unknown", "unknown")}
    tile = {t["id"]: t for t in both.floor.view()["agents"]}["north/alice"]
    assert (tile["name"], tile["site"]) == ("alice", "north")


def test_a_status_before_any_word_of_its_link_waits_for_a_1(both) -> None:
    both.hear("focuslight/sites/north/agents/alice/status", status("dnd"))
    assert both.shown() == {"north/alice": ("unknown", "unknown")}
    assert "has not been heard" in both.floor.view()["agents"][0]["reason"]
    both.hear("focuslight/sites/north/link", "1")
    assert both.shown() == {"north/alice": ("dnd", "dnd")}


def test_what_arrives_while_the_link_is_down_is_stale_until_it_comes_again(both) -> None:
    """A reader that connects during the outage gets the centre's retained copies."""
    both.hear("focuslight/sites/north/link", "0")
    both.hear("focuslight/sites/north/agents/alice/status", status("available"))
    both.hear("focuslight/agents/bob/status", status("hold"))  # the centre's own: unaffected
    assert both.shown() == {"north/alice": ("unknown", "unknown"), "bob": ("hold", "hold")}
    view = both.floor.view()
    assert view["doubts"] == ["site north's link to the centre is down: alice shows unknown"]
    assert view["sites"] == [{"id": "north", "link": "down"}]
    both.hear("focuslight/sites/north/link", "1")
    assert both.shown()["north/alice"] == ("unknown", "unknown")  # nothing came again yet
    both.hear("focuslight/sites/north/agents/alice/status", status("available"))
    assert both.shown()["north/alice"] == ("available", "available")


def test_a_dropped_link_forgets_its_bridges_too(both) -> None:
    both.hear("focuslight/sites/north/link", "1")
    both.hear("focuslight/sites/north/bridges/main/availability", "online")
    both.hear("focuslight/sites/north/link", "0")
    assert both.floor.view()["bridges"] == [{"id": "north/main", "state": "unknown"}]


@pytest.mark.parametrize("topic", ["focuslight/sites/North/link",
                                   "focuslight/sites/north/sites/south/link",
                                   "focuslight/sites/north/agents/alice/set"])
def test_foreign_site_topics_are_refused(topic: str) -> None:
    with pytest.raises(ProtocolError):
        heard(TOPICS, topic, b"1", "test")
