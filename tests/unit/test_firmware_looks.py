"""The beacon's side of a site's looks (firmware/beacon/looks.py) on the unix port: a set
changes what the LED shows, dims it, a bad set is refused and the last good one kept."""

from __future__ import annotations

import json

from helpers.firmware import run_script

from focuslight.protocol.looks import PRESETS, Look, LookSet, looks

SCRIPT = """
import json, sys
from beacon.led import NeoPixelLed
from beacon.look import Renderer
from beacon.looks import SiteLooks

now = [0]
r = Renderer(NeoPixelLed(0, 1), 1.0, False)
site = SiteLooks({"looks": "lobby", "prefix": "fl"}, r, lambda: now[0])
topic = site.topics[0]
print("topic", topic.decode())
r.set_state("engaged", 0)
for line in open("sets.txt"):
    payload = bytes.fromhex(line.strip())
    now[0] += 100
    sys.stderr.write("set\\n")
    try:
        site.message(topic, payload, True)
    except ValueError as e:
        print("refused", e)
    r.tick(now[0])
"""


def _custom(**change: Look) -> LookSet:
    return looks({**PRESETS["default"].looks, **change})


def test_a_set_changes_the_light_dims_it_and_a_bad_one_is_refused(tmp_path) -> None:
    magenta = _custom(engaged=Look.of((255, 0, 255)))
    bad = PRESETS["default"].encode().replace(b"ff0000 blink 500", b"ff0000 blink 300")
    sets = [magenta.encode(), magenta.dimmed(20).encode(), bad, b"", magenta.encode()]
    (tmp_path / "sets.txt").write_text("\n".join(p.hex() for p in sets))
    result = run_script(SCRIPT, tmp_path, frames=True)
    logs = result.stdout.splitlines()
    frames = [line for line in result.stderr.splitlines() if line.startswith(("px", "set"))]
    assert logs[0] == "topic fl/looks/lobby"
    assert logs[1:] == [
        "beacon: led engaged red solid",
        "beacon: looks: set lobby, brightness 100%",
        "beacon: led engaged #ff00ff solid",  # the site's look replaces the built-in one
        "beacon: looks: set lobby, brightness 20%",  # same look, dimmer: no led line
        "refused ringing: a blink of 300 ms is faster than 3 flashes a second",
        "beacon: looks: set lobby cleared; built-in looks",
        "beacon: led engaged red solid",
        "beacon: looks: set lobby, brightness 100%",
        "beacon: led engaged #ff00ff solid"]
    shown = [frames[i + 1] for i, f in enumerate(frames[:-1]) if f == "set"
             and frames[i + 1] != "set"]
    assert shown[:2] == ["px 255 0 255", "px 51 0 51"]  # 20% of full
    assert json.loads(magenta.encode())["looks"]["engaged"] == "ff00ff solid"
