"""The virtual beacon's ``config.json`` (the keys a board gets, for the unix port) and
the files beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...mqtt.client import BrokerSettings
from ...protocol import Topics, check_id
from ..flash import CA_FILE, beacon_config, check_ca_file

EXIT_CONFIG = 2


def firmware_config(broker: BrokerSettings, agent: str, *, beacon: str | None = None,
                    prefix: str | None = None, brightness: float = 1.0,
                    available_off: bool = False, keepalive: int = 30,
                    telemetry: int = 60, looks: str = "default") -> dict[str, Any]:
    """The ``config.json`` the firmware boots with, same keys as on a board
    (:func:`~focuslight.tools.flash.beacon_config`); ValueError names the bad option.

    With an ``mqtts://`` broker the beacon also needs ``--ca-file`` beside it as
    ``ca.pem`` (see :func:`ca_files`).
    """
    if broker.tls and not broker.ca_file:
        raise ValueError("an mqtts:// broker needs --ca-file: the beacon trusts only the site"
                         " CA it is given (it has no system CA store)")
    if broker.tls:
        check_ca_file(broker.ca_file)
    agent = check_id(agent, "--agent")
    if not 0 <= brightness <= 1:
        raise ValueError(f"--brightness must be a number from 0 to 1, got {brightness}")
    if not 5 <= keepalive <= 3600:
        raise ValueError(f"--keepalive must be 5..3600 seconds, got {keepalive}")
    if not 5 <= telemetry <= 3600:
        raise ValueError(f"--telemetry must be 5..3600 seconds, got {telemetry}")
    return beacon_config(broker, Topics(prefix or "focuslight").prefix, agent,
                         check_id(beacon or f"{agent}-virtual", "--beacon"), "unix",
                         led="neopixel", transport="mqtt", brightness=brightness,
                         available_off=available_off, keepalive=keepalive,
                         telemetry=telemetry, tls=broker.tls, looks=check_id(looks, "--looks"))


def ca_files(broker: BrokerSettings) -> dict[str, bytes]:
    """The files a beacon needs beside config.json: the site CA as ``ca.pem`` with TLS."""
    return {CA_FILE: Path(broker.ca_file).read_bytes()} if broker.tls and broker.ca_file else {}
