# The Wi-Fi + MQTT link: keeps a connection to the broker alive forever and
# tells the View what it hears. Outages are normal events: Wi-Fi loss, a
# killed broker or a silent link all end in "unknown" on the light and a
# reconnect with capped exponential backoff.
import asyncio
from time import ticks_diff, ticks_ms

import network
from micropython import const

from beacon import protocol
from beacon.log import log
from beacon.mqtt import MAX_TOPIC, MQTTClient, MQTTError
from beacon.tls import tls_context
from beacon.view import MAX_BRIDGES

_WIFI_WAIT_MS = const(20000)
_BACKOFF_MS = const(1000)
_BACKOFF_CAP_MS = const(30000)
_CHECK_MS = const(200)
_AVAIL = b"/availability"
# WLAN.status() codes that will not get better by waiting (names differ per port)
_WIFI_FAIL = {}
for _name, _why in (("STAT_WRONG_PASSWORD", "wrong password"),
                    ("STAT_NO_AP_FOUND", "network not found"),
                    ("STAT_CONNECT_FAIL", "connection refused by the access point")):
    if hasattr(network, _name):
        _WIFI_FAIL[getattr(network, _name)] = _why


class WifiError(Exception):
    pass


class MqttLink:
    def __init__(self, cfg, view, changed):
        self._cfg, self._view, self._changed = cfg, view, changed
        p, beacon = cfg["prefix"], cfg["beacon"]
        self._t_status = protocol.topic(p, "agents", cfg["agent"], "status").encode()
        self._t_bridges = ("%s/bridges/" % p).encode()
        # bytes, as MQTTClient sends them and as _message compares them: encoded once
        self._t_event = protocol.topic(p, "beacons", beacon, "event").encode()
        self._t_avail = protocol.topic(p, "beacons", beacon, "availability").encode()
        # a site's tree on a central broker: its link too (view.py); else nothing to follow
        self._t_site = (p + "/link").encode() if view.site is not None else None
        self._reannounce = False
        self.extras = ()  # telemetry, update: topics, connected(link), message(), see app.py
        self._asked = None
        self._clock_set = False
        ka, lt = cfg["keepalive"], cfg["link_timeout"]
        # A frozen broker or a dead access point closes nothing: only silence tells. Ping
        # every link_timeout/2 (and at least every keepalive/2, which the broker needs);
        # link_timeout without a single packet from the broker (a PINGRESP is due within
        # link_timeout/2 of each ping) ends the session: the light is unknown within
        # link_timeout + _CHECK_MS, 4.2 s by default. Cost: docs/firmware.md.
        self._ping_ms = min(lt, ka) * 500
        self._dead_ms = lt * 1000
        c = MQTTClient("focuslight-" + beacon, cfg["broker"], cfg["port"], cfg["username"],
                       cfg["password"], ka, will=(self._t_avail, b"offline", True),
                       max_payload=protocol.MAX_PAYLOAD,
                       ssl_context=tls_context(cfg["ca_file"]) if cfg["tls"] else None)
        c.on_message = self._message
        c.on_oversized = self._oversized
        self._client = c
        self._wlan = network.WLAN(network.STA_IF)

    async def run(self):
        backoff = _BACKOFF_MS
        while True:
            try:
                await self._wifi()
                self._clock()
                await self._client.connect()
                backoff = _BACKOFF_MS
                await self._session()
            except WifiError as e:
                log("wifi: %r: %s" % (self._cfg["wifi_ssid"], e))
            except (asyncio.TimeoutError, OSError, MQTTError) as e:
                log("mqtt: broker %s:%d%s: %s: %s"
                    % (self._cfg["broker"], self._cfg["port"], " (TLS)" if self._cfg["tls"]
                       else "", type(e).__name__, e))
            self._lost()
            log("reconnecting in %d s" % (backoff // 1000))
            await asyncio.sleep_ms(backoff)
            backoff = min(backoff * 2, _BACKOFF_CAP_MS)

    async def send_event(self, action):
        """Publish a button event; return False (and drop it) while offline."""
        if not self._view.linked:
            return False
        try:
            await self._client.publish(self._t_event, protocol.event(action).encode())
        except OSError as e:
            log("mqtt: event not sent: %s" % e)
            return False
        return True

    async def publish(self, topic, payload, retain=False):
        """Publish for an extra; return False (and drop it) while offline."""
        if not self._view.linked:
            return False
        try:
            await self._client.publish(topic, payload, retain)
        except OSError as e:
            log("mqtt: not sent on %s: %s" % (topic, e))
            return False
        return True

    def _clock(self):
        """With TLS on a board: set the clock from NTP once, or every certificate looks
        "not yet valid" (the board's clock starts years in the past after a reset).

        Blocks for at most ntptime's socket timeout (1 s): well inside the watchdog.
        The unix port has the host's clock and no RTC to set.
        """
        cfg = self._cfg
        if self._clock_set or not cfg["tls"] or cfg["board"] == "unix":
            return
        try:
            import ntptime

            ntptime.host = cfg["ntp_host"]
            ntptime.settime()
        except (ImportError, OSError, OverflowError) as e:
            log("clock: no time from NTP server %s (%s): the broker's certificate may look"
                " not yet valid" % (cfg["ntp_host"], e))
            return
        self._clock_set = True
        log("clock: set from NTP server %s" % cfg["ntp_host"])

    async def _wifi(self):
        w = self._wlan
        if w.isconnected():
            return
        log("wifi: connecting to %r" % self._cfg["wifi_ssid"])
        try:
            w.active(True)
            if self._cfg["board"] == "pico_w":
                w.config(pm=0xA11140)  # no Wi-Fi power saving: sub-ms wakeups
            w.connect(self._cfg["wifi_ssid"], self._cfg["wifi_password"])
        except OSError as e:  # e.g. ESP32 "Wifi Internal Error" while still reconnecting
            w.disconnect()
            raise WifiError(str(e)) from None
        start = ticks_ms()
        while not w.isconnected():
            why = _WIFI_FAIL.get(w.status())
            if why is None and ticks_diff(ticks_ms(), start) > _WIFI_WAIT_MS:
                why = "no connection after %d s" % (_WIFI_WAIT_MS // 1000)
            if why:
                w.disconnect()
                raise WifiError(why)
            await asyncio.sleep_ms(250)
        log("wifi: connected")

    async def _session(self):
        c, cfg = self._client, self._cfg
        log("mqtt: connected to %s:%d%s" % (cfg["broker"], cfg["port"],
                                            " over TLS" if cfg["tls"] else ""))
        if self._t_site:  # first: the retained link is heard before the status
            await c.subscribe(self._t_site)
        for x in self.extras:  # the site's looks before the status: a light facing
            for t in x.topics:  # customers never shows the built-in red first
                await c.subscribe(t)
        await c.subscribe(self._t_status)
        await c.subscribe(self._t_bridges + b"+" + _AVAIL)
        await c.subscribe(self._t_avail)
        await c.publish(self._t_avail, b"online", retain=True)
        reader = asyncio.create_task(self._read())
        # the one "session is up" flag: the light, send_event, publish and _watch go by
        # it; _lost() clears it (view.lost())
        self._view.linked = True
        self._changed()
        try:
            for x in self.extras:
                await x.connected(self)
            await self._watch()
        finally:
            reader.cancel()

    async def _read(self):
        try:
            await self._client.serve()
        except (OSError, MQTTError, ValueError) as e:  # ValueError: mbedtls, mid-session
            log("mqtt: connection lost: %s" % e)
        except Exception as e:  # a bug: never a deaf link that still shows its last state
            log("mqtt: reader failed (%s: %s); reconnecting" % (type(e).__name__, e))
        self._lost()  # now, not at the next _watch tick: the light goes unknown at once

    async def _watch(self):
        """Ping, and notice a dead link or lost Wi-Fi; return when the session is over."""
        c, last_ping = self._client, ticks_ms()
        self._asked = None
        tick = last_ping
        while self._view.linked:
            await asyncio.sleep_ms(_CHECK_MS)
            now = ticks_ms()
            stalled = ticks_diff(now, tick) > 5 * _CHECK_MS  # we were not scheduled: our
            tick = now  # own stall, not the link's; let the reader catch up for one round
            if not self._wlan.isconnected():
                log("wifi: lost")
                return
            if ticks_diff(now, c.last_rx) > self._dead_ms and not stalled:
                log("mqtt: no answer from the broker for %d s (link_timeout)"
                    % (self._dead_ms // 1000))
                return
            unsure = self._view.unsure()
            if unsure and unsure != self._asked:
                self._asked = unsure
                log("mqtt: over %d bridges offline, asking the broker again for bridge %s"
                    % (MAX_BRIDGES, unsure))
                await c.subscribe(self._t_bridges + unsure.encode() + _AVAIL)
            if self._reannounce:
                self._reannounce = False
                log("mqtt: the broker said we are offline (an old connection's will), so: online")
                await c.publish(self._t_avail, b"online", retain=True)
            if ticks_diff(now, last_ping) >= self._ping_ms:
                last_ping = now
                await c.ping()

    def _lost(self):
        self._client.close()
        if self._view.linked:
            self._view.lost()
            self._changed()

    def _message(self, topic, payload, retained):
        v = self._view
        try:
            if topic == self._t_status:
                if not payload:  # cleared: the bridge retired this agent, nothing vouches
                    v.set_status(None, None)
                else:
                    state, _source, _since, bridge, cue = protocol.decode_status(payload)
                    v.set_status(state, bridge, cue)
            elif topic.startswith(self._t_bridges) and topic.endswith(_AVAIL):
                name = str(topic[len(self._t_bridges):-len(_AVAIL)], "utf-8")
                if not payload:
                    v.bridge(name, None)
                else:
                    v.bridge(name, protocol.decode_availability(payload) == protocol.ONLINE)
            elif topic == self._t_site:
                v.site_link(v.site, protocol.decode_site_link(payload) if payload else None)
            elif topic == self._t_avail:
                # our own availability: a live "offline" is the will of a connection the
                # broker only now dropped (after a silent link); it must not stay retained
                self._reannounce = not retained and bytes(payload) == b"offline"
                return
            else:
                for x in self.extras:
                    if x.message(topic, payload, retained):
                        break
                return
        except ValueError as e:
            log("ignored message on %s: %s" % (topic.decode(), e))
            return
        except Exception as e:  # last resort: one bad message must not end the reader
            log("ignored message on %s: %s: %s (a firmware bug, please report)"
                % (topic.decode(), type(e).__name__, e))
            return
        self._changed()

    def _oversized(self, topic, size):
        if topic is None:
            log("ignored a message with a %d-byte topic (limit %d)" % (size, MAX_TOPIC))
            return
        log("ignored message on %s: payload is %d bytes, limit is %d"
            % (topic.decode(), size, protocol.MAX_PAYLOAD))
