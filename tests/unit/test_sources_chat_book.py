"""The chat source's book (open conversations, waits, caps) and its config, without a server
(the platforms' mappings: test_sources_chat_platforms.py; over HTTP: the integration test)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers.sources import load_doc_examples

from focuslight.app import build_sources
from focuslight.config import load
from focuslight.config_section import ConfigError, Section
from focuslight.sources.base import Attention
from focuslight.sources.chat import ChatSource, from_config
from focuslight.sources.chat.book import CLOSE, CUSTOMER, OPEN, REPLY, ChatBook, ChatEvent

AGENTS = ("alice", "bob", "carol")
WALL = 1_795_000_000.0


def book(**kw: float) -> ChatBook:
    return ChatBook(60, 300, **kw)  # type: ignore[arg-type]


def test_a_waiting_message_becomes_due_then_escalated_and_a_reply_clears_it() -> None:
    chats = book()
    chats.apply(ChatEvent(OPEN, "c1", "7"), "alice", 0, WALL)
    assert chats.attention("alice", 0) == Attention(chats=1)
    chats.apply(ChatEvent(CUSTOMER, "c1", "7"), "alice", 10, WALL + 10)
    chats.apply(ChatEvent(CUSTOMER, "c1", "7"), "alice", 30, WALL + 30)  # still the oldest
    assert chats.attention("alice", 69.9) == Attention(None, WALL + 10, False, 1)
    assert chats.next_deadline(20) == 70  # the timer fires with no new event
    assert chats.attention("alice", 70) == Attention("reply_due", WALL + 10, False, 1)
    assert chats.next_deadline(70) == 310
    assert chats.attention("alice", 310) == Attention("reply_due", WALL + 10, True, 1)
    chats.apply(ChatEvent(REPLY, "c1", "7"), "alice", 311, WALL + 311)
    assert chats.attention("alice", 311) == Attention(chats=1)
    chats.apply(ChatEvent(CLOSE, "c1"), None, 312, WALL + 312)
    assert chats.attention("alice", 312) is None and chats.chats("alice") == 0


def test_the_oldest_wait_of_all_open_chats_counts_and_a_close_clears_its_cue() -> None:
    chats = book()
    chats.apply(ChatEvent(CUSTOMER, "c1", "7"), "alice", 0, WALL)
    chats.apply(ChatEvent(CUSTOMER, "c2", "7"), "alice", 50, WALL + 50)
    assert chats.attention("alice", 61) == Attention("reply_due", WALL, False, 2)
    chats.apply(ChatEvent(CLOSE, "c1"), None, 62, WALL + 62)
    assert chats.attention("alice", 62) == Attention(None, WALL + 50, False, 1)


def test_a_transfer_moves_the_conversation_and_its_wait() -> None:
    chats = book()
    chats.apply(ChatEvent(CUSTOMER, "c1", "7"), "alice", 0, WALL)
    chats.apply(ChatEvent(OPEN, "c1", "9"), "bob", 65, WALL + 65)
    assert chats.attention("alice", 65) is None
    assert chats.attention("bob", 65) == Attention("reply_due", WALL, False, 1)
    chats.apply(ChatEvent(OPEN, "c1", ""), None, 66, WALL + 66)  # unassigned: nobody here
    assert chats.attention("bob", 66) is None and len(chats) == 0


def test_a_conversation_that_waited_before_it_was_assigned_arrives_waiting() -> None:
    chats = book()
    chats.apply(ChatEvent(OPEN, "c1", "7", WALL - 100), "alice", 1000, WALL)
    assert chats.attention("alice", 1000) == Attention("reply_due", WALL - 100, False, 1)


def test_caps_refuse_new_conversations_and_silence_forgets_old_ones() -> None:
    chats = book(max_per_agent=2, max_total=3, forget_after_s=600)
    for n in range(2):
        assert chats.apply(ChatEvent(OPEN, f"a{n}", "7"), "alice", 0, WALL) is None
    refused = chats.apply(ChatEvent(OPEN, "a2", "7"), "alice", 0, WALL)
    assert refused and "max_conversations_per_agent" in refused and "a2" not in refused
    assert chats.apply(ChatEvent(CUSTOMER, "a0", "7"), "alice", 0, WALL) is None  # known: fine
    assert chats.apply(ChatEvent(OPEN, "b0", "9"), "bob", 0, WALL) is None
    assert "max_conversations)" in (chats.apply(ChatEvent(OPEN, "c0", "3"), "carol", 0, WALL)
                                    or "")
    assert chats.next_deadline(0) == 60  # a0's wait comes due first
    chats.apply(ChatEvent(REPLY, "a0", "7"), "alice", 1, WALL)
    chats.expire(600)
    assert len(chats) == 1 and chats.chats("alice") == 1  # a0 was touched at 1
    chats.expire(601)
    assert len(chats) == 0 and chats.next_deadline(601) is None


# -- config ---------------------------------------------------------------------------

def section(**keys: object) -> Section:
    base = {"type": "chat", "platform": "chatwoot", "secret": "s" * 16,
            "users": {"7": "alice", "9": "bob"}}
    return Section({**base, **keys}, "site.toml", "sources[0]")


def test_config_builds_the_source_with_its_defaults() -> None:
    source = from_config(section(), AGENTS)
    assert isinstance(source, ChatSource)
    assert source.agents == ("alice", "bob") and source.path == "/v1/chat/chatwoot"
    assert (source.book.reply_after_s, source.book.escalate_after_s) == (60, 300)
    assert (source.open_chat_state, source.port) == ("engaged", 8788)


@pytest.mark.parametrize(("keys", "message"), [
    ({"secret": None}, "a token, a secret"),
    ({"secret": "short"}, "at least 16 characters"),
    ({"platform": "skype"}, "platform: expected one of chatwoot, intercom"),
    ({"users": {"7": "mallory"}}, "users.7"),
    ({"users": {}}, "users"),
    ({"open_chat_state": "unknown"}, "open_chat_state"),
    ({"reply_after_seconds": 600, "escalate_after_seconds": 300}, "escalate_after_seconds"),
])
def test_config_mistakes_name_the_key(keys: dict, message: str) -> None:
    keys = {k: v for k, v in keys.items()}
    data = {"type": "chat", "platform": "chatwoot", "secret": "s" * 16,
            "users": {"7": "alice"}, **keys}
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(ConfigError, match=message):
        from_config(Section(data, "site.toml", "sources[0]"), AGENTS)


def test_the_documented_examples_load(tmp_path: Path) -> None:
    sources = load_doc_examples("chat", tmp_path)
    assert [s.platform.NAME for s in sources] == ["chatwoot", "intercom"]
    assert all(isinstance(s, ChatSource) for s in sources)


def test_the_admin_guides_example_loads(tmp_path: Path) -> None:
    """docs/chat.md's table, added to a file that declares its agents, builds the source."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "chat.md").read_text()
    (block,) = re.findall(r"```toml\n(.*?)```", text, re.S)
    path = tmp_path / "focuslight.toml"
    path.write_text("[agents.alice]\n[agents.bob]\n" + block)
    (source,) = build_sources(load(path))
    assert isinstance(source, ChatSource) and source.agents == ("alice", "bob")
