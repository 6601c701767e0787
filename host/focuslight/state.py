"""Small files a bridge keeps in its state directory, written so a crash never leaves half a file.

Three kinds live there, all named after the bridge id so several bridges can
share a directory:

* ``overrides-<id>.json``: manual overrides with their expiry
  (:mod:`focuslight.overrides`);
* ``discovery-<id>.json``: the Home Assistant discovery topics the bridge
  published last (:class:`DiscoveryLedger`), so that whatever it no longer
  publishes — a removed agent, a beacon no agent lists any more, discovery
  switched off — is cleared off the broker instead of haunting Home
  Assistant.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path

from .protocol.expected import MAX_TYPICAL_S, Expected

log = logging.getLogger(__name__)

LAST_CONTACTS = 20
"""How many recent walk-up contacts the typical length is the median of: about a
morning at a busy counter, so it follows the day's kind of business."""
MIN_CONTACTS = 3
"""No typical length (and no number on the sign) from fewer contacts than this."""
MIN_CONTACT_S = 20.0
"""A contact shorter than this is somebody passing the sensor, not a customer served:
not counted (it would drag the median down)."""


def write_json_atomically(path: Path, body: object) -> None:
    """Replace *path* with *body* as JSON: a temporary file in the same directory,
    flushed to disk, then renamed over the old one. Raises :class:`OSError`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(body, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class DiscoveryLedger:
    """The discovery topics a bridge published last time, to clear the ones it dropped.

    :param path: the JSON file, or None to remember nothing (no state directory).

    Example::

        ledger = DiscoveryLedger(Path("/var/lib/focuslight/discovery-main.json"))
        stale = ledger.replace({"homeassistant/sensor/focuslight_main_alice/config"})
        # stale: every topic published before and not now; publish b"" retained to each
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def replace(self, topics: set[str]) -> list[str]:
        """Record *topics* as what is published now; return those published before and not now.

        A missing file is a first start (nothing stale); an unreadable one
        costs a log line; a write that fails costs a log line, never the
        bridge.
        """
        if self.path is None:
            return []
        before: set[str] = set()
        try:
            body = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(body, dict) or not isinstance(body.get("topics"), list):
                raise ValueError("expected {\"topics\": [...]}")
            before = {t for t in body["topics"] if isinstance(t, str)}
        except FileNotFoundError:
            pass
        except (OSError, UnicodeDecodeError, ValueError) as err:
            log.warning("ignored unreadable %s (%s)", self.path, err)
        if before != topics:
            try:
                write_json_atomically(self.path, {"v": 1, "topics": sorted(topics)})
            except OSError as err:
                log.warning("cannot save %s (%s)", self.path, err)
        return sorted(before - topics)


class WalkUps:
    """A walk-up counter's recent contacts and the one being served: the bridge's side of
    the counter sign's "about N min" (:mod:`focuslight.protocol.expected`).

    The counter source tells it every state it reports (:meth:`observe`): ``engaged``
    starts a contact, ``available``/``ringing``/``wrap_up`` end it and record its
    length, ``unknown`` (sensors gone) drops it unrecorded, since nobody knows when
    it ended. The typical length is the **median** of the last :data:`LAST_CONTACTS`
    contacts of at least :data:`MIN_CONTACT_S`: one customer who stayed an hour
    moves a median by one place, a mean by minutes.

    :param path: the JSON file that keeps the lengths across restarts; None keeps them
        in memory only. A missing file is a first start; a corrupt one costs a log line.
    :param on_change: called with the new :class:`Expected` whenever it changes
        (the bridge publishes it), from the thread that called :meth:`observe`.
    :param seed: lengths (s) to start from when *path* holds none (the demo's).
    :param wall: Unix time, a seam for tests.

    Example::

        walkups = WalkUps(None, print, seed=[240, 300, 180])
        walkups.observe("engaged")     # Expected(typical_s=240.0, contacts=3, serving_since=...)
    """

    def __init__(self, path: Path | None, on_change: Callable[[Expected], None] | None = None,
                 *, seed: Iterable[float] = (), wall: Callable[[], float] = time.time) -> None:
        self.path, self.on_change, self.wall = path, on_change, wall
        self._lengths: deque[float] = deque(self._load() or seed, maxlen=LAST_CONTACTS)
        self._since: float | None = None
        self._lock = threading.Lock()

    def observe(self, state: str) -> None:
        """The counter now reports *state* (one of protocol.STATES)."""
        now = self.wall()
        with self._lock:
            if state == "engaged":
                if self._since is not None:
                    return
                self._since = now
            elif self._since is None:
                return
            else:
                length, self._since = now - self._since, None
                if state != "unknown" and MIN_CONTACT_S <= length <= MAX_TYPICAL_S:
                    self._lengths.append(length)
                    self._save()
            expected = self._expected()
        if self.on_change is not None:
            self.on_change(expected)

    def expected(self) -> Expected:
        """The typical length and the contact being served, as of now."""
        with self._lock:
            return self._expected()

    def _expected(self) -> Expected:
        lengths = self._lengths
        typical = statistics.median(lengths) if len(lengths) >= MIN_CONTACTS else None
        return Expected(typical, len(lengths), self._since)

    def _load(self) -> list[float]:
        if self.path is None:
            return []
        try:
            body = json.loads(self.path.read_text(encoding="utf-8"))
            lengths = body.get("contacts") if isinstance(body, dict) else None
            if not isinstance(lengths, list) or not all(_length(x) for x in lengths):
                raise ValueError(f"expected {{\"contacts\": [seconds, ...]}} with 0 to"
                                 f" {MAX_TYPICAL_S:g} s each")
            return [float(x) for x in lengths[-LAST_CONTACTS:]]
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
            log.warning("ignored unreadable %s (%s); the counter sign shows no minutes until"
                        " %d walk-ups were timed again", self.path, err, MIN_CONTACTS)
            return []

    def _save(self) -> None:
        if self.path is None:
            return
        try:
            write_json_atomically(self.path, {"v": 1, "contacts": [round(x, 1) for x in
                                                                   self._lengths]})
        except OSError as err:
            log.warning("cannot save %s (%s)", self.path, err)


def _length(value: object) -> bool:
    """A stored contact length: a JSON number of seconds in [0, MAX_TYPICAL_S]."""
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and 0 <= value <= MAX_TYPICAL_S)  # NaN and infinities compare False
