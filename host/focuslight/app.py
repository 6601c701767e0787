"""Builds and runs the bridge: config → sources → core → outputs.

The one place that turns the plain settings :func:`focuslight.config.load`
read into running objects: sources through the registry in
:mod:`focuslight.sources` (:func:`build_sources`), outputs through the one in
:mod:`focuslight.outputs` (:func:`build_outputs`). ``focuslight bridge`` and
``focuslight demo`` both come through here, so the demo exercises exactly
what a site runs; ``focuslight bridge --check`` builds the sources and
discards them, which is how a source's own table is validated.
"""

from __future__ import annotations

import importlib
import logging
import signal
import threading
from collections.abc import Sequence
from functools import partial
from types import FrameType

from .config import Config, ConfigError, source_section
from .core.hub import Hub
from .outputs import OUTPUT_TYPES
from .outputs.base import Output
from .outputs.mqtt import MqttOutput
from .overrides import OverrideStore
from .sources import Source, build_source
from .sources.schedule import WorkingHours
from .state import WalkUps

log = logging.getLogger(__name__)

EXIT_DEAF = 70
"""``focuslight bridge``'s exit status when it stopped hearing its broker
(EX_SOFTWARE): non-zero, so systemd's ``Restart=on-failure`` restarts it."""


def plural(count: int, noun: str) -> str:
    """``1 agent``, ``2 agents``: logs and summaries read as English."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def build_sources(config: Config) -> list[Source]:
    """Build every ``[[sources]]`` table of *config* (nothing starts).

    Each source module's ``from_config`` validates its own keys; then every
    source's agents must be declared under ``[agents]`` and its name distinct. Agents
    with working hours (``hours``) get the schedule source too.
    Raises :class:`ConfigError` naming the file and ``sources[i]``.
    """
    agent_ids = tuple(config.agents)
    sources = [build_source(source_section(config, spec), agent_ids) for spec in config.sources]
    for spec, source in zip(config.sources, sources, strict=True):
        stray = [a for a in source.agents if a not in config.agents]
        if stray:
            raise ConfigError(config.path, f"sources[{spec.index}]",
                              f"only agents declared under [agents] ({', '.join(config.agents)})",
                              stray[0])
    hours = {a.id: a.hours for a in config.agents.values() if a.hours is not None}
    if hours:
        sources.append(WorkingHours(hours, config.tz))
    names = [s.name for s in sources]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ConfigError(config.path, "sources", "a distinct name for every source",
                          sorted(dupes)[0])
    return sources


def build_outputs(config: Config, hub: Hub) -> list[Output]:
    """Every output *config* asks for, in :data:`~focuslight.outputs.OUTPUT_TYPES` order."""
    outputs: list[Output] = []
    for module in OUTPUT_TYPES.values():
        outputs.extend(importlib.import_module(module).build_outputs(config, hub))
    return outputs


class Service:
    """The assembled bridge: sources → :class:`Hub` → outputs (MQTT, USB serial beacons).

    :param sources: already-built sources instead of *config*'s ``[[sources]]``
        tables (the demo's desk, a test's hand-driven source).
    """

    def __init__(self, config: Config, sources: Sequence[Source] | None = None) -> None:
        self.config = config
        self.sources = list(build_sources(config) if sources is None else sources)
        path = config.state_file("overrides")
        self.bridge = Hub(config.agents, self.sources, config.wrap_up_s,
                          store=OverrideStore(path) if path else None)
        self.outputs: list[Output] = build_outputs(config, self.bridge)
        """Every output, in start order (see :mod:`focuslight.outputs.base`)."""
        self.link = next(o for o in self.outputs if isinstance(o, MqttOutput))
        """The MQTT output, whose liveness decides the exit status."""
        self.bridge.outputs.extend(self.outputs)
        self._time_walkups()

    def _time_walkups(self) -> None:
        """Give every walk-up counter among the sources (any source with a ``walkups``
        slot: the counter, the demo's desk) its contact log, kept in the state directory
        unless the source brought its own, and publish its expected time through the MQTT
        output from now on (:mod:`focuslight.protocol.expected`).

        Duck-typed so that building a bridge without a counter never imports gpiozero."""
        for source in self.sources:
            walkups = getattr(source, "walkups", False)
            if walkups is False:
                continue
            agent = source.agents[0]
            if walkups is None:
                walkups = source.walkups = WalkUps(self.config.state_file(f"walkups-{agent}"))
            walkups.on_change = partial(self.link.publish_expected, agent)
            self.link.publish_expected(agent, walkups.expected())

    def start(self) -> None:
        for output in self.outputs:
            output.start()
        self.bridge.start()
        log.info("bridge %r serving %s from %s", self.config.bridge_id,
                 plural(len(self.config.agents), "agent"),
                 plural(len(self.sources), "source"))

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
