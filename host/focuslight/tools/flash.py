"""``focuslight flash``: firmware and config onto a beacon board in one command.

An admin with a fresh board should not need to know mpy-cross flags, .mpy
versions or mpremote syntax. This command:

1. finds the board (``--port``, or the only USB serial device plugged in);
2. reads its MicroPython version, ``.mpy`` version and native arch
   (``mpremote exec``), and refuses a board whose ``.mpy`` version the
   installed mpy-cross cannot produce;
3. compiles ``firmware/beacon/*.py`` with mpy-cross for that arch (``.mpy``
   imports in a quarter of the RAM of a ``.py``); ``main.py`` stays source
   because MicroPython only runs a ``main.py``;
4. removes every other file in ``:beacon`` (a stale ``foo.py`` would win the
   import over the new ``foo.mpy``), then copies with ``mpremote cp``;
5. installs the firmware's declared dependencies (``deps`` of
   ``firmware/package.json``, the mip manifest format) with ``mpremote mip``;
6. writes ``config.json`` from the flags and ``-c focuslight.toml``, and has
   the firmware on the board import itself and validate it (its own rules);
7. resets the board and waits until ``<prefix>/beacons/<beacon>/availability``
   says ``online`` on MQTT, live, not a retained leftover from before.

Every mpremote session uses ``resume`` (no soft reset): Ctrl-C makes the
firmware hand its hardware watchdog to a timer, and a soft reset would stop
that timer and let the watchdog reset the board in the middle of the copy.
The final ``reset`` starts the new firmware cleanly. The MicroPython unix
port (a "board" behind a pty, for tests) cannot be reset at all (a soft
reset ends the process), so ``main.py`` is started with ``exec --no-follow``
instead. ``--no-reset`` leaves any board as it is after the copy.

Example::

    focuslight flash --port /dev/ttyACM0 -c focuslight.toml --wifi-ssid office \\
        --wifi-password '...' --broker 192.168.1.10 --agent alice --beacon alice-desk
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serial.tools import list_ports

from ..config import read_toml
from ..config_section import Section
from ..mqtt.client import BrokerSettings, BrokerURLError, make_client
from ..protocol import ONLINE, ProtocolError, Topics, check_id

CA_FILE = "ca.pem"
"""The site CA's name on the board, beside config.json (``config.json`` names it)."""


def _firmware_dir() -> Path:
    """The firmware inside an installed wheel, else the checkout's ``firmware/`` (editable)."""
    package = Path(__file__).resolve().parents[1]  # focuslight/
    packaged = package / "firmware"
    return packaged if (packaged / "main.py").exists() else (
        package.parents[1] / "firmware")


FIRMWARE_DIR = _firmware_dir()
PACKAGE = "beacon"
ARCHS = (None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
         "xtensa", "xtensawin", "rv32imc", "rv64imc")
"""Native arch names by the index in bits 10.. of ``sys.implementation._mpy``."""
BOARD_PLATFORMS = {"rp2": "pico_w", "esp32": "esp32"}
BOARD_ARCHS = {"pico_w": "armv6m", "esp32": "xtensawin"}
UNIX_PLATFORMS = frozenset({"linux", "darwin", "freebsd", "windows"})
LOCAL_HOSTS = ("localhost", "127.", "::1")
MPY_CROSS = [sys.executable, "-m", "mpy_cross"]
MPREMOTE = [sys.executable, "-m", "mpremote"]
STEP_TIMEOUT_S = 120
EXIT_FAILED, EXIT_UNCONFIRMED = 1, 3

PROBE = ("import sys\ni=sys.implementation\n"
         "print(repr((sys.platform,tuple(i.version[:3]),getattr(i,'_mpy',0))))")
CLEAN = """import os
try:
    os.mkdir({pkg})
except OSError:
    pass
for n in os.listdir({pkg}):
    if n not in {keep}:
        os.remove({pkg} + "/" + n)
        print("removed stale :" + {pkg} + "/" + n)
for n in ("main.mpy", "update.json", "config.new", "config.old", "ca.new", "ca.old"):
    try:
        os.remove(n)
    except OSError:
        pass
for d in ("beacon.new", "beacon.old"):
    try:
        for n in os.listdir(d):
            os.remove(d + "/" + n)
        os.rmdir(d)
    except OSError:
        pass
"""
"""Runs on the board before the copy: only the files about to be copied may remain, and
no over-the-air update state (an update on trial would roll the fresh flash back)."""
CHECK = """import sys
for m in [m for m in sys.modules if m.split(".")[0] == "beacon"]:
    del sys.modules[m]
from beacon import app, config
config.load()
print("the firmware imports and accepts config.json")
"""
"""Runs on the board after the copy, before the reset: the firmware's own validator decides.

The interrupted old firmware's modules are still in ``sys.modules`` (no soft
reset): drop them, or the check would run the old code.
"""


class FlashError(Exception):
    """Flashing cannot go on; the message says what to do about it."""


@dataclass(frozen=True, slots=True)
class Board:
    """What the board said about itself (or what a dry run assumes)."""

    platform: str
    version: tuple[Any, ...]
    mpy: int

    @property
    def mpy_version(self) -> tuple[int, int] | None:
        """``(major, sub)`` of the .mpy files it loads; None if it loads none."""
        return (self.mpy & 0xFF, (self.mpy >> 8) & 3) if self.mpy else None

    @property
    def arch(self) -> str | None:
        index = (self.mpy >> 10) & 0x3F
        return ARCHS[index] if index < len(ARCHS) else None

    @property
    def is_unix(self) -> bool:
        return self.platform in UNIX_PLATFORMS

    def describe(self) -> str:
        version = ".".join(str(v) for v in self.version)
        mpy = "no .mpy support" if not self.mpy_version else "mpy v{}.{}".format(
            *self.mpy_version)
        return f"MicroPython {version} on {self.platform} ({mpy}, arch {self.arch or 'none'})"


def flash(args: argparse.Namespace) -> int:
    """Everything ``focuslight flash`` does (the steps in this module's docstring), from its
    options; FlashError says what went wrong."""
    firmware = _check_firmware(args.firmware)
    bridge = _bridge_settings(args)
    port = args.port or detect_port(allow_none=args.dry_run)
    if args.dry_run:
        board = _assumed_board(args.board)
        print(f"# dry run: the board is not read; assuming board {args.board or 'pico_w'}, whose"
              f" MicroPython loads mpy v{board.mpy & 0xFF}, arch {board.arch}")
    else:
        board = read_board(port)
        print(f"board on {port}: {board.describe()}")
    config = device_config(args, bridge, board)
    plan = Plan(port, board, firmware, compile_mpy=not args.source and wants_mpy(board),
                start=not args.no_reset,
                ca_file=Path(bridge.broker.ca_file) if config.get("tls") else None)
    watch = None
    if not (args.no_wait or args.no_reset or args.dry_run or config["transport"] != "mqtt"):
        watch = AvailabilityWatch(bridge, Topics(config["prefix"]).beacon_availability(
            config["beacon"]), args.timeout)
    with tempfile.TemporaryDirectory(prefix="focuslight-flash-") as stage:
        if args.dry_run:
            _print_dry_run(plan, Path(stage), config)
            return 0
        try:
            _execute(plan, Path(stage), config)
        except FlashError:
            if watch:
                watch.close()
            raise
    if config["transport"] == "serial":
        print(serial_beacon_snippet(port, config))
    if watch is None:
        print("flashed; not waiting for the beacon (--no-wait, --no-reset or serial transport)")
        return 0
    return watch.wait(config["beacon"])


def serial_beacon_snippet(port: str, config: dict[str, Any]) -> str:
    """The ``[[serial_beacons]]`` table for the bridge, by USB serial number when known."""
    serial_number = next((p.serial_number for p in list_ports.comports()
                          if p.device == port and p.serial_number), None)
    where = (f"serial_number = {json.dumps(serial_number)}" if serial_number
             else f"port = {json.dumps(port)}")
    return (f"add this to the bridge's focuslight.toml to drive the beacon over USB:\n\n"
            f"[[serial_beacons]]\n{where}\nagent = {json.dumps(config['agent'])}\n"
            f"beacon = {json.dumps(config['beacon'])}\n")


# -- the board ----------------------------------------------------------------------


def detect_port(allow_none: bool = False) -> str:
    """The only USB serial device plugged in (what ``mpremote connect auto`` would pick)."""
    ports = [p for p in list_ports.comports() if p.vid is not None]
    micropython = [p for p in ports if p.manufacturer == "MicroPython"]
    if len(micropython) == 1:
        return micropython[0].device
    if len(ports) == 1:
        return ports[0].device
    if allow_none:
        return "auto"
    if not ports:
        raise FlashError("no board found: plug the board in with a data USB cable (some are"
                         " charge-only), check it is listed by `mpremote devs`, or pass --port")
    found = ", ".join(f"{p.device} ({p.description})" for p in ports)
    raise FlashError(f"several USB serial devices found: {found}; pick one with --port")


def read_board(port: str) -> Board:
    """Ask the board what it is (this interrupts the firmware running on it)."""
    out = _mpremote([*_connect(port), "exec", PROBE], "read the board").strip()
    try:
        platform, version, mpy = ast.literal_eval(out.splitlines()[-1])
    except (ValueError, SyntaxError, IndexError):
        raise FlashError(f"{port} did not answer like MicroPython ({out[-200:]!r}): is"
                         " MicroPython installed on it? (put the UF2/bin from"
                         " micropython.org/download on it first)") from None
    return Board(platform, tuple(version), mpy)


def _assumed_board(kind: str | None) -> Board:
    major, sub = mpy_cross_version()
    arch = BOARD_ARCHS[kind or "pico_w"]
    platform = {v: k for k, v in BOARD_PLATFORMS.items()}[kind or "pico_w"]
    return Board(platform, ("?",), major | sub << 8 | ARCHS.index(arch) << 10)


def mpy_cross_version() -> tuple[int, int]:
    """The ``(major, sub)`` .mpy version the installed mpy-cross emits."""
    out = _run([*MPY_CROSS, "--version"], "run mpy-cross")
    found = re.search(r"mpy v(\d+)(?:\.(\d+))?", out)
    if not found:
        raise FlashError(f"cannot tell which .mpy version mpy-cross emits: {out.strip()!r}")
    return int(found[1]), int(found[2] or 0)


def wants_mpy(board: Board) -> bool:
    """Compile only for a board that loads this mpy-cross's output; refuse a mismatch."""
    if board.mpy_version is None:
        print("the board cannot import .mpy files: copying .py sources")
        return False
    ours = mpy_cross_version()
    if board.mpy_version[0] != ours[0]:
        version = ".".join(str(v) for v in board.version)
        raise FlashError(
            f"the board runs MicroPython {version} (mpy v{board.mpy_version[0]}); the installed"
            f" mpy-cross emits mpy v{ours[0]}.{ours[1]}. Update MicroPython on the board to a"
            " current release (micropython.org/download), or pass --source to copy .py files")
    return True


# -- the plan -----------------------------------------------------------------------


@dataclass(slots=True)
class Step:
    """One command to run, and why (for ``--dry-run`` and error messages)."""

    argv: list[str]
    what: str

    def show(self) -> str:
        argv = list(self.argv)
        for tool, short in ((MPY_CROSS, "mpy-cross"), (MPREMOTE, "mpremote")):
            if argv[:len(tool)] == tool:
                argv = [short, *argv[len(tool):]]
        segments: list[list[str]] = [[]]
        for arg in argv:
            if arg == "+":
                segments.append([])
            else:
                segments[-1].append(arg)
        return " \\\n  + ".join(shlex.join(segment) for segment in segments)


@dataclass(slots=True)
class Plan:
    """Turns a board and a firmware folder into the commands that flash it."""

    port: str
    board: Board
    firmware: Path
    compile_mpy: bool
    start: bool
    ca_file: Path | None = None
    """The site CA to put on the board as ``ca.pem`` (MQTT over TLS), or None."""

    def staged(self, stage: Path) -> list[tuple[Path, Path]]:
        """``(source, file to copy)`` for every module of the package."""
        suffix = ".mpy" if self.compile_mpy else ".py"
        return [(src, stage / PACKAGE / (src.stem + suffix))
                for src in sorted((self.firmware / PACKAGE).glob("*.py"))]

    def local_steps(self, stage: Path) -> list[Step]:
        return [self._build(src, out) for src, out in self.staged(stage)]

    def board_step(self, stage: Path) -> Step:
        """Everything on the board in one mpremote session, ending in the reset.

        One session and no soft reset keep the interrupted firmware's watchdog
        fed by its timer until our reset (see the module docstring).
        """
        files = [str(out) for _, out in self.staged(stage)]
        clean = CLEAN.format(pkg=json.dumps(PACKAGE),
                             keep=json.dumps(sorted(Path(f).name for f in files)))
        actions = [(["exec", clean], f"remove stale files from :{PACKAGE}"),
                   (["cp", *files, f":{PACKAGE}/"], f"copy the {PACKAGE} package"),
                   (["cp", str(self.firmware / "main.py"), str(stage / "config.json"),
                     *([str(stage / CA_FILE)] if self.ca_file else []), ":./"],
                    f"copy main.py, config.json{' and ' + CA_FILE if self.ca_file else ''}")]
        actions += [(["mip", "install", dep], f"install {dep}")
                    for dep in firmware_deps(self.firmware)]
        actions.append((["exec", CHECK], "check the firmware imports and accepts config.json"))
        if self.start and self.board.is_unix:
            actions.append((["exec", "--no-follow", "import main"],
                            "start main.py (the unix port cannot reset)"))
        elif self.start:
            actions.append((["reset"], "reset the board so main.py starts"))
        argv = _connect(self.port)
        for index, (args, _) in enumerate(actions):
            argv += ["+", *args] if index else args
        return Step(argv, "mpremote on the board: " + ", ".join(what for _, what in actions))

    def _build(self, src: Path, out: Path) -> Step:
        if not self.compile_mpy:
            return Step(["cp", str(src), str(out)], f"stage {src.name}")
        march = [f"-march={self.board.arch}"] if self.board.arch else []
        return Step([*MPY_CROSS, *march, "-s", f"{PACKAGE}/{src.name}", "-o", str(out),
                     str(src)], f"compile {src.name}")


def firmware_deps(firmware: Path) -> list[str]:
    """``deps`` from ``firmware/package.json`` (mip's format) as ``mip install`` args."""
    manifest = firmware / "package.json"
    if not manifest.exists():
        return []
    try:
        deps = json.loads(manifest.read_text())["deps"]
        return [name if version in ("", "latest") else f"{name}@{version}"
                for name, version in deps]
    except (ValueError, KeyError, TypeError) as err:
        raise FlashError(f"{manifest}: expected {{\"deps\": [[name, version], ...]}}"
                         f" ({err})") from None


def _connect(port: str) -> list[str]:
    return [*MPREMOTE, "connect", port, "resume"]


def _execute(plan: Plan, stage: Path, config: dict[str, Any]) -> None:
    (stage / PACKAGE).mkdir()
    (stage / "config.json").write_text(json.dumps(config, indent=1, sort_keys=True) + "\n")
    if plan.ca_file:
        shutil.copyfile(plan.ca_file, stage / CA_FILE)
    for step in plan.local_steps(stage):
        if step.argv[0] == "cp":
            shutil.copyfile(step.argv[1], step.argv[2])
        else:
            _run(step.argv, step.what)
    print(f"compiled {PACKAGE}/ to .mpy" if plan.compile_mpy else f"staged {PACKAGE}/ as .py")
    step = plan.board_step(stage)
    print(step.what)
    for line in _mpremote(step.argv, step.what).splitlines():
        print(f"  {line}")


def _print_dry_run(plan: Plan, stage: Path, config: dict[str, Any]) -> None:
    shown = dict(config, **{k: "***" for k in ("wifi_password", "password") if config.get(k)})
    print(f"# config.json:\n# {json.dumps(shown, sort_keys=True)}")
    for step in [*plan.local_steps(stage), plan.board_step(stage)]:
        print(f"# {step.what}\n{step.show()}")


def _run(argv: list[str], what: str) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=STEP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise FlashError(f"{what}: no answer in {STEP_TIMEOUT_S} s; unplug and replug the"
                         " board, then retry") from None
    if done.returncode != 0:
        tail = (done.stderr + done.stdout).strip().splitlines()[-4:]
        raise FlashError(f"{what} failed (--dry-run shows the command):\n  "
                         + "\n  ".join(tail))
    return done.stdout


def _mpremote(argv: list[str], what: str) -> str:
    """Run mpremote; turn its terse failures into what the admin should do."""
    try:
        return _run(argv, what)
    except FlashError as err:
        text = str(err)
        port = argv[len(MPREMOTE) + 1]
        if "failed to access" in text or "no device found" in text:
            raise FlashError(_access_problem(port)) from None
        if "could not enter raw repl" in text:
            raise FlashError(f"{port} does not answer as a MicroPython REPL: press the board's"
                             " reset button and retry; if it still fails, install MicroPython"
                             " (micropython.org/download) first") from None
        rejected = re.search(r"ConfigError: (.*)", text)
        if rejected:
            raise FlashError(f"the firmware on the board rejects {rejected[1]}; the board was"
                             " not reset: fix the flag and flash again") from None
        raise


def _access_problem(port: str) -> str:
    if os.name == "posix" and not os.path.exists(port):  # COM3 is no path on Windows
        return (f"{port} is not there: is the board plugged in? (`mpremote devs` lists"
                " boards; or leave out --port)")
    if not os.access(port, os.R_OK | os.W_OK):
        return (f"no permission to open {port}: add yourself to the dialout group"
                " (sudo usermod -aG dialout $USER, then log in again)")
    return (f"{port} is busy in another program (a serial terminal, Thonny, another mpremote,"
            " or a focuslight bridge driving it as a serial beacon): close it, then retry")


# -- config.json --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BridgeSettings:
    """The broker and prefix the beacon shares with the bridge.

    *broker* carries only credentials given for the beacon (flags or URL):
    a bridge's own account never goes into a ``config.json`` anyone with a
    USB cable can read. *watcher* is how this command itself connects to
    confirm the beacon came online, and may use the bridge's account.
    """

    broker: BrokerSettings
    prefix: str
    watcher: BrokerSettings


def _bridge_settings(args: argparse.Namespace) -> BridgeSettings:
    configured, prefix = None, None
    username = password = None
    if args.config:
        bridge = Section(read_toml(args.config), args.config).section("bridge", optional=True)
        configured = bridge.str("broker", None)
        username, password = bridge.str("username", None), bridge.str("password", None)
        prefix = bridge.str("prefix", None)
    try:
        settings = BrokerSettings.resolve(getattr(args, "broker", None), configured)
    except BrokerURLError as err:
        raise FlashError(f"--broker: {err}") from None
    settings = settings.with_credentials(getattr(args, "username", None),
                                         getattr(args, "password", None),
                                         getattr(args, "ca_file", None))
    watcher = settings.with_credentials(settings.username or username,
                                        settings.password or password)
    prefix = getattr(args, "prefix", None) or prefix or "focuslight"
    try:
        Topics(prefix)
    except ProtocolError as err:
        raise FlashError(f"--prefix: {err}") from None
    return BridgeSettings(settings, prefix, watcher)


def device_config(args: argparse.Namespace, bridge: BridgeSettings,
                  board: Board) -> dict[str, Any]:
    """The board's ``config.json``, checked here so a typo never reaches the board."""
    kind = args.board or BOARD_PLATFORMS.get(board.platform) or (
        "unix" if board.is_unix else None)
    if kind is None:
        raise FlashError(f"unknown board platform {board.platform!r}: pass --board"
                         f" ({', '.join(sorted(BOARD_ARCHS))})")
    try:
        agent = check_id(args.agent, "--agent")
        beacon = check_id(args.beacon or f"{agent}-beacon", "--beacon")
    except ProtocolError as err:
        raise FlashError(str(err)) from None
    broker = bridge.broker
    if args.transport == "mqtt" and kind != "unix":
        if not args.wifi_ssid:
            raise FlashError("--wifi-ssid is needed for --transport mqtt (or use"
                             " --transport serial for a beacon driven over USB)")
        if broker.host.startswith(LOCAL_HOSTS):
            raise FlashError(f"broker {broker.host} would be the board itself: pass --broker"
                             " with the broker's LAN address, e.g. --broker 192.168.1.10")
    if broker.tls:
        try:
            check_ca_file(broker.ca_file if broker.ca_file else None)
        except ValueError as err:
            raise FlashError(f"{err}; an mqtts:// beacon needs --ca-file with the site CA that"
                             " signed the broker's certificate (a board has no CA store)"
                             ) from None
    _check_pins(kind, args)
    if args.brightness is not None and not 0 <= args.brightness <= 1:
        raise FlashError(f"--brightness must be a number from 0 to 1, got {args.brightness}")
    return beacon_config(broker, bridge.prefix, agent, beacon, kind,
                         wifi_ssid=args.wifi_ssid or "", wifi_password=args.wifi_password,
                         led=args.led, available_off=args.available_off,
                         transport=args.transport, brightness=args.brightness,
                         neopixel_pin=args.led_pin, neopixel_count=args.led_count,
                         button_pin=args.button_pin, rgb_pins=_pins(args.rgb_pins),
                         ntp_host=args.ntp_host)


def beacon_config(broker: BrokerSettings, prefix: str, agent: str, beacon: str, board: str,
                  **keys: Any) -> dict[str, Any]:
    """A beacon's ``config.json``: the keys every beacon has, and *keys* (docs/firmware.md).

    The one place it is built, for a board (:func:`device_config`) and for the virtual
    beacon alike, so the broker, its credentials and TLS reach both the same way. A key
    whose value is None is left out: the firmware's default applies.
    """
    config: dict[str, Any] = {
        "broker": broker.host, "port": broker.port,
        "username": broker.username or "", "password": broker.password or "",
        "prefix": prefix, "agent": agent, "beacon": beacon, "board": board}
    if broker.tls:
        config.update(tls=True, ca_file=CA_FILE)
    config.update({k: v for k, v in keys.items() if v is not None})
    return config


USABLE_PINS: dict[str, tuple[frozenset[int], str]] = {
    "pico_w": (frozenset([*range(23), 26, 27, 28]),
               "GP0-GP22 or GP26-GP28 (GP23-GP25 and GP29 drive the Wi-Fi chip)"),
    "esp32": (frozenset([0, 2, 4, 5, *range(12, 20), 21, 22, 23, 25, 26, 27, 32, 33]),
              "GPIO 0, 2, 4, 5, 12-19, 21-23, 25-27, 32 or 33 (6-11 hold the flash chip,"
              " 1 and 3 the USB serial link, 34-39 are inputs without a pull-up)"),
}
"""GPIOs a beacon may wire its LED and button to, per board (see hardware/pins.md)."""


def _check_pins(kind: str, args: argparse.Namespace) -> None:
    """Refuse a pin the board does not have or needs for itself, before anything is copied."""
    if kind not in USABLE_PINS:
        return  # the unix port: its pins are virtual
    usable, which = USABLE_PINS[kind]
    wanted = [("--led-pin", args.led_pin), ("--button-pin", args.button_pin)]
    wanted += [("--rgb-pins", pin) for pin in _pins(args.rgb_pins) or []]
    for flag, pin in wanted:
        if pin is not None and pin not in usable:
            raise FlashError(f"{flag} {pin} is not a GPIO a {kind} beacon can use: pick {which};"
                             " hardware/pins.md has the wiring")


def check_ca_file(path: str | None) -> None:
    """Refuse a CA file the firmware could not use, here rather than on the board."""
    if not path:
        raise ValueError("no --ca-file given")
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"--ca-file {path}: cannot read it ({err})") from None
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise ValueError(f"--ca-file {path}: not a PEM certificate"
                         " (no -----BEGIN CERTIFICATE----- line)")


def _pins(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        pins = [int(p) for p in text.split(",")]
    except ValueError:
        pins = []
    if len(pins) != 3 or min(pins) < 0:
        raise FlashError(f"--rgb-pins must be three GPIO numbers like 16,17,18, got {text!r}")
    return pins


def _check_firmware(firmware: Path) -> Path:
    if not (firmware / "main.py").is_file() or not (firmware / PACKAGE).is_dir():
        raise FlashError(f"{firmware} is not the beacon firmware (needs main.py and {PACKAGE}/):"
                         " pass --firmware DIR, the firmware folder of a focuslight checkout")
    return firmware


# -- waiting for the beacon ---------------------------------------------------------


class AvailabilityWatch:
    """Subscribes before the reset, then waits for a live ``online`` from the beacon.

    Retained messages are ignored: an ``online`` left over from before the
    flash proves nothing about the firmware just written.
    """

    def __init__(self, bridge: BridgeSettings, topic: str, timeout: float) -> None:
        self.topic, self.timeout, self.broker = topic, timeout, bridge.watcher
        self.online = threading.Event()
        subscribed = threading.Event()
        self.client = make_client(bridge.watcher)
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_message = self._message
        try:
            self.client.connect(bridge.watcher.host, bridge.watcher.port, keepalive=30)
        except OSError as err:
            raise FlashError(f"cannot reach the broker {bridge.watcher.url} to confirm the"
                             f" beacon comes online ({err}): fix --broker/-c, or pass"
                             " --no-wait") from None
        self.client.loop_start()
        if not subscribed.wait(10):
            self.close()
            raise FlashError(f"the broker {bridge.watcher.url} did not accept a subscription"
                             " (credentials?): fix --username/--password, or pass --no-wait")

    def _message(self, _client: Any, _userdata: Any, message: Any) -> None:
        if not message.retain and message.payload == ONLINE.encode():
            self.online.set()

    def wait(self, beacon: str) -> int:
        print(f"waiting up to {self.timeout:g} s for {self.topic} = online ...")
        try:
            if self.online.wait(self.timeout):
                print(f"beacon {beacon} is online")
                return 0
        finally:
            self.close()
        print(f"focuslight flash: beacon {beacon} did not come online within"
              f" {self.timeout:g} s. Check the Wi-Fi name/password and that the broker"
              f" {self.broker.host}:{self.broker.port} is reachable from the board's network;"
              " `mpremote connect PORT repl` shows the firmware's log", file=sys.stderr)
        return EXIT_UNCONFIRMED

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
