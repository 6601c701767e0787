"""A throw-away desktop session for the focus guard's tests: a private D-Bus session bus,
an Xvfb screen, the real dunst on both, GNOME's real schema on a keyfile backend, and a
small stand-in for Plasma's notification server (:mod:`helpers.kde_notifications`).

Every piece is a real process on a private bus or display, so a test can SIGKILL any of
them; nothing touches the machine's own session. The bus listens on an abstract socket
(``unix:tmpdir``: a test's deep temporary directory would pass the 108-byte limit of a
socket path under xdist) and has no service directories:
nothing is D-Bus-activated behind a test's back (a ``dunstctl`` call with no dunst running
fails, as on a desktop without dunst, instead of starting one).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.waiting import wait_until

HELPERS = Path(__file__).resolve().parent

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def need(*programs: str) -> None:
    """Fail (not skip) when a program the desktop tests drive is missing: tests/run installs
    them (xvfb, dunst, libnotify-bin, dbus, libglib2.0-bin, gsettings-desktop-schemas)."""
    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        pytest.fail(f"not installed: {', '.join(missing)}: run tests/run, which installs them")


class Session:
    """The environment of one fake desktop session; :meth:`env` is what a child gets."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[subprocess.Popen] = []
        self.vars: dict[str, str] = {
            "XDG_CONFIG_HOME": str(tmp / "config"),
            "XDG_RUNTIME_DIR": str(tmp / "runtime"),
            "XDG_CURRENT_DESKTOP": "",
        }
        (tmp / "runtime").mkdir(mode=0o700, exist_ok=True)

    def env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, **self.vars, **extra}

    def start_bus(self) -> None:
        need("dbus-daemon")
        conf = self.tmp / "bus.conf"
        conf.write_text(BUS_CONFIG)
        done = subprocess.run(["dbus-daemon", f"--config-file={conf}", "--fork",
                               "--print-address=1", "--print-pid=1"], capture_output=True,
                              text=True, timeout=10)
        assert done.returncode == 0, f"dbus-daemon failed: {done.stderr.strip()}"
        out = done.stdout.split()
        self.vars["DBUS_SESSION_BUS_ADDRESS"] = out[0]
        self._bus_pid = int(out[1])

    def start_screen(self) -> None:
        """Xvfb on a display number it picks itself (``-displayfd``: no fixed number)."""
        need("Xvfb")
        read, write = os.pipe()
        proc = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-nolisten", "tcp",
                                 "-screen", "0", "640x480x24"], pass_fds=(write,),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(write)
        with os.fdopen(read) as fh:
            display = fh.readline().strip()
        assert display, "Xvfb did not say which display it took"
        self.procs.append(proc)
        self.vars["DISPLAY"] = f":{display}"

    def start_dunst(self) -> subprocess.Popen:
        """The real dunst on this session's screen and bus, once it answers ``dunstctl``."""
        need("dunst", "dunstctl")
        proc = subprocess.Popen(["dunst"], env=self.env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        self.procs.append(proc)
        wait_until(lambda: self.run("dunstctl", "is-paused", check=False).returncode == 0,
                   timeout=10, step=0.05)
        return proc

    def start_plasma_stand_in(self) -> subprocess.Popen:
        """:mod:`helpers.kde_notifications` on this bus, once it owns the name."""
        proc = subprocess.Popen([sys.executable, str(HELPERS / "kde_notifications.py")],
                                env=self.env(), stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        self.procs.append(proc)
        return proc

    def use_gnome_keyfile(self) -> None:
        """GSettings on a keyfile under this session's XDG_CONFIG_HOME, with the real
        org.gnome.desktop.notifications schema (gsettings-desktop-schemas)."""
        need("gsettings")
        self.vars["GSETTINGS_BACKEND"] = "keyfile"
        self.vars["XDG_CURRENT_DESKTOP"] = "GNOME"

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(argv), env=self.env(), capture_output=True, text=True,
                              timeout=10, check=check)

    def dunst_paused(self) -> str:
        return self.run("dunstctl", "is-paused").stdout.strip()

    def show_banners(self) -> str:
        return self.run("gsettings", "get", "org.gnome.desktop.notifications",
                        "show-banners").stdout.strip()

    def plasma_inhibited(self) -> bool:
        """The stand-in's ``Inhibited`` property: does any inhibition hold?"""
        out = self.run("gdbus", "call", "--session", "--dest", "org.freedesktop.Notifications",
                       "--object-path", "/org/freedesktop/Notifications", "--method",
                       "org.freedesktop.DBus.Properties.Get", "org.freedesktop.Notifications",
                       "Inhibited").stdout
        return "true" in out

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if hasattr(self, "_bus_pid"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._bus_pid, signal.SIGKILL)
