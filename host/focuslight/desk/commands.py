"""Per-state commands: whatever else the agent wants done when their state changes.

Pausing the music player, closing a chat client's sound, setting a Slack status: the
config lists, per state, the programs to run when the shown state *becomes* that state,
each as an argv list (``["playerctl", "pause"]``). There is no shell: a status from the
broker picks which list runs, never what it says, so nothing in a status can inject a
command. Each program runs in turn, may take at most :data:`TIMEOUT_S` seconds, and a
failure costs one log line — the guard keeps guarding.

Example::

    commands = StateCommands({"engaged": (("playerctl", "pause"),)})
    commands.run("engaged")   # runs playerctl pause
    commands.run("wrap_up")   # nothing listed: nothing runs
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Mapping

from ..logs import Problem

log = logging.getLogger(__name__)

TIMEOUT_S = 10.0
"""How long one command may run before it is killed (the next change waits for it)."""

Argv = tuple[str, ...]


class StateCommands:
    """The commands to run on entering each state.

    :param commands: ``state → (argv, …)``; a state not listed runs nothing.
    :param timeout_s: the longest one command may run, seconds.
    """

    def __init__(self, commands: Mapping[str, tuple[Argv, ...]],
                 timeout_s: float = TIMEOUT_S) -> None:
        self.commands = dict(commands)
        self.timeout_s = timeout_s
        self._problem = Problem(log, "state command: ")

    def run(self, state: str) -> int:
        """Run every command listed for *state*, in order; how many succeeded."""
        done = 0
        for argv in self.commands.get(state, ()):
            why = self._run_one(argv)
            if why is None:
                done += 1
            else:
                self._problem.say((state, argv), f"{state}: {' '.join(argv)} {why}")
        return done

    def _run_one(self, argv: Argv) -> str | None:
        """None when *argv* ran and exited 0, else what went wrong."""
        try:
            result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                                    timeout=self.timeout_s, check=False)
        except FileNotFoundError:
            return "failed: no such program"
        except PermissionError:
            return "failed: not executable"
        except subprocess.TimeoutExpired:
            return f"was killed after {self.timeout_s:g} s"
        if result.returncode != 0:
            tail = result.stderr.decode("utf-8", "replace").strip().splitlines()
            return f"exited {result.returncode}" + (f": {tail[-1][:200]}" if tail else "")
        return None
