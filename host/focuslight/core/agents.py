"""Who the bridge serves: one :class:`AgentSettings` per ``[agents.<id>]`` table.

Plain data the core, the outputs and the views share; no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..protocol import check_id
from .hours import Weekly


@dataclass(slots=True)
class AgentSettings:
    """One agent: who they are and which beacons' buttons speak for them."""

    id: str
    name: str
    beacons: list[str] = field(default_factory=list)
    group: str | None = None
    """The team the floor board counts and filters the agent with (``billing``)."""
    hours: Weekly | None = None
    """Working hours (``away`` outside them, :mod:`focuslight.sources.schedule`); None:
    always working."""


def agents_from_ids(ids: Iterable[str]) -> dict[str, AgentSettings]:
    """Agent settings for plain ids (demo, benchmarks): name = id, no beacons."""
    return {check_id(a, "agent"): AgentSettings(a, a) for a in ids}
