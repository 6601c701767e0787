"""Small files a bridge keeps in its state directory, written so a crash never leaves half a file.

Two live there, both named after the bridge id so several bridges can share
a directory:

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
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)


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
