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


class Terminal:
    """The demo on a real pseudo-terminal, as its controlling terminal: keys typed there,
    Ctrl-C included, reach the foreground process group the way a user's would."""

    def __init__(self, *args: str) -> None:
        import fcntl
        import termios

        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, b"\x28\x00\xa0\x00\x00\x00\x00\x00")  # 40x160
        env = {k: v for k, v in os.environ.items() if k != "FOCUSLIGHT_BROKER"}
        env["TERM"] = "xterm"
        self.proc = subprocess.Popen(
            [*DEMO, *args], stdin=slave, stdout=slave, stderr=slave, env=env,
            start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        os.close(slave)
        self.output = ""

    def read_until(self, text: str, timeout: float = 30) -> str:
        """Everything printed so far once *text* appears (fails after *timeout*)."""
        import select

        deadline = time.monotonic() + timeout
        while text not in self.output:
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} never appeared; the screen said:\n{self.output[-3000:]}"
            if select.select([self.master], [], [], min(left, 0.5))[0]:
                try:
                    self.output += os.read(self.master, 65536).decode(errors="replace")
                except OSError:  # the demo closed the terminal
                    assert text in self.output, self.output[-3000:]
        return self.output

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def drain(self, timeout: float = 1.0) -> str:
        """Everything printed until the demo closes the terminal (or *timeout* passes)."""
        import select

        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if select.select([self.master], [], [], left)[0]:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                self.output += chunk.decode(errors="replace")
        return self.output

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


def _ctrl_c_on_the_terminal(*args: str) -> str:
    terminal = Terminal(*args)
    try:
        terminal.read_until("available (green, solid)")
        spawned = children_of(terminal.proc.pid)
        assert len(spawned) >= 2  # the broker and the firmware on the unix port
        terminal.type(b"\x03")  # the terminal sends SIGINT to its foreground process group
        assert terminal.proc.wait(timeout=20) in (0, 130)
        deadline = time.monotonic() + 10
        while alive(spawned) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(spawned)
        return terminal.drain()
    finally:
        terminal.close()


def test_ctrl_c_on_the_terminal_stops_quietly_with_mosquitto():
    after = _ctrl_c_on_the_terminal("--local-broker", "mosquitto").rsplit("\x1b[H\x1b[2J", 1)[-1]
    assert "lost" not in after and "WARNING" not in after and "Traceback" not in after, after


def test_ctrl_c_on_the_terminal_stops_quietly_with_the_embedded_broker():
    """amqtt got the terminal's SIGINT first: its warnings, then "lost the broker" twice."""
    after = _ctrl_c_on_the_terminal("--local-broker", "amqtt").rsplit("\x1b[H\x1b[2J", 1)[-1]
    assert "lost" not in after and "WARNING" not in after and "Traceback" not in after, after


def test_duration_on_a_terminal_keeps_the_led_and_a_press_in_wrap_up_says_why(mosquitto):
    terminal = Terminal("--duration", "40", "--speed", "2", "--agents", "1",
                        "--broker", mosquitto.url)
    try:
        screen = terminal.read_until("wrap_up (amber, solid)")
        assert "\x1b[48;2;" in screen  # the beacon's LED block, drawn in its colour
        assert "tour: alice call" in screen
        terminal.type(b" ")
        terminal.read_until("you pressed the beacon's button")
        terminal.read_until("button (manual override): dnd, waiting: wrap_up outranks it")
        terminal.read_until("dnd (purple, solid)")  # wrap-up over: the press shows
    finally:
        terminal.close()


def test_a_chat_left_unanswered_puts_the_cue_on_the_virtual_beacon(mosquitto):
    """``chat`` on stdin: a customer writes to alice (Chatwoot-shaped webhook to the real chat
    source); past the demo's reply-due threshold (8 s, 2 s at --speed 4) the firmware draws
    the cue over engaged; her reply (``chat`` again) clears it."""
    demo = subprocess.Popen([*DEMO, "--no-tour", "--speed", "4", "--broker", mosquitto.url],
                            stdout=subprocess.PIPE, stdin=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    seen: list[str] = []

    def until(text: str) -> None:
        for line in demo.stdout:
            seen.append(line.rstrip("\n"))
            if text in line:
                return
        raise AssertionError(f"the demo ended before {text!r}: {seen}")

    try:
        until("beacon alice: available green solid")
        demo.stdin.write("chat\n")
        demo.stdin.flush()
        until("beacon alice: engaged red solid")
        asked = time.monotonic()
        until("beacon alice: cue reply_due")
        assert time.monotonic() - asked >= 1.5  # due after the threshold, not at once
        if not any("reply due" in line for line in seen):  # the screen's line may come later
            until("reply due")
        assert any(line.startswith("agent alice: engaged") and "reply due" in line
                   for line in seen), seen
        demo.stdin.write("chat\n")
        demo.stdin.flush()
        until("beacon alice: cue off")
    finally:
        demo.send_signal(signal.SIGINT)
        demo.communicate(timeout=20)
    assert demo.returncode == 0
