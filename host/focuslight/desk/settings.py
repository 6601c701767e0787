"""The focus guard's settings: ``~/.config/focuslight/desk.toml``, every key optional.

An agent's PC is not the bridge: its file is its own, small, and read with the same
validation as the bridge's (:class:`~focuslight.config_section.Section`: a typo is an
error naming the key, never silently ignored). Command-line flags beat the file. The
keys, with their defaults::

    agent = "alice"                         # whose status to follow (or --agent)
    broker = "mqtt://127.0.0.1:1883"        # as `focuslight bridge`; also username,
    prefix = "focuslight"                   #   password, ca_file
    silence = ["ringing", "engaged", "hold"]
    notifications = "auto"                  # or a list of "dunst", "gnome", "kde"; [] = none
    unknown_grace_seconds = 30

    [commands]                              # per state: argv lists, run on entering it
    engaged = [["playerctl", "pause"]]

    [light]                                 # a USB busy light (needs focuslight[desk])
    path = "/dev/hidraw3"                   # only this one (default: every light found)
    brightness = 60                         # percent
    available = "dim"                       # or "off"
    looks = "default"                       # the site's set of looks; "" = built-in only

docs/desk.md explains each.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..config import read_toml
from ..config_section import Section
from ..protocol import ID_PATTERN, STATES, Topics
from ..protocol.payloads import ProtocolError
from .commands import Argv
from .guard import SILENCE_STATES, UNKNOWN_GRACE_S
from .silencers import BACKENDS

AUTO = "auto"


def default_path() -> Path:
    """``$XDG_CONFIG_HOME/focuslight/desk.toml`` (``~/.config/…`` when unset)."""
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "focuslight" / "desk.toml"


@dataclass(frozen=True)
class LightSettings:
    """A USB busy light: *path* (None: every light found), *brightness* 0..1, whether
    ``available`` shows dark (*available_off*) instead of dim green, and the site's set of
    *looks* it follows (as a beacon's ``looks``; None: the built-in looks only)."""

    path: str | None = None
    brightness: float = 1.0
    available_off: bool = False
    looks: str | None = "default"


@dataclass
class DeskSettings:
    """Everything ``focuslight desk`` reads from its file (defaults without one)."""

    file: str | None = None
    agent: str | None = None
    broker: str | None = None
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    prefix: str | None = None
    silence: tuple[str, ...] = SILENCE_STATES
    notifications: tuple[str, ...] | None = None
    """The silencers to use; None: auto-detect."""
    unknown_grace_s: float = UNKNOWN_GRACE_S
    commands: dict[str, tuple[Argv, ...]] = field(default_factory=dict)
    light: LightSettings | None = None


def load(path: Path | None) -> DeskSettings:
    """Read *path*; None reads :func:`default_path` if it exists, else gives the defaults.
    :class:`~focuslight.config_section.ConfigError` naming the key for anything wrong."""
    if path is None:
        path = default_path()
        if not path.exists():
            return DeskSettings()
    root = Section(read_toml(path), path)
    settings = DeskSettings(
        file=str(path), agent=root.id("agent", None), broker=root.str("broker", None),
        username=root.str("username", None), password=root.str("password", None),
        ca_file=root.str("ca_file", None), prefix=_prefix(root),
        silence=_states(root, "silence", SILENCE_STATES),
        notifications=_notifications(root),
        unknown_grace_s=root.float("unknown_grace_seconds", UNKNOWN_GRACE_S, lo=0, hi=86400),
        commands=_commands(root.section("commands", optional=True)),
        light=_light(root))
    root.finish()
    return settings


def _prefix(root: Section) -> str | None:
    prefix = root.str("prefix", None)
    if prefix is not None:
        try:
            Topics(prefix)
        except ProtocolError:
            raise root.error("prefix", "plain text with no wildcards", prefix) from None
    return prefix


def _states(root: Section, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = root.raw(name, list(default), "a list of states")
    if not isinstance(value, list) or not all(v in STATES for v in value):
        raise root.error(name, f"a list of states ({', '.join(STATES)})", value)
    return tuple(value)


def _notifications(root: Section) -> tuple[str, ...] | None:
    value = root.raw("notifications", AUTO)
    if value == AUTO:
        return None
    if not isinstance(value, list) or not all(v in BACKENDS for v in value):
        raise root.error("notifications", f'"auto" or a list of {", ".join(BACKENDS)}', value)
    return tuple(dict.fromkeys(value))


def _commands(section: Section) -> dict[str, tuple[Argv, ...]]:
    commands = {}
    for state in list(section.data):
        value = section.raw(state)
        if state not in STATES:
            raise section.error(state, f"a state ({', '.join(STATES)})", "an unknown key")
        if not isinstance(value, list) or not all(
                isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)
                for argv in value):
            raise section.error(state, 'a list of commands, each a list of strings, e.g.'
                                       ' [["playerctl", "pause"]]', value)
        commands[state] = tuple(tuple(argv) for argv in value)
    return commands


def _light(root: Section) -> LightSettings | None:
    if not root.has("light"):
        return None
    light = root.section("light")
    settings = LightSettings(path=light.str("path", None),
                             brightness=light.int("brightness", 100, lo=1, hi=100) / 100,
                             available_off=light.str("available", "dim",
                                                     choices=("dim", "off")) == "off",
                             looks=_looks(light))
    light.finish()
    return settings


def _looks(light: Section) -> str | None:
    name = light.str("looks", "default")
    if name == "":
        return None
    if not ID_PATTERN.fullmatch(name):
        raise light.error("looks", "a set name matching [a-z0-9_-]{1,64}, or \"\"", name)
    return name
