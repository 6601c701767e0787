"""The host's looks (``protocol/looks.py``): the same table as the firmware's, the rules
every look keeps (no more than 3 flashes a second; ``unknown`` never green, never dark),
every built-in and preset look checked against them, and the decoder against
tests/contract/vectors/looks.json (the firmware runs the same file)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers.firmware import run_script

from focuslight.protocol import STATES, ProtocolError, Topics
from focuslight.protocol.looks import (
    BLINK,
    DEFAULT_LOOKS,
    MAX_FLASHES_PER_S,
    PRESETS,
    PULSE,
    SOLID,
    Look,
    check_look,
    decode_looks,
    looks,
    parse_cue,
    parse_look,
)

VECTORS = json.loads((Path(__file__).parent / "vectors" / "looks.json").read_text())


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: c["name"])
def test_looks_vectors(case: dict) -> None:
    payload = case["payload"].encode()
    if not case["ok"]:
        with pytest.raises(ProtocolError) as err:
            decode_looks(payload)
        assert case["reason"].lower() in str(err.value).lower()
        return
    decoded = decode_looks(payload)
    assert decoded.brightness == case["brightness"]
    assert {s: [*look.rgb, look.pattern, look.period_ms] for s, look in decoded.looks.items()
            } == case["looks"]
    assert {c: [*cue.rgb, cue.rhythm] for c, cue in decoded.cues.items()} == case["cues"]
    assert decode_looks(decoded.encode()) == decoded


def test_looks_topics() -> None:
    for case in VECTORS["topics"]:
        assert Topics(case["prefix"]).looks(case["name"]) == case["topic"]


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_look_flashes_at_most_3_times_a_second(name: str) -> None:
    preset = PRESETS[name]
    assert set(preset.looks) == set(STATES)
    for state, look in preset.looks.items():
        assert look.flashes_per_s <= MAX_FLASHES_PER_S, (name, state, look)
        assert check_look(state, look) is look
    assert len(preset.encode()) <= 512


def test_the_colour_blind_preset_tells_states_apart_without_hue() -> None:
    """No two states share pattern, period and brightness class (off, dim, bright)."""
    preset = PRESETS["colour_blind"]
    shapes = {s: (look.pattern, look.period_ms, (max(look.rgb) > 0) + (max(look.rgb) > 128))
              for s, look in preset.looks.items()}
    assert len(set(shapes.values())) == len(STATES), shapes


def test_the_public_preset_never_shows_red_nor_blinks_while_busy() -> None:
    """A customer-facing light: green = come forward, one calm steady colour = please wait
    (neither red nor the staff's wrap-up amber), off = closed; unknown is never the free look."""
    public = PRESETS["public"].looks
    for state, look in public.items():
        assert look.rgb[0] < 128, state  # nothing red, orange or amber
        if state != "unknown":
            assert look.pattern == "solid", state
    busy = {public[s] for s in ("ringing", "engaged", "hold", "wrap_up", "dnd")}
    assert len(busy) == 1 and busy.isdisjoint({public["available"], public["unknown"]})
    assert public["wrap_up"] != DEFAULT_LOOKS["wrap_up"]


def test_a_set_breaking_a_rule_cannot_be_built() -> None:
    with pytest.raises(ProtocolError, match="faster than 3 flashes"):
        looks({**DEFAULT_LOOKS, "ringing": Look.of((255, 0, 0), BLINK, 300)})


def test_a_config_names_colours_or_writes_them_in_hex() -> None:
    assert parse_look("vermillion  blink 500", "ringing") == Look(
        "vermillion", (213, 94, 0), BLINK, 500)
    assert parse_look("#00B4FF solid", "dnd") == Look("cyan", (0, 180, 255))
    assert parse_cue("reddish_purple long-blip", "reply_due").rgb == (204, 121, 167)
    for bad in ("red", "pink solid", 3, "red blink 100"):
        with pytest.raises(ProtocolError, match="ringing"):
            parse_look(bad, "ringing")



@pytest.fixture(scope="module")
def firmware_looks(tmp_path_factory) -> dict[str, list]:
    """``firmware/beacon/look.py``'s LOOKS, read on the MicroPython unix port."""
    script = "import json\nfrom beacon.look import LOOKS\nprint(json.dumps(LOOKS))\n"
    out = run_script(script, tmp_path_factory.mktemp("looks")).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_every_state_has_a_look_that_keeps_the_rules() -> None:
    assert set(DEFAULT_LOOKS) == set(STATES)
    for state, look in DEFAULT_LOOKS.items():
        assert check_look(state, look) is look


def test_the_host_shows_what_the_beacon_shows(firmware_looks) -> None:
    """Colour, rgb and pattern match the firmware's for every state; so does the period,
    except where the firmware's blinks faster than the rule allows (then the host's is
    the one within it)."""
    for state, look in DEFAULT_LOOKS.items():
        colour, rgb, pattern, period = firmware_looks[state]
        assert (look.colour, look.rgb, look.pattern) == (colour, tuple(rgb), pattern), state
        if pattern == SOLID or period * MAX_FLASHES_PER_S >= 1000:
            assert look.period_ms == period, state
        else:
            assert look.period_ms * MAX_FLASHES_PER_S >= 1000, state


def test_a_blink_flips_between_the_colour_and_dark_and_a_pulse_never_goes_dark() -> None:
    ringing = DEFAULT_LOOKS["ringing"]
    shown = {ringing.rgb_at(t) for t in range(0, 2000, 10)}
    assert shown == {(255, 0, 0), (0, 0, 0)}
    hold = DEFAULT_LOOKS["hold"]
    levels = {hold.rgb_at(t)[0] for t in range(0, hold.period_ms, 10)}
    assert min(levels) > 0 and max(levels) == 255 and len(levels) > 20
    assert DEFAULT_LOOKS["engaged"].rgb_at(12345, brightness=0.5) == (128, 0, 0)


@pytest.mark.parametrize(("state", "look", "why"), [
    ("ringing", Look("red", (255, 0, 0), BLINK, 300), "faster than 3 flashes"),
    ("hold", Look("red", (255, 0, 0), PULSE, 200), "faster than 3 flashes"),
    ("unknown", Look("green", (0, 200, 0), BLINK, 2000), "neither green nor dark"),
    ("unknown", Look("teal", (0, 200, 150)), "neither green nor dark"),
    ("unknown", Look("off", (0, 0, 0)), "neither green nor dark"),
    ("unknown", Look("dim", (10, 10, 20)), "neither green nor dark"),
    ("engaged", Look("red", (256, 0, 0)), "three integers"),
    ("engaged", Look("red", (255, 0, 0), "strobe", 500), "pattern must be"),
    ("lunch", Look("red", (255, 0, 0)), "no such state"),
])
def test_a_look_that_breaks_a_rule_is_refused(state: str, look: Look, why: str) -> None:
    with pytest.raises(ProtocolError, match=why):
        check_look(state, look)


def test_unknown_may_be_any_lit_colour_but_green() -> None:
    for rgb in ((0, 0, 255), (255, 255, 255), (0, 180, 255), (140, 0, 255)):
        check_look("unknown", Look("x", rgb, BLINK, 2000))


def test_every_animation_of_the_pages_flashes_at_most_3_times_a_second() -> None:
    """The floor board and the counter sign draw looks too: every CSS animation lasts at
    least a third of a second (one flash per cycle at most)."""
    static = Path(__file__).resolve().parents[2] / "host" / "focuslight" / "views"
    durations = [float(m[1]) * (1 if m[2] == "s" else 0.001)
                 for css in static.glob("*/static/*.css")
                 for m in re.finditer(r"animation:\s*[\w-]+\s+([\d.]+)(m?s)", css.read_text())]
    assert durations and min(durations) * MAX_FLASHES_PER_S >= 1, durations
