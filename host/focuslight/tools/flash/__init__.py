"""``focuslight flash``: firmware and config onto a beacon board in one command.

The package, one module per step: :mod:`.board` (what the board is, and running
mpremote and mpy-cross), :mod:`.plan` (what is compiled, removed, copied and run),
:mod:`.device_config` (the beacon's ``config.json``), :mod:`.availability` (waiting
for the beacon to come online).

An admin with a fresh board should not need to know mpy-cross flags, .mpy
versions or mpremote syntax. This command:

1. finds the board (``--port``, or the only USB serial device plugged in);
2. reads its MicroPython version, ``.mpy`` version and native arch
   (``mpremote exec``), and refuses a board whose ``.mpy`` version the
   installed mpy-cross cannot produce;
3. compiles the ``beacon/*.py`` that ``firmware/package.json`` lists (the one
   file list, :func:`.plan.read_manifest`) with mpy-cross for that arch (``.mpy``
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
import json
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from serial.tools import list_ports

from ...mqtt.client import BrokerSettings
from ...protocol import Topics
from .availability import EXIT_UNCONFIRMED, AvailabilityWatch
from .board import (
    BOARD_ARCHS,
    EXIT_FAILED,
    Board,
    FlashError,
    assumed_board,
    detect_port,
    read_board,
    wants_mpy,
)
from .device_config import (
    CA_FILE,
    USABLE_PINS,
    BridgeSettings,
    beacon_config,
    bridge_settings,
    check_ca_file,
    device_config,
)
from .plan import FIRMWARE_DIR, Plan, check_firmware, execute, print_dry_run

__all__ = ["BOARD_ARCHS", "CA_FILE", "EXIT_FAILED", "EXIT_UNCONFIRMED", "FIRMWARE_DIR",
           "USABLE_PINS", "Board", "FlashError", "beacon_config", "check_ca_file", "flash",
           "serial_beacon_snippet", "wants_mpy"]


def flash(args: argparse.Namespace) -> int:
    """Everything ``focuslight flash`` does (the steps in this module's docstring), from its
    options; FlashError says what went wrong."""
    firmware = check_firmware(args.firmware)
    bridge = bridge_settings(args)
    port = args.port or detect_port(allow_none=args.dry_run)
    if args.dry_run:
        board = assumed_board(args.board)
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
        watch = AvailabilityWatch(_watch_account(args, bridge), Topics(
            config["prefix"]).beacon_availability(config["beacon"]), args.timeout)
    with tempfile.TemporaryDirectory(prefix="focuslight-flash-") as stage:
        if args.dry_run:
            print_dry_run(plan, Path(stage), config)
            return 0
        try:
            execute(plan, Path(stage), config)
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


def _watch_account(args: argparse.Namespace, bridge: BridgeSettings) -> BrokerSettings:
    """The account the wait for ``online`` connects with: ``--watch-username``.

    Never the bridge's (the broker would push the running bridge off) nor the beacon's
    (``--username``: the beacon's first connect would push this watch off, and its
    reconnect the beacon); without one on a broker that needs accounts, say so.
    """
    base = replace(bridge.broker, username=None, password=None).with_credentials(
        args.watch_username, args.watch_password)
    if base.username and base.username == bridge.broker.username:
        raise FlashError(f"--watch-username {base.username} is the beacon's own account: the"
                         " beacon would push this watch off the broker when it connects; use an"
                         " admin account (focuslight-admin in docs/deploy-a-site.md), or"
                         " --no-wait")
    if not base.username and bridge.broker.username and not bridge.bridge_username:
        raise FlashError("waiting for the beacon needs an account of its own: pass"
                         " --watch-username/--watch-password (focuslight-admin in"
                         " docs/deploy-a-site.md), or --no-wait")
    try:
        return bridge.tool_account(base, "--watch-username/--watch-password")
    except FlashError as err:
        raise FlashError(f"{err}, or --no-wait") from None


def serial_beacon_snippet(port: str, config: dict[str, Any]) -> str:
    """The ``[[serial_beacons]]`` table for the bridge, by USB serial number when known."""
    serial_number = next((p.serial_number for p in list_ports.comports()
                          if p.device == port and p.serial_number), None)
    where = (f"serial_number = {json.dumps(serial_number)}" if serial_number
             else f"port = {json.dumps(port)}")
    return (f"add this to the bridge's focuslight.toml to drive the beacon over USB:\n\n"
            f"[[serial_beacons]]\n{where}\nagent = {json.dumps(config['agent'])}\n"
            f"beacon = {json.dumps(config['beacon'])}\n")
