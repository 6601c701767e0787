"""Where the broker is and how to reach it: ``mqtt://`` / ``mqtts://`` URLs → paho clients.

Every command takes ``--broker URL`` (and honours ``FOCUSLIGHT_BROKER``), so
one spelling works everywhere: ``mqtt://host:1883`` (or just ``host:1883``,
or ``host``) for plain TCP,
``mqtts://host:8883`` for TLS (system CAs unless a CA file is given),
with optional ``user:password@`` or separate username/password options.
"""

from __future__ import annotations

import logging
import os
import ssl
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt

from ..logs import printable
from ..protocol import ProtocolError

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
        """The one broker parser every command and the config file use.

        Accepts ``mqtt://HOST[:PORT]``, ``mqtts://HOST[:PORT]`` and, for plain MQTT,
        a bare ``HOST`` or ``HOST:PORT`` (``--broker 192.168.1.10``).
        """
        bare = "://" not in url
        parts = urlsplit(f"mqtt://{url}" if bare else url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise BrokerURLError(f"broker must look like mqtt://HOST:PORT, mqtts://HOST:PORT or"
                                 f" HOST[:PORT], got {url!r}")
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

    @classmethod
    def resolve(cls, flag: str | None, configured: str | None = None) -> BrokerSettings:
        """The one rule for which broker: ``--broker`` (*flag*), then $FOCUSLIGHT_BROKER,
        then *configured* (the config file's), then ``mqtt://127.0.0.1:1883``."""
        return cls.parse(broker_from_env(flag, configured))

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


@contextmanager
def last_resort(logger: logging.Logger, where: str) -> Iterator[None]:
    """The last line of defence around a paho callback: log one line, keep the loop.

    paho ends its network thread when a callback raises, and the process
    lives on deaf (no ``set``, no button, no status). Every reader catches
    what it expects (:class:`~focuslight.protocol.ProtocolError`) itself; this
    catches the rest — a bug, by definition — and says so with the exception's
    type, so it is found and fixed instead of silently ignored. The traceback
    goes to the debug log.
    """
    try:
        yield
    except Exception as err:  # the documented last resort, see above
        logger.error("%s failed with %s: %s; ignored, the network loop goes on (a bug:"
                     " please report it)", where, type(err).__name__, str(err)[:200])
        logger.debug("traceback of the ignored %s", type(err).__name__, exc_info=True)


def topic_of(message: mqtt.MQTTMessage) -> str:
    """The message's topic; ProtocolError if it is not UTF-8 (paho's ``topic`` would raise).

    MQTT requires UTF-8 topics and mosquitto enforces it, but a reader should
    not depend on the broker for its own survival.
    """
    try:
        return message.topic
    except UnicodeDecodeError:
        raise ProtocolError(f"topic is not UTF-8: {message._topic[:60]!r}") from None


def topic_for_log(message: mqtt.MQTTMessage) -> str:
    """The topic, shortened and made printable, for a log line whatever its bytes."""
    text = printable(message._topic[:100])
    return text if len(message._topic) <= 100 else f"{text}..."


def connect_failure(settings: BrokerSettings, err: BaseException | None = None) -> str:
    """Why a connection attempt failed (*err*, or the one being handled now), and what to do.

    For ``on_connect_fail``: paho calls it while handling the ``OSError`` its
    connect raised (a refused TCP connection, a timeout, a failed TLS
    handshake) and passes no error, so it is read from :func:`sys.exc_info`.
    """
    err = err if err is not None else sys.exc_info()[1]
    where = f"cannot reach broker {settings.url}"
    if isinstance(err, ssl.SSLCertVerificationError):
        trusted = (f"the CA in {settings.ca_file} (ca_file)" if settings.ca_file
                   else "the system CAs (no ca_file given)")
        return (f"{where}: TLS certificate check failed ({err.verify_message}): the broker's"
                f" certificate is not signed by {trusted}, or not issued for {settings.host};"
                " give ca_file (--ca-file) the CA that signed the broker's certificate")
    if isinstance(err, ssl.SSLError):
        return (f"{where}: TLS handshake failed ({err.reason or err}); is {settings.port} a TLS"
                " listener (mqtts://) and does it share a TLS version with this machine?")
    if isinstance(err, ConnectionRefusedError):
        return f"{where}: connection refused; {UNREACHABLE_HINT}"
    if isinstance(err, TimeoutError | OSError):
        return f"{where}: {err}; {UNREACHABLE_HINT}"
    return f"{where}; {UNREACHABLE_HINT}"


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
        raise BrokerError(connect_failure(settings, err)) from None
    client.loop_start()
    if not answered.wait(timeout) or outcome[0].is_failure:
        client.loop_stop()
        why = outcome[0] if outcome else f"no answer within {timeout:g} s"
        raise BrokerError(f"broker {settings.url} refused the connection: {why}")
    return client
