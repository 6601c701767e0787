"""Chat platform webhooks for tests: the fixtures (tests/fixtures/chat/<platform>/), signed
as each platform signs them, and posted to a chat source over real HTTP."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import time
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "chat"
SECRET = "whsec-test-0123456789abcdef"
TOKEN = "chat-token-0123456789abcdef"
CUSTOMER_STRINGS = ("Jane Roe", "jane.roe@example.com", "+4915112345678", "4401", "cust-88231",
                    "order #4411", "4242", "6650a1b2c3d4e5f6a7b8c9d0", "Roe Logistics",
                    "Alice Agent", "alice@support.example", "Bob Backup", "2290")
"""What the fixtures say about customers (and agents' platform identities) that must never
leave the bridge."""


def payload(platform: str, name: str, **changes: Any) -> dict[str, Any]:
    """A fixture's payload (the document's ``payload``), with top-level *changes*."""
    doc = json.loads((FIXTURES / platform / f"{name}.json").read_text())
    return {**doc["payload"], **changes}


def signed_headers(platform: str, raw: bytes, secret: str = SECRET,
                   stamp: int | None = None) -> dict[str, str]:
    """The headers *platform* adds to a webhook it signs with *secret*."""
    if platform == "chatwoot":
        ts = str(int(time.time()) if stamp is None else stamp)
        digest = hmac.new(secret.encode(), ts.encode() + b"." + raw, hashlib.sha256).hexdigest()
        return {"X-Chatwoot-Timestamp": ts, "X-Chatwoot-Signature": f"sha256={digest}"}
    digest = hmac.new(secret.encode(), raw, hashlib.sha1).hexdigest()
    return {"X-Hub-Signature": f"sha1={digest}"}


def post(port: int, platform: str, body: bytes | dict, headers: dict[str, str] | None = None,
         *, sign: bool = True, path: str | None = None,
         method: str = "POST") -> tuple[int, dict[str, Any]]:
    """POST *body* (a dict is JSON-encoded) to the chat source; (status, JSON answer)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {"Content-Type": "application/json", **(signed_headers(platform, raw) if sign else {}),
            **(headers or {})}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path or f"/v1/chat/{platform}", raw, sent)
        answer = conn.getresponse()
        return answer.status, json.loads(answer.read() or b"{}")
    finally:
        conn.close()
