"""Silencing desktop notifications while the agent is with a customer, and giving them back.

One :class:`Silencer` per kind of notification server on a freedesktop desktop:

- :class:`Dunst`: ``dunstctl set-paused true`` (dunst holds what arrives and shows it when
  unpaused), after ``dunstctl is-paused`` says what the user had;
- :class:`Gnome`: GNOME Shell's ``org.gnome.desktop.notifications show-banners`` set to
  ``false`` with ``gsettings`` (GNOME's own "Do Not Disturb" switch);
- :class:`Kde`: Plasma's ``org.freedesktop.Notifications.Inhibit`` D-Bus call.

The promise is to give back *exactly* what the user had. A setting the user already had
quiet is left alone and never "restored" to loud; a setting the user changed while it was
silenced (they turned dunst back on mid-call) is theirs, and stays as they left it. Dunst
and GNOME keep their setting when the guard dies, so each change is written to the
:class:`~.journal.Journal` before it is made and undone at the next start
(:meth:`Silencers.recover`). Plasma's inhibition needs no journal: Plasma ties it to the
caller's D-Bus connection (``m_inhibitionWatcher`` in plasma-workspace's
``libnotificationmanager/server_p.cpp`` releases every cookie of a connection that goes
away), so a dead guard's inhibition ends with it — which is also why :class:`Kde` keeps
its connection open for as long as it inhibits, and why a one-shot ``gdbus call`` could
not do this job.

Example::

    silencers = Silencers.auto(Journal(path))
    silencers.recover()     # undo what a guard that died left behind
    silencers.silence()     # ["dunst"]: what it silenced
    silencers.restore()     # ["dunst"]: what it gave back
"""

from __future__ import annotations

import logging
import os
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ..logs import Problem
from .journal import Change, Journal

if TYPE_CHECKING:  # jeepney is an optional extra (focuslight[desk]), imported when used
    from jeepney.io.blocking import DBusConnection

log = logging.getLogger(__name__)

COMMAND_TIMEOUT_S = 5.0
"""How long ``dunstctl`` or ``gsettings`` may take before the guard gives up on it."""
BACKENDS = ("dunst", "gnome", "kde")
EXTRA_HINT = ("install focuslight with its desk extra (pip install"
              " './focuslight-<version>-py3-none-any.whl[desk]', or '.[desk]' in a checkout)")
"""What to do when an optional library of the focus guard (jeepney, busylight-core) is missing."""
DESKTOP_ENTRY = "focuslight-desk"
"""The desktop entry the guard names itself by (Plasma refuses an Inhibit without one and
shows its name in the notification applet); ``docs/focuslight-desk.desktop`` installs it."""


class Absent(Exception):
    """This kind of notification server is not on this desktop; ``str()`` says why."""


class SilencerError(Exception):
    """A notification server that is here could not be read or changed; ``str()`` says
    what failed."""


class Silencer(ABC):
    """One way of silencing desktop notifications, and of giving them back."""

    name = ""

    @abstractmethod
    def probe(self) -> None:
        """Raise :class:`Absent` if this kind of server is not here now; nothing changes."""

    @abstractmethod
    def silence(self) -> bool:
        """Silence notifications: True if this changed something (to give back later),
        False if the user had them silenced already. :class:`Absent`, :class:`SilencerError`."""

    @abstractmethod
    def restore(self) -> bool:
        """Give back what :meth:`silence` changed; True if there was something."""


def run(argv: Sequence[str], timeout: float = COMMAND_TIMEOUT_S) -> str:
    """Run *argv* (no shell) and return its stripped output; :class:`Absent` if the
    program is not installed, :class:`SilencerError` if it fails or hangs."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False)
    except FileNotFoundError:
        raise Absent(f"{argv[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise SilencerError(f"{' '.join(argv)} did not answer within {timeout:g} s") from None
    if done.returncode != 0:
        why = (done.stderr.strip() or done.stdout.strip()).splitlines()
        raise SilencerError(f"{' '.join(argv)} failed (exit {done.returncode})"
                            + (f": {why[-1]}" if why else ""))
    return done.stdout.strip()


class Setting(Silencer):
    """A notification switch that outlives the guard: read it, journal it, flip it to
    :attr:`quiet`, and put the user's value back afterwards."""

    quiet = ""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    @abstractmethod
    def read(self) -> str:
        """The current value; :class:`Absent` if the server is not here."""

    @abstractmethod
    def write(self, value: str) -> None:
        """Set the value."""

    def probe(self) -> None:
        self._current()

    def _current(self) -> str:
        """:meth:`read`, where a failure means the server is not here (not running)."""
        try:
            return self.read()
        except SilencerError as err:
            raise Absent(str(err)) from None

    def silence(self) -> bool:
        before = self._current()
        if before == self.quiet:
            return False  # the user's own quiet, or ours already: nothing more to give back
        if self.name not in self.journal.entries():  # else an earlier give-back failed:
            try:                                     # the user's value is the one journaled
                self.journal.record(self.name, before, self.quiet)
            except OSError as err:
                raise SilencerError(f"cannot write {self.journal.path} ({err}), so nothing is"
                                    " silenced: a crash could not give it back") from None
        self.write(self.quiet)
        return True

    def restore(self) -> bool:
        change = self.journal.entries().get(self.name)
        return change is not None and self.recover(change)

    def recover(self, change: Change) -> bool:
        """Undo *change* (this guard's, or one a guard that died left in the journal);
        True if the user's value was put back."""
        now = self.read()
        given_back = now == change.set_to
        if given_back:
            self.write(change.before)
        else:
            log.info("%s: the setting is %s, not the %s the focus guard set: the user changed"
                     " it meanwhile, so it stays as they left it", self.name, now, change.set_to)
        self.journal.forget(self.name)
        return given_back


class Dunst(Setting):
    """dunst's pause switch, through ``dunstctl`` (dunst 1.6 and later)."""

    name, quiet = "dunst", "true"

    def read(self) -> str:
        value = run(["dunstctl", "is-paused"])
        if value not in ("true", "false"):
            raise SilencerError(f"dunstctl is-paused said {value[:40]!r}, not true or false")
        return value

    def write(self, value: str) -> None:
        run(["dunstctl", "set-paused", value])


class Gnome(Setting):
    """GNOME Shell's banners switch (``show-banners``; off is GNOME's Do Not Disturb)."""

    name, quiet = "gnome", "false"
    KEY = ("org.gnome.desktop.notifications", "show-banners")

    def read(self) -> str:
        value = run(["gsettings", "get", *self.KEY])
        if value not in ("true", "false"):
            raise SilencerError(f"gsettings said {value[:40]!r} for show-banners")
        return value

    def write(self, value: str) -> None:
        run(["gsettings", "set", *self.KEY, value])


class Kde(Silencer):
    """Plasma's notification inhibition (``Inhibit``/``UnInhibit`` on the session bus).

    Not in the freedesktop notification spec: a server that offers it says so when
    introspected, which is how :meth:`probe` tells Plasma from dunst or GNOME Shell.
    """

    name = "kde"
    PATH = "/org/freedesktop/Notifications"
    NAME = "org.freedesktop.Notifications"

    def __init__(self, reason: str = "with a customer") -> None:
        self.reason = reason
        self._connection: DBusConnection | None = None
        self._cookie: int | None = None

    def probe(self) -> None:
        connection = self._open()
        try:
            (xml,) = self._call(connection, "org.freedesktop.DBus.Introspectable", "Introspect",
                                "", ())
        finally:
            connection.close()
        if '<method name="Inhibit">' not in str(xml):
            raise Absent("the notification server on the session bus offers no Inhibit"
                         " (not Plasma's)")

    def silence(self) -> bool:
        if self._cookie is not None:
            return False
        connection = self._connect()
        (cookie,) = self._call(connection, self.NAME, "Inhibit", "ssa{sv}",
                               (DESKTOP_ENTRY, self.reason, {}))
        if not cookie:
            raise SilencerError("the notification server refused to inhibit (cookie 0)")
        self._cookie = cookie
        return True

    def restore(self) -> bool:
        cookie, self._cookie = self._cookie, None
        if cookie is None or self._connection is None:
            return False
        try:
            self._call(self._connection, self.NAME, "UnInhibit", "u", (cookie,))
        finally:  # closing the connection ends any inhibition of ours anyway
            self._close()
        return True

    def _connect(self) -> DBusConnection:
        if self._connection is None:
            self.probe()
            self._connection = self._open()
        return self._connection

    @staticmethod
    def _open() -> DBusConnection:
        if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
            raise Absent("no session bus (DBUS_SESSION_BUS_ADDRESS is not set)")
        try:
            from jeepney.io.blocking import open_dbus_connection
        except ImportError:
            raise Absent(f"jeepney is not installed: {EXTRA_HINT}") from None
        try:
            return open_dbus_connection(bus="SESSION")
        except (OSError, ValueError) as err:
            raise Absent(f"cannot reach the session bus ({err})") from None

    def _call(self, connection: DBusConnection, interface: str, method: str, signature: str,
              body: tuple) -> tuple:
        from jeepney import DBusAddress, new_method_call
        from jeepney.wrappers import DBusErrorResponse, unwrap_msg

        address = DBusAddress(self.PATH, bus_name=self.NAME, interface=interface)
        message = new_method_call(address, method, signature or None, body)
        try:
            return unwrap_msg(connection.send_and_get_reply(message,
                                                             timeout=COMMAND_TIMEOUT_S))
        except DBusErrorResponse as err:
            if err.name in ("org.freedesktop.DBus.Error.ServiceUnknown",
                            "org.freedesktop.DBus.Error.NameHasNoOwner"):
                raise Absent("no notification server on the session bus") from None
            raise SilencerError(f"{method} failed: {err}") from None
        except (OSError, TimeoutError, ConnectionError) as err:
            self._close()
            raise SilencerError(f"{method}: the session bus went away ({err})") from None

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


SETTINGS: dict[str, type[Setting]] = {"dunst": Dunst, "gnome": Gnome}
"""The silencers whose change outlives the guard (and so is journaled), by name."""


def gnome_desktop(desktop: str | None = None) -> bool:
    """Is this a GNOME session (``$XDG_CURRENT_DESKTOP``, e.g. ``ubuntu:GNOME``)? Where the
    GNOME schema is merely installed (GTK apps on any desktop bring it), flipping
    ``show-banners`` would change nothing anyone sees."""
    names = (desktop if desktop is not None else os.environ.get("XDG_CURRENT_DESKTOP", ""))
    return "GNOME" in names.upper().split(":")


class Silencers:
    """The silencers of one desktop, used together.

    :param backends: each :class:`Silencer` to try, in order.
    :param quiet_absent: say nothing when a backend is not there (auto-detection: most
        desktops have only one of them); otherwise log it once.
    """

    def __init__(self, backends: Sequence[Silencer], journal: Journal, *,
                 quiet_absent: bool = False) -> None:
        self.backends = list(backends)
        self.journal = journal
        self.quiet_absent = quiet_absent
        self._problems = {b.name: Problem(log, f"notifications ({b.name}): ")
                          for b in self.backends}

    @classmethod
    def build(cls, names: Sequence[str] | None, journal: Journal) -> Silencers:
        """The silencers named (None: auto-detect: dunst and Plasma when they answer,
        GNOME in a GNOME session)."""
        if names is None:
            auto: list[Silencer] = [Dunst(journal), Kde()]
            if gnome_desktop():
                auto.insert(1, Gnome(journal))
            return cls(auto, journal, quiet_absent=True)
        known = {"dunst": lambda: Dunst(journal), "gnome": lambda: Gnome(journal),
                 "kde": Kde}
        return cls([known[name]() for name in names], journal)

    def found(self) -> list[str]:
        """The backends that answer now (for the start-up line; changes nothing)."""
        here = []
        for backend in self.backends:
            try:
                backend.probe()
            except (Absent, SilencerError) as err:
                log.debug("notifications (%s): not here: %s", backend.name, err)
                continue
            here.append(backend.name)
        return here

    def silence(self) -> list[str]:
        """Silence every backend that is here; the names of those it silenced."""
        return [b.name for b in self.backends if self._guarded(b, b.silence)]

    def restore(self) -> list[str]:
        """Give back every backend's notifications; the names of those it gave back."""
        return [b.name for b in self.backends if self._guarded(b, b.restore)]

    def recover(self) -> list[str]:
        """At start: undo what a guard that died while silencing left in the journal
        (whatever this one is configured to use: the settings are the user's)."""
        given_back = []
        for name, change in self.journal.entries().items():
            setting = SETTINGS.get(name)
            if setting is None:
                log.warning("%s names %r, which this focuslight does not know; check it by"
                            " hand", self.journal.path, name)
                self.journal.forget(name)
                continue
            backend = setting(self.journal)
            if self._guarded(backend, lambda b=backend, c=change: b.recover(c)):
                given_back.append(name)
        if given_back:
            log.info("gave back the notification settings a previous focus guard left"
                     " silenced: %s", ", ".join(given_back))
        return given_back

    def _guarded(self, backend: Silencer, action: Callable[[], bool]) -> bool:
        problem = self._problems.setdefault(backend.name,
                                            Problem(log, f"notifications ({backend.name}): "))
        try:
            result = action()
        except Absent as err:
            if not self.quiet_absent:
                problem.say(("absent", str(err)), f"not silenced: {err}")
            return False
        except SilencerError as err:
            problem.say(("failed", str(err)), f"{err}; check it by hand")
            return False
        problem.clear()
        return result
