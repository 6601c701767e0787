"""Working hours: ``away`` for an agent outside them, so nobody reads a light left on as
"free" at night or at the weekend.

Configured per agent (docs/configuration.md), in the time zone ``[bridge] timezone``
names::

    [agents.alice]
    hours = "mon-fri 08:00-17:00"    # a list: ["mon-thu 08:00-17:00", "fri 08:00-13:00"]
                                     # a table: { mon-thu = "08:00-17:00", fri = "08:00-13:00" }

:func:`focuslight.app.build_sources` adds one :class:`WorkingHours` source for every
agent with ``hours``. It reports, as the source ``schedule``, ``away`` outside the
hours and ``available`` inside them, which the merge does not count
(:mod:`focuslight.core.policy`): the schedule knows when nobody should be there, never
that someone is free. Its ``away`` merges as any ``away``: every live contact, ``dnd``
and ``unknown`` still show, and a manual state overrides it.

It re-reads the clock on every minute (rules change only on the minute), so a time
zone's daylight-saving shift and a corrected system clock are followed within a
minute. Tests call :meth:`WorkingHours.tick` with a moved clock instead of waiting.
"""

from __future__ import annotations

import logging
from datetime import tzinfo

from ..core.hours import Clock, Weekly, local, seconds_to_next_minute, utc_now
from ..core.policy import SCHEDULE
from ..worker import Worker
from .base import Source, StatusSink

log = logging.getLogger(__name__)


class WorkingHours(Source):
    """``away`` outside each agent's :class:`~focuslight.core.hours.Weekly` hours.

    :param hours: agent → their working hours.
    :param tz: the site's time zone (None: the machine's).
    :param clock: now, an aware datetime (the seam tests move).
    """

    def __init__(self, hours: dict[str, Weekly], tz: tzinfo | None = None,
                 clock: Clock = utc_now) -> None:
        super().__init__(SCHEDULE, hours)
        self.hours, self.tz, self.clock = dict(hours), tz, clock
        self._sink: StatusSink | None = None
        self._said: dict[str, str] = {}
        self._worker = Worker("schedule", self._run)

    def start(self, sink: StatusSink) -> None:
        self._sink = sink
        self.tick()
        self._worker.start()

    def stop(self) -> None:
        self._worker.stop()

    def tick(self) -> None:
        """Report every agent whose side of their hours changed since the last tick."""
        assert self._sink is not None, "start() first"
        now = local(self.clock(), self.tz)
        for agent, hours in self.hours.items():
            state = "available" if hours.contains(now) else "away"
            if self._said.get(agent) != state:
                if agent in self._said or state == "away":
                    log.info("%s: %s working hours (%s)", agent,
                             "inside" if state == "available" else "outside", hours.text)
                self._said[agent] = state
                self._sink.report(agent, SCHEDULE, state)

    def _run(self) -> None:
        while not self._worker.stopping.wait(seconds_to_next_minute(self.clock())):
            self.tick()
