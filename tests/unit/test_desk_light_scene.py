"""What a USB light shows at each moment (``focuslight.desk.light.Scene``): the same as a
beacon draws — the state's look, a cue blipped over a solid or pulsing look only, no cue
over ``unknown``, the set's brightness — computed, no device needed."""

from __future__ import annotations

from focuslight.desk.light import Scene
from focuslight.protocol.looks import DEFAULT, PRESETS

RED, CYAN, DARK = (255, 0, 0), (0, 180, 255), (0, 0, 0)


def test_a_reply_due_cue_double_blips_over_engaged_every_two_seconds() -> None:
    scene = Scene()
    scene.show("engaged", "reply_due", 1000)
    seen = {t: scene.rgb(1000 + t) for t in range(0, 2000, 50)}
    assert [t for t, rgb in seen.items() if rgb == CYAN] == [0, 50, 100, 350, 400, 450]
    assert {rgb for rgb in seen.values()} == {RED, CYAN}
    assert scene.rgb(1000 + 2000) == CYAN  # and again
    assert scene.wait_ms(1000 + 20) == 130  # wakes at the blip's end, not before
    assert scene.wait_ms(1000 + 600) == 1400  # then at the next period


def test_a_customer_waiting_cue_is_one_long_blip() -> None:
    scene = Scene()
    scene.show("hold", "customer_waiting", 0)
    assert scene.rgb(599) == CYAN and scene.rgb(600) != CYAN


def test_no_cue_over_a_blink_over_unknown_or_a_cue_the_set_does_not_know() -> None:
    scene = Scene()
    scene.show("ringing", "reply_due", 0)
    assert {scene.rgb(t) for t in range(0, 2000, 10)} == {RED, DARK}
    scene.show("unknown", "reply_due", 0)
    assert scene.cue is None and CYAN not in {scene.rgb(t) for t in range(0, 2000, 10)}
    scene.show("engaged", "tea_break", 0)
    assert scene.rgb(0) == RED and scene.wait_ms(0) is None


def test_a_set_recolours_and_dims_and_available_may_be_off() -> None:
    scene = Scene(brightness=0.5)
    scene.show("engaged", None, 0)
    assert scene.rgb(0) == (128, 0, 0)
    scene.use(PRESETS["colour_blind"].dimmed(50), 0)
    assert scene.rgb(0) == PRESETS["colour_blind"].looks["engaged"].rgb_at(0, 0.25)
    dark = Scene(DEFAULT, available_off=True)
    dark.show("available", None, 0)
    assert dark.rgb(0) == DARK
