"""The counter sign's view model: what it heard about one counter, and what a customer may
be told (the trust rule, :mod:`focuslight.protocol.trust`). No I/O.

It keeps the counter's status, its expected time (:mod:`focuslight.protocol.expected`)
and every bridge's availability, and shows a *kind* (:data:`.wording.KIND_OF_STATE`)
of the state :func:`~focuslight.protocol.trust.shown` allows, never the state's source,
an agent's name or a reason. ``ends_at`` (when the walk-up now served should be done)
is shown only while the sign says ``serving`` and the bridge that timed it is not
offline.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ...protocol import Status, trust
from ...protocol.expected import Expected
from ..limits import MAX_BRIDGES, CappedTable
from .wording import KIND_OF_STATE

log = logging.getLogger(__name__)


class Sign:
    """One counter's sign.

    :param agent: the counter's agent id (``counter-1``).
    :param on_change: called (from the writer's thread) after every change, so the web
        side can wake its streams.

    Thread-safe: paho's thread writes, the web server's loop reads :meth:`view`.
    Bounded: at most :data:`~focuslight.views.limits.MAX_BRIDGES` bridges.
    """

    def __init__(self, agent: str, on_change: Callable[[], None] = lambda: None) -> None:
        self.agent, self.on_change = agent, on_change
        self._lock = threading.Lock()
        self._status: Status | None = None
        self._expected: Expected | None = None
        self._bridges: CappedTable[str] = CappedTable("bridges", MAX_BRIDGES, log,
                                                      "counter sign")
        self._linked = False

    def status(self, status: Status | None) -> None:
        """The counter's status; None: its retained status was cleared."""
        self._set("_status", status)

    def expected(self, expected: Expected | None) -> None:
        """The counter's expected time; None: cleared."""
        self._set("_expected", expected)

    def bridge(self, bridge: str, state: str | None) -> None:
        """A bridge's availability (``online``/``offline``; None: cleared)."""
        with self._lock:
            if state is None:
                self._bridges.pop(bridge, None)
            elif not self._bridges.file(bridge, state):
                return
        self.on_change()

    def link(self, up: bool) -> None:
        """The broker link came up or went down; down, nothing heard can be trusted."""
        self._set("_linked", up)

    def _set(self, name: str, value: object) -> None:
        with self._lock:
            setattr(self, name, value)
        self.on_change()

    def view(self) -> dict[str, Any]:
        """What the page gets: the kind, when the contact being served should end (or None),
        and the sign's clock (so the page counts down on its own)."""
        with self._lock:
            offline = trust.offline_bridges(self._bridges)
            state = trust.shown(self._status, linked=self._linked, offline=offline)
            kind = KIND_OF_STATE[state]
            ends_at = None
            expected = self._expected
            if kind == "serving" and expected is not None and (
                    expected.bridge_id not in offline if expected.bridge_id is not None
                    else not offline):
                ends_at = expected.ends_at()
        return {"v": 1, "now": time.time(), "kind": kind, "ends_at": ends_at}
