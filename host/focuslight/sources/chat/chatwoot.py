"""Chatwoot (open source): its account webhooks, read into conversation events.

Shapes, from chatwoot/chatwoot: ``app/listeners/webhook_listener.rb`` (which
events carry what: ``conversation_*`` send the conversation's ``webhook_data``
plus ``event``; ``message_created`` the message's), ``app/models/message.rb``
(``webhook_data``: ``message_type`` is ``incoming``/``outgoing``/``activity``/
``template``, ``private`` marks an agent's note), and
``app/presenters/conversations/event_data_presenter.rb`` (the conversation:
``status`` ``open``/``resolved``/``pending``/``snoozed``, the assignee in
``meta.assignee.id``, ``waiting_since`` Unix seconds, 0 when nobody waits).
A conversation is keyed by ``account_id`` and ``id``.

Signing (a webhook with a ``secret``): ``X-Chatwoot-Timestamp`` (Unix
seconds) and ``X-Chatwoot-Signature: sha256=<hex>``, the HMAC-SHA256 of
``<timestamp>.<raw body>`` with that secret, as Chatwoot's API reference
describes the webhook's ``secret`` (its OpenAPI schema, republished at
https://raw.githubusercontent.com/api-evangelist/chatwoot/refs/heads/main/json-schema/webhook.json).
The copies of chatwoot/chatwoot's ``lib/webhooks/trigger.rb`` at hand predate
signing, so the scheme is that description's, not read from Chatwoot's code.
A timestamp more than :data:`MAX_SKEW_S` away from the bridge's clock is
refused, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from ...http_server import HttpError
from .book import CLOSE, CUSTOMER, OPEN, REPLY, ChatEvent
from .fields import key_of, table, unix_time

NAME = "chatwoot"
MAX_SKEW_S = 300.0
_CONVERSATION_EVENTS = frozenset({"conversation_created", "conversation_updated",
                                  "conversation_status_changed"})
_MESSAGE_KINDS = {"incoming": CUSTOMER, "outgoing": REPLY, "template": REPLY}


def verify(headers: Mapping[str, str], raw: bytes, secret: bytes, wall: float) -> None:
    """Raise 401 unless Chatwoot signed *raw* with *secret* within :data:`MAX_SKEW_S`."""
    stamp = headers.get("x-chatwoot-timestamp", "")
    if (not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12
            or abs(int(stamp) - wall) > MAX_SKEW_S):
        raise HttpError(HTTPStatus.UNAUTHORIZED, "missing, bad or stale X-Chatwoot-Timestamp"
                        f" (more than {MAX_SKEW_S:g} s from this bridge's clock?)")
    digest = hmac.new(secret, stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(headers.get("x-chatwoot-signature", "").encode(),
                               f"sha256={digest}".encode()):
        raise HttpError(HTTPStatus.UNAUTHORIZED, "missing or wrong X-Chatwoot-Signature")


def events(body: dict[str, Any]) -> list[ChatEvent]:
    """The conversation events one Chatwoot webhook means (none for the others)."""
    event = body.get("event")
    if not isinstance(event, str):
        return []
    if event in _CONVERSATION_EVENTS:
        return _conversation(body)
    if event == "message_created" and body.get("private") is not True:
        return _message(body)
    return []


def _conversation(conversation: dict[str, Any]) -> list[ChatEvent]:
    key = _key(conversation)
    if key is None:
        return []
    if conversation.get("status") != "open":  # resolved, snoozed, pending (a bot has it)
        return [ChatEvent(CLOSE, key)]
    return [ChatEvent(OPEN, key, _assignee(conversation),
                      unix_time(conversation.get("waiting_since")))]


def _message(message: dict[str, Any]) -> list[ChatEvent]:
    conversation = table(message.get("conversation"))
    message_type = message.get("message_type")
    kind = _MESSAGE_KINDS.get(message_type) if isinstance(message_type, str) else None
    key = _key(conversation)
    if kind is None or key is None:
        return []
    if conversation.get("status") not in (None, "open"):
        return [ChatEvent(CLOSE, key)]
    return [ChatEvent(kind, key, _assignee(conversation))]


def _key(conversation: dict[str, Any]) -> str | None:
    ident = key_of(conversation.get("id"))
    return None if ident is None else f"{key_of(conversation.get('account_id'))}/{ident}"


def _assignee(conversation: dict[str, Any]) -> str:
    """The assigned agent's Chatwoot user id, ``""`` when unassigned."""
    return key_of(table(table(conversation.get("meta")).get("assignee")).get("id")) or ""
