"""``focuslight demo``: the whole product on one machine, no hardware, no setup.

It starts, and stops again on Ctrl-C or after ``--duration``:

* an MQTT broker: this machine's mosquitto (on 1883 when free, else a free
  port it prints) when it is installed, else the embedded one (amqtt, the
  ``demo`` extra), or yours with ``--broker`` (see :mod:`focuslight.tools.embedded_broker`);
* the real bridge (:class:`~focuslight.app.Service`), with simulated
  calls and walk-ups for a few agents and a keyboard "desk" for ``alice``;
* a virtual beacon: the real firmware on the MicroPython unix port,
  showing alice's light;
* the floor board: every agent's light in a browser, on
  http://127.0.0.1:8080/ (or a free port if 8080 is taken);
* the counter sign for alice's walk-ups, the page facing her queue, on
  http://127.0.0.1:8090/ (or a free port): "Next please", or "Serving a customer —
  we'll be with you shortly (about N min)", N from a few walk-ups the demo starts with;
* alice's chat: a real chat source (the Chatwoot mapping) on a free local port, which the
  demo calls with Chatwoot-shaped webhooks as a Chatwoot server would. A customer message
  left unanswered for :data:`CHAT_REPLY_AFTER_S` (short, for the demo) puts the reply-due
  cue on her beacon: a cyan double blip over her state.

On a terminal you drive alice: ``c`` rings / answers / hangs up a call,
``o`` puts it on hold and back, ``w`` serves / ends a walk-up customer, ``t``
steps her chat (a customer writes, she replies, the chat closes), space presses
the beacon's button (dnd ↔ auto), ``h`` holds it (auto), ``q`` quits. With
``--duration`` it also plays a short tour of alice's day and stops by itself.
Piped, it prints one line per change instead of the screen; stdin lines
(``call``, ``hold``, ``walkup``, ``chat``, ``press``, ``long``) drive alice as the
keys do.

Every child (the broker, the firmware) runs in its own session, so a Ctrl-C
on the terminal reaches only the demo, which stops the clients first and
the broker last: no "lost the broker" on the way out.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import secrets
import select
import signal
import sys
import termios
import threading
import time
import tty
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

from ..app import Service
from ..config import Config
from ..core.agents import agents_from_ids
from ..core.policy import MANUAL
from ..mqtt.client import BrokerError, BrokerSettings
from ..protocol import Status, Topics
from ..sources.base import Source, StatusSink
from ..sources.chat import ChatSource, chatwoot
from ..sources.chat.book import ChatBook
from ..sources.simulated import SimulatedSource
from ..state import WalkUps
from ..views.counter_sign import CounterSignServer, built_in
from ..views.floor_board import FloorBoard
from ..views.watch import COLOURS, attention_note, format_duration
from . import embedded_broker
from .virtual_beacon import Look, VirtualBeacon, firmware_config

T = TypeVar("T")
DEMO_AGENTS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi")
WRAP_UP_S = 10.0
"""Shorter than a site's 30 s so the demo shows the whole cycle quickly."""
TOUR: tuple[tuple[float, str], ...] = (
    (3, "call"), (5, "call"), (8, "hold"), (10, "hold"), (13, "call"),
    (26, "press"), (30, "press"), (33, "walkup"), (37, "walkup"),
    (40, "chat"), (54, "chat"), (58, "chat"))
"""Unattended tour for alice: ring, answer, hold, resume, hang up (wrap-up),
focus on and off with the button, a walk-up customer, a chat whose customer waits
past the reply-due threshold (the cue), her reply (the cue clears), the chat closing."""
CHAT_REPLY_AFTER_S = 8.0
"""The demo's reply_after_seconds: a site's default is 60 s, too long to watch."""
CHAT_ESCALATE_AFTER_S = 30.0
WALKUP_SEED = (240.0, 300.0, 420.0)
"""Walk-ups alice served before the demo began (s): the counter sign's "about 5 min"."""


def manual_note(manual: str | None, shown: str | None) -> str:
    """One line on the button's override: none, showing, or waiting behind a higher state."""
    if manual is None:
        return "button (manual override): off"
    if shown in (None, manual):
        return f"button (manual override): {manual}"
    return (f"button (manual override): {manual}, waiting: {shown} outranks it, "
            f"it shows when {shown} ends")


class DeskSource(Source):
    """Alice's phone and counter, driven from the keyboard instead of a PBX."""

    def __init__(self, agent: str) -> None:
        super().__init__("desk", [agent])
        self.agent = agent
        self.call = "available"
        self.walkup = False
        self.sink: StatusSink | None = None
        self.walkups = WalkUps(None, seed=WALKUP_SEED)
        """Times alice's walk-ups for the counter sign (the bridge publishes it)."""

    def start(self, sink: StatusSink) -> None:
        self.sink = sink
        self._report()

    def stop(self) -> None:
        self.sink = None

    def press_call(self) -> None:
        """available → ringing → engaged → available (hang up), like a real call."""
        self.call = {"available": "ringing", "ringing": "engaged"}.get(self.call, "available")
        self._report()

    def toggle_hold(self) -> None:
        if self.call in ("engaged", "hold"):
            self.call = "hold" if self.call == "engaged" else "engaged"
            self._report()

    def toggle_walkup(self) -> None:
        self.walkup = not self.walkup
        self._report()
        self.walkups.observe("engaged" if self.walkup else "available")

    def _report(self) -> None:
        if self.sink:
            state = "engaged" if self.walkup and self.call != "hold" else self.call
            self.sink.report(self.agent, self.name, state)


class DemoChat:
    """Alice's chat: a real chat source, and the Chatwoot-shaped webhooks the demo sends it
    (as a Chatwoot server would, over HTTP with a bearer token) each time :meth:`step` is
    called: a customer writes, alice replies, the chat is resolved; then again."""

    STEPS = ("customer", "reply", "close")

    def __init__(self, agent: str, speed: float = 1.0) -> None:
        self.token = secrets.token_urlsafe(24)
        self.source = ChatSource(
            "chat", (agent,), platform=chatwoot, users={"1": agent}, token=self.token,
            book=ChatBook(CHAT_REPLY_AFTER_S / speed, CHAT_ESCALATE_AFTER_S / speed),
            port=embedded_broker.free_port())
        self.next = 0

    def step(self) -> None:
        """Send the next webhook (on a thread: the screen never waits for HTTP)."""
        step, self.next = self.STEPS[self.next], (self.next + 1) % len(self.STEPS)
        threading.Thread(target=self._post, args=(_chatwoot_webhook(step),), daemon=True).start()

    def _post(self, body: dict[str, Any]) -> None:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.source.port}{self.source.path}",
            json.dumps(body).encode(), method="POST",
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        with contextlib.suppress(OSError), urllib.request.urlopen(request, timeout=5):
            pass


def _chatwoot_webhook(step: str) -> dict[str, Any]:
    """The few fields of Chatwoot's webhook the mapping reads (docs/sources.md, "Chat"), for
    one demo conversation assigned to Chatwoot user 1: no customer in it at all."""
    conversation = {"id": 1, "account_id": 1, "status": "resolved" if step == "close" else "open",
                    "meta": {"assignee": {"id": 1}}}
    if step == "close":
        return {"event": "conversation_status_changed", **conversation}
    return {"event": "message_created", "private": False, "conversation": conversation,
            "message_type": "incoming" if step == "customer" else "outgoing"}


class ChangeFeed:
    """Hub output that queues every agent change for the screen."""

    def __init__(self) -> None:
        self.changes: queue.Queue[tuple[str, Status]] = queue.Queue()

    def publish(self, agent: str, status: Status) -> None:
        self.changes.put((agent, status))


def run(yours: BrokerSettings | None = None, *, agents: int = 4, duration: float | None = None,
        speed: float = 1.0, tour: bool = True, local_broker: str = "auto",
        prefix: str | None = None) -> int:
    """Run the demo until Ctrl-C, SIGTERM or *duration* seconds; the exit status.

    :param yours: the user's broker; None starts a local one (*local_broker*: ``auto``,
        ``mosquitto`` or ``amqtt``).
    :param agents: agents on the floor, 1..8. :param speed: time multiplier.
    :param tour: play alice's tour (on a terminal: only with a *duration*).
    """
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if duration:
        _later(duration, stop.set)
    with contextlib.ExitStack() as started:
        settings, broker_name = _broker(yours, local_broker, started)
        topics = Topics(prefix or "focuslight")
        names = DEMO_AGENTS[:agents]
        desk = DeskSource(names[0])
        simulated = SimulatedSource("simulated", names[1:], seed=7, speed=speed,
                                    idle_s=25, contact_s=30)
        config = Config("(demo)", "demo", settings, topics.prefix, WRAP_UP_S / speed,
                        agents_from_ids(names))
        config.agents[names[0]].beacons.append(f"{names[0]}-desk")
        chat = DemoChat(names[0], speed)
        service = Service(config, [desk, chat.source, simulated] if names[1:]
                          else [desk, chat.source])
        feed = ChangeFeed()
        service.bridge.outputs.append(feed)
        service.start()
        started.callback(service.stop)
        board = _on_port(8080, lambda listen: FloorBoard(settings, topics, listen).start())
        started.callback(board.stop)
        sign = _on_port(8090, lambda listen: CounterSignServer(
            settings, topics, names[0], built_in("en"), listen).start())
        started.callback(sign.stop)
        beacon = VirtualBeacon(_beacon_config(settings, topics, names[0]),
                               frames=_interactive())
        started.callback(beacon.close)
        actions = {"call": desk.press_call, "hold": desk.toggle_hold,
                   "walkup": desk.toggle_walkup, "chat": chat.step, "press": beacon.press,
                   "long": beacon.hold}
        screen = Screen(settings, service, beacon, feed, actions, stop, board.url, speed)
        screen.sign_url = sign.url
        screen.broker_name = broker_name
        try:
            if _interactive():
                logging.getLogger().setLevel(logging.WARNING)  # the screen tells the story
                return screen.interactive(tour=bool(duration) and tour)
            return screen.lines(tour=tour)
        except KeyboardInterrupt:
            return 0
        finally:
            stop.set()


def _later(seconds: float, action: Callable[..., None], *args: object) -> None:
    """Run *action* after *seconds* on a daemon timer, which never holds up the exit."""
    timer = threading.Timer(seconds, action, args)
    timer.daemon = True
    timer.start()


def _interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def _broker(yours: BrokerSettings | None, kind: str,
            started: contextlib.ExitStack) -> tuple[BrokerSettings, str]:
    """The user's broker if they named one, else a local one (1883 if free), and its name.

    Raises :class:`BrokerError` saying what to install when no local broker is there.
    """
    if yours is not None:
        return yours, "yours"
    if not embedded_broker.can_spawn(kind):
        raise BrokerError(embedded_broker.MISSING)
    try:
        proc, port = embedded_broker.spawn(port=1883 if _port_free(1883) else None, kind=kind)
    except BrokerError:  # 1883 was taken between the check and the bind
        proc, port = embedded_broker.spawn(kind=kind)
    started.callback(embedded_broker.stop, proc)
    name = "mosquitto" if proc.args[0] != sys.executable else "embedded amqtt"
    return BrokerSettings("127.0.0.1", port), name


def _on_port(port: int, start: Callable[[tuple[str, int]], T]) -> T:
    """A page (the floor board, the counter sign) on *port*, or on any free port if *port*
    is taken (even a moment ago)."""
    try:
        return start(("127.0.0.1", port))
    except OSError:
        return start(("127.0.0.1", 0))


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _beacon_config(settings: BrokerSettings, topics: Topics, agent: str) -> dict[str, Any]:
    return firmware_config(settings, agent, beacon=f"{agent}-desk", prefix=topics.prefix,
                           keepalive=10)


class Screen:
    """What the user sees: the beacon, the floor, the keys — or plain lines when piped."""

    def __init__(self, settings: BrokerSettings, service: Service, beacon: VirtualBeacon,
                 feed: ChangeFeed, actions: dict[str, Callable[[], None]],
                 stop: threading.Event, board_url: str, speed: float = 1.0) -> None:
        self.settings, self.service, self.beacon, self.feed = settings, service, beacon, feed
        self.board_url = board_url
        self.actions, self.stop, self.speed = actions, stop, speed
        self.agent = beacon.config["agent"]
        self.look = Look("starting", "-", "-")
        self.cue: str | None = None
        self.rgb = (0, 0, 0)
        self.log: list[str] = []
        self.broker_name = "yours"
        self.sign_url = ""

    def intro(self) -> str:
        return (f"focuslight demo — broker {self.settings.url} ({self.broker_name}), "
                f"bridge 'demo', "
                f"{len(self.service.config.agents)} agents; the virtual beacon (real firmware "
                f"on the MicroPython unix port) shows {self.agent}.\n"
                f"Floor board (every agent's light): open {self.board_url} in a browser.\n"
                f"Counter sign ({self.agent}'s walk-up queue): {self.sign_url}\n"
                f"Watch from another terminal: focuslight watch --broker {self.settings.url}")

    def lines(self, tour: bool) -> int:
        print(self.intro(), flush=True)
        print("stdin commands for alice: call, hold, walkup, chat, press, long", flush=True)
        threading.Thread(target=self._stdin_commands, daemon=True).start()
        if tour:
            self._start_tour(lambda line: print(line, flush=True))
        while not self.stop.is_set():
            code = self._pump(lambda line: print(line, flush=True))
            if code is not None:
                return code
        return 0

    def interactive(self, tour: bool = False) -> int:
        """The screen: the beacon's LED, the floor, the keys; *tour* plays alice's day too."""
        if tour:
            self._start_tour(self._remember)
        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd)
        tty.setcbreak(fd)
        try:
            while not self.stop.is_set():
                if not self._keys(fd):
                    return 0
                code = self._pump(self._remember)
                if code is not None:
                    return code
                self._draw()
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
            print("\x1b[0m")
        return 0

    def _start_tour(self, emit: Callable[[str], None]) -> None:
        for at, action in TOUR:
            _later(at / self.speed, self._tour_step, action, emit)

    def _tour_step(self, action: str, emit: Callable[[str], None]) -> None:
        if not self.stop.is_set():
            emit(f"tour: {self.agent} {action}")
            self.actions[action]()

    def _stdin_commands(self) -> None:
        for line in sys.stdin:
            action = self.actions.get(line.strip())
            if action:
                action()

    def _keys(self, fd: int) -> bool:
        keys = {b"c": "call", b"o": "hold", b"w": "walkup", b"t": "chat", b" ": "press",
                b"h": "long"}
        while select.select([fd], [], [], 0)[0]:
            key = os.read(fd, 1)
            if key in (b"q", b"\x03"):
                return False
            if key in keys:
                self.actions[keys[key]]()
                if key in (b" ", b"h"):
                    self._remember(f"you {'pressed' if key == b' ' else 'held'} the beacon's"
                                   " button")
        return True

    def manual_line(self) -> str:
        """The agent's manual override and whether it shows: a press during wrap-up or a
        call changes nothing on the light, and the screen says why."""
        manual = self.service.bridge.policies[self.agent].readings.get(MANUAL)
        shown = self.service.bridge.snapshot().get(self.agent)
        return manual_note(manual.state if manual else None, shown.state if shown else None)

    def _pump(self, emit: Callable[[str], None]) -> int | None:
        """Move beacon events and bridge changes to the screen; the exit code if it ended."""
        with contextlib.suppress(queue.Empty):
            while True:
                agent, status = self.feed.changes.get_nowait()
                emit(f"agent {agent}: {status.state} (source {status.source})"
                     + attention_note(status, time.time(), colour=False))
        deadline = time.monotonic() + 0.05
        with contextlib.suppress(queue.Empty):
            while True:
                kind, value = self.beacon.events.get(timeout=max(0, deadline - time.monotonic()))
                if kind == "exit":
                    print(f"the virtual beacon stopped (exit {value})", file=sys.stderr)
                    return 1
                if kind == "look":
                    self.look = value
                    emit(f"beacon {self.agent}: {value}")
                elif kind == "cue":
                    self.cue = value
                    emit(f"beacon {self.agent}: cue {value or 'off'}")
                elif kind == "px":
                    self.rgb = value
        return None

    def _remember(self, line: str) -> None:
        self.log = [*self.log[-7:], f"{time.strftime('%H:%M:%S')} {line}"]

    def _draw(self) -> None:
        r, g, b = self.rgb
        now = time.time()
        rows = []
        for agent, status in sorted(self.service.bridge.snapshot().items()):
            colour = COLOURS[status.state]
            rows.append(f"  {agent:<8} \x1b[{colour}m{status.state:<9}\x1b[0m "
                        f"{status.source:<10} {format_duration(now - status.since)}"
                        + attention_note(status, now, colour=True))
        screen = [
            self.intro(), "",
            f"  beacon {self.agent}-desk:  \x1b[48;2;{r};{g};{b}m{' ' * 10}\x1b[0m  "
            f"{self.look.state} ({self.look.colour}, {self.look.pattern})"
            + (f" + cue {self.cue} (cyan double blip)" if self.cue else ""),
            f"  {self.manual_line()}", "",
            "  keys for alice:  c = call rings / answer / hang up   o = hold / resume",
            "                   w = walk-up customer arrives / leaves",
            "                   t = chat: a customer writes / you reply / it closes"
            f" (reply due after {CHAT_REPLY_AFTER_S / self.speed:g} s)",
            "                   space = beacon button (dnd on/off)   h = long press (auto)"
            "   q = quit", "",
            "  the floor:", *rows, "", "  what just happened:", *self.log]
        sys.stdout.write("\x1b[H\x1b[2J" + "\n".join(screen) + "\n")
        sys.stdout.flush()
