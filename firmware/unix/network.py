# network seam for the unix port: the host's own network is the "Wi-Fi";
# _vhw's b"wifi 0" datagram takes it away (the access point is gone) so tests
# can pull the plug. Status codes as on the Pico W.
import _vhw

STA_IF = 0
AP_IF = 1
STAT_IDLE = 0
STAT_CONNECTING = 1
STAT_GOT_IP = 3
STAT_CONNECT_FAIL = -1
STAT_NO_AP_FOUND = -2
STAT_WRONG_PASSWORD = -3


class WLAN:
    def __init__(self, interface=STA_IF):
        self._active = False
        self._joined = False

    def active(self, on=None):
        if on is None:
            return self._active
        self._active = on

    def connect(self, ssid=None, key=None):
        self._joined = True

    def disconnect(self):
        self._joined = False

    def status(self):
        if not self._joined:
            return STAT_IDLE
        return STAT_GOT_IP if self.isconnected() else STAT_NO_AP_FOUND

    def isconnected(self):
        _vhw.poll()
        return self._active and self._joined and _vhw.wifi

    def config(self, *args, **kw):
        return None
