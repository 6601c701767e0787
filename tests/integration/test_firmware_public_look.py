"""A beacon that faces customers follows the site's ``public`` looks (docs/counter-sign.md):
the real bridge publishes the set, the real firmware on the unix port shows it."""

from __future__ import annotations

import queue
import subprocess
import sys
import time

from helpers.sources import BridgeProcess, bridge_config

from focuslight.tools.virtual_beacon import VirtualBeacon

PREFIX = "fl-public"


def looks_until(beacon: VirtualBeacon, wanted: str, timeout: float = 15.0) -> list[str]:
    """Every look the beacon showed until *wanted* (``<state> <colour> <pattern>``)."""
    deadline, seen = time.monotonic() + timeout, []
    while not seen or seen[-1] != wanted:
        try:
            kind, value = beacon.events.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"never showed {wanted!r}: {seen}") from None
        if kind == "look":
            seen.append(str(value))
    return seen


def test_a_busy_counter_is_calm_blue_on_a_public_light_never_red(mosquitto, tmp_path) -> None:
    """From boot on (the set is subscribed before the status: no built-in red first)."""
    bridge = BridgeProcess(tmp_path, bridge_config(mosquitto.url, PREFIX, ["counter-1"],
                                                   'type = "simulated"\nagents = []\n'))
    config = {"agent": "counter-1", "beacon": "counter-1-lamp", "board": "unix",
              "broker": mosquitto.host, "port": mosquitto.port, "prefix": PREFIX,
              "looks": "public"}

    def set_state(state: str) -> None:
        subprocess.run([sys.executable, "-m", "focuslight", "set", "counter-1", state,
                        "--broker", mosquitto.url, "--prefix", PREFIX],
                       check=True, capture_output=True, timeout=30)

    try:
        bridge.start_connected()
        set_state("engaged")
        with VirtualBeacon(config) as beacon:
            seen = looks_until(beacon, "engaged ok_blue solid")
            for state, look in (("dnd", "dnd ok_blue solid"), ("wrap_up", "wrap_up ok_blue solid"),
                                ("available", "available green solid")):
                set_state(state)
                seen += looks_until(beacon, look)
        assert not [look for look in seen if "red" in look or "amber" in look], seen
    finally:
        bridge.kill()
