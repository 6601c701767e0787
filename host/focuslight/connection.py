"""Where the broker is and how to reach it: ``mqtt://`` / ``mqtts://`` URLs → paho clients.

Every command takes ``--broker URL`` (and honours ``FOCUSLIGHT_BROKER``), so
one spelling works everywhere: ``mqtt://host:1883`` for plain TCP,
``mqtts://host:8883`` for TLS (system CAs unless a CA file is given),
with optional ``user:password@`` or separate username/password options.
"""

from __future__ import annotations

import os
import ssl
import threading
import uuid
from dataclasses import dataclass, replace
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt

DEFAULT_BROKER = "mqtt://127.0.0.1:1883"
ENV_BROKER = "FOCUSLIGHT_BROKER"


class BrokerURLError(ValueError):
    """A broker URL that cannot be used; the message says what is expected."""


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    """How to reach one MQTT broker.

    :param host: name or address.
    :param port: TCP port (1883 plain, 8883 TLS by default).
    :param tls: wrap the connection in TLS (``mqtts://``).
    :param username: optional; ``password`` goes with it.
    :param ca_file: PEM bundle to trust instead of the system CAs.
    """

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None

    @classmethod
    def parse(cls, url: str) -> BrokerSettings:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise BrokerURLError(f"broker must look like mqtt://HOST:PORT or mqtts://HOST:PORT,"
                                 f" got {url!r}")
        if parts.path not in ("", "/"):
            raise BrokerURLError(f"broker URL takes no path, got {url!r}")
        tls = parts.scheme == "mqtts"
        try:
            port = parts.port or (8883 if tls else 1883)
        except ValueError:
            raise BrokerURLError(f"broker port must be a number in 1..65535, got {url!r}") from None
        return cls(parts.hostname, port, tls,
                   unquote(parts.username) if parts.username else None,
                   unquote(parts.password) if parts.password else None)

    def with_credentials(self, username: str | None, password: str | None,
                         ca_file: str | None = None) -> BrokerSettings:
        """Override credentials given separately from the URL (flags, config keys)."""
        return replace(self, username=username or self.username,
                       password=password or self.password, ca_file=ca_file or self.ca_file)

    @property
    def url(self) -> str:
        """The URL without credentials, safe to print in logs."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def broker_from_env(flag: str | None, configured: str | None = None) -> str:
    """Pick the broker URL: the ``--broker`` flag, then $FOCUSLIGHT_BROKER, then config."""
    return flag or os.environ.get(ENV_BROKER) or configured or DEFAULT_BROKER


def make_client(settings: BrokerSettings, client_id: str | None = None) -> mqtt.Client:
    """A paho 2.x client (callback API v2) set up for *settings*, not yet connected."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                         client_id=client_id or f"focuslight-{uuid.uuid4().hex[:10]}",
                         protocol=mqtt.MQTTv311)
    if settings.username:
        client.username_pw_set(settings.username, settings.password)
    if settings.tls:
        context = ssl.create_default_context(cafile=settings.ca_file)
        client.tls_set_context(context)
    return client


UNREACHABLE_HINT = f"is it running? name yours with --broker mqtt://HOST:PORT or {ENV_BROKER}"


class BrokerError(ConnectionError):
    """The broker cannot be reached or refused us; the message says which and why."""


def connect_blocking(settings: BrokerSettings, timeout: float = 5.0,
                     client_id: str | None = None) -> mqtt.Client:
    """Connect, start paho's network thread and wait for the broker's CONNACK.

    For short-lived commands (``set``, ``watch --once``, ``flash``) that must
    fail loudly on a wrong password instead of publishing into the void.
    """
    client = make_client(settings, client_id)
    answered = threading.Event()
    outcome: list[mqtt.ReasonCode] = []

    def on_connect(_c: mqtt.Client, _u: object, _f: object, reason: mqtt.ReasonCode,
                   _p: object) -> None:
        outcome.append(reason)
        answered.set()

    client.on_connect = on_connect
    try:
        client.connect(settings.host, settings.port, keepalive=30)
    except (OSError, ssl.SSLError) as err:
        raise BrokerError(
            f"cannot reach broker {settings.url}: {err}; {UNREACHABLE_HINT}") from None
    client.loop_start()
    if not answered.wait(timeout) or outcome[0].is_failure:
        client.loop_stop()
        why = outcome[0] if outcome else f"no answer within {timeout:g} s"
        raise BrokerError(f"broker {settings.url} refused the connection: {why}")
    return client
