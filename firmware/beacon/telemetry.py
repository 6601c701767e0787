# What a beacon says about itself, so an admin can see every beacon from one
# place (watch, the board, Home Assistant) instead of walking to each desk:
# firmware version, IP, Wi-Fi signal, uptime, free heap and why it last
# restarted. Published retained on <prefix>/beacons/<beacon>/telemetry when
# the MQTT session comes up and every config "telemetry" seconds (default 60;
# docs/protocol.md).
import asyncio
import gc
import json
import sys
from time import ticks_diff, ticks_ms

from beacon.protocol import topic
from beacon.version import VERSION

# machine.reset_cause() values by name (ports define only some of them)
_CAUSES = (("PWRON_RESET", "power_on"), ("HARD_RESET", "hard"), ("WDT_RESET", "watchdog"),
           ("DEEPSLEEP_RESET", "deepsleep"), ("SOFT_RESET", "soft"))


def reset_cause():
    """Why the board last started, as a word; None where the port cannot tell."""
    try:
        import machine

        cause = machine.reset_cause()
    except (ImportError, AttributeError):
        return None
    for name, word in _CAUSES:
        if getattr(machine, name, None) == cause:
            return word
    return "code %d" % cause


class Telemetry:
    """A link extra (see beacon.net): publishes on connect and every cfg["telemetry"] s."""

    topics = ()

    def __init__(self, cfg, link, wlan=None):
        self._link, self._wlan = link, wlan
        self._agent, self._board = cfg["agent"], cfg["board"]
        self.topic = topic(cfg["prefix"], "beacons", cfg["beacon"], "telemetry")
        self._cause = reset_cause()
        self._up_ms, self._last = 0, ticks_ms()
        self._period_ms = cfg["telemetry"] * 1000

    def uptime(self):
        """Seconds since boot; accumulated, so ticks_ms() wrapping (12 days) does not matter
        as long as this runs more often than every few days (it runs every period)."""
        now = ticks_ms()
        self._up_ms += ticks_diff(now, self._last)
        self._last = now
        return self._up_ms // 1000

    def payload(self):
        ip = rssi = None
        w = self._wlan
        if w is not None:
            try:
                if w.isconnected():
                    ip = w.ifconfig()[0]
                    rssi = w.status("rssi")
            except (AttributeError, OSError, TypeError, ValueError):
                pass  # the port has no such query (unix)
        gc.collect()
        return json.dumps({"v": 1, "agent": self._agent, "firmware": VERSION, "ip": ip,
                           "rssi": rssi, "uptime": self.uptime(), "heap_free": gc.mem_free(),
                           "reset_cause": self._cause, "board": self._board,
                           "mpy": getattr(sys.implementation, "_mpy", 0)}).encode()

    async def connected(self, link):
        await link.publish(self.topic, self.payload(), True)

    def message(self, topic, payload, retained):
        return False

    async def run(self):
        while True:
            await asyncio.sleep_ms(self._period_ms)
            await self._link.publish(self.topic, self.payload(), True)
