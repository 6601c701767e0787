"""The one small interface every source of status implements.

A source turns one part of the outside world (a PBX, a foot switch, a
webhook, a microphone) into a *per-source* state for each agent it knows.
It never merges: the bridge's policy (:mod:`focuslight.core.policy`) does that.

Rules every source follows:

* report raw facts: ``engaged`` while a contact lasts, ``available`` when it
  ends. The bridge adds the wrap-up grace itself, so a source reports
  ``wrap_up`` only when the outside world says so explicitly (a CTI "ACW").
* report ``unknown`` for its agents while it cannot see the world (PBX gone,
  sensor unplugged, server port taken), and log one line saying why.
* never pass customer data (caller numbers, names) to the sink.
* a source that sees a customer waiting on the agent (a chat message not yet
  answered, someone at the counter) says so beside the state with
  ``sink.attention(agent, source, Attention(...))``, and ``None`` once that
  is over: counts and ages only.
* ``start`` returns quickly; long work runs in the source's own thread,
  and ``stop`` ends it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from ..config_section import Section


@dataclass(frozen=True, slots=True)
class Attention:
    """What a source asks of an agent beside its state (protocol fields of the same names).

    *cue*: one of ``protocol.CUES`` or None; *waiting_since*: Unix seconds when the
    customer it is about began waiting; *escalated*: waited long enough for a
    supervisor to look; *chats*: open chat conversations. Never who is waiting.
    """

    cue: str | None = None
    waiting_since: float | None = None
    escalated: bool = False
    chats: int | None = None


class StatusSink(Protocol):
    """Where sources send what they see; the bridge is one, tests use others.

    Thread-safe: sources call it from their own threads.
    """

    def report(self, agent: str, source: str, state: str) -> None:
        """Record that *source* now sees *agent* in *state* (one of protocol.STATES)."""

    def attention(self, agent: str, source: str, attention: Attention | None) -> None:
        """Record what *source* now asks of *agent* (None: nothing, the default)."""


class Source(ABC):
    """A producer of per-agent states.

    :param name: the source id shown in status payloads (``"phone"``,
        ``"counter"``); must match ``[a-z0-9_-]{1,64}``.
    :param agents: the agents this source reports on, so the bridge can mark
        them ``unknown`` until the source's first report.
    """

    def __init__(self, name: str, agents: Iterable[str]) -> None:
        self.name = name
        self.agents: tuple[str, ...] = tuple(agents)

    @abstractmethod
    def start(self, sink: StatusSink) -> None:
        """Begin reporting to *sink*; return quickly."""

    @abstractmethod
    def stop(self) -> None:
        """Stop reporting and release threads, sockets and pins."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} agents={list(self.agents)}>"


def configured_agents(section: Section, key: str, agents: tuple[str, ...], *,
                      many: bool = False) -> tuple[str, ...]:
    """Read *key* (one id; with *many* a list defaulting to all *agents*) and check each
    is declared under ``[agents]``, so a typo is reported at the source's own table."""
    chosen = tuple(section.ids(key, list(agents))) if many else (section.id(key),)
    for agent in chosen:
        if agents and agent not in agents:
            raise section.error(key, f"agents declared under [agents] ({', '.join(agents)})",
                                agent)
    return chosen
