# The firmware's version: always the focuslight package version it ships with
# (pyproject.toml), checked by tests/integration/test_firmware_telemetry.py. The beacon
# reports it in its telemetry, and `focuslight update` offers beacons a newer one.
VERSION = "0.2.0"
