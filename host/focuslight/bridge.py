"""The bridge core: sources in, one merged status per agent out.

Everything that changes an agent's state (a source report, a ``set``
command, a beacon button, a timer) becomes an event on one queue and is
applied by one worker thread, so the policy needs no locks and events are
applied in the order they arrived. After each batch the bridge hands every
agent whose ``(state, source)`` changed to its outputs (MQTT, serial
beacons); unchanged statuses are never re-sent.

Example (no broker needed; an output is anything with ``publish``)::

    bridge = Bridge({"alice": AgentSettings("alice", "Alice")}, sources=[])
    bridge.outputs.append(my_output)
    bridge.start()
    bridge.report("alice", "phone", "engaged")
"""

from __future__ import annotations

import heapq
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from .config import AgentSettings
from .policy import DEFAULT_WRAP_UP_S, AgentPolicy
from .protocol import STATES, SetCommand, Status, check_id
from .sources.base import Source

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Event = Callable[[float, float], None]


class StatusOutput(Protocol):
    """Somewhere merged statuses go: the MQTT link, a serial beacon, a test recorder."""

    def publish(self, agent: str, status: Status) -> None:
        """Show *status* for *agent*; called from the bridge's worker thread."""


class Bridge:
    """Merges per-source states into per-agent statuses and hands changes to outputs.

    :param agents: the configured agents; reports about anybody else are
        logged once and ignored.
    :param sources: the sources that will report; each of their agents reads
        ``unknown`` from that source until its first report.
    :param wrap_up_s: grace after a contact ends, seconds (default 30).
    :param clock: monotonic seconds, for timers. :param wall: Unix seconds, for ``since``.
    """

    def __init__(self, agents: dict[str, AgentSettings], sources: Iterable[Source] = (),
                 wrap_up_s: float = DEFAULT_WRAP_UP_S, *, clock: Clock = time.monotonic,
                 wall: Clock = time.time) -> None:
        self.agents = agents
        self.sources = list(sources)
        self.clock, self.wall = clock, wall
        self.outputs: list[StatusOutput] = []
        self.policies = {
            agent: AgentPolicy(agent, wrap_up_s,
                               [s.name for s in self.sources if agent in s.agents], wall())
            for agent in agents}
        self._published: dict[str, tuple[str, str, float]] = {}
        self._statuses: dict[str, Status] = {}
        self._deadlines: list[tuple[float, str]] = []
        self._dirty: set[str] = set(agents)
        self._events: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        self._warned: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # -- thread-safe entry points -------------------------------------------------

    def report(self, agent: str, source: str, state: str) -> None:
        """StatusSink: *source* now sees *agent* in *state*. Safe from any thread."""
        if not self._known(agent, source) or not self._valid_state(state, source):
            return
        self._change(agent, lambda policy, now, wall: policy.report(source, state, now, wall))

    def apply_set(self, agent: str, command: SetCommand, origin: str = "set") -> None:
        """A manual override (``set`` topic, CLI); ``auto`` clears it."""
        if self._known(agent, origin):
            self._change(agent, lambda policy, now, wall: policy.set_manual(
                command.state, command.minutes, now, wall))

    def button(self, agent: str, action: str, beacon: str) -> None:
        """A beacon button event acting for *agent*."""
        if self._known(agent, f"beacon {beacon}"):
            self._change(agent, lambda policy, now, wall: policy.button(action, now, wall))

    def snapshot(self) -> dict[str, Status]:
        """The last status handed to outputs for every agent (for re-publishing)."""
        with self._lock:
            return dict(self._statuses)

    # -- lifecycle ----------------------------------------------------------------

    def start(self) -> None:
        """Start the worker thread, then the sources (so no early report is lost)."""
        self._thread = threading.Thread(target=self._run, name="focuslight-bridge", daemon=True)
        self._thread.start()
        for source in self.sources:
            log.info("starting source %s", source)
            source.start(self)

    def stop(self) -> None:
        for source in self.sources:
            source.stop()
        self._events.put(None)
        if self._thread:
            self._thread.join(timeout=5)

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until every event queued so far has been applied and published."""
        done = threading.Event()
        self._events.put(lambda now, wall: done.set())
        if not done.wait(timeout):
            raise TimeoutError("bridge worker did not catch up")

    # -- worker -------------------------------------------------------------------

    def _run(self) -> None:
        self._publish_dirty()
        while True:
            try:
                event = self._events.get(timeout=self._wait_s())
            except queue.Empty:
                event = self._tick
            now, wall = self.clock(), self.wall()
            while event is not None:
                event(now, wall)
                try:
                    event = self._events.get_nowait()
                except queue.Empty:
                    break
            if event is None:
                return
            self._expire(now, wall)
            self._publish_dirty()

    def _change(self, agent: str, change: Callable[[AgentPolicy, float, float], None]) -> None:
        def event(now: float, wall: float) -> None:
            change(self.policies[agent], now, wall)
            self._touch(agent)

        self._events.put(event)

    def _tick(self, now: float, wall: float) -> None:
        """Nothing arrived before the next deadline; the expiry pass does the work."""

    def _touch(self, agent: str) -> None:
        self._dirty.add(agent)
        deadline = self.policies[agent].next_deadline()
        if deadline is not None:
            heapq.heappush(self._deadlines, (deadline, agent))

    def _wait_s(self) -> float | None:
        if not self._deadlines:
            return None
        return max(0.0, self._deadlines[0][0] - self.clock())

    def _expire(self, now: float, wall: float) -> None:
        while self._deadlines and self._deadlines[0][0] <= now:
            _, agent = heapq.heappop(self._deadlines)
            self.policies[agent].expire(now, wall)
            self._touch(agent)

    def _publish_dirty(self) -> None:
        dirty, self._dirty = self._dirty, set()
        for agent in dirty:
            policy = self.policies[agent]
            key = (policy.state, policy.source, policy.since)
            if self._published.get(agent) == key:
                continue
            self._published[agent] = key
            status = Status(*key)
            with self._lock:
                self._statuses[agent] = status
            for output in self.outputs:
                output.publish(agent, status)

    # -- validation ---------------------------------------------------------------

    def _known(self, agent: str, origin: str) -> bool:
        if agent in self.policies:
            return True
        self._warn_once((origin, agent), "%s spoke about agent %r, which is not configured "
                        "under [agents]; ignored", origin, agent)
        return False

    def _valid_state(self, state: str, source: str) -> bool:
        if state in STATES:
            return True
        self._warn_once((source, state), "source %r reported unknown state %r; ignored",
                        source, state)
        return False

    def _warn_once(self, key: tuple[str, str], message: str, *args: object) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message, *args)


def agents_from_ids(ids: Iterable[str]) -> dict[str, AgentSettings]:
    """Agent settings for plain ids (demo, benchmarks): name = id, no beacons."""
    return {check_id(a, "agent"): AgentSettings(a, a) for a in ids}
