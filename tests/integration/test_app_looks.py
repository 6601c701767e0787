"""A site's looks end to end: real mosquitto, the real bridge process, the real firmware
on the MicroPython unix port. A configured look changes what the beacon shows, night
brightness dims its LED, and an agent outside their working hours shows ``away``.

The bridge reads the real clock, so the config puts *now* inside the night and outside
Alice's hours (tests/unit/test_outputs_looks.py and test_sources_schedule.py move a clock
across the edges instead)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from helpers.sources import BridgeProcess
from helpers.waiting import wait_event

from focuslight.mqtt.client import BrokerSettings
from focuslight.tools.virtual_beacon import VirtualBeacon, firmware_config

PREFIX = "lk"


def _hours_not_now() -> str:
    """An hour of every day that is not this one (nor the next, should the test run long)."""
    hour = datetime.now(UTC).hour
    return f"{(hour + 3) % 24:02d}:00-{(hour + 4) % 24:02d}:00"


def _frame(beacon: VirtualBeacon, wanted: tuple[int, int, int], timeout: float = 15) -> None:
    """Wait until the LED seam shows *wanted*."""
    deadline = time.monotonic() + timeout
    while True:
        kind, value = beacon.events.get(timeout=max(0.01, deadline - time.monotonic()))
        if kind == "px" and tuple(value) == wanted:
            return


def test_a_site_look_dims_at_night_and_hours_show_away(mosquitto, peer_factory,
                                                       tmp_path: Path) -> None:
    bridge = BridgeProcess(tmp_path, f"""
[bridge]
broker = "{mosquitto.url}"
prefix = "{PREFIX}"
timezone = "UTC"
state_dir = "{tmp_path}"

[agents.alice]
hours = "{_hours_not_now()}"

[agents.bob]

[looks]
night = "00:00-24:00"
night_brightness = 20

[looks.default]
engaged = "vermillion solid"
""")
    broker = BrokerSettings.resolve(mosquitto.url, None)
    bridge.start_connected()
    try:
        with (VirtualBeacon(firmware_config(broker, "alice", prefix=PREFIX), frames=True) as alice,
              VirtualBeacon(firmware_config(broker, "bob", prefix=PREFIX), frames=True) as bob):
            # alice has no source at all: without her hours she would be unknown
            wait_event(alice, "look", "away off solid")
            wait_event(bob, "log", "looks: set default, brightness 20%")
            peer = peer_factory(mosquitto)
            peer.publish(f"{PREFIX}/agents/bob/set", b'{"state":"engaged"}')
            wait_event(bob, "look", "engaged vermillion solid")  # the site's look
            _frame(bob, (213 * 51 // 255, 94 * 51 // 255, 0))  # 20 % of vermillion
    finally:
        bridge.stop()
