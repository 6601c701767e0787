"""``focuslight demo``: the main job, unattended and interrupted, with every process cleaned up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

DEMO = [sys.executable, "-m", "focuslight", "demo"]


def children_of(pid: int) -> set[int]:
    """Every live descendant of *pid*, read from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


def alive(pids: set[int]) -> set[int]:
    return {p for p in pids if Path(f"/proc/{p}").exists()
            and "Z" not in Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]}


def test_unattended_tour_reaches_the_virtual_beacon(mosquitto):
    done = subprocess.run([*DEMO, "--duration", "14", "--speed", "3", "--broker", mosquitto.url],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    beacon = [line.split(": ", 1)[1] for line in done.stdout.splitlines()
              if line.startswith("beacon alice: ")]
    wanted = ["unknown blue blink", "available green solid", "ringing red blink",
              "engaged red solid", "hold red pulse", "engaged red solid", "wrap_up amber solid",
              "available green solid", "dnd purple solid", "available green solid"]
    assert beacon[:len(wanted)] == wanted, done.stdout
    assert "agent bob:" in done.stdout  # the simulated floor is alive too


def test_ctrl_c_stops_every_process_it_started():
    demo = subprocess.Popen([*DEMO, "--no-tour"], stdout=subprocess.PIPE, stdin=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True,
                            env={k: v for k, v in os.environ.items() if k != "FOCUSLIGHT_BROKER"})
    try:
        for line in demo.stdout:
            if line.startswith("beacon alice: available"):
                break
        spawned = children_of(demo.pid)
        assert len(spawned) >= 2  # the embedded broker and the firmware on the unix port
        demo.stdin.write("press\n")
        demo.stdin.flush()
        for line in demo.stdout:
            if line.startswith("beacon alice: dnd"):
                break
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=20) == 0
        deadline = time.monotonic() + 10
        while alive(spawned) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(spawned)
    finally:
        demo.kill()
        demo.wait()
