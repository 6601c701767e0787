"""Typed, validating access to one table of ``focuslight.toml``.

Every config error names the file, the dotted key and what was expected, so
an admin can fix it without reading code::

    focuslight.toml: sources[1].port: expected an integer in 1..65535, got 'sixty'

Sources validate their own table with this class, in their ``from_config``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .protocol import ID_PATTERN

_REQUIRED: Any = object()


class ConfigError(Exception):
    """A bad config value; ``str()`` is the one line shown to the admin."""

    def __init__(self, file: str | Path, key: str, expected: str, got: Any = _REQUIRED) -> None:
        self.file, self.key, self.expected = str(file), key, expected
        detail = "it is missing" if got is _REQUIRED else f"got {got!r}"
        super().__init__(f"{file}: {key}: expected {expected}, {detail}")


class Section:
    """One TOML table; reads keys with type checks and rejects keys nobody read.

    :param data: the parsed table.
    :param file: the config file's path, for messages.
    :param path: the dotted path of this table (``"bridge"``, ``"sources[2]"``).
    """

    def __init__(self, data: dict[str, Any], file: str | Path, path: str = "") -> None:
        self.data, self.file, self.path = data, str(file), path
        self._read: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def error(self, name: str, expected: str, got: Any = _REQUIRED) -> ConfigError:
        return ConfigError(self.file, self.key(name), expected, got)

    def has(self, name: str) -> bool:
        return name in self.data

    def raw(self, name: str, default: Any = _REQUIRED, expected: str = "a value") -> Any:
        self._read.add(name)
        if name in self.data:
            return self.data[name]
        if default is _REQUIRED:
            raise self.error(name, expected)
        return default

    def str(self, name: str, default: Any = _REQUIRED, *,
            choices: Iterable[str] | None = None) -> Any:
        allowed = sorted(choices) if choices is not None else None
        expected = f"one of {', '.join(allowed)}" if allowed else "a string"
        value = self.raw(name, default, expected)
        if value is default and default is not _REQUIRED:
            return value
        if not isinstance(value, str) or (allowed is not None and value not in allowed):
            raise self.error(name, expected, value)
        return value

    def id(self, name: str, default: Any = _REQUIRED) -> Any:
        expected = "an id matching [a-z0-9_-]{1,64}"
        value = self.raw(name, default, expected)
        if value is default and default is not _REQUIRED:
            return value
        if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
            raise self.error(name, expected, value)
        return value

    def ids(self, name: str, default: Any = _REQUIRED) -> Any:
        expected = "a list of ids matching [a-z0-9_-]{1,64}"
        value = self.raw(name, default, expected)
        if value is default and default is not _REQUIRED:
            return value
        if not isinstance(value, list) or not all(
                isinstance(v, str) and ID_PATTERN.fullmatch(v) for v in value):
            raise self.error(name, expected, value)
        return list(value)

    def int(self, name: str, default: Any = _REQUIRED, *, lo: int | None = None,
            hi: int | None = None) -> Any:
        return self._number(name, default, lo, hi, integer=True)

    def float(self, name: str, default: Any = _REQUIRED, *, lo: float | None = None,
              hi: float | None = None) -> Any:
        return self._number(name, default, lo, hi, integer=False)

    def bool(self, name: str, default: Any = _REQUIRED) -> Any:
        value = self.raw(name, default, "true or false")
        if not isinstance(value, bool):
            raise self.error(name, "true or false", value)
        return value

    def section(self, name: str, *, optional: bool = False) -> Section:
        value = self.raw(name, {} if optional else _REQUIRED, "a table")
        if not isinstance(value, dict):
            raise self.error(name, "a table", value)
        return Section(value, self.file, self.key(name))

    def sections(self, name: str) -> list[Section]:
        """An array of tables (``[[name]]``), each as a :class:`Section`."""
        value = self.raw(name, [], "an array of tables")
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.error(name, f"an array of tables ([[{name}]])", value)
        return [Section(v, self.file, f"{self.key(name)}[{i}]") for i, v in enumerate(value)]

    def finish(self) -> None:
        """Reject keys that were never read: a typo must not be silently ignored."""
        unknown = sorted(set(self.data) - self._read)
        if unknown:
            known = ", ".join(sorted(self._read)) or "no keys"
            raise self.error(unknown[0], f"a known key ({known})", "an unknown key")

    def _number(self, name: str, default: Any, lo: float | None, hi: float | None, *,
                integer: bool) -> Any:
        kind = "an integer" if integer else "a number"
        if lo is not None and hi is not None:
            expected = f"{kind} in {lo}..{hi}"
        elif lo is not None:
            expected = f"{kind} >= {lo}"
        else:
            expected = kind
        value = self.raw(name, default, expected)
        if value is default and default is not _REQUIRED:
            return value
        ok_type = isinstance(value, int) if integer else isinstance(value, int | float)
        if (not ok_type or isinstance(value, bool) or (lo is not None and value < lo)
                or (hi is not None and value > hi)):
            raise self.error(name, expected, value)
        return value if integer else float(value)
