"""``focuslight flash`` against a real MicroPython: the unix port behind a pty.

socat makes ``tmp/tty`` a serial device whose other end is the unix port's
REPL, running in ``tmp/board`` (the board's filesystem). The real mpremote
drives it (raw REPL, raw paste, ``resume``), the real mpy-cross compiles,
and the flashed firmware then runs in that same process and announces
itself on a real mosquitto.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial
from helpers.pty_peers import FIRMWARE, Socat, micropython_env, micropython_peer

from focuslight.tools.flash import Board, FlashError, wants_mpy

FOCUSLIGHT = [sys.executable, "-m", "focuslight"]


def flash(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FOCUSLIGHT, "flash", *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def board(tmp_path: Path) -> Iterator[tuple[Socat, Path]]:
    """A 'board': the unix port's REPL on a pty, cwd = its filesystem, with stale files."""
    root = tmp_path / "board"
    (root / "beacon").mkdir(parents=True)
    (root / "beacon" / "look.py").write_text("raise ImportError('stale source wins')\n")
    (root / "beacon" / "gone.mpy").write_bytes(b"M\x06")
    (root / "main.mpy").write_bytes(b"M\x06")
    # an over-the-air update left on trial: it must not roll the fresh flash back
    (root / "beacon.old").mkdir()
    (root / "beacon.old" / "app.py").write_text("raise ImportError('the old firmware')\n")
    (root / "update.json").write_text('{"state": "trial", "id": "x", "version": "9"}')
    socat = Socat(tmp_path / "tty", micropython_peer(), cwd=root,
                  env=micropython_env(FIRMWARE / "unix"))
    yield socat, root
    socat.stop()


def test_flash_end_to_end_on_the_unix_port(board, mosquitto) -> None:
    socat, root = board
    done = flash("--port", str(socat.link), "--agent", "alice", "--beacon", "alice-desk",
                 "--broker", f"{mosquitto.host}:{mosquitto.port}", "--prefix", "t1",
                 "--brightness", "0.3", "--timeout", "60")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "MicroPython 1.29.0 on linux (mpy v6.3, arch x64)" in done.stdout
    assert "removed stale :beacon/look.py" in done.stdout
    assert "the firmware imports and accepts config.json" in done.stdout
    assert "beacon alice-desk is online" in done.stdout

    modules = sorted(p.stem for p in (FIRMWARE / "beacon").glob("*.py"))
    assert sorted(p.name for p in (root / "beacon").iterdir()) == [f"{m}.mpy" for m in modules]
    assert not (root / "main.mpy").exists()
    assert not (root / "update.json").exists() and not (root / "beacon.old").exists()
    assert (root / "main.py").read_text() == (FIRMWARE / "main.py").read_text()
    config = json.loads((root / "config.json").read_text())
    assert config | {"broker": "", "port": 0} == {
        "agent": "alice", "beacon": "alice-desk", "board": "unix", "brightness": 0.3,
        "broker": "", "port": 0, "prefix": "t1", "led": "neopixel", "available_off": False,
        "transport": "mqtt", "wifi_ssid": "", "wifi_password": "", "username": "",
        "password": ""}
    assert (config["broker"], config["port"]) == (mosquitto.host, mosquitto.port)


def test_compiled_modules_import_on_the_unix_port(board, tmp_path: Path) -> None:
    """Every .mpy that flash wrote imports (no board-side main started: --no-reset)."""
    socat, root = board
    done = flash("--port", str(socat.link), "--agent", "alice", "--no-reset",
                 "--transport", "serial")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f'[[serial_beacons]]\nport = "{socat.link}"\nagent = "alice"\n' in done.stdout
    modules = sorted(p.stem for p in (FIRMWARE / "beacon").glob("*.py"))
    probe = (f"import sys\nfor m in {modules!r}:\n    __import__('beacon.' + m)\n"
             f"print('imported', {len(modules)}, sys.modules['beacon.config'].__file__)")
    out = subprocess.run([sys.executable, "-m", "mpremote", "connect", str(socat.link),
                          "resume", "exec", probe], capture_output=True, text=True, timeout=30)
    assert f"imported {len(modules)} beacon/config.mpy" in out.stdout, out.stdout + out.stderr
    assert json.loads((root / "config.json").read_text())["transport"] == "serial"

    # the old modules are still imported on the board; the check must run the new ones
    firmware = tmp_path / "firmware"
    shutil.copytree(FIRMWARE, firmware, ignore=shutil.ignore_patterns("unix"))
    config_py = firmware / "beacon" / "config.py"
    config_py.write_text(config_py.read_text().replace(
        '"agent": ("id", REQUIRED)', '"agent": (("bob",), REQUIRED)'))
    done = flash("--port", str(socat.link), "--firmware", str(firmware), "--agent", "alice",
                 "--no-reset", "--transport", "serial")
    assert done.returncode == 1
    assert "rejects config.json: key 'agent' must be one of \"bob\"" in done.stderr


def test_dry_run_prints_the_steps_and_touches_nothing(tmp_path: Path) -> None:
    toml = tmp_path / "focuslight.toml"
    toml.write_text('[bridge]\nbroker = "mqtt://192.168.1.10:1884"\nprefix = "site1"\n'
                    'username = "beacons"\npassword = "brokerpw"\n')
    done = flash("--dry-run", "--port", str(tmp_path / "nothing-here"), "--board", "esp32",
                 "--agent", "alice", "--wifi-ssid", "office", "--wifi-password", "s3cret",
                 "-c", str(toml), "--looks", "colour_blind")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert '"looks": "colour_blind"' in out  # the site's set this beacon follows
    assert "mpy-cross -march=xtensawin -s beacon/config.py -o" in out
    assert f"mpremote connect {tmp_path / 'nothing-here'} resume exec 'import os" in out
    assert f"  + cp {FIRMWARE / 'main.py'} " in out
    assert out.rstrip().endswith("  + reset")
    for pair in ('"broker": "192.168.1.10"', '"port": 1884', '"prefix": "site1"',
                 '"username": ""', '"password": ""', '"wifi_password": "***"'):
        assert pair in out  # the bridge's own account never goes onto a board
    assert "s3cret" not in out and "brokerpw" not in out
    done = flash("--dry-run", "--port", str(tmp_path / "nothing-here"), "--board", "esp32",
                 "--agent", "alice", "--wifi-ssid", "office", "-c", str(toml),
                 "--username", "alice-beacon", "--password", "beaconpw")
    assert '"username": "alice-beacon"' in done.stdout and '"password": "***"' in done.stdout
    assert not (tmp_path / "nothing-here").exists()


def test_errors_say_what_to_do(board, tmp_path: Path) -> None:
    socat, _ = board
    common = ("--agent", "alice", "--no-wait")
    done = flash(*common)  # no --port, and no USB board on a test machine
    assert done.returncode == 1
    assert "no board found: plug the board in" in done.stderr
    done = flash("--port", str(tmp_path / "ttyACM9"), *common)
    assert "is not there: is the board plugged in?" in done.stderr
    with serial.Serial(str(socat.link), exclusive=True):  # e.g. a serial terminal
        done = flash("--port", str(socat.link), *common)
    assert done.returncode == 1
    assert "is busy in another program" in done.stderr
    done = flash("--port", str(socat.link), "--board", "pico_w", "--agent", "alice",
                 "--broker", "127.0.0.1")
    assert "--wifi-ssid is needed" in done.stderr
    done = flash("--port", str(socat.link), "--led-pin", "5000", *common)
    assert done.returncode == 1  # the firmware's own validator, on the board, says no
    assert "key 'neopixel_pin' must be a GPIO number" in done.stderr
    out = subprocess.run([sys.executable, "-m", "mpremote", "connect", str(socat.link), "resume",
                          "exec", "import sys; print('main' in sys.modules)"],
                         capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "False"  # the session stopped before starting main.py


def test_a_board_with_another_mpy_version_is_refused() -> None:
    old = Board("rp2", (1, 18, 0), 5 | 4 << 10)  # MicroPython 1.18: mpy v5, armv6m
    refused = r"runs MicroPython 1\.18\.0 \(mpy v5\).*Update MicroPython"
    with pytest.raises(FlashError, match=refused):
        wants_mpy(old)
    assert wants_mpy(Board("rp2", (1, 24, 1), 6 | 3 << 8 | 4 << 10))


def test_declared_dependencies_are_installed_with_mip(tmp_path: Path) -> None:
    firmware = tmp_path / "firmware"
    shutil.copytree(FIRMWARE, firmware, ignore=shutil.ignore_patterns("unix"))
    manifest = json.loads((firmware / "package.json").read_text())
    manifest["deps"] = [["umqtt.simple", "latest"], ["aioble", "0.4.1"]]
    (firmware / "package.json").write_text(json.dumps(manifest))
    done = flash("--dry-run", "--port", "/dev/ttyACM0", "--firmware", str(firmware),
                 "--agent", "alice", "--wifi-ssid", "office", "--broker", "10.0.0.2")
    assert done.returncode == 0, done.stderr
    steps = "  + mip install umqtt.simple \\\n  + mip install aioble@0.4.1 \\\n  + exec "
    assert steps in done.stdout


def test_flash_copies_what_the_manifest_lists_not_what_the_folder_holds(tmp_path: Path) -> None:
    """package.json is the file list: a stray module is not shipped, a listed one must exist."""
    firmware = tmp_path / "firmware"
    shutil.copytree(FIRMWARE, firmware, ignore=shutil.ignore_patterns("unix"))
    (firmware / "beacon" / "scratch.py").write_text("print('not released')\n")
    args = ("--dry-run", "--port", "/dev/ttyACM0", "--board", "esp32", "--firmware",
            str(firmware), "--agent", "alice", "--wifi-ssid", "office", "--broker", "10.0.0.2")
    done = flash(*args)
    assert done.returncode == 0, done.stderr
    assert "-s beacon/config.py" in done.stdout and "scratch" not in done.stdout
    manifest = json.loads((firmware / "package.json").read_text())
    manifest["urls"].append(["beacon/extra.py", "beacon/extra.py"])
    (firmware / "package.json").write_text(json.dumps(manifest))
    done = flash(*args)
    assert done.returncode == 1, done.stdout
    assert "beacon/extra.py <- beacon/extra.py: not a file of the firmware folder" in done.stderr
    manifest["urls"][-1] = ["lib/extra.py", "beacon/config.py"]
    (firmware / "package.json").write_text(json.dumps(manifest))
    done = flash(*args)
    assert "only main.py and beacon/*.py can go on a beacon" in done.stderr
    (firmware / "package.json").unlink()
    done = flash(*args)
    assert done.returncode == 1 and "is not the beacon firmware (needs package.json" in done.stderr


@pytest.mark.parametrize(("board_kind", "flags", "refused"), [
    ("pico_w", ("--led-pin", "99"), "--led-pin 99"),
    ("pico_w", ("--led-pin", "25"), "--led-pin 25"),  # the Wi-Fi chip's chip select
    ("pico_w", ("--led", "rgb", "--rgb-pins", "16,17,29"), "--rgb-pins 29"),
    ("esp32", ("--button-pin", "7"), "--button-pin 7"),  # the flash chip
    ("esp32", ("--button-pin", "34"), "--button-pin 34"),  # input only, no pull-up
])
def test_pins_the_board_cannot_use_are_refused(board_kind, flags, refused, tmp_path) -> None:
    done = flash("--dry-run", "--port", str(tmp_path / "nothing-here"), "--board", board_kind,
                 "--agent", "alice", "--wifi-ssid", "office", "--broker", "192.168.1.10",
                 *flags)
    assert done.returncode == 1, done.stdout
    assert done.stderr.startswith(f"focuslight flash: {refused} is not a GPIO a {board_kind}"
                                  " beacon can use: pick "), done.stderr
    assert "Traceback" not in done.stderr


def test_the_board_default_pins_are_usable(tmp_path) -> None:
    """The table that refuses pins accepts every default of firmware/beacon/boards.py."""
    sys.path.insert(0, str(FIRMWARE))
    try:
        from beacon.boards import BOARDS
    finally:
        sys.path.remove(str(FIRMWARE))
    from focuslight.tools.flash import USABLE_PINS

    for kind, (usable, _which) in USABLE_PINS.items():
        pins = {BOARDS[kind]["neopixel_pin"], BOARDS[kind]["button_pin"],
                *BOARDS[kind]["rgb_pins"]}
        assert pins <= usable, (kind, pins - usable)
    done = flash("--dry-run", "--port", str(tmp_path / "nothing-here"), "--board", "pico_w",
                 "--agent", "alice", "--wifi-ssid", "office", "--broker", "192.168.1.10",
                 "--led-pin", "22", "--button-pin", "26")
    assert done.returncode == 0, done.stderr
    assert '"neopixel_pin": 22' in done.stdout and '"button_pin": 26' in done.stdout


def test_the_wait_refuses_the_bridges_and_the_beacons_account(board, tmp_path: Path) -> None:
    """Under use_username_as_clientid a wait on the bridge's account pushes the running
    bridge off, one on the beacon's is pushed off by the beacon: refused before any copy."""
    socat, root = board
    toml = tmp_path / "focuslight.toml"
    toml.write_text('[bridge]\nbroker = "mqtt://127.0.0.1:1"\nusername = "focuslight-bridge"\n'
                    'password = "pw"\n')
    common = ("--port", str(socat.link), "--agent", "alice", "--beacon", "alice-desk",
              "--transport", "mqtt", "--username", "alice-desk", "--password", "b")
    for extra, refused in (
            ((), "waiting for the beacon needs an account of its own"),
            (("-c", str(toml)), "-c names the bridge's account (focuslight-bridge)"),
            (("-c", str(toml), "--watch-username", "focuslight-bridge", "--watch-password",
              "pw"), "--watch-username focuslight-bridge is the bridge's own account"),
            (("--watch-username", "alice-desk", "--watch-password", "b"),
             "--watch-username alice-desk is the beacon's own account")):
        done = flash(*common, *extra)
        assert done.returncode == 1, done.stdout + done.stderr
        assert refused in done.stderr and "--no-wait" in done.stderr
        assert len(done.stderr.splitlines()) == 1, done.stderr
    assert not (root / "config.json").exists()  # nothing was copied
