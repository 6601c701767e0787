"""USB busy lights through busylight-core, at its real seams.

- The CompuLab fit-statUSB is a serial device taking text lines ``B#rrggbb``: here it is a
  real pty (socat), listed by pyserial's port enumeration (the one thing faked: a pty has
  no USB vendor id) and opened and written by busylight-core itself.
- The HID lights (Luxafor, blink(1), Kuando, Embrava) are fake hidapi devices at the
  ``hid`` module busylight-core opens them through; each test decodes what busylight-core
  wrote by the vendor's own protocol and checks the colour.
"""

from __future__ import annotations

import itertools
import json
import os
import select
import time
from collections.abc import Iterator
from pathlib import Path

import hid
import pytest
import serial.tools.list_ports
from helpers.pty_peers import pty_pair
from helpers.waiting import wait_until
from serial.tools.list_ports_common import ListPortInfo

from focuslight.desk.guard import Guard
from focuslight.desk.journal import Journal
from focuslight.desk.light import UsbLights, find_lights
from focuslight.desk.silencers import Silencers
from focuslight.mqtt.client import BrokerSettings
from focuslight.protocol import Topics
from focuslight.protocol.looks import PRESETS, is_green

FIT_STATUSB = (0x2047, 0x03DF)


class Pty:
    """The test's end of the fit-statUSB's serial line: the lines busylight-core wrote,
    each with when it arrived."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self.buffer = b""
        self.lines: list[tuple[float, str]] = []

    def read(self, timeout: float = 0.05) -> list[tuple[float, str]]:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if ready:
            try:
                self.buffer += os.read(self.fd, 4096)
            except OSError:  # unplugged
                return self.lines
            *done, self.buffer = self.buffer.split(b"\n")
            self.lines += [(time.monotonic(), line.decode()) for line in done]
        return self.lines

    def wait_for(self, line: str, timeout: float = 10.0) -> None:
        wait_until(lambda: any(seen == line for _t, seen in self.read()), timeout=timeout)

    def during(self, seconds: float) -> list[tuple[float, str]]:
        """The lines that arrive in the next *seconds*."""
        start = len(self.read(0))
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.read()
        return self.lines[start:]

    def close(self) -> None:
        os.close(self.fd)


@pytest.fixture
def fit_statusb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple]:
    """A fit-statUSB on a pty: ``(socat, the device path, the test's end)``."""
    socat, peer = pty_pair(tmp_path)
    device = tmp_path / "tty"

    def comports(include_links: bool = False) -> list[ListPortInfo]:
        info = ListPortInfo(str(device), skip_link_detection=True)
        info.vid, info.pid = FIT_STATUSB
        info.serial_number, info.manufacturer, info.product = "F1", "CompuLab", "fit-statUSB"
        return [info] if device.exists() else []

    monkeypatch.setattr(serial.tools.list_ports, "comports", comports)
    monkeypatch.setattr(hid, "enumerate", lambda *_a: [])
    end = Pty(peer)
    yield socat, device, end
    end.close()
    socat.stop()


def test_the_fit_statusb_shows_each_state_over_its_serial_line(fit_statusb) -> None:
    _socat, device, pty = fit_statusb
    lights = UsbLights(retry_s=0.2)
    lights.start()
    try:
        pty.wait_for("B#0000ff")  # unknown until a status is heard: blue, never green
        lights.show("engaged")
        pty.wait_for("B#ff0000")
        lights.show("available")
        pty.wait_for("B#005000")
        lights.show("wrap_up")
        pty.wait_for("B#ff6e00")
        assert [str(light) for light in lights.lights] == [f"CompuLab fit-statUSB@{device}"]
    finally:
        lights.stop()
    pty.wait_for("B#000000")  # dark when the guard stops: a stale colour would lie


def test_ringing_blinks_no_faster_than_three_flashes_a_second(fit_statusb) -> None:
    _socat, _device, pty = fit_statusb
    lights = UsbLights(retry_s=0.2)
    lights.start()
    try:
        lights.show("ringing")
        pty.wait_for("B#ff0000")
        seen = pty.during(1.6)
    finally:
        lights.stop()
    assert {line for _t, line in seen} == {"B#ff0000", "B#000000"}
    ons = [t for t, line in seen if line == "B#ff0000"]
    assert len(ons) >= 2
    assert min(b - a for a, b in itertools.pairwise(ons)) >= 1 / 3


def test_a_light_pulled_out_mid_call_is_found_again(fit_statusb, caplog) -> None:
    socat, _device, pty = fit_statusb
    lights = UsbLights(retry_s=0.2)
    lights.start()
    try:
        lights.show("hold")  # a pulse: written over and over, so the loss is noticed
        pty.wait_for("B#ff0000")
        socat.stop()
        wait_until(lambda: "stopped answering" in caplog.text, timeout=10)
        socat.start()
        again = Pty(socat.links[1])
        try:
            again.wait_for("B#ff0000")
        finally:
            again.close()
    finally:
        lights.stop()


def test_the_guard_never_shows_green_once_the_status_cannot_be_trusted(
        fit_statusb, mosquitto, peer_factory, tmp_path) -> None:
    _socat, _device, pty = fit_statusb
    site = peer_factory(mosquitto)
    site.publish("lt/bridges/main/availability", "online", retain=True)
    site.publish("lt/agents/alice/status", json.dumps(
        {"v": 1, "state": "available", "source": "phone", "since": 1.0,
         "bridge_id": "main"}), retain=True)
    journal = Journal(tmp_path / "desk-alice.json")
    guard = Guard(BrokerSettings("127.0.0.1", mosquitto.port), Topics("lt"), "alice",
                  silencers=Silencers([], journal), light=UsbLights(retry_s=0.2))
    guard.start()
    try:
        pty.wait_for("B#005000")  # available: dim green
        mosquitto.kill()
        pty.wait_for("B#0000ff")
        after = pty.during(2.2)  # a whole unknown blink period
    finally:
        guard.stop()
    shown = {line for _t, line in after}
    assert shown <= {"B#0000ff", "B#000000"} and "B#0000ff" in shown, shown
    assert not any(is_green(tuple(bytes.fromhex(line[2:]))) for line in shown)


def line_of(rgb: tuple[int, int, int]) -> str:
    return "B#{:02x}{:02x}{:02x}".format(*rgb)


def test_the_guard_shows_the_cue_and_follows_the_sites_looks(
        fit_statusb, mosquitto, peer_factory, tmp_path, caplog) -> None:
    """A reply-due cue blips cyan over engaged; a site's set (the colour-blind preset, then
    dimmed to 50 % for the night) recolours the light; a bad set is refused and the last
    good one kept; a withdrawn set brings back the built-in looks."""
    _socat, _device, pty = fit_statusb
    site = peer_factory(mosquitto)
    site.publish("lt/bridges/main/availability", "online", retain=True)
    guard = Guard(BrokerSettings("127.0.0.1", mosquitto.port), Topics("lt"), "alice",
                  silencers=Silencers([], Journal(tmp_path / "j.json")),
                  light=UsbLights(retry_s=0.2), looks="default")
    guard.start()
    try:
        site.publish("lt/agents/alice/status", json.dumps(
            {"v": 1, "state": "engaged", "source": "chat", "since": 1.0, "bridge_id": "main",
             "cue": "reply_due"}), retain=True)
        pty.wait_for("B#00b4ff")  # the cue's blip
        assert {line for _t, line in pty.during(2.1)} == {"B#ff0000", "B#00b4ff"}
        blind = PRESETS["colour_blind"]
        site.publish("lt/looks/default", blind.encode(), retain=True)
        pty.wait_for(line_of(blind.looks["engaged"].rgb))
        site.publish("lt/looks/default", blind.dimmed(50).encode(), retain=True)
        pty.wait_for(line_of(blind.looks["engaged"].rgb_at(0, 0.5)))
        site.publish("lt/looks/default", b'{"v":1,"looks":{"unknown":"00ff00 solid"}}',
                     retain=True)
        wait_until(lambda: "ignored lt/looks/default" in caplog.text)
        site.publish("lt/agents/alice/status", json.dumps(
            {"v": 1, "state": "wrap_up", "source": "chat", "since": 2.0,
             "bridge_id": "main"}), retain=True)
        pty.wait_for(line_of(blind.looks["wrap_up"].rgb_at(0, 0.5)))  # still the last good
        site.publish("lt/looks/default", b"", retain=True)
        pty.wait_for("B#ff6e00")  # built-in amber
    finally:
        guard.stop()


# -- HID lights, at the hidapi seam busylight-core opens them through -------------------

class FakeHidDevice:
    """What ``hid.device()`` returns in cython-hidapi: opened by path, written to."""

    opened: dict[bytes, FakeHidDevice] = {}

    def __init__(self) -> None:
        self.reports: list[bytes] = []
        self.features: list[bytes] = []

    def open_path(self, path: bytes) -> None:
        FakeHidDevice.opened[path] = self

    def close(self) -> None:
        pass

    def write(self, data: bytes) -> int:
        self.reports.append(bytes(data))
        return len(data)

    def send_feature_report(self, data: bytes) -> int:
        self.features.append(bytes(data))
        return len(data)

    def read(self, size: int, timeout_ms: int | None = None) -> list[int]:
        return [0] * size

    def error(self) -> str:
        return ""


def _hid(vid: int, pid: int, path: str, maker: str, product: str) -> dict:
    return {"vendor_id": vid, "product_id": pid, "path": path.encode(), "serial_number": path,
            "manufacturer_string": maker, "product_string": product, "release_number": 1,
            "usage_page": 0xFF00, "usage": 1, "interface_number": 0}


HID_LIGHTS = [
    _hid(0x04D8, 0xF372, "/dev/hidraw1", "Luxafor", "LUXAFOR FLAG"),
    _hid(0x27B8, 0x01ED, "/dev/hidraw2", "ThingM", "blink(1) mk3"),
    _hid(0x27BB, 0x3BCA, "/dev/hidraw3", "Kuando", "BUSYLIGHT"),
    _hid(0x2C0D, 0x0001, "/dev/hidraw4", "Embrava", "Blynclight"),
]


def luxafor(dev: FakeHidDevice) -> tuple[int, int, int]:
    """Luxafor's report: 0x01 (static colour), LEDs (0xFF: all), R, G, B."""
    report = dev.reports[-1]
    assert report[:2] == b"\x01\xff"
    return tuple(report[2:5])


def blink1(dev: FakeHidDevice) -> tuple[int, int, int]:
    """blink(1)'s feature report 1: ``c`` (fade to RGB), R, G, B, fade time, LED."""
    report = dev.features[-1]
    assert report[:2] == b"\x01c"
    return tuple(report[2:5])


def kuando(dev: FakeHidDevice) -> tuple[int, int, int]:
    """Kuando's 64-byte report: step 0 is ``0x10`` (jump), repeat, then R, G, B in percent
    (0..100; read back here in percent too); the last two bytes are the checksum of the
    rest."""
    report = next(r for r in reversed(dev.reports) if r[0] == 0x10)
    assert len(report) == 64 and int.from_bytes(report[-2:], "big") == sum(report[:-2])
    return tuple(report[2:5])


def embrava(dev: FakeHidDevice) -> tuple[int, int, int]:
    """Blynclight's report: 0x00, then red, *blue*, green, then flags; ends ``ff 22``."""
    report = dev.reports[-1]
    assert report[0] == 0 and report[-2:] == b"\xff\x22"
    return report[1], report[3], report[2]


DECODE = {b"/dev/hidraw1": luxafor, b"/dev/hidraw2": blink1, b"/dev/hidraw3": kuando,
          b"/dev/hidraw4": embrava}


@pytest.fixture
def hid_lights(monkeypatch: pytest.MonkeyPatch) -> dict[bytes, FakeHidDevice]:
    FakeHidDevice.opened = {}
    monkeypatch.setattr(hid, "enumerate", lambda *_a: [dict(d) for d in HID_LIGHTS])
    monkeypatch.setattr(hid, "device", FakeHidDevice)
    monkeypatch.setattr(serial.tools.list_ports, "comports", lambda *_a: [])
    return FakeHidDevice.opened


def test_every_hid_light_is_found_and_shows_the_look(hid_lights) -> None:
    found = find_lights()
    assert sorted(type(light).__name__ for light in found) == [
        "Blink1", "Blynclight", "BusylightAlpha", "Flag"]
    for light in found:
        light.release()
    lights = UsbLights(brightness=0.5, retry_s=0.2)
    lights.start()
    try:
        for state, want in (("engaged", (128, 0, 0)), ("available", (0, 40, 0)),
                            ("dnd", (70, 0, 128))):
            lights.show(state)
            wait_until(lambda want=want: len(hid_lights) == 4 and all(
                _colour(path, dev) == _wanted(path, want) for path, dev in hid_lights.items()),
                timeout=10)
    finally:
        lights.stop()
    assert all(_colour(path, dev) == (0, 0, 0) for path, dev in hid_lights.items())


def _colour(path: bytes, dev: FakeHidDevice) -> tuple[int, int, int] | None:
    """The colour *dev* shows, 0..255 (Kuando's in its own percent steps, as written)."""
    try:
        return DECODE[path](dev)
    except (IndexError, StopIteration):  # nothing written yet
        return None


def _wanted(path: bytes, rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    if path == b"/dev/hidraw3":  # Kuando: percent of full, rounded down
        return tuple(c * 100 // 255 for c in rgb)
    return rgb


def test_only_the_light_at_the_configured_path_is_driven(hid_lights) -> None:
    found = find_lights("/dev/hidraw2")
    try:
        assert [type(light).__name__ for light in found] == ["Blink1"]
    finally:
        for light in found:
            light.release()


def test_no_light_found_is_said_once(monkeypatch, caplog) -> None:
    monkeypatch.setattr(hid, "enumerate", lambda *_a: [])
    monkeypatch.setattr(serial.tools.list_ports, "comports", lambda *_a: [])
    lights = UsbLights(retry_s=0.05)
    lights.start()
    time.sleep(0.3)
    lights.stop()
    said = [r for r in caplog.records if "no USB busy light found" in r.getMessage()]
    assert len(said) == 1


def test_a_light_without_busylight_core_says_what_to_install(tmp_path) -> None:
    """A production install without the desk extra: --light stops at once, saying so."""
    import subprocess
    import sys
    code = ("import sys; sys.modules['busylight_core'] = None  # as if not installed\n"
            "from focuslight.cli import main\n"
            "sys.exit(main(['desk', '--agent', 'alice', '--light', '-c', '/dev/null']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "XDG_STATE_HOME": str(tmp_path)})
    assert done.returncode == 2
    assert "USB busy lights need busylight-core: install focuslight with its desk extra" \
        in done.stderr
