"""What the focus guard changed on this desktop, written down *before* it changes it.

A guard that pauses dunst or hides GNOME's banners and then dies (a crash, a ``kill
-9``, a logout, a power cut) must not leave the agent's notifications off for ever.
So before each change it records, in ``$XDG_STATE_HOME/focuslight/desk.json``,
the setting's name, the user's own value before and the value it set; once the user's
value is back the entry is forgotten. The next ``focuslight desk`` reads what is left and
puts it back first (:meth:`~focuslight.desk.silencers.Silencers.recover`).

The file is rewritten atomically (:func:`~focuslight.state.write_json_atomically`): a crash
mid-write leaves the previous file, never half of one. A file that cannot be read costs one
log line and is moved aside (``.unreadable``) for a person to look at, never a crash loop.

Example::

    journal = Journal(Path("~/.local/state/focuslight/desk.json").expanduser())
    journal.record("dunst", before="false", set_to="true")   # then pause dunst
    journal.entries()   # {"dunst": Change(before="false", set_to="true")}
    journal.forget("dunst")                                   # after unpausing it
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..state import write_json_atomically

log = logging.getLogger(__name__)

FORMAT = 1


@dataclass(frozen=True)
class Change:
    """One setting the guard changed: the user's value *before* and what it *set_to*
    (both as the setting's own tool prints them: ``true``, ``false``)."""

    before: str
    set_to: str


class Busy(Exception):
    """Another focus guard holds this desktop's journal; ``str()`` says which."""


class Journal:
    """The changes not yet undone, kept in one small JSON file.

    :param path: the file; its directory is created on the first record.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries = self._load()
        self._lock: IO[str] | None = None

    def hold(self) -> None:
        """Take this desktop's journal for this process alone, then read it afresh.

        Two guards on one desktop (the systemd unit *and* the autostart entry) would undo
        each other: the second's start would give back the first's silence mid-call. So a
        guard holds an ``flock`` on ``<file>.lock`` while it runs — the kernel lets go
        when the process ends, however it ends — and :class:`Busy` tells the second one.
        A lock file that cannot be made costs a warning, never the guard.
        """
        lock = self.path.with_name(self.path.name + ".lock")
        try:
            lock.parent.mkdir(parents=True, exist_ok=True)
            handle = open(lock, "a+", encoding="utf-8")  # noqa: SIM115 (held while running)
        except OSError as err:
            log.warning("cannot lock %s (%s): make sure only one focuslight desk runs", lock,
                        err)
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read(20).strip() or "?"
            handle.close()
            raise Busy(f"another focuslight desk (pid {holder}) guards this desktop already"
                       f" ({lock})") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock = handle
        self._entries = self._load()

    def release(self) -> None:
        """Let another guard take the journal (:meth:`hold`)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def entries(self) -> dict[str, Change]:
        """Every change still to undo, by setting name."""
        return dict(self._entries)

    def record(self, name: str, before: str, set_to: str) -> None:
        """Write down that *name* goes from *before* to *set_to*; call it before changing
        the setting. Raises :class:`OSError` if it cannot be written (then change nothing:
        a change nobody could undo after a crash is worse than a ping)."""
        entries = {**self._entries, name: Change(before, set_to)}
        self._save(entries)
        self._entries = entries

    def forget(self, name: str) -> None:
        """*name* is the user's again (restored, or changed by the user meanwhile)."""
        if name not in self._entries:
            return
        entries = {k: v for k, v in self._entries.items() if k != name}
        try:
            self._save(entries)
        except OSError as err:  # the next start retries a restore that is already done
            log.warning("cannot update %s (%s)", self.path, err)
        self._entries = entries

    def _save(self, entries: dict[str, Change]) -> None:
        write_json_atomically(self.path, {"v": FORMAT, "changed": {
            name: {"before": c.before, "set": c.set_to} for name, c in sorted(entries.items())}})

    def _load(self) -> dict[str, Change]:
        try:
            body = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(body, dict) or body.get("v") != FORMAT:
                raise ValueError(f'expected a JSON object with "v": {FORMAT}')
            return {name: Change(_text(c["before"]), _text(c["set"]))
                    for name, c in body["changed"].items()}
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError,
                AttributeError) as err:
            aside = self.path.with_name(self.path.name + ".unreadable")
            log.error("cannot read what the focus guard changed last time from %s (%s);"
                      " moved it to %s: check your notification settings by hand",
                      self.path, err, aside)
            with contextlib.suppress(OSError):  # then it is reported again next start
                self.path.replace(aside)
            return {}


def _text(value: object) -> str:
    if not isinstance(value, str) or len(value) > 256:
        raise ValueError(f"expected a short string, got {value!r}")
    return value
