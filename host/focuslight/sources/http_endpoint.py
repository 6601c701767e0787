"""What every source that listens for HTTP callbacks does alike (the CTI webhook, chat).

Listening with retries while the port is taken (its agents read ``unknown``
meanwhile, said in one line), the bearer-token check and the JSON-object body:
written once so both endpoints refuse the same things the same way.
"""

from __future__ import annotations

import hmac
import json
import threading
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from ..http_server import App, HttpError, HttpServer
from .timing import Clock

MAX_CONNECTIONS = 1024
"""Connections served at once. Each costs a coroutine, not a thread, and one
that has not sent a whole request within 10 s is dropped (see
:mod:`focuslight.http_server`); past the cap a new one gets 503."""


def listen(label: str, address: tuple[str, int], app: App, *, retry_s: float, clock: Clock,
           stopping: threading.Event, blind: Callable[[str], None]) -> HttpServer | None:
    """Bind *app* on *address*, retrying every *retry_s* while it is taken; None once
    *stopping* is set. *blind(why)* runs once per new failure (its agents read unknown)."""
    failure: str | None = None
    while not stopping.is_set():
        try:
            return HttpServer(address, app, label, max_connections=MAX_CONNECTIONS).start()
        except OSError as err:
            why = f"cannot listen on {address[0]}:{address[1]} ({err.strerror or err})"
            if why != failure:
                failure = why
                blind(why)
            clock.sleep_until(clock.now() + retry_s, stopping)
    return None


def check_bearer(header: str, token: bytes) -> None:
    """Raise 401 unless *header* (``Authorization``) is ``Bearer <token>``."""
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token):
        raise HttpError(HTTPStatus.UNAUTHORIZED, "missing or wrong bearer token",
                        {"WWW-Authenticate": 'Bearer realm="focuslight"'})


def json_object(raw: bytes) -> dict[str, Any]:
    """A request body as a JSON object, or 400 saying why (never echoing the body)."""
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise HttpError(HTTPStatus.BAD_REQUEST, "body is not UTF-8") from None
    except json.JSONDecodeError as err:
        raise HttpError(HTTPStatus.BAD_REQUEST, f"body is not JSON ({err.msg} at "
                        f"line {err.lineno} column {err.colno})") from None
    except RecursionError:  # "[[[[…": the decoder recurses once per level
        raise HttpError(HTTPStatus.BAD_REQUEST, "body is nested too deeply") from None
    if not isinstance(body, dict):
        raise HttpError(HTTPStatus.BAD_REQUEST,
                        f"body must be a JSON object, got {type(body).__name__}")
    return body
