"""``focuslight bridge`` with gpiozero's MockFactory pins that a test drives over stdin.

A test cannot reach the pins of another process, so this wrapper runs the
real CLI entry point (config, service, MQTT link, counter source) in its own
main thread with ``Device.pin_factory = MockFactory()``, and a reader thread
turns stdin lines into pin changes::

    low 17        drive GPIO17 low (a button to ground: pressed)
    high 17       drive GPIO17 high (released)

Usage: python tests/helpers/counter_bridge.py -c focuslight.toml
"""

from __future__ import annotations

import sys
import threading

from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from focuslight.cli import main


def drive_pins(factory: MockFactory) -> None:
    for line in sys.stdin:
        level, pin = line.split()
        getattr(factory.pin(int(pin)), f"drive_{level}")()


if __name__ == "__main__":
    Device.pin_factory = MockFactory()
    threading.Thread(target=drive_pins, args=(Device.pin_factory,), daemon=True).start()
    sys.exit(main(["bridge", *sys.argv[1:]]))
