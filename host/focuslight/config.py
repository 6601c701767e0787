"""``focuslight.toml``: one file for the broker, the agents, the sources and the policy.

A bad file stops the bridge before it touches the broker, with one line that
names the file, the key and what was expected (see :class:`ConfigError`)::

    focuslight.toml: policy.wrap_up_seconds: expected a number in 0..3600, got 'soon'

Example::

    [bridge]
    id = "main"
    broker = "mqtt://127.0.0.1:1883"

    [agents.alice]
    beacons = ["alice-desk"]

    [[sources]]
    type = "simulated"

It reads; it builds nothing. :func:`load` returns plain settings (a
:class:`SourceSpec` per ``[[sources]]`` table, a
:class:`SerialBeaconSpec` per ``[[serial_beacons]]`` table; no source or
output module is imported, so reading a file needs no pyserial) and
:mod:`focuslight.app` is the one place that turns them into running objects.
A source's own keys are validated by the source module's ``from_config``, so
``focuslight bridge --check`` builds (and discards) the sources through
:func:`focuslight.app.build_sources`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import Any, TypeVar

from .config_section import ConfigError, Section
from .core.agents import AgentSettings
from .core.hours import Weekly, zone
from .core.policy import DEFAULT_WRAP_UP_S
from .mqtt.client import BrokerSettings, BrokerURLError, broker_from_env
from .overrides import default_state_dir
from .protocol import ID_PATTERN, ProtocolError, Topics
from .protocol.looks import CUES, PRESETS, LookSet, parse_cue, parse_look
from .protocol.looks import looks as look_set
from .sources import SOURCE_TYPES

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """One ``[[sources]]`` table, read but not built: its ``type`` and its keys as written."""

    index: int
    """Its position in the file, so an error names ``sources[<index>]``."""
    type: str
    """A key of :data:`focuslight.sources.SOURCE_TYPES`."""
    table: dict[str, Any]
    """The whole table (``type`` included), for the source module's ``from_config``."""


DEFAULT_BAUDRATE = 115200
DEFAULT_HEARTBEAT_S = 5.0
DEFAULT_DISCOVERY_RATE = 500.0
"""Home Assistant discovery configs per second after a connect: 1,000 configs (500 agents)
take 2 s, 100,000 (50,000 agents) 200 s, beside the statuses rather than in front of them
(docs/performance.md)."""
"""Seconds between bridge lines to a serial beacon (below the firmware's 15 s timeout)."""


@dataclass(frozen=True, slots=True)
class SerialBeaconSpec:
    """One ``[[serial_beacons]]`` table, validated (:func:`read_serial_beacon`) but not
    opened (:func:`focuslight.outputs.serial_beacon.from_spec` does that)."""

    agent: str
    beacon: str
    port: str | None = None
    serial_number: str | None = None
    baudrate: int = DEFAULT_BAUDRATE
    heartbeat_s: float = DEFAULT_HEARTBEAT_S
    looks: str = "default"
    """The set of looks written to it (docs/looks.md)."""


def read_serial_beacon(section: Section) -> SerialBeaconSpec:
    """Validate every key of one ``[[serial_beacons]]`` table; open nothing.

    The agent is checked against the id pattern only: the caller knows the
    configured agents and must reject a beacon for an unknown one.
    """
    port = section.str("port", None)
    serial_number = section.str("serial_number", None)
    if (port is None) == (serial_number is None):
        raise section.error("port", "either port (a device path) or serial_number, not both",
                            port if port is not None else "neither")
    spec = SerialBeaconSpec(
        port=port, serial_number=serial_number,
        agent=section.id("agent"), beacon=section.id("beacon"),
        baudrate=section.int("baudrate", DEFAULT_BAUDRATE, lo=300, hi=12_000_000),
        heartbeat_s=section.float("heartbeat_s", DEFAULT_HEARTBEAT_S, lo=0.5, hi=10),
        looks=section.id("looks", "default"))
    section.finish()
    return spec


DEFAULT_NIGHT_BRIGHTNESS = 20


@dataclass(frozen=True, slots=True)
class LooksSettings:
    """The ``[looks]`` table: the sets the bridge publishes and when they dim."""

    sets: dict[str, LookSet] = field(default_factory=lambda: dict(PRESETS))
    """Name → set: every preset, changed or joined by the config's ``[looks.<name>]``."""
    night: Weekly | None = None
    """When beacons dim (None: never)."""
    night_brightness: int = DEFAULT_NIGHT_BRIGHTNESS
    """Percent of each beacon's own brightness at night (10..100)."""
    publish: bool = True
    """False on every bridge of a site but the one that publishes the looks."""


@dataclass(slots=True)
class Config:
    """Everything the bridge needs, validated."""

    path: str
    bridge_id: str
    broker: BrokerSettings
    prefix: str
    wrap_up_s: float
    agents: dict[str, AgentSettings]
    sources: list[SourceSpec] = field(default_factory=list)
    serial_beacons: list[SerialBeaconSpec] = field(default_factory=list)
    home_assistant_prefix: str | None = "homeassistant"
    """Discovery prefix for Home Assistant, or None when discovery is off."""
    discovery_rate: float = DEFAULT_DISCOVERY_RATE
    """Home Assistant discovery messages per second at most, after each connect."""
    state_dir: str | None = None
    """Where manual overrides are kept across restarts; None keeps them in memory only."""
    tz: tzinfo | None = None
    """``[bridge] timezone``: working hours and night are in it (None: the machine's)."""
    looks: LooksSettings = field(default_factory=LooksSettings)

    def state_file(self, kind: str) -> Path | None:
        """``<state_dir>/<kind>-<bridge id>.json`` (None when there is no state directory):
        ``overrides`` (:mod:`focuslight.overrides`), ``discovery`` (:mod:`focuslight.state`)."""
        if not self.state_dir:
            return None
        return Path(self.state_dir) / f"{kind}-{self.bridge_id}.json"

    def agent_for_beacon(self, beacon: str) -> str | None:
        """The agent a beacon's button acts for: configured, or the agent of the same id."""
        for agent in self.agents.values():
            if beacon in agent.beacons:
                return agent.id
        return beacon if beacon in self.agents else None


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse *path*; a syntax error becomes a :class:`ConfigError` naming line and column."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(path, "(file)", "an existing TOML file", "no such file") from None
    except IsADirectoryError:
        raise ConfigError(path, "(file)", "a TOML file", "a directory") from None
    except PermissionError:
        raise ConfigError(path, "(file)", "a TOML file this user may read",
                          "permission denied") from None
    except UnicodeDecodeError:
        raise ConfigError(path, "(syntax)", "UTF-8 TOML text", "bytes that are not UTF-8") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(path, "(syntax)", "valid TOML", str(err)) from None


def load(path: str | Path, broker_flag: str | None = None) -> Config:
    """Read and validate *path*; *broker_flag* (``--broker``) overrides the file.

    Builds nothing, so a reader such as the floor board may load a site's file
    for its agents and broker without touching a source's port or pin.
    """
    root = Section(read_toml(path), path)
    bridge = root.section("bridge", optional=True)
    policy = root.section("policy", optional=True)
    config = Config(
        path=str(path),
        bridge_id=bridge.id("id", "main"),
        broker=_broker(bridge, broker_flag),
        prefix=_prefix(bridge),
        wrap_up_s=policy.float("wrap_up_seconds", DEFAULT_WRAP_UP_S, lo=0, hi=3600),
        agents=_agents(root),
        sources=[],
    )
    config.home_assistant_prefix, config.discovery_rate = _home_assistant(root)
    config.state_dir = bridge.str("state_dir", str(default_state_dir())) or None
    config.tz = _timezone(bridge)
    config.looks = _looks(root)
    bridge.finish()
    policy.finish()
    config.sources = [_source_spec(index, section)
                      for index, section in enumerate(root.sections("sources"))]
    config.serial_beacons = [_serial_beacon(s, config) for s in root.sections("serial_beacons")]
    root.finish()
    return config


def require_agents(config: Config) -> None:
    """A bridge needs someone to serve: an empty (or mistyped) file must not pass ``--check``.

    Separate from :func:`load`, which also reads fragments (the docs' source examples).
    """
    if not config.agents:
        raise ConfigError(config.path, "agents", "at least one agent, e.g. [agents.alice]",
                          "none")


def _broker(bridge: Section, flag: str | None) -> BrokerSettings:
    configured = bridge.str("broker", None)
    try:
        settings = BrokerSettings.resolve(flag, configured)
    except BrokerURLError as err:
        raise bridge.error("broker", "mqtt://HOST:PORT or mqtts://HOST:PORT",
                           broker_from_env(flag, configured)) from err
    return settings.with_credentials(bridge.str("username", None), bridge.str("password", None),
                                     bridge.str("ca_file", None))


def _prefix(bridge: Section) -> str:
    prefix = bridge.str("prefix", "focuslight")
    try:
        Topics(prefix)
    except ProtocolError:
        raise bridge.error("prefix", "a topic prefix without + or # or trailing /",
                           prefix) from None
    return prefix


def _home_assistant(root: Section) -> tuple[str | None, float]:
    """(discovery prefix or None when off, discovery messages per second)."""
    table = root.section("home_assistant", optional=True)
    enabled = table.bool("enabled", True)
    prefix = table.str("discovery_prefix", "homeassistant")
    rate = table.float("discovery_rate", DEFAULT_DISCOVERY_RATE, lo=1, hi=1_000_000)
    table.finish()
    return (prefix if enabled else None), rate


def _agents(root: Section) -> dict[str, AgentSettings]:
    table = root.section("agents", optional=True)
    agents: dict[str, AgentSettings] = {}
    for agent_id in list(table.data):
        if not ID_PATTERN.fullmatch(agent_id):
            raise table.error(agent_id, "agent ids matching [a-z0-9_-]{1,64}", agent_id)
        entry = table.section(agent_id)
        group = entry.str("group", None)
        if group is not None and not 0 < len(group.strip()) <= 64:
            raise entry.error("group", "a team name of 1 to 64 characters", group)
        agents[agent_id] = AgentSettings(agent_id, entry.str("name", agent_id),
                                         entry.ids("beacons", []), group,
                                         _weekly(entry, "hours"))
        entry.finish()
    return agents


def _timezone(bridge: Section) -> tzinfo | None:
    name = bridge.str("timezone", None)
    try:
        return zone(name)
    except ValueError:
        raise bridge.error("timezone", "an IANA time zone like \"Europe/Berlin\"",
                           name) from None


def _weekly(section: Section, key: str) -> Weekly | None:
    spec = section.raw(key, None)
    if spec is None:
        return None
    try:
        return Weekly.parse(spec)
    except ValueError as err:
        raise section.error(key, f"times like \"mon-fri 08:00-17:00\" ({err})", spec) from None


def _looks(root: Section) -> LooksSettings:
    """``[looks]``: night dimming, and ``[looks.<name>]`` sets (docs/looks.md)."""
    table = root.section("looks", optional=True)
    sets = dict(PRESETS)
    for name, value in table.data.items():
        if isinstance(value, dict):
            if not ID_PATTERN.fullmatch(name):
                raise table.error(name, "a set name matching [a-z0-9_-]{1,64}", name)
            sets[name] = _look_set(table.section(name), name)
    settings = LooksSettings(sets, _weekly(table, "night"),
                             table.int("night_brightness", DEFAULT_NIGHT_BRIGHTNESS, lo=10,
                                       hi=100), table.bool("publish", True))
    table.finish()
    return settings


def _look_set(section: Section, name: str) -> LookSet:
    """One ``[looks.<name>]``: a preset (its own name's, else ``default``) and changes to
    its states' looks and its cues'."""
    preset = PRESETS[section.str("preset", name if name in PRESETS else "default",
                                 choices=PRESETS)]
    states = {**preset.looks, **_changes(section, preset.looks, parse_look)}
    cues = {**preset.cues, **_changes(section, CUES, parse_cue)}
    section.finish()
    try:
        return look_set(states, cues)
    except ProtocolError as err:
        raise ConfigError(section.file, section.path, "a set of looks a beacon may show",
                          str(err)) from None


def _changes(section: Section, keys: Iterable[str], parse: Callable[[object, str], T]
             ) -> dict[str, T]:
    changes = {}
    for key in keys:
        text = section.raw(key, None)
        if text is not None:
            try:
                changes[key] = parse(text, key)
            except ProtocolError as err:
                raise section.error(key, "a look like \"red blink 500\" (docs/looks.md)",
                                    str(err)) from None
    return changes


def _source_spec(index: int, section: Section) -> SourceSpec:
    """The table's ``type`` is checked here; its other keys by the source's ``from_config``."""
    kind = section.str("type", choices=SOURCE_TYPES)
    return SourceSpec(index, kind, dict(section.data))


def source_section(config: Config, spec: SourceSpec) -> Section:
    """*spec*'s table as a :class:`Section` whose errors name this file and ``sources[i]``."""
    return Section(spec.table, config.path, f"sources[{spec.index}]")


def _serial_beacon(section: Section, config: Config) -> SerialBeaconSpec:
    spec = read_serial_beacon(section)
    if spec.agent not in config.agents:
        raise section.error("agent", "an agent declared under [agents]", spec.agent)
    if spec.looks not in config.looks.sets:
        raise section.error("looks", f"a set of looks ({', '.join(config.looks.sets)})",
                            spec.looks)
    return spec
