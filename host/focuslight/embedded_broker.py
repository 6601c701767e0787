"""A zero-setup MQTT broker for ``focuslight demo`` and sites without mosquitto.

It runs amqtt (pure Python, MQTT 3.1.1) in its own process so the demo needs
nothing but ``pip install``. Sites deploy mosquitto; this is the fallback.
Checked with paho-mqtt 2.x: retained messages, QoS 1 and Last Will delivery
all work (``tests/test_bridge_mqtt.py`` runs the bridge tests against it).

Run by hand::

    python -m focuslight.embedded_broker --port 1883
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import select
import signal
import socket
import subprocess
import sys
import time

from .connection import BrokerError

READY = "embedded broker listening on"


def broker_config(host: str, port: int) -> dict:
    """amqtt configuration: one TCP listener, anonymous access, no $SYS chatter."""
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {
            "allow_anonymous": True}},
    }


async def serve(host: str, port: int) -> None:
    """Run the broker until SIGINT or SIGTERM; print one line once it listens."""
    from amqtt.broker import Broker

    broker = Broker(broker_config(host, port))
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


def spawn(host: str = "127.0.0.1", port: int | None = None,
          timeout: float = 20.0) -> tuple[subprocess.Popen, int]:
    """Start the embedded broker in a child process; return it and its port once it listens.

    Readiness is the child's own "listening" line, not a probe connection:
    amqtt logs an ERROR for every connection that closes without speaking MQTT.
    """
    port = port or free_port(host)
    proc = subprocess.Popen(
        [sys.executable, "-m", "focuslight.embedded_broker", "--host", host, "--port", str(port)],
        stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline() if select.select([proc.stdout], [], [], timeout)[0] else ""
    if not line.startswith(READY):
        proc.kill()
        proc.wait()
        raise BrokerError(f"the embedded broker did not start on {host}:{port}")
    return proc, port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="focuslight's embedded MQTT broker (amqtt)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=1883, help="TCP port (default 1883)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from amqtt.errors import BrokerError as AmqttError

    try:
        asyncio.run(serve(args.host, args.port))
    except AmqttError as err:
        print(f"embedded broker: cannot listen on {args.host}:{args.port}: {err.__cause__ or err}",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
