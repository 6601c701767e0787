# What the beacon knows about the world, and the one state it may honestly
# show: "unknown" unless the link is up, a status has arrived, and the bridge
# that published it is not offline. A status without bridge_id (an older
# bridge) trusts no offline bridge at all.
#
# Memory is bounded: at most MAX_BRIDGES offline bridges are remembered by
# name. Past that the oldest is forgotten, never the bridge the current status
# names (a site with a bridge per softphone PC may see dozens go offline at
# night). Once anything was forgotten (_overflow), a status naming a bridge
# not heard of since is distrusted until the broker is asked again for that
# one bridge's retained availability (unsure(), re-subscribed by net.py), and
# a status without bridge_id stays distrusted until the next reconnect.
#
# Sites: a beacon whose prefix is a site's tree on a central broker
# (focuslight/sites/north) has that site (self.site) and follows its link
# (<prefix>/link, mosquitto's bridge notification "1"/"0"): its status is shown
# only while the link last said "1". At "0" what came through the link (the
# status, the bridges) is stale and forgotten, and a status arriving while it
# says "0" is not kept; mosquitto's bridge sends them all again after its "1".
# A beacon on its own site's broker has no site: no link concerns it.

MAX_BRIDGES = 16


class View:
    def __init__(self, site=None):
        self.linked = False
        self.site = site
        self.site_up = None  # the site link's last word: True, False, None (not heard)
        self.status = None
        self.status_bridge = None
        self.status_cue = None
        self._offline = []
        self._overflow = False
        self._heard = None  # the status's bridge, once heard of by name after an overflow

    def shown(self):
        if not self.linked or self.status is None or self._distrusted():
            return "unknown"
        if self.site is not None and self.site_up is not True:
            return "unknown"
        return self.status

    def cue(self):
        """The status's cue, only while its state may be shown: never over unknown."""
        return self.status_cue if self.shown() != "unknown" else None

    def _distrusted(self):
        b = self.status_bridge
        if b is None:
            return self._overflow or bool(self._offline)
        if b in self._offline:
            return True
        return self._overflow and self._heard != b

    def set_status(self, state, bridge, cue=None):
        """A valid status arrived: its state, the bridge_id it names (or None), its cue."""
        if self.site_up is False:
            return  # the centre's copy from before the link dropped: stale
        if bridge != self.status_bridge:
            self._heard = None  # what was heard of the old bridge says nothing of the new one
        self.status, self.status_bridge, self.status_cue = state, bridge, cue

    def unsure(self):
        """The status's bridge if its availability may have been forgotten, else None."""
        b = self.status_bridge
        if b is not None and self._overflow and self._heard != b and b not in self._offline:
            return b
        return None

    def bridge(self, name, online):
        """Record a bridge's availability; online=None forgets it (retained message cleared)."""
        if name == self.status_bridge:
            self._heard = name
        if name in self._offline:
            if online is not False:
                self._offline.remove(name)
        elif online is False:
            if len(self._offline) >= MAX_BRIDGES:
                self._overflow = True
                for i in range(len(self._offline)):
                    if self._offline[i] != self.status_bridge:
                        self._offline.pop(i)
                        break
            self._offline.append(name)

    def site_link(self, name, up):
        """A site's link notification (up: True, False, None = cleared); only the site
        whose tree the beacon follows matters."""
        if name != self.site:
            return
        self.site_up = up
        if up is False:
            self._forget()

    def lost(self):
        """The link is down: forget everything, retained messages come back on reconnect."""
        self.linked = False
        self.site_up = None
        self._forget()

    def _forget(self):
        self.status = None
        self.status_bridge = None
        self.status_cue = None
        self._offline.clear()
        self._overflow = False
        self._heard = None
