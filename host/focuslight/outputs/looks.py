"""The site's looks as the bridge sends them: every set, dimmed at night.

Beacons have no clock, so the bridge tells them the time the only way that matters
to a light: each set (``[looks]`` in the config, :class:`~focuslight.config.LooksSettings`)
carries the brightness it is to be shown at, ``night_brightness`` while the
``night`` rule holds in ``[bridge] timezone`` and 100 otherwise. The MQTT output
publishes every set retained on ``<prefix>/looks/<name>`` with each session and
again whenever night starts or ends (:meth:`SiteLooks.start`); a USB serial beacon
gets its set as a line (:meth:`SiteLooks.payload`). Protocol: :mod:`focuslight.protocol.looks`.

A set dropped from the config is cleared from the broker (an empty retained message, so
its beacons go back to their built-in looks): the state directory remembers which sets
this bridge published (``looks-<id>.json``, a :class:`~focuslight.state.DiscoveryLedger`
as for Home Assistant's configs). A bridge with ``publish = false`` clears nothing: the
sets are another bridge's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..config import Config
from ..core.hours import Clock, local, seconds_to_next_minute, utc_now
from ..protocol import Topics
from ..state import DiscoveryLedger
from ..worker import Worker

log = logging.getLogger(__name__)

Messages = list[tuple[str, bytes]]


class SiteLooks:
    """What the looks topics should hold now, and a minute timer that says when it changed.

    :param config: the bridge's config (its ``looks``, ``tz`` and ``prefix``).
    :param clock: now, an aware datetime (the seam tests move).
    """

    def __init__(self, config: Config, clock: Clock = utc_now) -> None:
        self.settings, self.tz, self.clock = config.looks, config.tz, clock
        self.topics = Topics(config.prefix)
        self._worker = Worker("looks", self._run)
        self._sent: int | None = None
        self._ledger = DiscoveryLedger(config.state_file("looks"))
        self._stale: Messages | None = None

    def brightness(self) -> int:
        """Percent the sets are to be shown at now."""
        night = self.settings.night
        if night is not None and night.contains(local(self.clock(), self.tz)):
            return self.settings.night_brightness
        return 100

    def payload(self, name: str) -> bytes:
        """Set *name*'s payload as it should be now."""
        return self.settings.sets[name].dimmed(self.brightness()).encode()

    def messages(self) -> Messages:
        """Every set's retained message, and a clear for each set this bridge published
        before and no longer has (none of them when ``publish = false``)."""
        if not self.settings.publish:
            return []
        self._sent = self.brightness()
        sets = [(self.topics.looks(name), self.payload(name)) for name in self.settings.sets]
        if self._stale is None:  # the ledger is read once; the clears go with every session
            self._stale = [(t, b"") for t in self._ledger.replace({t for t, _ in sets})]
            if self._stale:
                log.info("looks: clearing %d set(s) this bridge no longer publishes: %s",
                         len(self._stale), ", ".join(t for t, _ in self._stale))
        return self._stale + sets

    def start(self, send: Callable[[Messages], None]) -> None:
        """Call *send* with every set again whenever the brightness changes."""
        if self.settings.publish and self.settings.night is not None:
            self._worker.start(send)

    def stop(self) -> None:
        self._worker.stop()

    def tick(self, send: Callable[[Messages], None]) -> None:
        """Re-publish through *send* if night started or ended since the last messages."""
        bright = self.brightness()
        if bright != self._sent:
            log.info("looks: %s, brightness %d%%", "night" if bright != 100 else "day", bright)
            send(self.messages())

    def _run(self, send: Callable[[Messages], None]) -> None:
        while not self._worker.stopping.wait(seconds_to_next_minute(self.clock())):
            self.tick(send)
