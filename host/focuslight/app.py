"""Runs the bridge as a long-lived service: config → core → outputs → sources.

``focuslight bridge`` and ``focuslight demo`` both come through here, so the
demo exercises exactly what a site runs.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from .config import Config
from .core.hub import Hub
from .outputs.mqtt import MqttOutput
from .outputs.serial_beacon import SerialBeacon
from .overrides import OverrideStore

log = logging.getLogger(__name__)

EXIT_DEAF = 70
"""``focuslight bridge``'s exit status when it stopped hearing its broker
(EX_SOFTWARE): non-zero, so systemd's ``Restart=on-failure`` restarts it."""


def plural(count: int, noun: str) -> str:
    """``1 agent``, ``2 agents``: logs and summaries read as English."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


class Service:
    """The assembled bridge: :class:`Hub` + :class:`MqttOutput` + USB serial beacons."""

    def __init__(self, config: Config) -> None:
        self.config = config
        path = config.overrides_path()
        self.bridge = Hub(config.agents, config.sources, config.wrap_up_s,
                          store=OverrideStore(path) if path else None)
        self.link = MqttOutput(self.bridge, config)
        for beacon in config.serial_beacons:
            beacon.on_event = self.bridge.button
        self.outputs: list[MqttOutput | SerialBeacon] = [self.link, *config.serial_beacons]
        """Every output, in start order (see :mod:`focuslight.outputs.base`)."""
        self.bridge.outputs.extend(self.outputs)

    def start(self) -> None:
        for output in self.outputs:
            output.start()
        self.bridge.start()
        log.info("bridge %r serving %s from %s", self.config.bridge_id,
                 plural(len(self.config.agents), "agent"),
                 plural(len(self.config.sources), "source"))

    def stop(self) -> None:
        self.bridge.stop()
        for output in reversed(self.outputs):
            output.stop()
        log.info("bridge %r stopped", self.config.bridge_id)


def run_until_signal(service: Service, stop: threading.Event | None = None) -> int:
    """Start *service* and block until SIGINT/SIGTERM (or *stop* is set), then stop it.

    Returns the exit status: 0 after a signal, :data:`EXIT_DEAF` when the MQTT
    link gave up because the bridge no longer hears its broker.
    """
    stop = stop or threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    service.link.liveness.on_dead = lambda _why: stop.set()
    service.start()
    try:
        stop.wait()
    finally:
        service.stop()
    if service.link.liveness.dead is not None:
        log.error("exiting with status %d: %s", EXIT_DEAF, service.link.liveness.dead)
        return EXIT_DEAF
    return 0
