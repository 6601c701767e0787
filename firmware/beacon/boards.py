# Default pins for each supported beacon board. hardware/ documents the same
# numbers and tests/unit/test_hardware_pins.py checks that the two agree.
# A device's config.json may override any of them.

BOARDS = {
    "pico_w": {
        "neopixel_pin": 28,
        "neopixel_count": 12,
        "rgb_pins": (16, 17, 18),
        "button_pin": 15,
        "watchdog_ms": 8000,
    },
    "esp32": {
        "neopixel_pin": 13,
        "neopixel_count": 12,
        "rgb_pins": (25, 26, 27),
        "button_pin": 14,
        "watchdog_ms": 10000,
    },
    "unix": {
        "neopixel_pin": 0,
        "neopixel_count": 1,
        "rgb_pins": (0, 1, 2),
        "button_pin": 0,
        "watchdog_ms": 0,
    },
}
