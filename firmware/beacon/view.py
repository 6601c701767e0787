# What the beacon knows about the world, and the one state it may honestly
# show: "unknown" unless the link is up, a status has arrived, and the bridge
# that published it is not offline. A status without bridge_id (an older
# bridge) trusts no offline bridge at all.

_MAX_BRIDGES = 16


class View:
    def __init__(self):
        self.linked = False
        self.status = None
        self.status_bridge = None
        self._offline = []

    def shown(self):
        if not self.linked or self.status is None or self._distrusted():
            return "unknown"
        return self.status

    def _distrusted(self):
        if self.status_bridge is None:
            return bool(self._offline)
        return self.status_bridge in self._offline

    def bridge(self, name, online):
        """Record a bridge's availability; online=None forgets it (retained message cleared)."""
        if name in self._offline:
            if online is not False:
                self._offline.remove(name)
        elif online is False:
            if len(self._offline) >= _MAX_BRIDGES:
                self._offline.pop(0)
            self._offline.append(name)

    def lost(self):
        """The link is down: forget everything, retained messages come back on reconnect."""
        self.linked = False
        self.status = None
        self.status_bridge = None
        self._offline.clear()
