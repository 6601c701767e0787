# The USB serial link: the host writes one JSON object per line on the
# beacon's stdin (a status, or {"v":1,"bridge":"online"|"offline"} as a
# heartbeat at least every 5 s); the beacon answers with event lines on
# stdout. Reading is byte by byte through asyncio, so a silent or noisy host
# never stalls the animation. Contract: docs/firmware.md, "Serial protocol".
import asyncio
import sys
from time import ticks_diff, ticks_ms

from micropython import const

from beacon import protocol
from beacon.log import log

SILENCE_MS = const(15000)
_LINE_MAX = const(512)


class SerialLink:
    def __init__(self, cfg, view, changed):
        self._view, self._changed = view, changed
        self._hello = protocol.hello(cfg["beacon"], cfg["agent"])
        self._line = bytearray(_LINE_MAX)
        self._len = 0
        self._too_long = 0
        self._last = ticks_ms()
        self.looks = None  # called with a decoded looks line (beacon.looks), see app.py

    async def run(self):
        """Serve until stdin closes (on the unix port: the pty went away)."""
        print(self._hello)
        stdin = asyncio.StreamReader(getattr(sys.stdin, "buffer", sys.stdin))
        watch = asyncio.create_task(self._watch())
        one = bytearray(1)
        try:
            while await stdin.readinto(one):
                self._byte(one[0])
        finally:
            watch.cancel()
        log("serial: stdin closed")

    async def send_event(self, action):
        print(protocol.event(action))
        return True

    def _byte(self, c):
        if c == 10:  # "\n"
            self._end_line()
        elif self._len < _LINE_MAX:
            self._line[self._len] = c
            self._len += 1
        else:
            self._too_long += 1

    def _end_line(self):
        # Only a final "\r" is part of the line ending ("\r\n"): one anywhere else stays
        # and the line is judged as the host would (a raw CR inside a string is no JSON;
        # dropping it made {"state":"avail\rable"} show green).
        n, dropped = self._len, self._too_long
        if n and not dropped and self._line[n - 1] == 13:
            n -= 1
        self._len = self._too_long = 0
        if dropped:
            log("serial: ignored a %d-byte line (limit %d)" % (n + dropped, _LINE_MAX))
        elif n:
            self._handle(memoryview(self._line)[:n])

    def _handle(self, line):
        v = self._view
        try:
            said = protocol.host_line(line)
            if said[0] == "bridge":
                v.bridge("host", said[1])
            elif said[0] == "looks":
                if self.looks:
                    self.looks(said[1])
            else:
                v.status, v.status_cue = said[1], said[2]
        except ValueError as e:
            log("serial: ignored line: %s" % e)
            return
        self._last = ticks_ms()
        v.linked = True
        self._changed()

    async def _watch(self):
        while True:
            await asyncio.sleep_ms(500)
            if self._view.linked and ticks_diff(ticks_ms(), self._last) > SILENCE_MS:
                log("serial: no line from the host for %d s" % (SILENCE_MS // 1000))
                self._view.lost()
                self._changed()
