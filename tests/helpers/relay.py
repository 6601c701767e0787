"""A TCP relay to the broker that can stop forwarding without closing anything: a silent
link (an access point that died mid-air), which only keepalives notice. Used by the
firmware's link tests and bench/time_to_unknown.py."""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class FreezableProxy:
    """A TCP relay to the broker that can go silent without closing anything, or answer late.

    A killed broker closes its sockets and is noticed at once; a Wi-Fi
    access point that dies mid-air is not. Only the MQTT keepalive catches
    that, which is what this relay lets a test check (:attr:`frozen`). :meth:`cut`
    is the other kind of drop: every connection closed and new ones refused, until
    :meth:`restore`. With
    *answer_delay* the broker's first answer on each connection arrives that
    many seconds late, as over a slow TLS connect or a far site.
    """

    def __init__(self, port: int, answer_delay: float = 0.0) -> None:
        self.target, self.answer_delay = port, answer_delay
        self.frozen = threading.Event()
        self._refusing = threading.Event()
        self._open: list[socket.socket] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if self._refusing.is_set():
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self._open += [client, upstream]
            for src, dst, delay in ((client, upstream, 0.0),
                                    (upstream, client, self.answer_delay)):
                threading.Thread(target=self._pump, args=(src, dst, delay), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, delay: float = 0.0) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(4096):
                if delay:
                    time.sleep(delay)  # the link's latency, once: not a wait in the test
                    delay = 0.0
                while self.frozen.is_set():  # hold the bytes: the link is silent
                    time.sleep(0.01)
                dst.sendall(data)
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Close every relayed connection and refuse new ones (a link that is down and
        says so), until :meth:`restore`."""
        self._refusing.set()
        for sock in self._open:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._open.clear()

    def restore(self) -> None:
        self._refusing.clear()

    def close(self) -> None:
        self.frozen.clear()
        self.server.close()
