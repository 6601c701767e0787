"""End to end: the virtual beacon (real firmware on the unix port) against a
real mosquitto, with a paho peer or the real bridge on the other side.

What is checked is what an agent would see: the look the firmware drove its
LED seam to (``<state> <colour> <pattern>`` lines of the virtual beacon).
"""

from __future__ import annotations

import json
import signal
import time

import pytest
from helpers.firmware import (
    AVAILABILITY,
    BRIDGE,
    EVENT,
    PREFIX,
    STATUS,
    beacon_factory,
    heap,
    status,
)
from helpers.relay import FreezableProxy
from helpers.sources import BridgeProcess
from helpers.waiting import wait_event

from focuslight.tools.embedded_broker import free_port
from focuslight.tools.virtual_beacon import VirtualBeacon


@pytest.fixture
def beacons():
    yield from beacon_factory()


def test_status_reaches_the_led_and_bad_payloads_are_ignored(mosquitto, peer_factory,
                                                              beacons) -> None:
    peer = peer_factory(mosquitto)
    peer.subscribe(f"{PREFIX}/beacons/#")
    beacon = beacons(mosquitto.url, PREFIX)
    beacon.wait_look("unknown blue blink")
    peer.wait_for(AVAILABILITY, lambda p: p == b"online")
    peer.publish(BRIDGE, "online", retain=True)
    peer.publish(STATUS, status("engaged"), retain=True)
    seen = beacon.wait_look("engaged red solid")
    # read in order, so a look the bridge's "online" caused would come before this one
    assert beacon.looks.lines[:seen] == ["unknown blue blink"]  # no status yet: still unknown
    future = status("engaged").replace(b'"v": 1', b'"v": 2')
    bad = [b"garbage", b"x" * 10_000, b'["engaged"]', future, status("busy"), b"\xff\xfe"]
    for payload in bad:
        peer.publish(STATUS, payload)
    peer.publish(STATUS, status("hold"))
    assert beacon.wait_look("hold red pulse", seen) == seen + 1  # nothing shown in between
    beacon.logs.wait_for("payload is 10000 bytes, limit is 512")
    ignored = [line for line in beacon.logs.lines if "ignored message on " + STATUS in line]
    assert len(ignored) == len(bad), beacon.logs.lines


def test_a_retired_agents_cleared_status_turns_its_beacon_unknown(mosquitto, peer_factory,
                                                                 beacons) -> None:
    """The bridge retires an agent by clearing its retained status (an empty message): the
    beacon must not keep its last colour, which nobody vouches for any more."""
    peer = peer_factory(mosquitto)
    peer.publish(BRIDGE, "online", retain=True)
    peer.publish(STATUS, status("available"), retain=True)
    beacon = beacons(mosquitto.url, PREFIX)
    seen = beacon.wait_look("available green")
    peer.publish(STATUS, b"", retain=True)
    seen = beacon.wait_look("unknown blue blink", seen)
    peer.publish(STATUS, status("dnd"), retain=True)  # the agent is back
    beacon.wait_look("dnd purple", seen)


def test_broker_loss_shows_unknown_then_the_retained_state(mosquitto, peer_factory,
                                                            beacons) -> None:
    peer = peer_factory(mosquitto)
    peer.publish(STATUS, status("engaged"), retain=True)
    beacon = beacons(mosquitto.url, PREFIX, "alice", "alice-desk", "--keepalive", "5")
    seen = beacon.wait_look("engaged red solid")
    mosquitto.kill()
    seen = beacon.wait_look("unknown blue blink", seen, timeout=5)  # within the keepalive
    mosquitto.start()
    peer_factory(mosquitto).publish(STATUS, status("ringing"), retain=True)
    beacon.wait_look("ringing red blink", seen, timeout=20)


def test_wifi_loss_is_unknown_until_it_comes_back(mosquitto, peer_factory, beacons) -> None:
    peer_factory(mosquitto).publish(STATUS, status("dnd"), retain=True)
    beacon = beacons(mosquitto.url, PREFIX)
    seen = beacon.wait_look("dnd purple solid")
    beacon.send("wifi off")
    seen = beacon.wait_look("unknown blue blink", seen, timeout=5)
    beacon.send("wifi on")
    beacon.wait_look("dnd purple solid", seen, timeout=15)
    assert beacon.logs.wait_for("wifi: lost")


def test_button_publishes_events_and_drops_them_offline(mosquitto, peer_factory,
                                                          beacons) -> None:
    peer = peer_factory(mosquitto)
    peer.subscribe(EVENT)
    beacon = beacons(mosquitto.url, PREFIX)
    beacon.logs.wait_for("mqtt: connected")
    beacon.send("press")
    assert json.loads(peer.wait_for(EVENT)) == {"v": 1, "button": "press"}
    beacon.send("hold")
    assert json.loads(peer.wait_for(EVENT)) == {"v": 1, "button": "hold"}
    time.sleep(0.5)  # the virtual finger leaves the button 1.3 s after a hold began
    beacon.send("wifi off")
    beacon.logs.wait_for("wifi: lost")
    beacon.send("press")
    beacon.logs.wait_for("button press (offline, not sent)")


# -- with the real bridge --------------------------------------------------------------


@pytest.fixture
def bridge(mosquitto, tmp_path):
    bridge = BridgeProcess(tmp_path, f"""
[bridge]
id = "main"
broker = "{mosquitto.url}"
prefix = "{PREFIX}"
[agents.alice]
beacons = ["alice-desk"]
""").start()
    yield bridge
    if bridge.alive():
        bridge.stop()


def test_with_the_bridge_button_dnd_restart_mid_call_and_will(mosquitto, bridge,
                                                              peer_factory, beacons) -> None:
    """No sources: alice is ``unknown`` (the bridge's own conclusion) until a manual state."""
    peer = peer_factory(mosquitto)
    peer.subscribe(STATUS)
    beacon = beacons(mosquitto.url, PREFIX)
    peer.wait_for_state(STATUS, "unknown")
    beacon.logs.wait_for("mqtt: connected")
    beacon.send("press")  # the bridge turns a press into dnd ...
    seen = beacon.wait_look("dnd purple solid")
    beacon.send("press")  # ... and the next press back to auto
    seen = beacon.wait_look("unknown blue blink", seen)

    peer.publish(f"{PREFIX}/agents/alice/set", b'{"state":"engaged"}')
    beacon.wait_look("engaged red solid", seen)
    beacon.stop()  # the beacon reboots mid-call ...
    again = beacons(mosquitto.url, PREFIX)
    started = time.monotonic()
    again.wait_look("engaged red solid", timeout=10)
    assert time.monotonic() - started < 5  # ... and shows engaged at once (retained)
    assert again.looks.lines[0].startswith("unknown")

    bridge.kill()  # no goodbye: the broker delivers the bridge's will
    again.wait_look("unknown blue blink", 1, timeout=10)


def test_a_cut_link_turns_unknown_within_5_s_by_default(mosquitto, peer_factory,
                                                        beacons) -> None:
    """Defaults only (link_timeout 4 s): the relay stops forwarding, nothing is closed, and
    the missing PINGRESPs turn the light unknown in under 5 s."""
    peer = peer_factory(mosquitto)
    peer.publish(STATUS, status("wrap_up"), retain=True)
    proxy = FreezableProxy(mosquitto.port)
    try:
        beacon = beacons(f"mqtt://127.0.0.1:{proxy.port}", PREFIX)
        seen = beacon.wait_look("wrap_up amber solid")
        proxy.frozen.set()
        frozen_at = time.monotonic()
        seen = beacon.wait_look("unknown blue blink", seen, timeout=5)
        took = time.monotonic() - frozen_at
        assert 1 < took < 5, took  # found by missing PINGRESPs, not by a close
        beacon.logs.wait_for("no answer from the broker for 4 s")
        proxy.frozen.clear()
        beacon.wait_look("wrap_up amber solid", seen, timeout=20)
    finally:
        proxy.close()


def test_a_frozen_broker_turns_unknown_within_5_s_by_default(mosquitto, peer_factory,
                                                             beacons) -> None:
    """SIGSTOP on mosquitto: its sockets stay open (the kernel even ACKs), it just never
    answers. Defaults only: unknown in under 5 s, the state back after SIGCONT."""
    peer_factory(mosquitto).publish(STATUS, status("dnd"), retain=True)
    beacon = beacons(mosquitto.url, PREFIX)
    seen = beacon.wait_look("dnd purple solid")
    assert mosquitto.proc
    mosquitto.proc.send_signal(signal.SIGSTOP)
    try:
        stopped_at = time.monotonic()
        seen = beacon.wait_look("unknown blue blink", seen, timeout=5)
        took = time.monotonic() - stopped_at
        assert took < 5, took
    finally:
        mosquitto.proc.send_signal(signal.SIGCONT)
    beacon.wait_look("dnd purple solid", seen, timeout=20)


def test_a_late_will_of_an_old_connection_is_corrected(mosquitto, peer_factory,
                                                        beacons) -> None:
    """After a silent link the broker may fire the old connection's will after the new
    connection said ``online``: the beacon sees it and says ``online`` again."""
    peer = peer_factory(mosquitto)
    peer.subscribe(AVAILABILITY)
    beacon = beacons(mosquitto.url, PREFIX)
    peer.wait_for(AVAILABILITY, lambda p: p == b"online")
    peer.publish(AVAILABILITY, b"offline", retain=True)  # what the broker does with a will
    peer.wait_for(AVAILABILITY, lambda p: p == b"offline")
    peer.wait_for(AVAILABILITY, lambda p: p == b"online")
    late = peer_factory(mosquitto)
    late.subscribe(AVAILABILITY)
    assert late.wait_for(AVAILABILITY) == b"online"  # the retained value is right again
    beacon.logs.wait_for("an old connection's will")


def test_a_broker_that_never_answers_connect_is_retried(mosquitto, peer_factory,
                                                        beacons) -> None:
    """TCP accepted but no CONNACK (a wedged broker): the connect times out, the beacon
    stays unknown and keeps trying, and gets through once the broker answers."""
    peer_factory(mosquitto).publish(STATUS, status("away"), retain=True)
    proxy = FreezableProxy(mosquitto.port)
    proxy.frozen.set()
    try:
        beacon = beacons(f"mqtt://127.0.0.1:{proxy.port}", PREFIX)
        beacon.logs.wait_for(": TimeoutError", timeout=20)
        assert beacon.looks.lines == ["unknown blue blink"]
        proxy.frozen.clear()
        beacon.wait_look("away off solid", timeout=20)
    finally:
        proxy.close()


def test_heap_stays_flat_over_many_messages(mosquitto, peer_factory) -> None:
    """gc.mem_alloc() of the firmware (200 KB heap) after 2,000 status changes and
    a few hundred bad payloads is what it was before them."""
    peer = peer_factory(mosquitto)
    config = {"agent": "alice", "beacon": "alice-desk", "board": "unix",
              "broker": mosquitto.host, "port": mosquitto.port, "prefix": PREFIX}
    with VirtualBeacon(config) as beacon:
        wait_event(beacon, "log", "mqtt: connected")
        # Retained: "connected" is logged before the broker has the subscription.
        peer.publish(STATUS, status("engaged"), retain=True)
        wait_event(beacon, "look", "engaged")
        before = heap(beacon)[0]
        for batch in range(10):
            for i in range(200):  # every 10th is too big: read past (1000 B) or rejected (600 B)
                peer.publish(STATUS, status(("hold", "dnd")[i % 2]) if i % 10
                             else b"x" * (1000 if i % 20 else 600))
            # Let the beacon catch up before the next batch: mosquitto queues at most 1,000
            # QoS 1 messages for a slow subscriber and drops the rest, so on a loaded machine
            # an unpaced flood could drop the very status this test waits for.
            marker = ("away", "wrap_up")[batch % 2]
            peer.publish(STATUS, status(marker))
            wait_event(beacon, "look", marker, timeout=60)
        assert heap(beacon)[0] - before < 512


def test_a_press_flashes_white_even_with_no_broker() -> None:
    """Local feedback: the LED seam gets a short full white flash, then unknown again."""
    config = {"agent": "alice", "beacon": "alice-desk", "board": "unix", "broker": "127.0.0.1",
              "port": free_port(), "brightness": 1.0}  # nothing listens there
    with VirtualBeacon(config, frames=True) as beacon:
        wait_event(beacon, "log", "ECONNREFUSED")
        beacon.press()
        # Frames and log lines come through different pipes: only each one's own
        # order is certain.
        frames, logs = [], []
        white = "(255, 255, 255)"
        deadline = time.monotonic() + 15
        while not (white in frames[:-1] and "button press (offline, not sent)" in logs):
            kind, value = beacon.events.get(timeout=max(0.01, deadline - time.monotonic()))
            if kind in ("px", "log"):
                (frames if kind == "px" else logs).append(str(value).split(": ", 1)[-1])
        after = frames[frames.index(white) + 1]
        assert after in ("(0, 0, 255)", "(0, 0, 0)")  # after the flash: blue or dark


def test_any_offline_bridge_means_unknown_until_online_or_cleared(mosquitto, peer_factory,
                                                                  beacons) -> None:
    peer = peer_factory(mosquitto)
    peer.publish(STATUS, status("engaged"), retain=True)
    peer.publish(BRIDGE, "online", retain=True)
    beacon = beacons(mosquitto.url, PREFIX)
    seen = beacon.wait_look("engaged red solid")
    old = f"{PREFIX}/bridges/old/availability"
    peer.publish(old, "offline", retain=True)  # a second bridge, gone
    seen = beacon.wait_look("unknown blue blink", seen)
    peer.publish(BRIDGE, "offline", retain=True)
    peer.publish(BRIDGE, "online", retain=True)
    peer.publish(STATUS, status("hold"), retain=True)  # 'old' is still offline: unknown
    peer.publish(old, b"", retain=True)  # the admin clears the retired bridge's retained will
    # the first look since: had 'old' been forgotten, "engaged" or "hold" would come first
    assert beacon.wait_look("hold red pulse", seen) == seen + 1, beacon.looks.lines


def test_a_stamped_status_trusts_only_its_own_bridge(mosquitto, peer_factory, beacons) -> None:
    """With bridge_id in the status, a retired or night-time bridge elsewhere costs nothing."""
    peer = peer_factory(mosquitto)
    stamped = json.dumps({"v": 1, "state": "engaged", "source": "phone", "since": 1,
                          "bridge_id": "main"})
    peer.publish(STATUS, stamped, retain=True)
    peer.publish(BRIDGE, "online", retain=True)
    peer.publish(f"{PREFIX}/bridges/counter-pi/availability", "offline", retain=True)
    beacon = beacons(mosquitto.url, PREFIX)
    seen = beacon.wait_look("engaged red solid")
    peer.publish(f"{PREFIX}/bridges/desk-pc/availability", "offline", retain=True)
    peer.publish(STATUS, stamped.replace('"engaged"', '"hold"'), retain=True)
    # other bridges going offline: still trusted, so the next look is the new status
    assert beacon.wait_look("hold red pulse", seen) == seen + 1, beacon.looks.lines
    seen += 1
    peer.publish(BRIDGE, "offline", retain=True)  # its own bridge: unknown at once
    seen = beacon.wait_look("unknown blue blink", seen)
    peer.publish(BRIDGE, "online", retain=True)
    beacon.wait_look("hold red pulse", seen)


def test_many_offline_bridges_never_hide_its_own_bridge(mosquitto, peer_factory,
                                                       beacons) -> None:
    """A night with 60 bridges offline: the beacon keeps at most 16 in memory, yet never
    forgets the one its status names, and asks the broker again for it when it may have."""
    peer = peer_factory(mosquitto)
    stamped = json.dumps({"v": 1, "state": "engaged", "source": "phone", "since": 1,
                          "bridge_id": "main"})
    peer.publish(BRIDGE, "offline", retain=True)  # its own bridge first: the oldest to evict
    for i in range(20):
        peer.publish(f"{PREFIX}/bridges/night-{i:02}/availability", "offline", retain=True)
    peer.subscribe(AVAILABILITY)
    beacon = beacons(mosquitto.url, PREFIX)
    # its "online" follows its subscriptions: the 21 retained bridges are on their way
    peer.wait_for(AVAILABILITY, lambda p: p == b"online")
    peer.publish(STATUS, stamped, retain=True)
    beacon.logs.wait_for("asking the broker again for bridge main")
    peer.publish(BRIDGE, "online", retain=True)
    seen = beacon.wait_look("engaged red solid")
    assert beacon.looks.lines == ["unknown blue blink", "engaged red solid"]
    for i in range(20, 60):  # 40 more go offline while the status is known
        peer.publish(f"{PREFIX}/bridges/night-{i:02}/availability", "offline", retain=True)
    peer.publish(BRIDGE, "offline", retain=True)
    seen = beacon.wait_look("unknown blue blink", seen)
    for i in range(60):
        peer.publish(f"{PREFIX}/bridges/night-{i:02}/availability", "offline", retain=True)
    peer.publish(BRIDGE, "online", retain=True)
    beacon.wait_look("engaged red solid", seen)


def test_a_retained_topic_too_long_is_skipped_not_a_reconnect_loop(mosquitto, peer_factory,
                                                                   beacons) -> None:
    """A 290-byte retained bridge topic (over the firmware's 256) is read past with one log
    line, QoS 1 acknowledged, and the connection stays up."""
    peer = peer_factory(mosquitto)
    long_topic = f"{PREFIX}/bridges/{'x' * 260}/availability"
    peer.publish(long_topic, "offline", retain=True)
    peer.publish(STATUS, status("engaged"), retain=True)
    beacon = beacons(mosquitto.url, PREFIX)
    seen = beacon.wait_look("engaged red solid")
    beacon.logs.wait_for(f"ignored a message with a {len(long_topic)}-byte topic (limit 256)")
    peer.publish(long_topic, "offline")  # live, QoS 1, while connected
    peer.publish(STATUS, status("hold"))
    beacon.wait_look("hold red pulse", seen)
    assert sum("-byte topic" in line for line in beacon.logs.lines) == 2
    assert sum("mqtt: connected" in line for line in beacon.logs.lines) == 1
    assert not any("connection lost" in line for line in beacon.logs.lines)


def test_a_cue_shows_over_a_trusted_status_only(mosquitto, peer_factory, beacons) -> None:
    """reply_due blips over engaged; its bridge offline turns the light unknown and the cue
    off; online again brings both back; the next status without a cue clears it."""
    peer = peer_factory(mosquitto)
    cued = json.dumps({"v": 1, "state": "engaged", "source": "chat", "since": 1,
                       "bridge_id": "main", "cue": "reply_due", "waiting_since": 2,
                       "escalated": True, "chats": 2})
    peer.publish(BRIDGE, "online", retain=True)
    peer.publish(STATUS, cued, retain=True)
    beacon = beacons(mosquitto.url, PREFIX)
    seen = beacon.wait_look("engaged red solid")
    seen = beacon.wait_look("cue reply_due", seen)
    peer.publish(BRIDGE, "offline", retain=True)
    seen = beacon.wait_look("unknown blue blink", seen)
    seen = beacon.wait_look("cue off", seen)
    peer.publish(BRIDGE, "online", retain=True)
    seen = beacon.wait_look("cue reply_due", beacon.wait_look("engaged red solid", seen))
    peer.publish(STATUS, status("engaged"), retain=True)
    assert beacon.wait_look("cue off", seen) == seen + 1, beacon.looks.lines


def test_a_beacon_at_the_centre_believes_a_sites_status_only_while_its_link_is_up(
        mosquitto, peer_factory, beacons) -> None:
    """A beacon on the central broker showing an agent of site north (its prefix is the
    site's tree there) follows the site's link, mosquitto's bridge notification: unknown
    before a ``1`` and at ``0``; the status retained from before the drop is not shown
    again when the link is back, only the one the reconnecting bridge sends again."""
    site = f"{PREFIX}/sites/north"
    peer = peer_factory(mosquitto)
    peer.publish(f"{site}/agents/alice/status", status("engaged"), retain=True)
    beacon = beacons(mosquitto.url, site)
    beacon.logs.wait_for("mqtt: connected")
    peer.publish(f"{site}/link", "1", retain=True)
    seen = beacon.wait_look("engaged red solid")
    assert beacon.looks.lines[:seen] == ["unknown blue blink"]  # no word of the link yet
    peer.publish(f"{site}/link", "0", retain=True)  # the centre publishes the bridge's will
    seen = beacon.wait_look("unknown blue blink", seen)
    peer.publish(f"{site}/link", "online")  # not a link payload: ignored, one line
    beacon.logs.wait_for(f"ignored message on {site}/link")
    peer.publish(f"{site}/link", "1", retain=True)  # the link is back, then the status again
    peer.publish(f"{site}/agents/alice/status", status("available"), retain=True)
    assert beacon.wait_look("available green", seen) == seen + 1  # no stale engaged between
