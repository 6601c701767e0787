"""Outputs: where merged statuses go (MQTT, USB serial beacons, Home Assistant)."""
