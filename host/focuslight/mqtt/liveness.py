"""The bridge's proof that it still hears its own broker (see :class:`Liveness`).

Kept apart from :mod:`focuslight.outputs.mqtt`, which owns the session it
watches: this module only needs the link's client, its check topic and paho's
network thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..worker import Worker
from .client import last_resort

if TYPE_CHECKING:
    from ..outputs.mqtt import MqttOutput

log = logging.getLogger(__name__)

CHECK_S = 5.0
"""How often the bridge checks it still hears its own broker (:class:`Liveness`)."""
DEAF_AFTER_S = 30.0
"""Connected but without its own check message back for this long, the bridge
is deaf and gives up (longer than paho's own dead-broker detection, 2 x keepalive)."""


class Liveness:
    """The bridge's proof that it still hears its own broker.

    paho's network thread is the bridge's only ear: if it ends (a bug that
    escaped every guard, a BaseException) or the broker stops delivering to
    it while the connection looks fine, the bridge would idle deaf for ever,
    ignoring every ``set`` and button, while systemd sees a healthy process.
    So every :data:`CHECK_S` while connected it publishes a message on its own
    ``<prefix>/bridges/<id>/check`` topic (QoS 0, not retained; only this
    bridge subscribes to it) and expects it back. It gives up — logs why and
    calls *on_dead* once — when

    * paho's network thread is no longer alive (connected or not), or
    * connected, it has heard nothing back for :data:`DEAF_AFTER_S`, after the
      check had worked at least once in this process (a broker ACL that denies
      the check topic costs one warning, not a restart loop).

    A broker that is down or frozen is not deafness: paho notices that itself
    within 2 x keepalive, disconnects and reconnects with backoff.

    :param link: the link to watch.
    :param on_dead: ``on_dead(reason)``; None only logs.
    :param check_s: seconds between checks. :param deaf_after_s: see above.
    """

    def __init__(self, link: MqttOutput, on_dead: Callable[[str], None] | None = None,
                 check_s: float = CHECK_S, deaf_after_s: float = DEAF_AFTER_S) -> None:
        self.link, self.on_dead = link, on_dead
        self.check_s, self.deaf_after_s = check_s, deaf_after_s
        self.dead: str | None = None
        """Why the link was given up, once it was."""
        self._worker = Worker("focuslight-liveness", self._run)
        self._lock = threading.Lock()
        self._session_at: float | None = None
        self._heard_at: float | None = None
        self._ever_heard = False
        self._warned_silent = False
        self._sent = 0

    def start(self) -> None:
        self._worker.start()

    def stop(self) -> None:
        self._worker.stop()

    # -- what the link tells it (paho's thread) ----------------------------------

    def session_started(self) -> None:
        with self._lock:
            self._session_at = time.monotonic()
            self._heard_at = None

    def session_ended(self) -> None:
        with self._lock:
            self._session_at = None

    def heard(self) -> None:
        with self._lock:
            self._heard_at = time.monotonic()
            self._ever_heard = True

    def healthy(self) -> bool:
        """The last check came back recently: the session was working."""
        with self._lock:
            heard = self._heard_at
        return heard is not None and time.monotonic() - heard < 2 * self.check_s

    # -- the check ---------------------------------------------------------------

    def problem(self) -> str | None:
        """Why the bridge cannot hear its broker, or None while it can (or may yet)."""
        thread = self.link.network_thread
        if thread is not None and not thread.is_alive():
            return ("paho's network thread has ended (see the error logged before this line):"
                    " the bridge can no longer hear the broker")
        with self._lock:
            session, heard, ever = self._session_at, self._heard_at, self._ever_heard
        if session is None:
            return None
        silent = time.monotonic() - max(session, heard or session)
        if silent < self.deaf_after_s:
            return None
        if not ever:
            if not self._warned_silent:
                self._warned_silent = True
                log.warning("the bridge never heard back its check message on %s: if the"
                            " broker's ACL denies it, let this bridge's account read and write"
                            " it (see docs/deploy-a-site.md); until then the self-check only"
                            " watches paho's thread", self.link.check_topic)
            return None
        return (f"connected to {self.link.config.broker.url}, but heard nothing back on"
                f" {self.link.check_topic} for {silent:.0f} s: the bridge no longer hears its"
                " broker")

    def _run(self) -> None:
        while not self._worker.stopping.wait(self.check_s):
            with last_resort(log, "the liveness check"):
                why = self.problem()
                if why is not None:
                    self._give_up(why)
                    return
                if self._session_at is not None:
                    self._sent += 1
                    self.link.client.publish(self.link.check_topic, str(self._sent), qos=0)

    def _give_up(self, why: str) -> None:
        self.dead = why
        log.error("%s; giving up so the service manager restarts the bridge", why)
        if self.on_dead is not None:
            self.on_dead(why)
