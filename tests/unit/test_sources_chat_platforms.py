"""Each chat platform's mapping of its published payloads (tests/fixtures/chat/): the
conversation events they mean, and nothing but well-formed events for any JSON."""

from __future__ import annotations

import json
import random

import pytest
from helpers.chat import payload

from focuslight.sources.chat import chatwoot, intercom
from focuslight.sources.chat.book import CLOSE, CUSTOMER, OPEN, REPLY, ChatEvent

# -- the platforms' payloads ----------------------------------------------------------

CHATWOOT = [
    ("conversation_created", [ChatEvent(OPEN, "3/96", "7", 1795000030.0)]),
    ("message_created_incoming", [ChatEvent(CUSTOMER, "3/96", "7")]),
    ("message_created_outgoing", [ChatEvent(REPLY, "3/96", "7")]),
    ("message_created_private_note", []),
    ("conversation_updated_transfer", [ChatEvent(OPEN, "3/96", "9", 1795000030.0)]),
    ("conversation_status_changed_resolved", [ChatEvent(CLOSE, "3/96")]),
]
INTERCOM = [
    ("conversation.user.created", [ChatEvent(CUSTOMER, "2290", "", 1795000030.0)]),
    ("conversation.admin.assigned", [ChatEvent(OPEN, "2290", "814860", 1795000030.0)]),
    ("conversation.user.replied", [ChatEvent(CUSTOMER, "2290", "814860", 1795000030.0)]),
    ("conversation.admin.replied", [ChatEvent(REPLY, "2290", "814860")]),
    ("conversation.admin.assigned_transfer", [ChatEvent(OPEN, "2290", "991", 1795000030.0)]),
    ("conversation.admin.closed", [ChatEvent(CLOSE, "2290")]),
    ("ping", []),
]


@pytest.mark.parametrize(("name", "expected"), CHATWOOT, ids=[c[0] for c in CHATWOOT])
def test_chatwoot_payloads_map_to_conversation_events(name: str, expected: list) -> None:
    assert chatwoot.events(payload("chatwoot", name)) == expected


@pytest.mark.parametrize(("name", "expected"), INTERCOM, ids=[c[0] for c in INTERCOM])
def test_intercom_notifications_map_to_conversation_events(name: str, expected: list) -> None:
    assert intercom.events(payload("intercom", name)) == expected


ODD = [None, True, 0, -1, 1.5, "", "x" * 500, [], {}, [1, 2], {"id": []}, "open", 10**40]


@pytest.mark.parametrize("module", [chatwoot, intercom], ids=["chatwoot", "intercom"])
def test_any_json_in_any_field_maps_to_events_or_nothing_never_an_error(module) -> None:
    """5,000 fixtures with fields replaced by odd values, nested ones too: each maps to a
    list of well-formed events (ids strings of at most 128 characters) or to none."""
    r = random.Random(12)
    names = [n for n, _ in (CHATWOOT if module is chatwoot else INTERCOM)]
    for _ in range(5000):
        body = payload(module.NAME, r.choice(names))
        target = body
        for _depth in range(r.randint(0, 2)):
            inner = [k for k, v in target.items() if isinstance(v, dict)]
            if not inner:
                break
            target = target[r.choice(inner)]
        target[r.choice(list(target) or ["id"])] = r.choice(ODD)
        for event in module.events(json.loads(json.dumps(body))):
            assert isinstance(event.conversation, str) and 0 < len(event.conversation) <= 260
            assert event.owner is None or (isinstance(event.owner, str)
                                           and len(event.owner) <= 128)
