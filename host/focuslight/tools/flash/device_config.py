"""The beacon's ``config.json``: built from the flags and ``focuslight.toml``, checked
here so a typo never reaches the board."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...config import read_toml
from ...config_section import Section
from ...mqtt.client import BrokerSettings, BrokerURLError
from ...protocol import ProtocolError, Topics, check_id
from .board import BOARD_ARCHS, BOARD_PLATFORMS, Board, FlashError

CA_FILE = "ca.pem"
"""The site CA's name on the board, beside config.json (``config.json`` names it)."""
LOCAL_HOSTS = ("localhost", "127.", "::1")


@dataclass(frozen=True, slots=True)
class BridgeSettings:
    """The broker and prefix the beacon shares with the bridge.

    *broker* carries only credentials given for the beacon (flags or URL):
    a bridge's own account never goes into a ``config.json`` anyone with a
    USB cable can read. *bridge_username* is the ``[bridge] username`` of
    ``-c``: kept only to refuse it (:meth:`tool_account`).
    """

    broker: BrokerSettings
    prefix: str
    bridge_username: str | None = None

    def tool_account(self, base: BrokerSettings, flags: str) -> BrokerSettings:
        """How this command itself connects: *base* with the account of *flags*, never
        the bridge's.

        The guide's broker sets ``use_username_as_clientid``: a second connection
        with the bridge's account pushes the running bridge off the broker for as
        long as this command runs (every beacon blinks blue). So the bridge's
        account is refused, in one line, whether it came from the flags or only
        from ``-c``.
        """
        user_flag = flags.split("/")[0]
        if base.username and base.username == self.bridge_username:
            raise FlashError(
                f"{user_flag} {base.username} is the bridge's own account ([bridge] username):"
                " the broker would push the running bridge off while this runs; use an admin"
                " account (focuslight-admin in docs/deploy-a-site.md)")
        if not base.username and self.bridge_username:
            raise FlashError(
                f"-c names the bridge's account ({self.bridge_username}), which this command"
                " does not borrow (the broker would push the running bridge off while it"
                f" runs): pass {flags} of an admin account (focuslight-admin in"
                " docs/deploy-a-site.md)")
        return base


def bridge_settings(args: argparse.Namespace) -> BridgeSettings:
    configured, prefix = None, None
    username = None
    if args.config:
        bridge = Section(read_toml(args.config), args.config).section("bridge", optional=True)
        configured = bridge.str("broker", None)
        username = bridge.str("username", None)
        prefix = bridge.str("prefix", None)
    try:
        settings = BrokerSettings.resolve(getattr(args, "broker", None), configured)
    except BrokerURLError as err:
        raise FlashError(f"--broker: {err}") from None
    settings = settings.with_credentials(getattr(args, "username", None),
                                         getattr(args, "password", None),
                                         getattr(args, "ca_file", None))
    prefix = getattr(args, "prefix", None) or prefix or "focuslight"
    try:
        Topics(prefix)
    except ProtocolError as err:
        raise FlashError(f"--prefix: {err}") from None
    return BridgeSettings(settings, prefix, username)


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
        looks = None if args.looks is None else check_id(args.looks, "--looks")
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
                         ntp_host=args.ntp_host, looks=looks)


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
