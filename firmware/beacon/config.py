# The device config: one JSON file on the device (config.json), written by
# `focuslight flash` and validated here at boot, so a typo shows up as one
# clear line on the REPL (file, key, expected value) instead of a light that
# silently never turns on. Keys are documented in docs/firmware.md.
import json
import sys

from beacon.boards import BOARDS
from beacon.protocol import is_id

REQUIRED = object()
_PLATFORM_BOARD = {"rp2": "pico_w", "esp32": "esp32", "linux": "unix"}

# key: (kind, default); kinds are checked by _check below.
KEYS = {
    "wifi_ssid": ("str", ""),
    "wifi_password": ("str", ""),
    "broker": ("str", ""),
    "port": ("port", None),  # 1883, or 8883 with tls
    "tls": ("bool", False),
    "ca_file": ("file", "ca.pem"),
    "ntp_host": ("host", "pool.ntp.org"),
    "username": ("str", ""),
    "password": ("str", ""),
    "prefix": ("prefix", "focuslight"),
    "agent": ("id", REQUIRED),
    "beacon": ("id", REQUIRED),
    "board": (tuple(BOARDS), _PLATFORM_BOARD.get(sys.platform, "pico_w")),
    "led": (("neopixel", "rgb"), "neopixel"),
    "brightness": ("unit", 0.6),
    "available_off": ("bool", False),
    "looks": ("id", "default"),  # the site's set of looks to follow (docs/looks.md)
    "transport": (("mqtt", "serial"), "mqtt"),
    "keepalive": ("keepalive", 30),
    "telemetry": ("keepalive", 60),
    "link_timeout": ("link_timeout", 4),
    "neopixel_pin": ("pin", None),
    "neopixel_count": ("count", None),
    "rgb_pins": ("pins", None),
    "button_pin": ("pin", None),
}
_EXPECT = {
    "str": "a string",
    "file": "a file name on the board, e.g. \"ca.pem\"",
    "host": "a host name or IP address",
    "port": "an integer from 1 to 65535",
    "prefix": "a topic prefix without '#', '+' or a trailing '/'",
    "id": "an id matching [a-z0-9_-]{1,64}",
    "unit": "a number from 0 to 1",
    "bool": "true or false",
    "keepalive": "an integer number of seconds from 5 to 3600",
    "link_timeout": "an integer number of seconds from 2 to 300",
    "pin": "a GPIO number (integer >= 0)",
    "count": "an integer from 1 to 256",
    "pins": "a list of three GPIO numbers [r, g, b]",
}


class ConfigError(Exception):
    pass


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _check(kind, v):
    if isinstance(kind, tuple):
        return v in kind
    if kind == "str":
        return isinstance(v, str)
    if kind == "file" or kind == "host":
        return isinstance(v, str) and 0 < len(v) <= 64 and " " not in v
    if kind == "id":
        return is_id(v)
    if kind == "prefix":
        return isinstance(v, str) and v and "#" not in v and "+" not in v and v[-1] != "/"
    if kind == "bool":
        return isinstance(v, bool)
    if kind == "unit":
        return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1
    if kind == "pins":
        return isinstance(v, list) and len(v) == 3 and all(_is_int(p) and p >= 0 for p in v)
    lo, hi = {"port": (1, 65535), "keepalive": (5, 3600), "link_timeout": (2, 300),
              "pin": (0, 1000),
              "count": (1, 256)}[kind]
    return _is_int(v) and lo <= v <= hi


def _expected(kind):
    if isinstance(kind, tuple):
        return "one of " + ", ".join('"%s"' % k for k in kind)
    return _EXPECT[kind]


def validate(raw, path="config.json"):
    """Return a complete config dict (defaults and board pins filled in) or raise ConfigError."""
    if not isinstance(raw, dict):
        raise ConfigError("%s: must hold a JSON object" % path)
    for key in raw:
        if key not in KEYS:
            raise ConfigError("%s: unknown key %r (known: %s)" % (path, key, ", ".join(KEYS)))
    cfg = {}
    for key, (kind, default) in KEYS.items():
        if key not in raw:
            if default is REQUIRED:
                raise ConfigError("%s: key %r is missing, expected %s"
                                  % (path, key, _expected(kind)))
            cfg[key] = default
        elif _check(kind, raw[key]):
            cfg[key] = raw[key]
        else:
            raise ConfigError("%s: key %r must be %s, got %r"
                              % (path, key, _expected(kind), raw[key]))
    if cfg["port"] is None:
        cfg["port"] = 8883 if cfg["tls"] else 1883
    if cfg["transport"] == "mqtt":
        _need(cfg, path, "broker", "the broker's host name or IP address")
        if cfg["board"] != "unix":
            _need(cfg, path, "wifi_ssid", "the Wi-Fi network name")
    for key, value in BOARDS[cfg["board"]].items():
        if cfg.get(key) is None:
            cfg[key] = value
    return cfg


def _need(cfg, path, key, what):
    if not cfg[key]:
        raise ConfigError("%s: key %r is missing, expected %s (transport is mqtt)"
                          % (path, key, what))


def load(path="config.json"):
    try:
        with open(path) as f:
            raw = json.load(f)
    except OSError:
        raise ConfigError("%s: file not found; write it with `focuslight flash`" % path) from None
    except ValueError:
        raise ConfigError("%s: not valid JSON" % path) from None
    cfg = validate(raw, path)
    if cfg["tls"] and cfg["transport"] == "mqtt":
        _check_ca(cfg["ca_file"], path)
    return cfg


def _check_ca(ca_file, path):
    """With tls the site CA must be on the board: say so at boot, not at every connect."""
    from beacon.tls import pem_certificates

    try:
        pem_certificates(ca_file)
    except OSError:
        raise ConfigError("%s: tls is on but %s is not on the board; write it with"
                          " `focuslight flash --ca-file`" % (path, ca_file)) from None
    except ValueError as e:
        raise ConfigError("%s: %s is not a PEM CA certificate (%s)" % (path, ca_file, e)) from None
