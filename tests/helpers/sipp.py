"""sipp playing the PBX, and a sink that records what a source reports.

Every sipp is a real process on a free port; :class:`Sipp` kills it at the
end of the test (the ``sipp`` fixture in the test module does that).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

SCENARIOS = Path(__file__).resolve().parent / "sip"
CALLER_NUMBER = "+4915233306644"
"""The caller in every scenario's NOTIFY bodies: must never leave the source."""
CALLER_NAME = "Erika Mustermann"


def wait_bound(proc: subprocess.Popen, port: int, transport: str = "udp") -> None:
    """Wait until sipp listens on *port*: it shows up in /proc/net (no probing packets)."""
    table = "/proc/net/tcp" if transport == "tcp" else "/proc/net/udp"
    needle = f":{port:04X} "
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"sipp exited at start: {proc.stderr.read()!r}")
        if any(needle in line.split()[1] + " " for line in
               Path(table).read_text().splitlines()[1:]):
            return
        time.sleep(0.02)
    raise AssertionError(f"sipp did not bind port {port}")


def sipp_binary() -> str:
    """Where sipp is; fails the test with the package to install when it is missing."""
    sipp = shutil.which("sipp")
    assert sipp, "sipp is not installed (Debian package sip-tester)"
    return sipp


class SippProcess:
    """What every sipp a test runs shares: a real process in *tmp*, its error file,
    the wait until it listens on *port*, its exit code and its cleanup. Subclasses
    set ``command`` (and ``transport``) before :meth:`launch`."""

    finish_timeout = 15.0
    transport = "udp"

    def __init__(self, name: str, port: int, tmp: Path) -> None:
        self.port, self.tmp = port, tmp
        self.errors = tmp / f"sipp-{name}-{port}-errors.log"
        self.command: list[str] = []
        self.proc: subprocess.Popen | None = None

    def launch(self, wait_bound_port: bool = True) -> None:
        self.proc = subprocess.Popen(self.command, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     cwd=self.tmp)
        if wait_bound_port:
            wait_bound(self.proc, self.port, self.transport)

    def finish(self, timeout: float | None = None) -> int:
        """Wait for sipp to end its calls; its exit code (0: every call went as scripted)."""
        assert self.proc is not None
        return self.proc.wait(timeout or self.finish_timeout)

    def log(self) -> str:
        """sipp's own account of unexpected messages, for assertion messages."""
        return self.errors.read_text() if self.errors.exists() else ""

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc is not None and self.proc.stderr:
            self.proc.stderr.close()


class Sipp(SippProcess):
    """``sipp`` as a UAS running one scenario from ``tests/helpers/sip/`` on 127.0.0.1:*port*.

    :param calls: how many subscriptions (Call-IDs) the scenario serves before sipp exits.
    """

    def __init__(self, scenario: str, port: int, tmp: Path, *, transport: str = "udp",
                 calls: int = 1, keys: dict[str, str] | None = None) -> None:
        super().__init__(scenario, port, tmp)
        self.scenario, self.calls, self.transport = scenario, calls, transport
        self.keys = keys or {}
        self.messages = tmp / f"sipp-{scenario}-{port}-messages.log"

    def start(self) -> Sipp:
        self.command = [
            sipp_binary(), "-sf", str(SCENARIOS / f"{self.scenario}.xml"), "-i", "127.0.0.1",
            "-p", str(self.port), "-t", "t1" if self.transport == "tcp" else "u1",
            "-m", str(self.calls), "-timeout", "30", "-timeout_error", "-nostdin",
            "-trace_err", "-error_file", str(self.errors),
            "-trace_msg", "-message_file", str(self.messages),
            *[arg for key, value in self.keys.items() for arg in ("-key", key, value)]]
        self.launch()
        return self

    def received(self, method: str) -> int:
        """How many *method* requests sipp has received so far (from its message log)."""
        if not self.messages.exists():
            return 0
        return self.messages.read_text(errors="replace").count(f"\n{method} sip:")
