"""focuslight: a status light for people who serve customers.

The bridge turns telephony and walk-up signals into one status per agent and
publishes it over MQTT (see :mod:`focuslight.protocol`) to beacons, the floor
board and Home Assistant.
"""

__version__ = "0.2.0"
