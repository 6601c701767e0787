"""Outputs: where merged statuses go (MQTT + Home Assistant, USB serial beacons).

Each output module has a ``build_outputs(config, hub)`` that builds its outputs
from the settings :func:`focuslight.config.load` read (an empty list when the
site configures none); :data:`OUTPUT_TYPES` lists them, and
:func:`focuslight.app.build_outputs` is the one caller. Modules are imported
only when the bridge is built, so reading a config never opens a port.
"""

from __future__ import annotations

from .base import Output, QueuedOutput

OUTPUT_TYPES: dict[str, str] = {
    "bridge": "focuslight.outputs.mqtt",
    "serial_beacons": "focuslight.outputs.serial_beacon",
}
"""The config table an output is configured by → the module whose ``build_outputs``
builds it, in start order (the MQTT output first: the bridge's link to everything)."""

__all__ = ["OUTPUT_TYPES", "Output", "QueuedOutput"]
