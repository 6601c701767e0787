# Wires the beacon together at the edge: config -> LED, button, watchdog and
# one link (MQTT over Wi-Fi or USB serial), then runs the asyncio tasks. On a
# bad config it says why on the REPL and blinks the error pattern forever.
import asyncio
import gc
import json
import sys
from time import sleep_ms, ticks_diff, ticks_ms

from micropython import const

from beacon import config, led, protocol
from beacon.button import PinButton
from beacon.log import log
from beacon.look import Renderer
from beacon.looks import SiteLooks
from beacon.view import View

FRAME_MS = const(20)
BUTTON_MS = const(10)
GC_MS = const(1000)


class Beacon:
    def __init__(self, cfg, wdt=None):
        self.cfg = cfg
        self.view = View(protocol.site_of(cfg["prefix"]))
        self.renderer = Renderer(led.make(cfg), cfg["brightness"], cfg["available_off"])
        self.button = PinButton(cfg["button_pin"])
        if cfg["transport"] == "serial":
            from beacon.serial import SerialLink as Link
        else:
            from beacon.net import MqttLink as Link
        self.link = Link(cfg, self.view, self.changed)
        self.extras = ()
        if cfg["transport"] == "mqtt":
            self.extras = self.link.extras = _extras(cfg, self.link, self.renderer)
        else:
            self.link.looks = SiteLooks(cfg, self.renderer, ticks_ms).use
        self.wdt = wdt  # main.py's, for a firmware on trial: fed like the board's own
        if cfg["watchdog_ms"]:
            from machine import WDT

            self.wdt = WDT(timeout=cfg["watchdog_ms"])

    def park_watchdog(self):
        """Ctrl-C from the REPL (mpremote, `focuslight flash`): keep the board alive.

        The hardware watchdog cannot be stopped once started, so a timer feeds
        it from now on; a soft or hard reset (after flashing) clears the timer.
        """
        if self.wdt:
            from machine import Timer

            feed = self.wdt.feed
            Timer(0 if sys.platform == "esp32" else -1, period=1000, mode=Timer.PERIODIC,
                  callback=lambda _t: feed())

    def changed(self):
        self.renderer.set_state(self.view.shown(), ticks_ms(), self.view.cue())

    async def run(self):
        self.changed()
        tasks = [asyncio.create_task(self._animate()), asyncio.create_task(self._buttons())]
        tasks += [asyncio.create_task(x.run()) for x in self.extras]
        try:
            await self.link.run()
        finally:
            for t in tasks:
                t.cancel()

    async def _animate(self):
        """Frames, watchdog and gc: if this loop stalls, the watchdog resets the board."""
        last_gc = ticks_ms()
        while True:
            now = ticks_ms()
            self.renderer.tick(now)
            if self.wdt:
                self.wdt.feed()
            if ticks_diff(now, last_gc) >= GC_MS:
                gc.collect()
                last_gc = now
            await asyncio.sleep_ms(FRAME_MS)

    async def _buttons(self):
        while True:
            now = ticks_ms()
            action = self.button.poll(now)
            if action:
                self.renderer.flash(now)
                sent = await self.link.send_event(action)
                log("button %s%s" % (action, "" if sent else " (offline, not sent)"))
            await asyncio.sleep_ms(BUTTON_MS)


def _extras(cfg, link, renderer):
    """What an MQTT beacon does beside showing the light: the site's looks, telemetry,
    over-the-air update."""
    from network import STA_IF, WLAN

    gc.collect()  # what compiling the modules so far left behind: room to compile these
    from beacon.telemetry import Telemetry
    from beacon.update import Updater

    return (SiteLooks(cfg, renderer, ticks_ms), Telemetry(cfg, link, WLAN(STA_IF)),
            Updater(cfg, link))


def fail(message, raw_led="neopixel"):
    """Config error: one clear REPL line, then the error blink forever."""
    log("config error: " + message)
    cfg = dict(config.BOARDS[config.KEYS["board"][1]])
    cfg["led"] = raw_led if raw_led in ("neopixel", "rgb") else "neopixel"
    r = Renderer(led.make(cfg))
    r.set_state("error", ticks_ms())
    while True:
        r.tick(ticks_ms())
        sleep_ms(FRAME_MS)


def main(path="config.json", wdt=None):
    """Run the beacon; return "stopped" after a Ctrl-C (main.py then stays in the REPL).

    *wdt*: a watchdog main.py armed for a firmware on trial, fed from the frame loop."""
    try:
        cfg = config.load(path)
    except config.ConfigError as e:
        fail(str(e), _raw_led(path))
    log("%s for agent %s, %s transport" % (cfg["beacon"], cfg["agent"], cfg["transport"]))
    beacon = Beacon(cfg, wdt)
    try:
        asyncio.run(beacon.run())
    except KeyboardInterrupt:
        beacon.park_watchdog()
        log("stopped by Ctrl-C; machine.reset() starts the beacon again")
        return "stopped"
    return None


def _raw_led(path):
    try:
        with open(path) as f:
            return json.load(f).get("led")
    except (OSError, ValueError, AttributeError):
        return None
