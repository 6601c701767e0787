"""The bridge core: sources in, one merged status per agent out.

Everything that changes an agent's state (a source report, a ``set``
command, a beacon button, a timer) becomes an event on one queue and is
applied by one worker thread, so the policy needs no locks and events are
applied in the order they arrived. After each batch the bridge hands every
agent whose ``(state, source)`` changed to its outputs (MQTT, serial
beacons); unchanged statuses are never re-sent.

Example (no broker needed; an output is anything with ``publish``)::

    bridge = Hub({"alice": AgentSettings("alice", "Alice")}, sources=[])
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
from typing import TYPE_CHECKING

from ..logs import OnceLog
from ..overrides import Override, OverrideStore
from ..protocol import AUTO, CUES, MANUAL_STATES, STATES, SetCommand, SetReply, Status
from ..sources.base import Attention, Source
from ..worker import Worker
from .agents import AgentSettings
from .policy import DEFAULT_WRAP_UP_S, MANUAL, AgentPolicy

if TYPE_CHECKING:
    from ..outputs.base import Output

log = logging.getLogger(__name__)

ClockFn = Callable[[], float]
Event = Callable[[float, float], None]
Replier = Callable[[SetReply], None]


class Hub:
    """Merges per-source states into per-agent statuses and hands changes to outputs.

    :param agents: the configured agents; reports about anybody else are
        logged once and ignored.
    :param sources: the sources that will report; each of their agents reads
        ``unknown`` from that source until its first report.
    :param wrap_up_s: grace after a contact ends, seconds (default 30).
    :param clock: monotonic seconds, for timers. :param wall: Unix seconds, for ``since``.
    :param store: where manual overrides are kept across restarts (see
        :mod:`focuslight.overrides`); None keeps them in memory only.
    """

    def __init__(self, agents: dict[str, AgentSettings], sources: Iterable[Source] = (),
                 wrap_up_s: float = DEFAULT_WRAP_UP_S, *, clock: ClockFn = time.monotonic,
                 wall: ClockFn = time.time, store: OverrideStore | None = None) -> None:
        self.agents = agents
        self.store = store
        self.adoptable = store is not None and not store.path.exists()
        """No overrides file yet (a first start, or the first after an upgrade from 0.1, which
        kept none): the MQTT side may adopt this bridge's retained manual statuses
        (:meth:`adopt_manual`) so an upgrade does not drop a running ``dnd``."""
        self.sources = list(sources)
        self.clock, self.wall = clock, wall
        self.outputs: list[Output] = []
        watched = _watched_by(agents, self.sources)
        self.policies = {agent: AgentPolicy(agent, wrap_up_s, watched[agent], wall())
                         for agent in agents}
        self._statuses: dict[str, Status] = {}
        """The last status handed to outputs per agent (written by the worker only)."""
        self._deadlines: list[tuple[float, str]] = []
        self._dirty: set[str] = set(agents)
        self._events: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        self.warnings = OnceLog(log)
        """Warn-once memory for unknown agents and states (bounded, see :class:`OnceLog`)."""
        self._manual_changed = False
        self._after_batch: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._worker = Worker("focuslight-bridge", self._run, wake=(self._wake,))

    # -- thread-safe entry points -------------------------------------------------

    def report(self, agent: str, source: str, state: str) -> None:
        """StatusSink: *source* now sees *agent* in *state*. Safe from any thread."""
        if not self.owns(agent, source) or not self._valid_state(state, source):
            return
        self._change(agent, lambda policy, now, wall: policy.report(source, state, now, wall))

    def attention(self, agent: str, source: str, attention: Attention | None) -> None:
        """StatusSink: what *source* now asks of *agent* (a cue, waits, open chats), merged
        into the published status beside the state. Safe from any thread."""
        if not self.owns(agent, source):
            return
        if attention is not None and attention.cue is not None and attention.cue not in CUES:
            self.warnings.warn((source, attention.cue), "source %r asked for unknown cue %r;"
                               " ignored", source, attention.cue)
            return
        self._change(agent, lambda policy, now, wall: policy.set_attention(source, attention))

    def apply_set(self, agent: str, command: SetCommand, origin: str = "set",
                  reply: Replier | None = None) -> None:
        """A manual override (``set`` topic, CLI); ``auto`` clears it.

        *reply*, if given, is called from the worker with the outcome once the
        change is applied, published and saved (``applied`` or ``outranked``).
        """
        if not self.owns(agent, origin):
            return

        def change(policy: AgentPolicy, now: float, wall: float) -> None:
            policy.set_manual(command.state, command.minutes, now, wall)
            self._manual_changed = True
            if reply is not None:
                outcome = _outcome(policy, command, wall)
                self._after_batch.append(lambda: reply(outcome))

        self._change(agent, change)

    def adopt_manual(self, agent: str, state: str, since: float) -> None:
        """Take over a manual state found retained on the broker, published by this bridge
        before it kept an overrides file (0.1). Its expiry was never published, so it is
        kept until ``auto`` (docs/deploy-a-site.md, "Upgrading"); one set or restored since
        start wins."""
        if agent not in self.policies or state not in MANUAL_STATES:
            return

        def change(policy: AgentPolicy, now: float, wall: float) -> None:
            if policy.manual(now, wall) is None:
                log.info("adopted the manual %s of %r published before this bridge kept an"
                         " overrides file; it holds until auto", state, agent)
                policy.restore_manual(state, since, None, now, wall)
                self._manual_changed = True

        self._change(agent, change)

    def button(self, agent: str, action: str, beacon: str) -> None:
        """A beacon button event acting for *agent*."""
        if self.owns(agent, f"beacon {beacon}"):
            def change(policy: AgentPolicy, now: float, wall: float) -> None:
                policy.button(action, now, wall)
                self._manual_changed = True

            self._change(agent, change)

    def snapshot(self) -> dict[str, Status]:
        """The last status handed to outputs for every agent (for re-publishing)."""
        with self._lock:
            return dict(self._statuses)

    # -- lifecycle ----------------------------------------------------------------

    def start(self) -> None:
        """Start the worker thread, then the sources (so no early report is lost)."""
        self._worker.start()
        for source in self.sources:
            log.info("starting source %s", source)
            source.start(self)

    def stop(self) -> None:
        for source in self.sources:
            source.stop()
        self._worker.stop()

    def _wake(self) -> None:
        """Ends the worker's loop: a None event (events are applied in order, so every
        one queued before the stop still is)."""
        self._events.put(None)

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until every event queued so far has been applied and published."""
        done = threading.Event()
        self._events.put(lambda now, wall: done.set())
        if not done.wait(timeout):
            raise TimeoutError("bridge worker did not catch up")

    # -- worker -------------------------------------------------------------------

    def _run(self) -> None:
        now, wall = self.clock(), self.wall()
        self._restore(now, wall)
        self._publish_dirty()
        self._save(now, wall)
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
            self._save(now, wall)
            self._reply()

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
            policy = self.policies[agent]
            had_manual = MANUAL in policy.readings
            policy.expire(now, wall)
            self._manual_changed |= had_manual and MANUAL not in policy.readings
            self._touch(agent)

    def _restore(self, now: float, wall: float) -> None:
        """Put back the overrides an earlier run saved and that have not expired since."""
        if self.store is None:
            return
        count = 0
        for agent, override in self.store.load(wall).items():
            if agent not in self.policies:
                log.info("dropped the saved manual %s of %r: no longer configured",
                         override.state, agent)
                continue
            self.policies[agent].restore_manual(override.state, override.since, override.until,
                                                now, wall)
            self._touch(agent)
            count += 1
        log.info("manual overrides are kept in %s (%d restored)", self.store.path, count)
        self._manual_changed = True  # rewrite it now: drops what expired, proves it is writable

    def _save(self, now: float, wall: float) -> None:
        if not self._manual_changed or self.store is None:
            return
        self._manual_changed = False
        overrides = {}
        for agent, policy in self.policies.items():
            manual = policy.manual(now, wall)
            if manual is not None:
                overrides[agent] = Override(*manual)
        self.store.save(overrides)

    def _reply(self) -> None:
        replies, self._after_batch = self._after_batch, []
        for reply in replies:
            reply()

    def _publish_dirty(self) -> None:
        dirty, self._dirty = self._dirty, set()
        for agent in dirty:
            policy = self.policies[agent]
            ask = policy.attention()
            status = Status(policy.state, policy.source, policy.since, None, ask.cue,
                            ask.waiting_since, ask.escalated, ask.chats)
            if self._statuses.get(agent) == status:
                continue
            with self._lock:
                self._statuses[agent] = status
            for output in self.outputs:
                output.publish(agent, status)

    # -- validation ---------------------------------------------------------------

    def owns(self, agent: str, origin: str) -> bool:
        """Is *agent* configured here? If not, say so once per *origin* in the log."""
        if agent in self.policies:
            return True
        self.warnings.warn((origin, agent), "%s spoke about agent %r, which is not configured"
                           " under [agents]; ignored", origin, agent)
        return False

    def _valid_state(self, state: str, source: str) -> bool:
        if state in STATES:
            return True
        self.warnings.warn((source, state), "source %r reported unknown state %r; ignored",
                           source, state)
        return False


def _watched_by(agents: Iterable[str], sources: list[Source]) -> dict[str, list[str]]:
    """Agent -> the names of the sources that report on it, in source order. One pass
    over each source's agents: asking every source ``agent in source.agents`` for every
    agent cost 31 s at start with 50,000 agents (bench/latency.py --agents 50000)."""
    watched: dict[str, list[str]] = {agent: [] for agent in agents}
    for source in sources:
        for agent in dict.fromkeys(source.agents):
            if agent in watched:
                watched[agent].append(source.name)
    return watched


def _outcome(policy: AgentPolicy, command: SetCommand, wall: float) -> SetReply:
    """What a set did: shown now (``applied``) or recorded behind a higher state
    (``outranked``)."""
    until = wall + command.minutes * 60 if command.minutes else None
    if command.state == AUTO or policy.state == command.state:
        return SetReply("applied", command.id, command.state, policy.state, None, until)
    reason = (f"{policy.state} (source {policy.source}) outranks {command.state}; "
              f"{command.state} shows once that ends")
    return SetReply("outranked", command.id, command.state, policy.state, reason, until)
