"""A TCP relay to the broker that can stop forwarding without closing anything: a silent
link (an access point that died mid-air), which only keepalives notice. Used by the
firmware's link tests and bench/time_to_unknown.py."""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class FreezableProxy:
    """A TCP relay to the broker that can go silent without closing anything.

    A killed broker closes its sockets and is noticed at once; a Wi-Fi
    access point that dies mid-air is not. Only the MQTT keepalive catches
    that, which is what this relay lets a test check.
    """

    def __init__(self, port: int) -> None:
        self.target = port
        self.frozen = threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(4096):
                while self.frozen.is_set():  # hold the bytes: the link is silent
                    time.sleep(0.01)
                dst.sendall(data)
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.frozen.clear()
        self.server.close()
