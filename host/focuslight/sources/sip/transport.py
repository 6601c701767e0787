"""UDP and TCP links to one PBX, delivering whole SIP messages.

Both transports talk to exactly one remote address: the UDP socket is
``connect()``-ed so the kernel drops datagrams from anyone else and reports
ICMP "port unreachable" as an error at once (a stopped PBX is noticed in
milliseconds, not after a timeout); the TCP connection carries our requests
and the PBX's NOTIFYs both ways, as PBXs reuse it (RFC 3261 18.2.2).
"""

from __future__ import annotations

import select
import socket
from abc import ABC, abstractmethod

from .message import MAX_MESSAGE, SipParseError, frame_length, head_length


class TransportError(OSError):
    """The link to the PBX is gone or cannot be opened; the text says why."""


class Oversized(bytes):
    """The start line and headers of a message over :data:`MAX_MESSAGE` whose body was skipped.

    One oversized NOTIFY must cost that message, not the link that carries
    every extension's state: the reader answers it (``413``) and moves on.
    """


class Transport(ABC):
    """A connected socket to the PBX that yields raw SIP messages.

    :param host: PBX host name or address.
    :param port: PBX port.
    :param connect_timeout: seconds to wait for a TCP connection.
    """

    name = ""
    kind = socket.SOCK_DGRAM
    reliable = False

    def __init__(self, host: str, port: int, connect_timeout: float = 5.0) -> None:
        self.host, self.port, self.connect_timeout = host, port, connect_timeout
        self.sock: socket.socket | None = None

    def open(self) -> None:
        try:
            family, kind, proto, _, address = socket.getaddrinfo(
                self.host, self.port, type=self.kind)[0]
            sock = socket.socket(family, kind, proto)
            sock.settimeout(self.connect_timeout)
            try:
                sock.connect(address)
            except OSError:
                sock.close()
                raise
        except OSError as exc:
            raise TransportError(f"cannot connect: {exc.strerror or exc}") from None
        sock.setblocking(False)
        self.sock = sock

    @property
    def local(self) -> tuple[str, int]:
        """Our address as the PBX sees it on this link (for Via and Contact)."""
        assert self.sock is not None
        host, port = self.sock.getsockname()[:2]
        return host, port

    def send(self, data: bytes) -> None:
        assert self.sock is not None
        try:
            self.sock.send(data)
        except OSError as exc:
            raise TransportError(f"sending failed: {exc.strerror or exc}") from None

    def receive(self, timeout: float) -> list[bytes]:
        """Messages that arrive within *timeout* seconds (possibly none)."""
        assert self.sock is not None
        readable, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        if not readable:
            return []
        try:
            return self._read()
        except OSError as exc:
            raise TransportError(str(exc.strerror or exc)) from None

    @abstractmethod
    def _read(self) -> list[bytes]:
        """Every whole message readable now, without blocking (UDP: datagrams; TCP: framing)."""

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class UdpTransport(Transport):
    """One datagram is one message; retransmission is the caller's job (it knows the timers)."""

    name = "UDP"
    kind = socket.SOCK_DGRAM
    reliable = False

    def _read(self) -> list[bytes]:
        assert self.sock is not None
        messages = []
        while True:
            try:
                messages.append(self.sock.recv(MAX_MESSAGE + 1))
            except BlockingIOError:
                return messages


class TcpTransport(Transport):
    """A byte stream framed by Content-Length; a framing error closes the link."""

    name = "TCP"
    kind = socket.SOCK_STREAM
    reliable = True

    def __init__(self, host: str, port: int, connect_timeout: float = 5.0) -> None:
        super().__init__(host, port, connect_timeout)
        self.buffer = b""
        self.skip = 0  # bytes of an oversized message's body still to throw away

    def open(self) -> None:
        self.buffer, self.skip = b"", 0
        super().open()

    def _read(self) -> list[bytes]:
        assert self.sock is not None
        try:
            chunk = self.sock.recv(MAX_MESSAGE)
        except BlockingIOError:
            return []
        if not chunk:
            raise TransportError("the PBX closed the connection")
        self.buffer += chunk
        messages: list[bytes] = []
        while True:
            if self.skip:
                dropped = min(self.skip, len(self.buffer))
                self.buffer, self.skip = self.buffer[dropped:], self.skip - dropped
                if self.skip:
                    return messages
            self.buffer = self.buffer.lstrip(b"\r\n")  # RFC 5626 CRLF keep-alives
            try:
                length = frame_length(self.buffer)
            except SipParseError as exc:
                raise TransportError(f"unframeable stream ({exc})") from None
            if length is None:
                return messages
            if length > MAX_MESSAGE:
                head = head_length(self.buffer)
                messages.append(Oversized(self.buffer[:head]))
                self.buffer, self.skip = self.buffer[head:], length - head
                continue
            messages.append(self.buffer[:length])
            self.buffer = self.buffer[length:]


TRANSPORTS: dict[str, type[Transport]] = {"udp": UdpTransport, "tcp": TcpTransport}
