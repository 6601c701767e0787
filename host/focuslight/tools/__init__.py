"""Tools around the bridge: flashing and updating beacons, the virtual beacon,
the embedded broker and the demo."""
