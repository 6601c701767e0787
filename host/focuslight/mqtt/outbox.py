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

Which message goes next, so that one agent's change never waits behind a flood
of others' (``bench/latency.py --agents 50000``; docs/performance.md):

* **changes** (:meth:`Outbox.put`) wait in the order they first came; a newer
  message for a topic still waiting takes the older one's place, so an agent
  that keeps changing never loses its turn and never holds two places;
* **the session's state** (:meth:`Outbox.open`: every status and ``online``
  after a connect, 50,000 messages at a large site) takes turns with the
  changes, one for one: a change made during a reconnect goes out within a
  message or two, and the re-published state still gets half the link;
* **paced** messages (Home Assistant discovery configs: two per agent, 100,000
  at 50,000 agents) go out at most ``paced_rate`` a second, so a connect never
  floods the broker (or Home Assistant behind it) with them.

The window is :data:`WINDOW` messages: every message in flight sits in paho's
queue, the socket or the broker ahead of the next change, so the window is
what a change waits behind once it is first in line.

One sender at a time does the publishing, so two messages for one topic can
never overtake each other. Whoever queues a message while nobody is sending
and the window has room sends it at once, itself (the bridge's worker, as a
rule); behind a full window, paho's network thread sends the next ones from
its PUBACK callback, and the pacer thread only sends paced messages as their
time comes. Handing each status to another thread cost a thread switch (~0.1 ms
at the median on this machine, bench/sip_latency.py); under load a thread that
wakes per PUBACK fights paho's own thread for the GIL, and 50,000 agents
crawled at under 1,000 messages a second (docs/performance.md).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

log = logging.getLogger(__name__)

WINDOW = 100
"""QoS 1 messages published but not yet acknowledged. Far below paho's 65,535
ids; 100 in flight keep the broker busy on loopback (about as fast as 1,000) while
a change first in line waits behind at most that many (docs/performance.md)."""

Send = Callable[[str, bytes], bool]
"""Publish retained at QoS 1; True when the message now awaits its PUBACK."""
Messages = Iterable[tuple[str, bytes]]


class Outbox:
    """Latest-per-topic queues in front of one MQTT client (see the module's docstring).

    :param send: publishes one message (never called by two threads at once).
    :param window: at most this many messages awaiting a PUBACK.
    :param paced_rate: paced messages per second at most (None: no pacing); a
        burst of a hundredth of a second's worth may go at once. While they wait, paced
        messages go first whenever their time has come: they get their rate, never
        more, whatever else waits.
    """

    def __init__(self, send: Send, window: int = WINDOW,
                 paced_rate: float | None = None) -> None:
        self._send, self._window = send, window
        self._changes: OrderedDict[str, bytes] = OrderedDict()
        self._session: OrderedDict[str, bytes] = OrderedDict()
        self._paced: OrderedDict[str, bytes] = OrderedDict()
        self._rate = paced_rate
        self._burst = max(1.0, (paced_rate or 0) / 100)
        self._tokens, self._refilled = self._burst, time.monotonic()
        self._session_turn = False  # the session's state goes next if both wait
        self._unacked = 0
        self.acknowledged = 0
        """PUBACKs counted since start (for benchmarks: what the broker has taken)."""
        self._open = self._stopped = False
        self._sending = False  # a thread is in _send_ready (it sends what is ready)
        lock = threading.Lock()
        self._cond = threading.Condition(lock)
        """Wakes :meth:`drain`."""
        self._pacer = threading.Condition(lock)
        """Wakes the pacer thread (:meth:`_run`): paced messages queued, or a stop."""
        self._thread: threading.Thread | None = None

    @property
    def is_open(self) -> bool:
        return self._open

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="focuslight-mqtt-pacer",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopped, self._open = True, False
            self._cond.notify_all()
            self._pacer.notify_all()
        if self._thread:
            self._thread.join(timeout=5)

    def backlog(self) -> tuple[int, int]:
        """(messages waiting, messages awaiting their PUBACK)."""
        with self._cond:
            return self._waiting(), self._unacked

    def put(self, topic: str, payload: bytes) -> None:
        """Queue *payload* for *topic* as a change, replacing one still waiting (in
        its place); dropped while closed (:meth:`open` queues the whole state again)."""
        with self._cond:
            if not self._open:
                return
            self._session.pop(topic, None)
            self._paced.pop(topic, None)
            self._changes[topic] = payload
            if self._sending or self._unacked >= self._window:
                return  # the one sending takes it, or the sender thread once acks free room
            self._sending = True
        self._send_ready()

    def open(self, everything: Callable[[], Messages], paced: Messages = ()) -> None:
        """The session is ready: queue *everything* and the *paced* messages, and start
        sending.

        *everything* is read under the outbox's lock, so a :meth:`put` racing
        with it lands either before (and is part of what it reads) or after
        (and replaces it); an older state can never overwrite a newer one.
        """
        with self._cond:
            self._clear()
            self._session.update(everything())
            self._paced.update(paced)
            for topic in self._session:
                self._paced.pop(topic, None)
            # Messages of the last session are re-sent by paho and acknowledged
            # later; starting the count afresh means a lost acknowledgement can
            # never jam the window for more than one session.
            self._unacked, self._open = 0, True
            self._tokens, self._refilled = self._burst, time.monotonic()
            self._pacer.notify_all()
            if self._sending or not self._ready():
                return
            self._sending = True
        self._send_ready()

    def close(self) -> None:
        """The session is gone: drop what waits, since :meth:`open` re-sends it all."""
        with self._cond:
            self._open = False
            self._clear()

    def acked(self) -> None:
        """One message got its PUBACK (paho's ``on_publish``): room for the next one,
        which the calling thread sends itself when nobody else is sending."""
        with self._cond:
            self._unacked = max(0, self._unacked - 1)
            self.acknowledged += 1
            self._cond.notify_all()
            if self._sending or not self._ready():
                return
            self._sending = True
        self._send_ready()

    def drain(self, timeout: float) -> bool:
        """Wait until nothing waits and nothing is unacknowledged; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._waiting() or self._unacked:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def _clear(self) -> None:
        for queue in (self._changes, self._session, self._paced):
            queue.clear()

    def _waiting(self) -> int:
        return len(self._changes) + len(self._session) + len(self._paced)

    def _run(self) -> None:
        """The pacer: sends paced messages whose time has come while nothing else
        carries them out (an ack or a change that finds the window open does)."""
        while True:
            with self._pacer:
                while not self._stopped and (self._sending or not self._ready()):
                    self._pacer.wait(self._pace_s())
                if self._stopped:
                    return
                self._sending = True
            self._send_ready()

    def _pace_s(self) -> float | None:
        """How long the pacer sleeps: until the next paced message's time, or (None)
        until woken, when none waits or one may go now (then whoever sends next, an
        ack or a change, takes it)."""
        if self._paced_ready() or not self._paced or not self._rate:
            return None
        return (1 - self._tokens) / self._rate

    def _paced_ready(self) -> bool:
        if not self._paced:
            return False
        if self._rate is None:
            return True
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._refilled) * self._rate)
        self._refilled = now
        return self._tokens >= 1

    def _ready(self) -> bool:
        return (self._open and self._unacked < self._window
                and bool(self._changes or self._session or self._paced_ready()))

    def _next(self) -> tuple[str, bytes]:
        """The message to send now (one is ready): a paced one whose time has come,
        else a change and the session's state in turns."""
        if self._paced and self._paced_ready():
            self._tokens -= 1
            return self._paced.popitem(last=False)
        if not self._changes or (self._session and self._session_turn):
            self._session_turn = False
            return self._session.popitem(last=False)
        self._session_turn = bool(self._session)
        return self._changes.popitem(last=False)

    def _send_ready(self) -> None:
        """Send while something is ready; the caller set ``_sending``, this clears it."""
        while True:
            with self._cond:
                if self._stopped or not self._ready():
                    self._sending = False
                    if self._paced:
                        self._pacer.notify()  # the next paced message's time is its to keep
                    return
                topic, payload = self._next()
                self._unacked += 1
            try:
                sent = self._send(topic, payload)
            except Exception:  # a bug must not stop the bridge's worker that called put()
                log.exception("publishing on %s failed", topic)
                sent = False
            if not sent:
                self.acked()  # never sent, so no acknowledgement will come for it
