# network seam for the unix port: the host's own network is the "Wi-Fi";
# _vhw's b"wifi 0" datagram takes it away so tests can pull the plug.
import _vhw

STA_IF = 0
AP_IF = 1


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

    def isconnected(self):
        _vhw.poll()
        return self._active and self._joined and _vhw.wifi

    def config(self, *args, **kw):
        return None
