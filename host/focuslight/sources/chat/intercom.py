"""Intercom: its webhook notifications (topics on conversations), read into conversation
events.

Shapes, from Intercom's published references: the notification envelope
(``type: notification_event``, ``topic``, ``data.item``) and its topics
(developers.intercom.com, "Webhook models": ``conversation.user.created``,
``conversation.user.replied``, ``conversation.admin.replied``,
``conversation.admin.assigned``, ``…closed``, ``…opened``, ``…snoozed``,
``…unsnoozed``, ``conversation.deleted``, ``ping``), and the Conversation
object (intercom/Intercom-OpenAPI, ``descriptions/2.11/api.intercom.io.yaml``,
``components.schemas.conversation``: ``id`` a string, ``admin_assignee_id`` an
integer or null, ``waiting_since`` Unix seconds or null). The item is the
conversation after the event, so its ``admin_assignee_id`` is the owner.

Signing (a subscription with a ``hub_secret``, Intercom's "Signed
notifications"): ``X-Hub-Signature: sha1=<hex>``, the HMAC-SHA1 of the raw
body with that secret. Intercom sends no timestamp to check against replays.
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

NAME = "intercom"
_TOPICS = {
    "conversation.user.created": CUSTOMER,
    "conversation.user.replied": CUSTOMER,
    "conversation.admin.replied": REPLY,
    "conversation.admin.single.created": REPLY,  # an admin wrote first: nobody waits
    "conversation.admin.assigned": OPEN,
    "conversation.admin.opened": OPEN,
    "conversation.admin.unsnoozed": OPEN,
    "conversation.admin.closed": CLOSE,
    "conversation.admin.snoozed": CLOSE,
    "conversation.deleted": CLOSE,
}


def verify(headers: Mapping[str, str], raw: bytes, secret: bytes, wall: float) -> None:
    """Raise 401 unless Intercom signed *raw* with *secret* (*wall* is unused: Intercom
    signs no time)."""
    digest = hmac.new(secret, raw, hashlib.sha1).hexdigest()
    if not hmac.compare_digest(headers.get("x-hub-signature", "").encode(),
                               f"sha1={digest}".encode()):
        raise HttpError(HTTPStatus.UNAUTHORIZED, "missing or wrong X-Hub-Signature")


def events(body: dict[str, Any]) -> list[ChatEvent]:
    """The conversation event one Intercom notification means (none for other topics)."""
    topic = body.get("topic")
    kind = _TOPICS.get(topic) if isinstance(topic, str) else None
    item = table(table(body.get("data")).get("item"))
    key = key_of(item.get("id"))
    if kind is None or key is None:
        return []
    if kind == CLOSE:
        return [ChatEvent(CLOSE, key)]
    return [ChatEvent(kind, key, key_of(item.get("admin_assignee_id")) or "",
                      unix_time(item.get("waiting_since")))]
