"""The looks the bridge publishes: every set, dimmed at night, in the site's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from focuslight.config import load
from focuslight.outputs.looks import SiteLooks
from focuslight.protocol.looks import PRESETS, decode_looks

CONFIG = """
[bridge]
timezone = "America/New_York"

[looks]
night = "20:00-07:00"
night_brightness = 25

[looks.default]
preset = "colour_blind"
engaged = "#ff00ff solid"

[looks.lobby]
preset = "public"
"""


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_every_set_is_published_and_dims_at_night(tmp_path: Path) -> None:
    path = tmp_path / "focuslight.toml"
    path.write_text(CONFIG.replace("[bridge]\n", f'[bridge]\nstate_dir = "{tmp_path}"\n'))
    clock = Clock(datetime(2026, 12, 1, 0, 59, tzinfo=UTC))  # 19:59 in New York
    looks = SiteLooks(load(path), clock)
    sent: list[list[tuple[str, bytes]]] = []
    messages = dict(looks.messages())
    assert sorted(messages) == [f"focuslight/looks/{n}" for n in
                                ("colour_blind", "default", "lobby", "public")]
    default = decode_looks(messages["focuslight/looks/default"])
    assert default.looks["engaged"].rgb == (255, 0, 255)
    assert default.looks["ringing"] == PRESETS["colour_blind"].looks["ringing"]
    assert decode_looks(messages["focuslight/looks/lobby"]) == PRESETS["public"]
    looks.tick(sent.append)
    assert sent == []
    clock.now += timedelta(minutes=1)  # 20:00: night
    looks.tick(sent.append)
    assert {decode_looks(p).brightness for _, p in sent[0]} == {25}
    clock.now += timedelta(hours=11)  # 07:00: day
    looks.tick(sent.append)
    assert len(sent) == 2 and {decode_looks(p).brightness for _, p in sent[1]} == {100}


def test_a_set_dropped_from_the_config_is_cleared(tmp_path: Path) -> None:
    path = tmp_path / "focuslight.toml"
    path.write_text(f'[bridge]\nstate_dir = "{tmp_path}"\n[looks.lobby]\npreset = "public"\n')
    first = dict(SiteLooks(load(path)).messages())
    assert first["focuslight/looks/lobby"]
    path.write_text(f'[bridge]\nstate_dir = "{tmp_path}"\n')
    second = SiteLooks(load(path))
    messages = second.messages()
    assert ("focuslight/looks/lobby", b"") in messages
    assert ("focuslight/looks/lobby", b"") in second.messages()  # again with every session
    assert ("focuslight/looks/lobby", b"") not in SiteLooks(load(path)).messages()
    path.write_text(f'[bridge]\nstate_dir = "{tmp_path}"\n[looks]\npublish = false\n')
    assert SiteLooks(load(path)).messages() == []
