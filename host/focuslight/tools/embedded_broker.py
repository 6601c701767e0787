"""A zero-setup MQTT broker for ``focuslight demo``: a local mosquitto, else amqtt.

The demo must show the product as a site runs it, so :func:`spawn` starts the
machine's own mosquitto (what sites deploy and CI tests) on a private config
when one is installed. Only without it does it fall back to amqtt (pure
Python, MQTT 3.1.1), which is the ``demo`` extra (``pip install -e
'.[demo]'``): production installs do not pull its dependency tree.

amqtt 0.12 has one bug that made the demo lie, patched here by :class:`_Broker` (a
private method, so the ``demo`` extra pins amqtt to 0.12.x and the broker refuses to
start when the method is gone): on every connect it replayed the retained messages
matching *every* client's subscriptions to the new client. A client got each retained
message twice (once at connect, once for its own SUBSCRIBE) and got retained messages it
never subscribed to (``watch`` saw a beacon's availability and listed the beacon as a
bridge). Now, like mosquitto 2.0.11, a client gets a retained message once per SUBSCRIBE
whose filter matches it; a *live* message matching two of its filters comes twice from
amqtt, once from mosquitto (MQTT 3.1.1 §3.3.5 allows both). Checked with paho-mqtt 2.x:
retained messages, QoS 1 and Last Will delivery all work
(``tests/integration/test_outputs_mqtt.py`` and
``tests/integration/test_tools_embedded_broker.py`` run against it).

Either broker runs in its own session (process group), so a Ctrl-C on the
demo's terminal reaches only the demo, which stops its clients first and the
broker last.

Run amqtt by hand::

    python -m focuslight.tools.embedded_broker --port 1883
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import logging
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..mqtt.client import BrokerError

READY = "embedded broker listening on"
KINDS = ("auto", "mosquitto", "amqtt")
"""Which local broker :func:`spawn` starts: ``auto`` prefers mosquitto."""
MISSING = ("no MQTT broker to run the demo on: install mosquitto (sudo apt install mosquitto),"
           " or the embedded one with pip install -e '.[demo]' (from a wheel:"
           " pip install 'focuslight-<version>-py3-none-any.whl[demo]'),"
           " or name a running broker with --broker mqtt://HOST:PORT")


def broker_config(host: str, port: int) -> dict:
    """amqtt configuration: one TCP listener, anonymous access, no $SYS chatter."""
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {
            "allow_anonymous": True}},
    }


HOOK = "_publish_retained_messages_for_subscription"
"""The private amqtt method :class:`_Broker` overrides; pyproject pins amqtt to the
releases it was verified on (0.12.x), and :func:`main` refuses to start without it."""


class AmqttMismatch(RuntimeError):
    """The installed amqtt lacks the method the retained-replay fix hooks."""


def _broker_class() -> type:
    """amqtt's Broker with its retained-message replay fixed (see the module docstring).

    The fix overrides a private method: should a future amqtt rename it, the override
    would silently do nothing and the demo would lie again, so this refuses instead."""
    from amqtt.broker import Broker

    if not callable(getattr(Broker, HOOK, None)):
        from importlib.metadata import version

        raise AmqttMismatch(
            f"amqtt {version('amqtt')} has no Broker.{HOOK}, which focuslight's retained-message"
            " fix needs: pip install 'amqtt>=0.12.1,<0.13' (or install mosquitto)")

    class _Broker(Broker):
        async def _publish_retained_messages_for_subscription(
                self, subscription: tuple[str, int], session: Any) -> None:
            """amqtt calls this on connect for every filter any client holds; only a filter
            this session holds itself may send it retained messages (MQTT-3.3.1-6)."""
            holders = self._subscriptions.get(subscription[0], [])
            if any(held.client_id == session.client_id for held, _qos in holders):
                await super()._publish_retained_messages_for_subscription(subscription, session)

    return _Broker


async def serve(host: str, port: int) -> None:
    """Run the broker until SIGINT or SIGTERM; print one line once it listens."""
    broker = _broker_class()(broker_config(host, port))
    starting = logging.getLogger("amqtt.broker")
    starting.disabled = True  # main() reports a failed start in one line, not a traceback
    try:
        await broker.start()
    finally:
        starting.disabled = False
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"{READY} mqtt://{host}:{port}", flush=True)
    await stop.wait()
    # Shutting down cancels the sessions still open, and asyncio reports each
    # cancelled one as an error with a traceback: noise, not news, at this point.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    await broker.shutdown()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_for_port(host: str, port: int, timeout: float = 15.0) -> None:
    """Block until something accepts TCP connections on *host*:*port*."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout:.0f} s")


def mosquitto_binary() -> str | None:
    """The local mosquitto, also where Debian puts it (/usr/sbin, not on a user's PATH)."""
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/sbin")


def amqtt_installed() -> bool:
    """Whether the ``demo`` extra (amqtt) is installed."""
    return importlib.util.find_spec("amqtt") is not None


def can_spawn(kind: str = "auto") -> bool:
    """Whether :func:`spawn` has a broker of *kind* to start on this machine."""
    if kind == "mosquitto":
        return mosquitto_binary() is not None
    if kind == "amqtt":
        return amqtt_installed()
    return mosquitto_binary() is not None or amqtt_installed()


def spawn(host: str = "127.0.0.1", port: int | None = None, timeout: float = 20.0,
          kind: str = "auto") -> tuple[subprocess.Popen, int]:
    """Start a local broker in a child process; return it and its port once it listens.

    :param kind: ``auto`` (mosquitto when installed, else amqtt), ``mosquitto`` or
        ``amqtt``. Raises :class:`BrokerError` saying what to install when the
        chosen broker is missing, or when it cannot listen on *port*.
    """
    port = port or free_port(host)
    mosquitto = mosquitto_binary() if kind in ("auto", "mosquitto") else None
    if mosquitto:
        return _spawn_mosquitto(mosquitto, host, port, timeout), port
    if not can_spawn(kind):
        raise BrokerError(MISSING)
    return _spawn_amqtt(host, port, timeout), port


def _spawn_mosquitto(binary: str, host: str, port: int, timeout: float) -> subprocess.Popen:
    """mosquitto on a throwaway config: one local listener, anonymous, nothing on disk."""
    with tempfile.TemporaryDirectory(prefix="focuslight-mosquitto-") as tmp:
        conf = Path(tmp, "mosquitto.conf")
        conf.write_text(f"listener {port} {host}\nallow_anonymous true\npersistence false\n"
                        "max_keepalive 65535\nlog_dest none\n")
        conf.chmod(0o644)
        Path(tmp).chmod(0o755)  # run as root, mosquitto drops to its own user before reading
        proc = subprocess.Popen([binary, "-c", str(conf)], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            if _answers_mqtt(host, port) and proc.poll() is None:
                return proc
            time.sleep(0.05)
    stop(proc)
    raise BrokerError(f"mosquitto did not start on {host}:{port} (is the port taken?)")


def _spawn_amqtt(host: str, port: int, timeout: float) -> subprocess.Popen:
    """Readiness is the child's own "listening" line, not a probe connection:
    amqtt logs an ERROR for every connection that closes without speaking MQTT."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "focuslight.tools.embedded_broker", "--host", host,
         "--port", str(port)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout is not None
    line = proc.stdout.readline() if select.select([proc.stdout], [], [], timeout)[0] else ""
    if not line.startswith(READY):
        stop(proc)
        raise BrokerError(f"the embedded broker did not start on {host}:{port}")
    return proc


def _answers_mqtt(host: str, port: int) -> bool:
    """A CONNACK on *host*:*port*: a broker, not just any listener (the port may be taken
    by something else while our mosquitto fails to bind and exits)."""
    try:
        with socket.create_connection((host, port), 0.5) as sock:
            sock.settimeout(0.5)
            sock.sendall(_CONNECT)
            return sock.recv(4)[:1] == b"\x20"
    except OSError:
        return False


_CONNECT = bytes([0x10, 22, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 5, 0, 10]) + b"focuslight"
"""An MQTT 3.1.1 CONNECT (clean session, keepalive 5 s, client id ``focuslight``)."""


def stop(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    """Terminate a spawned broker, killing it if it does not go within *timeout*."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="focuslight's embedded MQTT broker (amqtt)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=1883, help="TCP port (default 1883)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not amqtt_installed():
        print(f"embedded broker: amqtt is not installed: {MISSING}", file=sys.stderr)
        return 2
    from amqtt.errors import BrokerError as AmqttError

    try:
        asyncio.run(serve(args.host, args.port))
    except AmqttMismatch as err:
        print(f"embedded broker: {err}", file=sys.stderr)
        return 2
    except AmqttError as err:
        print(f"embedded broker: cannot listen on {args.host}:{args.port}: {err.__cause__ or err}",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
