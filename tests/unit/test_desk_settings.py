"""desk.toml (``focuslight.desk.settings``): defaults without a file, and one line naming
the key for anything wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from focuslight.config_section import ConfigError
from focuslight.desk.guard import SILENCE_STATES, UNKNOWN_GRACE_S
from focuslight.desk.settings import DeskSettings, default_path, load


def _load(tmp_path: Path, text: str) -> DeskSettings:
    path = tmp_path / "desk.toml"
    path.write_text(text)
    return load(path)


def test_no_file_means_the_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert default_path() == tmp_path / "focuslight" / "desk.toml"
    settings = load(None)
    assert settings == DeskSettings()
    assert settings.silence == SILENCE_STATES and settings.notifications is None
    assert settings.unknown_grace_s == UNKNOWN_GRACE_S and settings.light is None


def test_the_default_file_is_read_when_there(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (tmp_path / "focuslight").mkdir()
    default_path().write_text('agent = "bob"\nnotifications = ["kde", "kde"]\n[light]\n')
    settings = load(None)
    assert settings.agent == "bob" and settings.notifications == ("kde",)
    assert settings.light is not None and settings.light.brightness == 1.0


@pytest.mark.parametrize(("text", "key"), [
    ('agnet = "alice"', "agnet"),
    ('agent = "Alice Smith"', "agent"),
    ('silence = ["on_call"]', "silence"),
    ('notifications = "dunst"', "notifications"),
    ('notifications = ["mako"]', "notifications"),
    ("unknown_grace_seconds = -1", "unknown_grace_seconds"),
    ('prefix = "a/#"', "prefix"),
    ('[commands]\nengaged = "playerctl pause"', "commands.engaged"),
    ("[commands]\nengaged = [[]]", "commands.engaged"),
    ('[commands]\nlunch = [["true"]]', "commands.lunch"),
    ("[light]\nbrightness = 0", "light.brightness"),
    ('[light]\navailable = "green"', "light.available"),
    ('[light]\ncolour = "red"', "light.colour"),
    ('[light]\nlooks = "Night Set"', "light.looks"),
])
def test_a_wrong_key_is_named(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, text)
    assert err.value.key == key, str(err.value)


def test_a_light_follows_the_default_set_unless_told(tmp_path: Path) -> None:
    assert _load(tmp_path, "[light]\n").light.looks == "default"
    assert _load(tmp_path, '[light]\nlooks = "public"').light.looks == "public"
    assert _load(tmp_path, '[light]\nlooks = ""').light.looks is None  # built-in only
