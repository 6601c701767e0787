"""Logging that stays readable when the same thing goes wrong many times.

Two helpers every long-running part uses instead of its own flags:

* :class:`Problem`: a link that retries every second (a broker that refuses,
  a USB beacon unplugged, a lost broker) logs one line per *distinct* problem,
  not one per retry, and says nothing more until :meth:`Problem.clear` (it works
  again) or another problem;
* :class:`OnceLog`: one warning per key (an unknown agent, beacon or state),
  remembering a bounded number of keys so a publisher inventing ids cannot
  grow the bridge's memory.

Example::

    problem = Problem(log, "serial beacon alice-desk: ")
    problem.say("absent", "not plugged in; waiting for it")   # logged
    problem.say("absent", "not plugged in; waiting for it")   # quiet
    problem.clear()                                           # works again
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Hashable

WARN_ONCE_LIMIT = 1024
"""How many distinct warnings (unknown agent, unknown beacon, unknown state) the
bridge remembers having logged. Past it the oldest is forgotten, so memory stays
bounded whatever a publisher invents; a forgotten one may be logged again."""


def printable(data: bytes) -> str:
    """Bytes from a peer (a topic, a firmware's log line) for a log line: decoded, control
    characters escaped, so no peer can play terminal tricks on whoever reads the log."""
    text = data.decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class Problem:
    """The one current problem of something that retries; logged once until it changes.

    :param logger: where the line goes.
    :param prefix: put before every message (``"serial beacon alice-desk: "``).
    :param level: the logging level of a problem (default ``WARNING``).

    Thread-safe: a :class:`~focuslight.outputs.base.QueuedOutput` says "queue
    full" from the hub's thread and clears it from its own.
    """

    def __init__(self, logger: logging.Logger, prefix: str = "",
                 level: int = logging.WARNING) -> None:
        self.logger, self.prefix, self.level = logger, prefix, level
        self.current: Hashable | None = None
        """The key of the problem last logged; None while all is well."""
        self._lock = threading.Lock()

    def say(self, key: Hashable, message: str | None = None) -> bool:
        """Log *message* (default: *key* itself) unless *key* is the current problem;
        True if it was logged now."""
        with self._lock:
            if key == self.current:
                return False
            self.current = key
        self.logger.log(self.level, "%s%s", self.prefix, key if message is None else message)
        return True

    def clear(self) -> bool:
        """It works again: the next problem is logged even if it is the same. True if
        there was one."""
        with self._lock:
            had, self.current = self.current is not None, None
        return had


class OnceLog:
    """Logs each warning once per key, remembering at most *limit* keys.

    A flood of made-up ids (a beacon account publishing for 50,000 agents)
    costs at most *limit* remembered keys and one log line per new key, not a
    set that grows for as long as the bridge runs. Thread-safe.

    :param logger: where the warnings go.
    :param limit: keys remembered, least recently seen forgotten first.
    """

    def __init__(self, logger: logging.Logger, limit: int = WARN_ONCE_LIMIT) -> None:
        self.logger, self.limit = logger, limit
        self._seen: OrderedDict[Hashable, None] = OrderedDict()
        self._lock = threading.Lock()
        self._full_said = False

    def __len__(self) -> int:
        return len(self._seen)

    def warn(self, key: Hashable, message: str, *args: object) -> bool:
        """Log *message* unless *key* was logged recently; True if it was logged now."""
        with self._lock:
            if key in self._seen:
                self._seen.move_to_end(key)
                return False
            self._seen[key] = None
            full = len(self._seen) > self.limit
            if full:
                self._seen.popitem(last=False)
            say_full, self._full_said = full and not self._full_said, self._full_said or full
        self.logger.warning(message, *args)
        if say_full:
            self.logger.warning("more than %d distinct ignored ids/states: something is"
                                " inventing them (check the broker's ACL); the oldest may be"
                                " logged again", self.limit)
        return True
