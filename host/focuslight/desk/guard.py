"""The focus guard: follows one agent's status and keeps their desk quiet while they serve.

It reads the broker like a beacon does — the agent's retained status and every bridge's
availability, through a :class:`~focuslight.mqtt.follower.Follower` — and believes it
only by the shared trust rule (:func:`focuslight.protocol.trust.shown`). Then:

- while the shown state is one of *silence* (``ringing``, ``engaged``, ``hold``), desktop
  notifications are silenced (:mod:`.silencers`), and given back exactly as the user had
  them when it is over;
- on entering any state, that state's commands run (:mod:`.commands`);
- a USB busy light, if any, shows the state's look and cue (:mod:`.light`), in the site's
  set of looks when it follows one (*looks*: the name a beacon's ``looks`` would give).

**When the status cannot be trusted** (``unknown``: the broker is lost, the bridge is
offline, no status yet) the guard does not know whether the call goes on. It keeps a
silence it already holds for *unknown_grace_s* (a broker blip mid-call must not ring
through the call), then gives the notifications back: a dead bridge must never leave an
agent deaf to their desktop for the rest of the day. It never *starts* a silence on
``unknown``. The light shows ``unknown`` at once — the light never lies, the silence only
errs on the side the agent can see.

Silencing runs on the guard's own thread, so a slow ``dunstctl`` never holds up the
MQTT link; only the latest state counts (a burst of changes silences or restores once).

Example::

    guard = Guard(broker, Topics(), "alice", silencers=Silencers.build(None, journal))
    guard.start()     # gives back what a guard that died left silenced, then follows alice
    ...
    guard.stop()      # gives back whatever it silenced
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection

import paho.mqtt.client as mqtt

from ..logs import Problem
from ..mqtt.client import BrokerSettings, topic_for_log, topic_of
from ..mqtt.follower import Follower
from ..protocol import ProtocolError, Status, Topics, trust
from ..protocol.looks import DEFAULT, decode_looks
from ..views.heard import AGENTS, BRIDGES, heard
from ..views.limits import MAX_BRIDGES, CappedTable
from ..worker import Worker
from .commands import StateCommands
from .light import UsbLights
from .silencers import Silencers

log = logging.getLogger(__name__)

SILENCE_STATES = ("ringing", "engaged", "hold")
"""The states that silence notifications by default: a contact is arriving or going on."""
UNKNOWN_GRACE_S = 30.0
"""How long a silence outlives losing the status before notifications come back."""


class AgentView:
    """What the guard knows of one agent, and what it may believe of it.

    :attr:`linked` is the guard's own broker link; :meth:`shown` applies the trust rule
    to the last status and the bridges' availability (capped like a view's table).
    """

    def __init__(self, topics: Topics, agent: str) -> None:
        self.topics, self.agent = topics, agent
        self.status: Status | None = None
        self.bridges: CappedTable[str] = CappedTable("bridges", MAX_BRIDGES, log, "desk")
        self.linked = False
        self.lock = threading.Lock()

    def receive(self, topic: str, payload: bytes) -> None:
        """File one message (this agent's status or a bridge's availability; an empty
        payload forgets it). ProtocolError if it is bad."""
        table, ident, value = heard(self.topics, topic, payload, "desk")
        with self.lock:
            if table == AGENTS and ident == self.agent:
                assert value is None or isinstance(value, Status)
                self.status = value
            elif table == BRIDGES:
                if value is None:
                    self.bridges.pop(ident, None)
                else:
                    assert isinstance(value, str)
                    self.bridges.file(ident, value)

    def shown(self) -> str:
        with self.lock:
            return trust.shown(self.status, linked=self.linked,
                               offline=trust.offline_bridges(self.bridges))

    def cue(self) -> str | None:
        """The cue a light may draw: the status's, only while the status is believed."""
        with self.lock:
            status = self.status
        return status.cue if status is not None and self.shown() != trust.UNKNOWN else None

    def why_unknown(self) -> str:
        """Why :meth:`shown` is ``unknown``, for the log."""
        with self.lock:
            if not self.linked:
                return "no connection to the broker"
            if self.status is None:
                return "no status published yet"
            blamed = trust.blamed(self.status, trust.offline_bridges(self.bridges))
            return f"bridge {', '.join(blamed)} offline"


class Guard:
    """Guards one agent's desk; see the module docstring.

    :param broker: the site's broker.
    :param topics: the site's topic tree.
    :param agent: whose status to follow.
    :param silencers: the desktop's notification silencers.
    :param commands: per-state commands (default: none).
    :param light: a USB busy light to drive (default: none).
    :param looks: with a light, the site's set of looks to follow (``default``, …; None:
        the built-in looks only).
    :param silence: the states that silence notifications.
    :param unknown_grace_s: how long a silence outlives losing the status, seconds.
    """

    def __init__(self, broker: BrokerSettings, topics: Topics, agent: str, *,
                 silencers: Silencers, commands: StateCommands | None = None,
                 light: UsbLights | None = None, looks: str | None = None,
                 silence: Collection[str] = SILENCE_STATES,
                 unknown_grace_s: float = UNKNOWN_GRACE_S) -> None:
        self.agent, self.silencers, self.light = agent, silencers, light
        self.commands = commands or StateCommands({})
        self.silence, self.unknown_grace_s = frozenset(silence), unknown_grace_s
        self.view = AgentView(topics, agent)
        self.silenced = False
        """Whether the guard holds notifications silenced now."""
        self._changed = threading.Event()
        self._bad = Problem(log, f"desk {agent}: ")
        self._worker = Worker(f"desk-{agent}", self._run, wake=(self._changed.set,),
                              join_s=60.0)  # a restore may wait on each silencer
        self.looks_topic = topics.looks(looks) if light is not None and looks else None
        self.follower = Follower(broker, topics, f"desk-{agent}", on_message=self._message,
                                 on_up=lambda: self._link(True),
                                 on_down=lambda _why: self._link(False),
                                 subscriptions=[topics.all_bridges(), topics.status(agent),
                                                *([self.looks_topic] if self.looks_topic
                                                  else [])])

    def start(self) -> None:
        """Take this desktop's journal (:class:`~.journal.Busy` if another guard has it),
        give back what a guard that died left silenced, then follow the agent."""
        self.silencers.journal.hold()
        self.silencers.recover()
        found = self.silencers.found()
        log.info("focus guard for %s: silences notifications while %s, through %s", self.agent,
                 "/".join(sorted(self.silence)), ", ".join(found) or "nothing found yet"
                 " (no dunst, GNOME or Plasma notification server answers)")
        if self.light is not None:
            self.light.start()
        self._worker.start()
        self.follower.start()

    def stop(self) -> None:
        """Give back whatever is silenced, and stop following (in that order: losing the
        broker on the way out is no news to log)."""
        self._worker.stop()
        self.follower.stop()
        if self.light is not None:
            self.light.stop()
        self.silencers.journal.release()

    def _message(self, msg: mqtt.MQTTMessage) -> None:
        try:
            if self.looks_topic is not None and topic_of(msg) == self.looks_topic:
                self._looks(msg.payload)
                return
            self.view.receive(topic_of(msg), msg.payload)
        except ProtocolError as err:
            self._bad.say(str(err), f"ignored {topic_for_log(msg)}: {err}")
            return
        self._shown_changed()

    def _link(self, up: bool) -> None:
        with self.view.lock:
            self.view.linked = up
        self._shown_changed()

    def _looks(self, payload: bytes) -> None:
        """The site's set of looks for the light (an empty payload: it was withdrawn, back
        to the built-in looks). ProtocolError for a bad set: the last good one stays."""
        assert self.light is not None
        looks = decode_looks(payload) if payload else DEFAULT
        self.light.use(looks)
        log.info("desk %s: USB light shows %s, brightness %d%%", self.agent,
                 f"the site's looks ({self.looks_topic})" if payload else "the built-in looks",
                 looks.brightness)

    def _shown_changed(self) -> None:
        if self.light is not None:
            self.light.show(self.view.shown(), self.view.cue())
        self._changed.set()

    def _run(self) -> None:
        """Apply the latest shown state: silence or give back, then that state's commands."""
        last: str | None = None
        unknown_since = 0.0
        try:
            while not self._worker.stopping.is_set():
                self._changed.clear()
                state = self.view.shown()
                if state != last:
                    unknown_since = time.monotonic()
                    self._say(state, first=last is None)
                left = self._apply(state, time.monotonic() - unknown_since)
                if state != last:
                    self.commands.run(state)
                    last = state
                self._changed.wait(left)
        finally:
            if self.silenced:
                given = self.silencers.restore()
                self.silenced = False
                log.info("desk %s: stopping; notifications given back (%s)", self.agent,
                         ", ".join(given) or "nothing was silenced")

    def _say(self, state: str, first: bool) -> None:
        if state == trust.UNKNOWN:  # at start it is news to nobody: not yet connected
            grace = (f"; notifications come back in {self.unknown_grace_s:g} s unless it"
                     " returns" if self.silenced and self.unknown_grace_s else "")
            log.log(logging.INFO if first else logging.WARNING, "desk %s: status unknown"
                    " (%s)%s", self.agent, self.view.why_unknown(), grace)
        else:
            log.info("desk %s: %s", self.agent, state)

    def _apply(self, state: str, unknown_for: float) -> float | None:
        """Silence or give back as *state* asks (after *unknown_for* seconds of
        ``unknown``); how long until this must be looked at again (None: at the next
        change)."""
        if state in self.silence:
            if not self.silenced:
                self._silence(True)
            return None
        if state == trust.UNKNOWN and self.silenced and unknown_for < self.unknown_grace_s:
            return self.unknown_grace_s - unknown_for
        if self.silenced:
            self._silence(False)
        return None

    def _silence(self, on: bool) -> None:
        if on:
            done = self.silencers.silence()
            log.info("desk %s: notifications silenced (%s)", self.agent,
                     ", ".join(done) or "already quiet, or nothing to silence")
        else:
            done = self.silencers.restore()
            log.info("desk %s: notifications given back (%s)", self.agent,
                     ", ".join(done) or "nothing had been changed")
        self.silenced = on
