"""Retained messages on their way to the broker: the newest per topic, a bounded window in flight.

Why not hand every status straight to paho: paho gives each QoS 1 publish one
of 65,535 message ids and, while that id is still waiting for its PUBACK,
refuses a new message that draws it, saying so only in the return code.
``bench/bridge_throughput.py`` lost thousands of statuses that way (5,000
agents, 110,000 messages queued faster than the broker acknowledged them),
and every queued message costs paho about 1 KB besides. Everything the
bridge publishes is retained and only the newest message per topic matters,
so while the window of unacknowledged messages is full a newer message for a
topic replaces the one still waiting: a backlog is bounded by the number of
topics, and the broker ends up with the latest of each.

One sender at a time does the publishing, so two messages for one topic can
never overtake each other. Whoever queues a message while nobody is sending
and the window has room sends it at once, itself (the bridge's worker, as a
rule); the sender thread takes over when the window was full (it wakes on the
PUBACKs). Handing each status to another thread cost a thread switch (~0.1 ms at
the median on this machine, bench/sip_latency.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

log = logging.getLogger(__name__)

WINDOW = 1000
"""QoS 1 messages published but not yet acknowledged. Far below paho's 65,535
ids; on loopback 1,000 in flight keeps the broker busy (docs/performance.md)."""

Send = Callable[[str, bytes], bool]
"""Publish retained at QoS 1; True when the message now awaits its PUBACK."""


class Outbox:
    """Latest-per-topic queue in front of one MQTT client.

    :param send: publishes one message (never called by two threads at once).
    :param window: at most this many messages awaiting a PUBACK.
    """

    def __init__(self, send: Send, window: int = WINDOW) -> None:
        self._send, self._window = send, window
        self._waiting: OrderedDict[str, bytes] = OrderedDict()
        self._unacked = 0
        self._open = self._stopped = False
        self._sending = False  # a thread is in _send_ready (it sends what is ready)
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    @property
    def is_open(self) -> bool:
        return self._open

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="focuslight-mqtt-out",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopped, self._open = True, False
            self._cond.notify_all()
        if self._thread:
            self._thread.join(timeout=5)

    def backlog(self) -> tuple[int, int]:
        """(messages waiting, messages awaiting their PUBACK)."""
        with self._cond:
            return len(self._waiting), self._unacked

    def put(self, topic: str, payload: bytes) -> None:
        """Queue *payload* for *topic*, replacing one still waiting; dropped while closed
        (:meth:`open` queues the whole state again)."""
        with self._cond:
            if not self._open:
                return
            self._waiting[topic] = payload
            if self._sending or self._unacked >= self._window:
                return  # the one sending takes it, or the sender thread once acks free room
            self._sending = True
        self._send_ready()

    def open(self, everything: Callable[[], Iterable[tuple[str, bytes]]]) -> None:
        """The session is ready: queue *everything* and start sending.

        *everything* is read under the outbox's lock, so a :meth:`put` racing
        with it lands either before (and is part of what it reads) or after
        (and replaces it); an older state can never overwrite a newer one.
        """
        with self._cond:
            self._waiting.clear()
            for topic, payload in everything():
                self._waiting[topic] = payload
            # Messages of the last session are re-sent by paho and acknowledged
            # later; starting the count afresh means a lost acknowledgement can
            # never jam the window for more than one session.
            self._unacked, self._open = 0, True
            self._cond.notify_all()

    def close(self) -> None:
        """The session is gone: drop what waits, since :meth:`open` re-sends it all."""
        with self._cond:
            self._open = False
            self._waiting.clear()

    def acked(self) -> None:
        """One message got its PUBACK (paho's ``on_publish``)."""
        with self._cond:
            self._unacked = max(0, self._unacked - 1)
            self._cond.notify_all()

    def drain(self, timeout: float) -> bool:
        """Wait until nothing waits and nothing is unacknowledged; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._waiting or self._unacked:
                left = deadline - time.monotonic()
                if left <= 0 or not self._cond.wait(left):
                    return False
        return True

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (self._sending or not self._ready()):
                    self._cond.wait()
                if self._stopped:
                    return
                self._sending = True
            self._send_ready()

    def _ready(self) -> bool:
        return self._open and bool(self._waiting) and self._unacked < self._window

    def _send_ready(self) -> None:
        """Send while something is ready; the caller set ``_sending``, this clears it."""
        while True:
            with self._cond:
                if self._stopped or not self._ready():
                    self._sending = False
                    self._cond.notify_all()  # the sender thread may have waited for us
                    return
                topic, payload = self._waiting.popitem(last=False)
                self._unacked += 1
            try:
                sent = self._send(topic, payload)
            except Exception:  # a bug must not stop the bridge's worker that called put()
                log.exception("publishing on %s failed", topic)
                sent = False
            if not sent:
                self.acked()  # never sent, so no acknowledgement will come for it
