# A small non-blocking MQTT 3.1.1 client on asyncio streams, in the mqtt_as
# style (Peter Hinch): nothing here blocks, so the light keeps animating and
# the button keeps working while the network is down. It does what a beacon
# needs and no more: CONNECT with a Last Will, SUBSCRIBE (QoS 1), QoS 0
# PUBLISH, PUBACK for QoS 1 deliveries, PINGREQ, optionally over TLS. Reconnecting and deciding
# that a link is dead belong to the caller (beacon.net). See docs/firmware.md.
import asyncio
import select
import socket
import struct
from time import ticks_diff, ticks_ms

from micropython import const

_CONNECT = const(0x10)
_PUBLISH = const(0x30)
_PUBACK = const(0x40)
_SUBSCRIBE = const(0x82)
_PINGREQ = b"\xc0\x00"
MAX_TOPIC = const(256)
_EINPROGRESS = const(115)  # errno on unix, lwIP (rp2, esp32) alike
_REFUSED = ("", "bad protocol version", "client id rejected", "server unavailable",
            "bad user name or password", "not authorised")


class MQTTError(Exception):
    pass


def _str(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("!H", len(b)) + b


def _packet(kind, body):
    n, head = len(body), bytearray((kind,))
    while True:
        byte, n = n & 0x7F, n >> 7
        head.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(head) + body


class MQTTClient:
    """One MQTT connection. ``on_message(topic, payload, retained)`` gets
    topic as bytes and payload as a memoryview valid only during the call.

    max_payload: larger PUBLISH payloads are read past and reported to
    ``on_oversized(topic, size)`` instead, so a hostile publisher cannot
    make the beacon allocate. A topic longer than MAX_TOPIC bytes is read
    past too and reported as ``on_oversized(None, topic_length)``.
    """

    def __init__(self, client_id, server, port=1883, user="", password="", keepalive=30,
                 will=None, max_payload=512, ssl_context=None):
        self.client_id, self.server, self.port = client_id, server, port
        self.ssl_context = ssl_context  # an ssl.SSLContext: MQTT over TLS, checked against it
        self.user, self.password, self.keepalive = user, password, keepalive
        self.will = will  # (topic, message, retain) or None
        self.on_message = None
        self.on_oversized = None
        self.last_rx = 0
        self._buf = bytearray(max_payload + 256)
        self._mv = memoryview(self._buf)  # made once: the read path slices it per read
        self._puback = bytearray((_PUBACK, 2, 0, 0))  # pid filled in per QoS 1 delivery
        self._sock = self._tls = self._r = self._w = None
        self._pid = 0

    async def connect(self, timeout_ms=10000):
        """Open TCP (and TLS), send CONNECT, wait for CONNACK; raise OSError/MQTTError.

        Each of the TCP connect and the rest (TLS handshake, CONNECT, CONNACK) has
        *timeout_ms*: a broker that accepts TCP and then says nothing is retried.
        """
        await self._open(timeout_ms)
        try:
            kind, n = await asyncio.wait_for_ms(self._hello(), timeout_ms)
        except ValueError as e:  # mbedtls reports a refused certificate as ValueError
            raise MQTTError("TLS: the broker's certificate was refused: %s"
                            % str(e).strip()) from None
        except OSError as e:
            if self.ssl_context and e.args and isinstance(e.args[0], int) and e.args[0] < 0:
                raise MQTTError("TLS handshake failed (mbedtls error %d)" % e.args[0]) from None
            raise
        if kind != 0x20 or n != 2:
            raise MQTTError("expected CONNACK, got packet type 0x%02x" % kind)
        await self._fill(0, 2)
        rc = self._buf[1]
        if rc:
            reason = _REFUSED[rc] if rc < len(_REFUSED) else "code %d" % rc
            raise MQTTError("broker refused the connection: " + reason)
        self.last_rx = ticks_ms()

    async def _hello(self):
        await self._send(_CONNECT, self._connect_body())
        return await self._header()

    def _connect_body(self):
        flags = 0x02  # clean session: subscriptions are renewed on every connect
        tail = _str(self.client_id)
        if self.will:
            topic, msg, retain = self.will
            flags |= 0x04 | 0x08 | (0x20 if retain else 0)  # will, QoS 1
            tail += _str(topic) + _str(msg)
        if self.user:
            flags |= 0x80
            tail += _str(self.user)
            if self.password:
                flags |= 0x40
                tail += _str(self.password)
        return b"\x00\x04MQTT\x04" + bytes((flags,)) + struct.pack("!H", self.keepalive) + tail

    async def subscribe(self, topic, qos=1):
        self._pid = self._pid % 65535 + 1
        await self._send(_SUBSCRIBE, struct.pack("!H", self._pid) + _str(topic) + bytes((qos,)))

    async def publish(self, topic, msg, retain=False):
        await self._send(_PUBLISH | (1 if retain else 0), _str(topic) + msg)

    async def ping(self):
        await self._write(_PINGREQ)

    def close(self):
        """Drop the connection (the broker then sends the Last Will)."""
        for s in (self._tls, self._sock):  # the TLS layer, then the TCP socket under it
            if s:
                try:  # noqa: SIM105 - MicroPython has no contextlib
                    s.close()
                except OSError:
                    pass
        self._sock = self._tls = self._r = self._w = None

    async def _open(self, timeout_ms):
        """Non-blocking TCP connect that keeps hold of the socket, so a connect that
        times out is closed here and not leaked (lwIP has only a few sockets)."""
        self.close()
        ai = socket.getaddrinfo(self.server, self.port, 0, socket.SOCK_STREAM)[0]
        s = self._sock = socket.socket(ai[0], ai[1], ai[2])
        s.setblocking(False)
        try:
            s.connect(ai[-1])
        except OSError as e:
            if e.args[0] != _EINPROGRESS:
                raise
        poller, start = select.poll(), ticks_ms()
        poller.register(s, select.POLLOUT)
        while not poller.poll(0):  # writable = connected (or failed: the write says so)
            if ticks_diff(ticks_ms(), start) > timeout_ms:
                raise OSError("no TCP connection to %s:%d" % (self.server, self.port))
            await asyncio.sleep_ms(20)
        if self.ssl_context:  # the handshake runs inside the first non-blocking write/read
            s = self._tls = self.ssl_context.wrap_socket(s, server_hostname=self.server,
                                                         do_handshake_on_connect=False)
        self._r = self._w = asyncio.StreamReader(s)  # one Stream reads and writes

    async def serve(self):
        """Read packets until the connection fails; raises OSError/MQTTError."""
        while True:
            kind, n = await self._header()
            self.last_rx = ticks_ms()
            if kind & 0xF0 == _PUBLISH:
                await self._publish(kind, n)
            elif kind == 0x90:  # SUBACK: pid + granted QoS
                await self._fill(0, n)
                if self._buf[n - 1] == 0x80:
                    raise MQTTError("broker refused a subscription (check its ACL)")
            else:  # PINGRESP, PUBACK, anything else: nothing to do but skip it
                await self._skip(n)

    async def _publish(self, kind, n):
        qos = kind >> 1 & 3
        await self._fill(0, 2)
        tlen = self._buf[0] << 8 | self._buf[1]
        head = tlen + (2 if qos else 0)
        if head + 2 > n:
            raise MQTTError("malformed PUBLISH (topic length %d)" % tlen)
        size = n - 2 - head
        if tlen > MAX_TOPIC:
            # A topic longer than we keep (a hostile or careless retained message): read
            # past the whole packet and keep the connection; dropping it would only bring
            # the same retained message back on reconnect, forever.
            await self._skip(tlen)
            pid = await self._pid_of(qos)
            await self._skip(size)
            if self.on_oversized:
                self.on_oversized(None, tlen)
        else:
            await self._fill(0, tlen)
            topic = bytes(self._mv[:tlen])
            pid = await self._pid_of(qos)
            if size > len(self._buf):
                await self._skip(size)
                if self.on_oversized:
                    self.on_oversized(topic, size)
            else:
                await self._fill(0, size)
                if self.on_message:
                    self.on_message(topic, self._mv[:size], kind & 1)
        if qos:  # the stream copies what it cannot send at once, so one buffer serves all
            ack = self._puback
            ack[2], ack[3] = pid >> 8, pid & 0xFF
            await self._write(ack)

    async def _pid_of(self, qos):
        if not qos:
            return 0
        await self._fill(0, 2)
        return self._buf[0] << 8 | self._buf[1]

    async def _header(self):
        await self._fill(0, 1)
        kind, n, shift = self._buf[0], 0, 0
        while True:
            await self._fill(0, 1)
            n |= (self._buf[0] & 0x7F) << shift
            if not self._buf[0] & 0x80:
                return kind, n
            shift += 7
            if shift > 21:
                raise MQTTError("malformed remaining length")

    async def _fill(self, start, end):
        """Read exactly buf[start:end] from the socket."""
        while start < end:
            got = await self._r.readinto(self._mv[start:end])
            if not got:
                raise OSError("connection closed by broker")
            start += got

    async def _skip(self, n):
        while n:
            k = min(n, len(self._buf))
            await self._fill(0, k)
            n -= k

    async def _send(self, kind, body):
        await self._write(_packet(kind, body))

    async def _write(self, data):
        if not self._w:
            raise OSError("not connected")
        self._w.write(data)
        await self._w.drain()
