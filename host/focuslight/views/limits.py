"""How much a view remembers: a cap per kind of id, so a flood of made-up ids costs bounded memory.

Any account the ACL lets publish a status, a bridge availability or a beacon
report can invent ids; a view (the floor board, ``focuslight watch``) files one
entry per id it hears. Past its cap a view refuses *new* ids — with one log line
per busy spell, not one per message — and keeps serving the ids it knows; a
cleared retained topic (an empty payload) frees its id's slot, and the next new
id is taken again (and the next spell logged again).

The caps are far above a real site (the design's site: hundreds of agents, one
bridge per site or per softphone PC) and far below what hurts a view's memory
(an entry is a few hundred bytes: 10,000 agents ≈ a few MB).
"""

from __future__ import annotations

import logging
from typing import TypeVar

V = TypeVar("V")

MAX_AGENTS = 10_000
"""Agents (``agents/<id>/status``) a view files at most."""
MAX_BEACONS = 10_000
"""Beacons (``beacons/<id>/telemetry`` or ``availability``) a view files at most."""
MAX_BRIDGES = 1_000
"""Bridges (``bridges/<id>/availability``) a view files at most."""


class CappedTable(dict[str, V]):
    """A view's table of ids: a dict that files a new id only while it holds fewer than
    *limit* ids. The views file through :meth:`file` and forget with ``pop``, so the cap
    is kept in one place rather than checked beside every write.

    :param kind: what the ids are (``"agents"``), for the log line.
    :param limit: the most ids the table may hold.
    :param logger: where the one line per busy spell goes.
    :param owner: who refuses (``"board"``, ``"watch"``), for the log line.
    """

    def __init__(self, kind: str, limit: int, logger: logging.Logger, owner: str) -> None:
        super().__init__()
        self.kind, self.limit, self.logger, self.owner = kind, limit, logger, owner
        self._full = False

    def file(self, ident: str, value: V) -> bool:
        """File *value* under *ident* if it is known or there is room; False (and one warning
        per busy spell) if the table is full. Call it under the lock that guards the table."""
        if ident not in self:
            if len(self) >= self.limit:
                if not self._full:
                    self._full = True
                    self.logger.warning(
                        "%s: already %d %s, the most it keeps: new ids (%r first) are ignored"
                        " until a retained one is cleared; the known ones are still shown",
                        self.owner, self.limit, self.kind, ident)
                return False
            self._full = False  # room again: the next spell gets its own line
        self[ident] = value
        return True
