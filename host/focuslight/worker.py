"""One thread with its stop flag: the lifecycle every source and output repeats.

A source or output that does its work in the background owns one
:class:`Worker`: ``start`` launches a named daemon thread, ``stop`` sets
:attr:`Worker.stopping`, wakes the loop from any other wait,
and joins the thread (never itself, for a stop called from the thread).
The loop watches ``stopping`` and waits on it, so a stop ends a wait at once::

    class MicSource(Source):
        def __init__(self, ...):
            self._worker = Worker(f"mic-{name}", self._run)

        def start(self, sink):
            self._sink = sink
            self._worker.start()

        def stop(self):
            self._worker.stop()

        def _run(self):
            while not self._worker.stopping.is_set():
                ...
                self._worker.stopping.wait(1.0)
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Worker:
    """A named daemon thread running *target* until :attr:`stopping` is set.

    :param name: the thread's name (``mic-desk``), as tracebacks and debuggers show it.
    :param target: what the thread runs; :meth:`start`'s arguments are passed to it.
    :param wake: what wakes the loop from another wait (``event.set``); :meth:`stop` calls
        each after setting :attr:`stopping`.
    :param join_s: how long :meth:`stop` waits for the thread to end, seconds.
    """

    def __init__(self, name: str, target: Callable[..., object],
                 wake: tuple[Callable[[], object], ...] = (), join_s: float = 5.0) -> None:
        self.name, self.target, self.wake, self.join_s = name, target, wake, join_s
        self.stopping = threading.Event()
        """Set by :meth:`stop`; the loop ends when it sees it."""
        self.thread: threading.Thread | None = None

    def start(self, *args: object) -> None:
        """Clear :attr:`stopping` and run ``target(*args)`` on a new daemon thread."""
        self.stopping.clear()
        self.thread = threading.Thread(target=self.target, args=args, name=self.name,
                                       daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Set :attr:`stopping`, call every *wake*, then wait for the thread."""
        self.stopping.set()
        for wake in self.wake:
            wake()
        thread = self.thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self.join_s)
