"""The two bases every output of merged statuses builds on.

An output shows each agent's merged status somewhere: the MQTT broker
(:mod:`.mqtt`, which beacons, the floor board and Home Assistant read), a USB
serial beacon (:mod:`.serial_beacon`), a test recorder. The hub
(:class:`~focuslight.core.hub.Hub`) calls :meth:`Output.publish` from its worker
thread for every agent whose status changed, so ``publish`` must return at
once: an output that does slow I/O hands the status to its own thread. The MQTT
output has its outbox, a serial beacon its port thread; a new output that just
sends each change somewhere (a chat status, say) subclasses
:class:`QueuedOutput` and writes only :meth:`QueuedOutput.send`.

Rules every output follows:

* ``publish`` never blocks and never raises: a slow or absent peer is the
  output's own business, logged once (:class:`focuslight.logs.Problem`);
* ``start`` returns quickly, ``stop`` ends the output's threads;
* an output that also hears something back (a ``set``, a beacon's button)
  hands it to the hub's thread-safe entry points (``apply_set``, ``button``).

Adding one (a Slack status, say):

1. ``outputs/slack.py``: a :class:`QueuedOutput` subclass with ``send(agent, status)``;
2. in the same module, ``build_outputs(config, hub) -> list[Output]`` that builds it
   from the settings :mod:`focuslight.config` read (none when it is not configured);
3. add the module to :data:`focuslight.outputs.OUTPUT_TYPES`; :mod:`focuslight.app`
   then builds, starts and stops it with the others. See docs/architecture.md.
"""

from __future__ import annotations

import contextlib
import logging
import queue
from abc import ABC, abstractmethod

from ..logs import Problem
from ..protocol import Status
from ..worker import Worker

log = logging.getLogger(__name__)

DEFAULT_QUEUE_SIZE = 256
"""How many changes a :class:`QueuedOutput` holds while its peer is slow."""
FULL = "full"


class Output(ABC):
    """Somewhere merged statuses go: the MQTT broker, a serial beacon, a chat status."""

    @abstractmethod
    def start(self) -> None:
        """Begin (connect, open a port, start a thread); return quickly."""

    @abstractmethod
    def publish(self, agent: str, status: Status) -> None:
        """Show *status* for *agent*; called from the hub's worker thread, returns at once."""

    @abstractmethod
    def stop(self) -> None:
        """End the output's threads and release what it holds."""


class QueuedOutput(Output):
    """An output whose I/O runs on its own thread, fed by a bounded queue.

    :meth:`publish` only enqueues, so a slow or dead peer never holds up the hub;
    the output's thread calls :meth:`send` for each change, in order. When the queue
    is full the *oldest* change is dropped (the newest status is what must be shown)
    and one line is logged until the queue drains. An exception from :meth:`send` is
    logged once per kind of failure and the thread carries on with the next change.

    :param name: the output's name, for its thread (``output-<name>``) and its logs.
    :param maxsize: the queue's bound, changes.

    Example::

        class PrintOutput(QueuedOutput):
            def send(self, agent: str, status: Status) -> None:
                print(agent, status.state)   # slow I/O is fine here
    """

    def __init__(self, name: str, maxsize: int = DEFAULT_QUEUE_SIZE) -> None:
        self.name = name
        self._queue: queue.Queue[tuple[str, Status] | None] = queue.Queue(maxsize)
        self._worker = Worker(f"output-{name}", self._run, wake=(self._wake,))
        self._problem = Problem(log, f"output {name}: ")

    @abstractmethod
    def send(self, agent: str, status: Status) -> None:
        """Deliver one change to the peer; runs on this output's own thread, may block."""

    def start(self) -> None:
        self._worker.start()

    def publish(self, agent: str, status: Status) -> None:
        """Queue the change; never blocks (a full queue loses its oldest change)."""
        while True:
            try:
                self._queue.put_nowait((agent, status))
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    continue
                self._problem.say(FULL, f"{self._queue.maxsize} changes waiting; dropping the"
                                  " oldest")

    def stop(self) -> None:
        """End the thread after the change it is sending (changes still queued are dropped)."""
        self._worker.stop()

    def _wake(self) -> None:
        """Unblock the thread's wait on an empty queue (a full one does not block it)."""
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)

    def _run(self) -> None:
        while not self._worker.stopping.is_set():
            item = self._queue.get()
            if item is None:
                continue
            agent, status = item
            if self._problem.current == FULL and self._queue.empty():
                self._problem.clear()
            try:
                self.send(agent, status)
            except Exception as err:  # a peer's failure must not end the thread
                self._problem.say(type(err).__name__, f"sending {agent}'s status failed: {err}")
            else:
                if self._problem.current not in (None, FULL):
                    self._problem.clear()
