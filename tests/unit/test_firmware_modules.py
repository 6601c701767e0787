"""Firmware modules on the real MicroPython unix port (not CPython).

Each test runs a small script with ``micropython -X heapsize=200k`` and the
firmware on MICROPYPATH, then checks what it printed: the render table against
the design (through the unix NeoPixel seam), the button's debounce and hold
with a fake clock, the boot-time config validation. The shared vectors run
through the firmware in ``tests/contract/test_firmware_vectors.py``.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import time

import pytest
from helpers.firmware import ROOT, run_script

from focuslight.tools.virtual_beacon import firmware_command, firmware_env, free_udp_port


def test_a_message_handler_that_raises_costs_one_log_line_not_the_link(tmp_path) -> None:
    """The last-resort guard: an extra (telemetry, update) that raises on a message is
    logged and the next message is handled; the link keeps reading."""
    script = """
from beacon import config
from beacon.net import MqttLink
from beacon.view import View

class Broken:
    topics = (b"fw/beacons/a-1/update",)
    def message(self, topic, payload, retained):
        raise KeyError("offer")

cfg = config.validate({"agent": "alice", "beacon": "a-1", "board": "unix",
                       "broker": "127.0.0.1", "prefix": "fw"})
view = View()
view.linked = True
link = MqttLink(cfg, view, lambda: None)
link.extras = (Broken(),)
link._message(b"fw/beacons/a-1/update", memoryview(b"{}"), False)
link._message(b"fw/agents/alice/status",
              memoryview(b'{"v":1,"state":"dnd","source":"x","since":1}'), False)
print("shown", view.shown())
"""
    out = run_script(script, tmp_path).stdout
    assert "ignored message on fw/beacons/a-1/update: KeyError: offer (a firmware bug" in out
    assert "shown dnd" in out


# -- rendering ----------------------------------------------------------------------

DESIGN = {  # the design's States table: state -> (colour, pattern)
    "available": ("green", "solid"),
    "ringing": ("red", "blink"),
    "engaged": ("red", "solid"),
    "hold": ("red", "pulse"),
    "wrap_up": ("amber", "solid"),
    "dnd": ("purple", "solid"),
    "away": ("off", "solid"),
    "unknown": ("blue", "blink"),
}
HUE = {  # what each colour name means in RGB terms
    "green": lambda r, g, b: g > 0 and r == b == 0,
    "red": lambda r, g, b: r > 0 and g == b == 0,
    "amber": lambda r, g, b: r > g > 0 and b == 0,
    "purple": lambda r, g, b: r > 0 and b > 0 and g == 0,
    "blue": lambda r, g, b: b > 0 and r == g == 0,
    "off": lambda r, g, b: r == g == b == 0,
}

RENDER_SCRIPT = f"""
import sys
from beacon.led import NeoPixelLed
from beacon.look import Renderer

for brightness, available_off in ((1.0, False), (0.5, True)):
    for state in {list(DESIGN)!r}:
        r = Renderer(NeoPixelLed(0, 3), brightness, available_off)
        print("case", state, brightness)
        sys.stderr.write("case %s %s\\n" % (state, brightness))
        r.set_state(state, 0)
        for t in range(0, 5000, 10):
            sys.stderr.write("t %d\\n" % t)
            r.tick(t)
"""


def _frames(stderr: str) -> dict[tuple[str, float], list[tuple[int, tuple[int, ...]]]]:
    """{(state, brightness): [(t, rgb) for every frame the NeoPixel seam wrote]}."""
    out: dict = {}
    key, t = None, 0
    for line in stderr.splitlines():
        word = line.split()
        if word[0] == "case":
            key, t = (word[1], float(word[2])), 0
            out[key] = []
        elif word[0] == "t":
            t = int(word[1])
        elif word[0] == "px":
            out[key].append((t, tuple(map(int, word[1:]))))
    return out


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    result = run_script(RENDER_SCRIPT, tmp_path_factory.mktemp("render"), frames=True)
    return result.stdout, _frames(result.stderr)


def test_render_table_matches_the_design(rendered) -> None:
    logs, frames = rendered
    for state, (colour, pattern) in DESIGN.items():
        assert f"beacon: led {state} {colour} {pattern}" in logs
        seen = frames[(state, 1.0)]
        colours = {rgb for _t, rgb in seen}
        lit = {rgb for rgb in colours if any(rgb)}
        assert all(HUE[colour](*rgb) for rgb in (lit or colours)), (state, colours)
        if pattern == "solid":
            assert len(colours) == 1, (state, colours)
        elif pattern == "blink":
            assert len(colours) == 2 and (0, 0, 0) in colours, (state, colours)
        else:  # pulse: many levels, never dark
            assert len(lit) > 20 and (0, 0, 0) not in colours, (state, colours)


def test_blink_speeds_pulse_and_dim_available(rendered) -> None:
    _logs, frames = rendered

    def period(state: str) -> int:
        times = [t for t, rgb in frames[(state, 1.0)] if any(rgb)]
        return times[1] - times[0]

    # fast blink vs slow blink, and never over 3 flashes a second (a period of 334 ms)
    assert 334 <= period("ringing") < period("unknown")
    assert frames[("ringing", 1.0)][0][1] != (0, 0, 0)  # a new state shows at once
    engaged = frames[("engaged", 1.0)][0][1]
    assert max(frames[("available", 1.0)][0][1]) < max(engaged) / 2  # available is dim


def test_brightness_scales_and_available_can_be_off(rendered) -> None:
    logs, frames = rendered
    full, half = frames[("engaged", 1.0)][0][1], frames[("engaged", 0.5)][0][1]
    assert abs(half[0] - full[0] / 2) <= 1
    assert frames[("available", 0.5)] == [(0, (0, 0, 0))]
    assert "beacon: led available off solid" in logs
    assert all(rgb[1] == 0 for _t, rgb in frames[("unknown", 0.5)])  # never green


CUE_SCRIPT = """
import sys
from beacon.led import NeoPixelLed
from beacon.look import Renderer

def play(name, steps):
    r = Renderer(NeoPixelLed(0, 3))
    sys.stderr.write("case %s\\n" % name)
    print("case", name)
    for start, state, cue in steps:
        for t in range(start, start + 4000, 10):
            sys.stderr.write("t %d\\n" % t)
            if t == start:
                r.set_state(state, t, cue)
            else:
                r.tick(t)

play("reply_due", [(0, "engaged", "reply_due"), (4000, "engaged", None)])
play("customer_waiting", [(0, "hold", "customer_waiting")])
play("ringing", [(0, "ringing", "reply_due"), (4000, "engaged", "reply_due")])
play("unknown", [(0, "unknown", "reply_due")])
play("newer", [(0, "dnd", "kettle_on")])
"""
CYAN = (0, 180, 255)


def _flashes(frames: list[tuple[int, tuple[int, ...]]], rgb: tuple[int, ...]) -> list[int]:
    """When each flash of *rgb* began (a frame turning to it)."""
    return [t for t, got in frames if got == rgb]


def test_a_cue_blips_cyan_over_a_steady_look_and_never_over_a_blinking_one(tmp_path) -> None:
    """reply_due: two cyan blips every 2 s over the state's look, gone the moment it clears;
    customer_waiting: one long blip; no cue over ringing (two rhythms would pass 3 flashes/s)
    nor over unknown; a cue this firmware does not know draws nothing."""
    result = run_script(CUE_SCRIPT, tmp_path, frames=True)
    logs = result.stdout
    seen: dict[str, list[tuple[int, tuple[int, ...]]]] = {}
    key, t = "", 0
    for line in result.stderr.splitlines():
        word = line.split()
        if word[0] == "case":
            key = word[1]
            seen[key] = []
        elif word[0] == "t":
            t = int(word[1])
        elif word[0] == "px":
            seen[key].append((t, tuple(map(int, word[1:]))))
    blips = _flashes(seen["reply_due"], CYAN)
    assert blips == [0, 350, 2000, 2350], seen["reply_due"][:8]  # none from 4000 on: cleared
    assert max(sum(b <= s < b + 1000 for s in blips) for b in blips) <= 3  # flashes per second
    red = [(t, rgb) for t, rgb in seen["reply_due"] if t not in blips]
    assert {rgb for _t, rgb in red} == {(255, 0, 0)}  # between blips: the state's own look
    waiting = [t for t, rgb in seen["customer_waiting"] if rgb == CYAN]
    assert waiting == [0, 2000]
    after = next(t for t, rgb in seen["customer_waiting"] if t > 0 and rgb != CYAN)
    assert 600 <= after < 700  # one long blip, then the hold pulse again
    assert CYAN not in {rgb for t, rgb in seen["ringing"] if t < 4000}
    assert _flashes(seen["ringing"], CYAN)[:1] == [4000]  # answered: the cue shows at once
    assert CYAN not in {rgb for _t, rgb in seen["unknown"] + seen["newer"]}
    assert logs.count("beacon: led cue reply_due cyan double-blip") == 2
    assert "beacon: led cue customer_waiting cyan long-blip" in logs
    assert logs.count("beacon: led cue off") == 1


# -- button ---------------------------------------------------------------------------

BUTTON_SCRIPT = """
import json
from time import ticks_add
from beacon.button import Button

START = ticks_add(0, -700)  # the fake clock wraps around mid-test

def play(samples):
    # samples: [(pressed, for_ms)], sampled every 10 ms like the firmware
    b, t, out = Button(), 0, []
    for pressed, ms in samples:
        for _ in range(ms // 10):
            action = b.update(pressed, ticks_add(START, t))
            if action:
                out.append([action, t])
            t += 10
    print(json.dumps(out))

bounce = [(True, 10), (False, 10)] * 3
play(bounce + [(True, 150)] + bounce + [(False, 200)])  # one clean press
play([(True, 20), (False, 200)])                        # a 20 ms glitch: nothing
play([(True, 900), (False, 100)])                       # 0.9 s: still a press
play([(True, 1500), (False, 100)])                      # hold, once, silent release
"""


def test_button_debounce_and_hold_with_a_fake_clock(tmp_path) -> None:
    out = [json.loads(line) for line in run_script(BUTTON_SCRIPT, tmp_path).stdout.split("\n")
           if line]
    clean, glitch, long_press, hold = out
    assert [a for a, _t in clean] == ["press"]
    assert glitch == []
    assert [a for a, _t in long_press] == ["press"] and long_press[0][1] >= 900
    assert [a for a, _t in hold] == ["hold"] and 1000 <= hold[0][1] <= 1100


# -- config ---------------------------------------------------------------------------

GOOD = {"agent": "alice", "beacon": "alice-desk", "board": "unix", "broker": "127.0.0.1"}


@pytest.mark.parametrize(("change", "message"), [
    ({"brightness": 2}, "key 'brightness' must be a number from 0 to 1, got 2"),
    ({"agent": "Alice"}, "key 'agent' must be an id matching [a-z0-9_-]{1,64}, got 'Alice'"),
    ({"led": "lamp"}, "key 'led' must be one of"),
    ({"rgb_pins": [1, 2]}, "key 'rgb_pins' must be a list of three GPIO numbers"),
    ({"colour": "red"}, "unknown key 'colour'"),
    ({"broker": ""}, "key 'broker' is missing"),
    ({"board": "pico_w"}, "key 'wifi_ssid' is missing"),
    ({"beacon": None}, "key 'beacon' is missing"),
    ({"tls": True}, "tls is on but ca.pem is not on the board; write it with `focuslight flash"),
    ({"link_timeout": 1}, "key 'link_timeout' must be an integer number of seconds from 2"),
])
def test_bad_config_says_file_key_expected_and_blinks_error(tmp_path, change, message) -> None:
    config = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    (tmp_path / "config.json").write_text(json.dumps(config))
    out = _boot(tmp_path)
    assert f"beacon: config error: config.json: {message}" in out
    assert "beacon: led error white flash" in out


def test_missing_or_broken_config_file(tmp_path) -> None:
    assert "config.json: file not found" in _boot(tmp_path)
    (tmp_path / "config.json").write_text("{agent: alice")
    assert "config.json: not valid JSON" in _boot(tmp_path)


def _boot(cwd) -> str:
    """Boot main.py until it blinks the error (or 15 s pass), then pull the plug."""
    proc = subprocess.Popen(firmware_command(), cwd=cwd, env=firmware_env(free_udp_port()),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = b""
    deadline = time.monotonic() + 15
    while not (b"led error" in out and out.endswith(b"\n")) and time.monotonic() < deadline:
        if select.select([proc.stdout], [], [], 0.5)[0]:
            out += os.read(proc.stdout.fileno(), 4096)
    proc.kill()
    proc.communicate()
    return out.decode()


def test_firmware_imports_nothing_cpython_only() -> None:
    banned = ("typing", "dataclasses", "__future__", "pathlib", "logging", "enum")
    for path in (ROOT / "firmware").rglob("*.py"):
        text = path.read_text()
        for name in banned:
            assert f"import {name}" not in text and f"from {name}" not in text, (path, name)


def test_rgb_led_drives_three_pwm_pins_and_config_fills_board_pins(tmp_path) -> None:
    script = """
import json
from beacon import config
from beacon.led import make
from beacon.look import Renderer

cfg = config.validate({"agent": "alice", "beacon": "a-1", "board": "pico_w", "wifi_ssid": "x",
                       "broker": "10.0.0.2", "led": "rgb", "button_pin": 3})
led = make(cfg)
Renderer(led, 1.0).set_state("wrap_up", 0)
print(json.dumps({"cfg": cfg, "duty": [p.duty_u16() for p in led._pwm],
                  "pins": [p.pin.id for p in led._pwm]}))
"""
    out = json.loads(run_script(script, tmp_path).stdout.splitlines()[-1])
    cfg = out["cfg"]
    assert cfg["button_pin"] == 3 and cfg["neopixel_pin"] == 28 and cfg["watchdog_ms"] == 8000
    assert cfg["port"] == 1883 and cfg["prefix"] == "focuslight" and cfg["keepalive"] == 30
    assert out["pins"] == [16, 17, 18]  # BOARDS["pico_w"]["rgb_pins"]
    assert out["duty"] == [65535, 110 * 257, 0]  # amber at full brightness


@pytest.mark.parametrize(("returns", "code", "line"), [
    ("None", 75, "beacon: the firmware returned; resetting"),
    ('"stopped"', 0, None),
])
def test_main_resets_when_the_app_returns_but_not_after_a_ctrl_c(tmp_path, returns, code,
                                                                  line) -> None:
    """A board whose app.main() returned would sit in the REPL with its light frozen:
    main.py resets it (the unix port's machine.reset() exits 75); after a Ctrl-C
    (app.main returns "stopped") the REPL is what flash and mpremote want."""
    (tmp_path / "main.py").write_bytes((ROOT / "firmware" / "main.py").read_bytes())
    (tmp_path / "beacon").mkdir()
    (tmp_path / "beacon" / "__init__.py").write_text("")
    (tmp_path / "beacon" / "app.py").write_text(
        f"def main(path='config.json', wdt=None):\n    print('app: back')\n    return {returns}\n")
    done = subprocess.run(firmware_command(tmp_path), cwd=tmp_path, capture_output=True,
                          text=True, env=firmware_env(free_udp_port(), firmware=tmp_path),
                          timeout=30)
    assert done.returncode == code, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "app: back"
    assert (line in lines) if line else lines == ["app: back"]


def test_an_error_after_the_trial_was_confirmed_rolls_nothing_back(tmp_path) -> None:
    """Once the new firmware reached the broker (update.json says "done"), a later error is
    that firmware's own, as on any boot: main.py must not put the old firmware back."""
    (tmp_path / "main.py").write_bytes((ROOT / "firmware" / "main.py").read_bytes())
    for package in ("beacon", "beacon.new"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    new = tmp_path / "beacon.new"
    (new / "config.py").write_text("def load(path='config.json'):\n    return {}\n")
    (new / "app.py").write_text(
        "import json\n"
        "def main(path='config.json', wdt=None):\n"
        "    with open('update.json', 'w') as f:\n"  # what beacon/update.py does on connect
        "        json.dump({'state': 'done', 'version': '9.9.9'}, f)\n"
        "    raise ValueError('a bug after the confirmation')\n")
    (tmp_path / "update.json").write_text('{"state": "pending", "version": "9.9.9"}')
    done = subprocess.run(firmware_command(tmp_path), cwd=tmp_path, capture_output=True,
                          text=True, env=firmware_env(free_udp_port(), firmware=tmp_path),
                          timeout=30)
    assert "beacon: trying firmware 9.9.9" in done.stdout, done.stdout + done.stderr
    assert "rolled back" not in done.stdout, done.stdout
    assert "a bug after the confirmation" in done.stdout + done.stderr
    assert (tmp_path / "beacon" / "app.py").exists()  # the new firmware stays in place
    assert json.loads((tmp_path / "update.json").read_text())["state"] == "done"
