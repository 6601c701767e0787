"""Microphone in use: a softphone call seen from the agent's own Linux PC.

When the PBX is out of reach (a cloud softphone, Teams, a browser client),
the one thing every call has in common is an open microphone. The kernel
shows it in ``/proc/asound/card*/pcm*c/sub*/status`` (``c`` = capture):
``closed`` while nobody records, ``state: RUNNING`` while someone does.
With ``pactl = true`` the PulseAudio / PipeWire recording streams
(``pactl list short source-outputs``, monitor sources ignored) count too,
which catches apps that record through the sound server while it keeps the
hardware suspended.

A reading must hold for ``debounce_s`` before it counts, so a softphone
that reopens the device between call legs does not flicker the light. No
ALSA tree, or ``pactl`` failing while nothing else shows a call, reads
``unknown`` with one log line.

Example ``focuslight.toml``::

    [[sources]]
    type = "mic"
    agent = "alice"
    poll_s = 0.5
    debounce_s = 1.0
"""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

from ..config_section import Section
from ..worker import Worker
from .base import Source, StatusSink, configured_agents
from .timing import Clock, Hysteresis

log = logging.getLogger(__name__)

CAPTURE_STATUS_GLOB = "card*/pcm*c/sub*/status"
PACTL_TIMEOUT_S = 2.0


class Unseen(Exception):
    """A place we look cannot be read; ``str()`` says which and why."""


def alsa_capture_running(proc_root: Path) -> bool:
    """Whether any ALSA capture substream under *proc_root* is RUNNING."""
    asound = proc_root / "asound"
    if not asound.is_dir():
        raise Unseen(f"no ALSA at {asound}")
    for status in sorted(asound.glob(CAPTURE_STATUS_GLOB)):
        try:
            text = status.read_text(errors="replace")
        except OSError:
            continue  # the device went away between glob and read (headset unplugged)
        if any(line.strip() == "state: RUNNING" for line in text.splitlines()):
            return True
    return False


def pulse_recording(command: str) -> bool:
    """Whether PulseAudio / PipeWire has a recording stream on a real (non-monitor) source."""
    sources = _pactl(command, "sources")
    monitors = {cols[0] for cols in sources if len(cols) > 1 and cols[1].endswith(".monitor")}
    return any(len(cols) > 1 and cols[1] not in monitors
               for cols in _pactl(command, "source-outputs"))


def _pactl(command: str, what: str) -> list[list[str]]:
    try:
        done = subprocess.run([command, "list", "short", what], capture_output=True,
                              text=True, timeout=PACTL_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise Unseen(f"cannot run {command}: {err}") from None
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["no message"])[0]
        raise Unseen(f"{command} list short {what} failed ({first[:120]})")
    return [line.split("\t") for line in done.stdout.splitlines() if line.strip()]


class MicSource(Source):
    """Reports one agent ``engaged`` while their PC records audio.

    :param name: source id in status payloads (default ``"mic"``).
    :param agent: the agent whose PC this is.
    :param proc_root: where procfs is mounted (tests point it at a fake tree).
    :param poll_s: seconds between looks.
    :param debounce_s: a change must hold this long before it is reported.
    :param pactl: also ask PulseAudio / PipeWire, with *pactl_command*.
    """

    def __init__(self, name: str, agent: str, *, proc_root: str | Path = "/proc",
                 poll_s: float = 0.5, debounce_s: float = 1.0, pactl: bool = False,
                 pactl_command: str = "pactl", clock: Clock | None = None) -> None:
        super().__init__(name, [agent])
        self.agent, self.proc_root, self.poll_s = agent, Path(proc_root), poll_s
        self.pactl_command = pactl_command if pactl else None
        self.hysteresis = Hysteresis(debounce_s, debounce_s)
        self.clock = clock or Clock()
        self._sink: StatusSink | None = None
        self._reported: str | None = None
        self._failure: str | None = None
        self._worker = Worker(f"mic-{self.name}", self._run)

    def start(self, sink: StatusSink) -> None:
        self._sink = sink
        self._worker.start()

    def stop(self) -> None:
        self._worker.stop()

    def look(self) -> bool:
        """One look at the world: is a microphone open? Raises :class:`Unseen`."""
        checks = [lambda: alsa_capture_running(self.proc_root)]
        if self.pactl_command is not None:
            checks.append(lambda: pulse_recording(self.pactl_command))
        failures = []
        for check in checks:
            try:
                if check():
                    return True  # a certain "recording" needs no other witness
            except Unseen as err:
                failures.append(str(err))
        if failures:
            raise Unseen("; ".join(failures))
        return False

    def _run(self) -> None:
        next_look = self.clock.now()
        while not self._worker.stopping.is_set():
            now = self.clock.now()
            if now >= next_look:
                self._take_a_look(now)
                next_look = now + self.poll_s
            if self._failure is None:
                self._report(self.hysteresis.state(now))
            due = self.hysteresis.deadline() if self._failure is None else None
            self.clock.sleep_until(min(next_look, due or next_look), self._worker.stopping)

    def _take_a_look(self, now: float) -> None:
        try:
            open_now = self.look()
        except Unseen as err:
            if str(err) != self._failure:
                log.error("mic %s: %s; %s reads unknown until it can look again",
                          self.name, err, self.agent)
                self._failure = str(err)
            self._report("unknown")
            return
        if self._failure is not None or self._reported is None:
            if self._failure is not None:
                log.info("mic %s: can see the microphone again", self.name)
            self._failure = None
            self.hysteresis.reset(open_now, now)
        else:
            self.hysteresis.update(open_now, now)

    def _report(self, state: str) -> None:
        if state != self._reported and self._sink is not None:
            self._reported = state
            self._sink.report(self.agent, self.name, state)


def from_config(section: Section, agents: tuple[str, ...]) -> MicSource:
    """Build the mic source from its ``[[sources]]`` table (keys in docs/sources.md)."""
    return MicSource(
        section.id("name", "mic"), configured_agents(section, "agent", agents)[0],
        proc_root=section.str("proc_root", "/proc"),
        poll_s=section.float("poll_s", 0.5, lo=0.05, hi=60),
        debounce_s=section.float("debounce_s", 1.0, lo=0, hi=60),
        pactl=section.bool("pactl", False),
        pactl_command=section.str("pactl_command", "pactl"),
    )
