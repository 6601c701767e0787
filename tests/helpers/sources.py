"""Test doubles for the sources' seams: the clock, the status sink, a source the test
speaks for.

``FakeClock`` implements :class:`focuslight.sources.timing.Clock`; time moves
only when a test calls :meth:`FakeClock.advance`, and :meth:`FakeClock.settle`
waits until the source's worker has seen everything that happened so far, so
"nothing changed" can be asserted without sleeping.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from focuslight.app import build_sources
from focuslight.config import load
from focuslight.sources.base import Attention, Source, StatusSink


class HandSource(Source):
    """A source the test speaks for (:meth:`say`), through the interface real sources use."""

    def __init__(self, name: str = "phone",
                 agents: list[str] | tuple[str, ...] = ("alice", "bob")) -> None:
        super().__init__(name, agents)
        self.sink: StatusSink | None = None

    def start(self, sink: StatusSink) -> None:
        self.sink = sink

    def stop(self) -> None:
        self.sink = None

    def say(self, agent: str, state: str) -> None:
        assert self.sink is not None
        self.sink.report(agent, self.name, state)


class FakeClock:
    """Hand-driven monotonic time for one or more source worker threads."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start
        self._cond = threading.Condition()
        self._sleepers: dict[int, tuple[float | None, threading.Event]] = {}

    def now(self) -> float:
        with self._cond:
            return self.t

    def sleep_until(self, deadline: float | None, wake: threading.Event) -> None:
        me = threading.get_ident()
        with self._cond:
            self._sleepers[me] = (deadline, wake)
            self._cond.notify_all()
            while not wake.is_set() and (deadline is None or self.t < deadline):
                self._cond.wait(0.005)  # wake is a plain Event: poll it
            del self._sleepers[me]
            self._cond.notify_all()

    def advance(self, seconds: float, workers: int = 1) -> None:
        with self._cond:
            self.t += seconds
            self._cond.notify_all()
        self.settle(workers)

    def settle(self, workers: int = 1, timeout: float = 10.0) -> None:
        """Wait until *workers* threads sleep with nothing due and no wake-up pending."""
        end = time.monotonic() + timeout
        with self._cond:
            while not self._idle(workers):
                if time.monotonic() > end:
                    raise AssertionError("source worker did not settle")
                self._cond.wait(0.005)

    def _idle(self, workers: int) -> bool:
        sleepers = list(self._sleepers.values())
        return len(sleepers) >= workers and all(
            not wake.is_set() and (deadline is None or self.t < deadline)
            for deadline, wake in sleepers)


class RecordingSink:
    """A StatusSink that keeps every report and every attention, each in order."""

    def __init__(self) -> None:
        self.reports: list[tuple[str, str, str]] = []
        self.attentions: list[tuple[str, str, Attention | None]] = []
        self._cond = threading.Condition()

    def report(self, agent: str, source: str, state: str) -> None:
        with self._cond:
            self.reports.append((agent, source, state))
            self._cond.notify_all()

    def attention(self, agent: str, source: str, attention: Attention | None) -> None:
        with self._cond:
            self.attentions.append((agent, source, attention))
            self._cond.notify_all()

    def attention_of(self, agent: str) -> Attention | None:
        """The latest attention reported for *agent* (None: none, or cleared)."""
        with self._cond:
            return next((a for who, _, a in reversed(self.attentions) if who == agent), None)

    def wait_for_attention(self, agent: str, check, timeout: float = 10.0) -> Attention | None:
        """Wait (real time) until *check* holds for *agent*'s latest attention; return it."""
        end = time.monotonic() + timeout
        with self._cond:
            while not check(self.attention_of(agent)):
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{agent}: attention never matched; got "
                                         f"{self.attentions[-5:]}")
                self._cond.wait(left)
            return self.attention_of(agent)

    def states(self, agent: str | None = None) -> list[str]:
        with self._cond:
            return [s for a, _, s in self.reports if agent is None or a == agent]

    def wait_for(self, state: str, agent: str | None = None, timeout: float = 10.0) -> None:
        """Wait (real time) until the latest report for *agent* is *state*."""
        end = time.monotonic() + timeout
        with self._cond:
            while not (self.states(agent) and self.states(agent)[-1] == state):
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"never saw {state!r}; reports: {self.reports}")
                self._cond.wait(left)

    def wait_for_sequence(self, agent: str, states: list[str],
                          timeout: float = 10.0) -> list[str]:
        """Wait until *agent*'s reports begin with *states*; return all of its states."""
        end = time.monotonic() + timeout
        with self._cond:
            while self.states(agent)[:len(states)] != states:
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{agent}: wanted {states}, got {self.states(agent)}")
                self._cond.wait(left)
            return self.states(agent)


class BridgeProcess:
    """A real ``focuslight bridge -c FILE`` process (or *command*) for end-to-end tests.

    *config* (TOML text) is written to ``focuslight.toml`` and stderr goes to ``bridge.log``
    in *tmp*; :meth:`stop` ends it as systemd would and returns that run's log, :meth:`kill`
    ends it at once (tests call it in a ``finally`` or through a fixture).
    """

    def __init__(self, tmp: Path, config: str, command: list[str] | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.env = {**os.environ, **(env or {})}
        self.config = tmp / "focuslight.toml"
        self.config.write_text(config)
        self.log = tmp / "bridge.log"
        self.command = command or [sys.executable, "-m", "focuslight", "bridge"]
        self.proc: subprocess.Popen | None = None

    def start(self) -> BridgeProcess:
        with self.log.open("wb") as err:
            self.proc = subprocess.Popen([*self.command, "-c", str(self.config)],
                                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                         stderr=err, env=self.env)
        return self

    def start_connected(self) -> BridgeProcess:
        """:meth:`start`, then wait until the bridge is connected to its broker (a
        ``focuslight set`` sent before that would be lost)."""
        self.start().wait_for_log("connected to")
        return self

    def send(self, line: str) -> None:
        """Write one command line to the process's stdin (the counter wrapper reads it)."""
        assert self.proc and self.proc.stdin
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_log(self, fragment: str, timeout: float = 15.0) -> str:
        """Wait until a line containing *fragment* reaches stderr; return that line.
        Fails at once when the process has exited without logging it."""
        end = time.monotonic() + timeout
        while True:
            ended = not self.alive()  # checked before reading: an ended process's log is final
            for line in self.text().splitlines():
                if fragment in line:
                    return line
            if ended or time.monotonic() > end:
                raise AssertionError(f"bridge never logged {fragment!r}:\n{self.text()}")
            time.sleep(0.05)

    def stop(self, timeout: float = 15.0) -> str:
        """SIGTERM (what systemd sends), wait for the exit; the whole log of this run."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout)
        if self.proc.stdin:
            self.proc.stdin.close()
        return self.text()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
        if self.proc:
            self.proc.wait()
            if self.proc.stdin:
                self.proc.stdin.close()


def bridge_config(broker_url: str, prefix: str, agents: list[str], source: str,
                  wrap_up_s: float = 30) -> str:
    """A focuslight.toml with *agents* and one ``[[sources]]`` table (*source*, TOML text)."""
    agent_tables = "\n".join(f"[agents.{a}]" for a in agents)
    return (f'[bridge]\nid = "{prefix}"\nbroker = "{broker_url}"\nprefix = "{prefix}"\n'
            f"[policy]\nwrap_up_seconds = {wrap_up_s}\n{agent_tables}\n"
            f"[[sources]]\n{source}\n")


def load_doc_examples(source_type: str, tmp: Path) -> list:
    """Load every ``toml`` block of docs/sources.md that configures a *source_type* source
    through the bridge's own config loader; return the sources they build."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "sources.md").read_text()
    blocks = [b for b in re.findall(r"```toml\n(.*?)```", text, re.S)
              if f'type = "{source_type}"' in b]
    sources = []
    for index, block in enumerate(blocks):
        path = tmp / f"{source_type}-example{index}.toml"
        path.write_text(block)
        sources.extend(build_sources(load(path)))
    return sources
