"""The microphone-in-use source against a fake /proc laid out like the kernel's.

The layout and file contents follow ``sound/core/pcm.c`` (status and
hw_params of each substream) on a laptop with an onboard codec (card0) and
a USB headset (card1): ``closed`` when idle, ``state: RUNNING`` and the
owner's pid while something records.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.sources import (
    BridgeProcess,
    FakeClock,
    RecordingSink,
    bridge_config,
    load_doc_examples,
)

from focuslight.config_section import ConfigError, Section
from focuslight.sources import mic
from focuslight.sources.mic import MicSource, from_config

RUNNING = """state: RUNNING
owner_pid   : 48213
trigger_time: 5528.916094537
tstamp      : 5533.402081290
delay       : 256
avail       : 256
avail_max   : 512
-----
hw_ptr      : 215296
appl_ptr    : 215040
"""
HW_PARAMS = """access: MMAP_INTERLEAVED
format: S16_LE
subformat: STD
channels: 1
rate: 48000 (48000/1)
period_size: 480
buffer_size: 1920
"""


class FakeProc:
    """A /proc/asound tree: ``card0`` (HDA, pcm0p + pcm0c), ``card1`` (USB headset)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        asound = root / "asound"
        asound.mkdir(parents=True)
        (asound / "cards").write_text(
            " 0 [PCH            ]: HDA-Intel - HDA Intel PCH\n"
            " 1 [Headset        ]: USB-Audio - Jabra EVOLVE 20 MS\n")
        (asound / "version").write_text("Advanced Linux Sound Architecture Driver Version "
                                        "k6.1.0.\n")
        for card, ident in ((0, "PCH"), (1, "Headset")):
            (asound / f"card{card}").mkdir()
            (asound / f"card{card}" / "id").write_text(ident + "\n")
            (asound / ident).symlink_to(f"card{card}")
            for stream in ("p", "c"):
                sub = asound / f"card{card}" / f"pcm0{stream}" / "sub0"
                sub.mkdir(parents=True)
                (sub.parent / "info").write_text(f"card: {card}\ndevice: 0\nsubdevice: 0\n")
                self.set(card, stream, running=False)

    def set(self, card: int, stream: str, *, running: bool) -> None:
        sub = self.root / "asound" / f"card{card}" / f"pcm0{stream}" / "sub0"
        (sub / "status").write_text(RUNNING if running else "closed\n")
        (sub / "hw_params").write_text(HW_PARAMS if running else "closed\n")
        (sub / "sw_params").write_text("tstamp_mode: NONE\n" if running else "closed\n")


@pytest.fixture
def proc(tmp_path: Path) -> FakeProc:
    return FakeProc(tmp_path / "proc")


@pytest.fixture
def running(proc: FakeProc) -> Iterator:
    started: list[MicSource] = []

    def start(**options) -> tuple[FakeClock, RecordingSink]:
        clock, sink = FakeClock(), RecordingSink()
        source = MicSource("mic", "alice", proc_root=proc.root, poll_s=0.5, debounce_s=1.0,
                           clock=clock, **options)
        source.start(sink)
        started.append(source)
        clock.settle()
        return clock, sink

    yield start
    for source in started:
        source.stop()


def test_idle_pc_is_available(running) -> None:
    _, sink = running()
    assert sink.reports == [("alice", "mic", "available")]


def test_capture_running_engages_after_the_debounce(proc: FakeProc, running) -> None:
    clock, sink = running()
    proc.set(1, "c", running=True)          # the softphone opens the headset mic
    clock.advance(0.5)                      # seen at this look...
    clock.advance(0.5)
    assert sink.states() == ["available"]
    clock.advance(0.5)                      # ...and reported debounce_s later
    assert sink.states() == ["available", "engaged"]
    proc.set(1, "c", running=False)
    clock.advance(0.5)
    clock.advance(0.5)
    assert sink.states() == ["available", "engaged"]
    clock.advance(0.5)
    assert sink.states() == ["available", "engaged", "available"]


def test_a_blip_shorter_than_the_debounce_is_ignored(proc: FakeProc, running) -> None:
    clock, sink = running()
    proc.set(0, "c", running=True)
    clock.advance(0.5)
    proc.set(0, "c", running=False)         # a notification sound probing the mic
    for _ in range(6):
        clock.advance(0.5)
    assert sink.states() == ["available"]


def test_playback_is_not_a_call(proc: FakeProc, running) -> None:
    clock, sink = running()
    proc.set(0, "p", running=True)          # music playing
    for _ in range(4):
        clock.advance(0.5)
    assert sink.states() == ["available"]


def test_a_call_already_running_at_start_shows_at_once(proc: FakeProc, running) -> None:
    proc.set(1, "c", running=True)
    _, sink = running()
    assert sink.states() == ["engaged"]


def test_no_alsa_reads_unknown_with_one_line(tmp_path: Path, proc: FakeProc, running,
                                             caplog: pytest.LogCaptureFixture) -> None:
    asound = proc.root / "asound"
    asound.rename(tmp_path / "asound-away")
    with caplog.at_level(logging.INFO, logger=mic.__name__):
        clock, sink = running()
        for _ in range(4):
            clock.advance(0.5)
        assert sink.states() == ["unknown"]
        errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert errors == [f"mic mic: no ALSA at {asound}; alice reads unknown until it can "
                          "look again"]
        (tmp_path / "asound-away").rename(asound)
        clock.advance(0.5)
    assert sink.states() == ["unknown", "available"]


# -- PulseAudio / PipeWire through pactl ---------------------------------------------------

SOURCES = ("49\talsa_output.pci-0000_00_1f.3.analog-stereo.monitor\tPipeWire\t"
           "s32le 2ch 48000Hz\tSUSPENDED\n"
           "50\talsa_input.usb-GN_Netcom_Jabra_EVOLVE_20-00.mono-fallback\tPipeWire\t"
           "s16le 1ch 16000Hz\tRUNNING\n")


def fake_pactl(tmp_path: Path, outputs: str, *, fail: bool = False) -> str:
    """An executable that answers ``pactl list short ...`` with canned real-format lines."""
    (tmp_path / "sources.txt").write_text(SOURCES)
    (tmp_path / "source-outputs.txt").write_text(outputs)
    script = tmp_path / "pactl"
    body = ('echo "Connection failure: Connection refused" >&2; exit 1' if fail
            else f'cat "{tmp_path}/$3.txt"')
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return os.fspath(script)


def test_pactl_recording_stream_engages(tmp_path: Path, running) -> None:
    command = fake_pactl(tmp_path, "312\t50\t301\tprotocol-native.c\tfloat32le 1ch 48000Hz\n")
    _, sink = running(pactl=True, pactl_command=command)
    assert sink.states() == ["engaged"]


def test_pactl_monitor_stream_is_not_a_call(tmp_path: Path, running) -> None:
    command = fake_pactl(tmp_path, "313\t49\t305\tprotocol-native.c\tfloat32le 2ch 48000Hz\n")
    _, sink = running(pactl=True, pactl_command=command)
    assert sink.states() == ["available"]


def test_pactl_failing_reads_unknown_but_alsa_running_still_engages(
        tmp_path: Path, proc: FakeProc, running, caplog: pytest.LogCaptureFixture) -> None:
    command = fake_pactl(tmp_path, "", fail=True)
    with caplog.at_level(logging.ERROR, logger=mic.__name__):
        clock, sink = running(pactl=True, pactl_command=command)
    assert sink.states() == ["unknown"]
    assert "pactl list short sources failed (Connection failure" in caplog.text
    proc.set(0, "c", running=True)
    clock.advance(0.5)
    assert sink.states() == ["unknown", "engaged"]


# -- config --------------------------------------------------------------------------------

def test_config_defaults() -> None:
    source = from_config(Section({"agent": "alice"}, "pc.toml", "sources[0]"), ("alice",))
    assert (source.name, source.agents, str(source.proc_root), source.poll_s,
            source.pactl_command) == ("mic", ("alice",), "/proc", 0.5, None)


@pytest.mark.parametrize(("table", "message"), [
    ({}, "pc.toml: sources[0].agent: expected an id matching [a-z0-9_-]{1,64}, it is missing"),
    ({"agent": "bob"}, "sources[0].agent: expected agents declared under [agents] (alice)"),
    ({"agent": "alice", "poll_s": 0}, "sources[0].poll_s: expected a number in 0.05..60"),
    ({"agent": "alice", "pactl": "yes"}, "sources[0].pactl: expected true or false"),
])
def test_config_errors_name_the_key(table: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        from_config(Section(table, "pc.toml", "sources[0]"), ("alice",))
    assert message in str(err.value)


def test_the_documented_examples_load(tmp_path: Path) -> None:
    sources = load_doc_examples("mic", tmp_path)
    assert sources and all(isinstance(s, MicSource) for s in sources)


# -- end to end: the real `focuslight bridge` process and a real mosquitto ------------------

def test_open_microphone_reaches_mqtt_through_the_real_bridge(mosquitto, peer_factory,
                                                              proc: FakeProc,
                                                              tmp_path: Path) -> None:
    prefix, status = "fl-mic", "fl-mic/agents/alice/status"
    watcher = peer_factory(mosquitto)
    watcher.subscribe(status)
    source = (f'type = "mic"\nname = "softphone"\nagent = "alice"\nproc_root = "{proc.root}"\n'
              "poll_s = 0.1\ndebounce_s = 0.2\n")
    bridge = BridgeProcess(tmp_path, bridge_config(mosquitto.url, prefix, ["alice"],
                                                   source)).start()
    try:
        watcher.wait_for_state(status, "available", timeout=15)
        proc.set(1, "c", running=True)
        assert watcher.wait_for_state(status, "engaged")["source"] == "softphone"
        proc.set(1, "c", running=False)
        watcher.wait_for_state(status, "wrap_up")
    finally:
        bridge.kill()
