"""A threading HTTP server with a cap on connections served at once.

Why: :class:`http.server.ThreadingHTTPServer` starts a thread per connection
without limit, so callers that open connections and sit on them (a
misbehaving relay, a scanner, a browser tab per wall screen gone wild) grow
the bridge's threads without bound. Past the cap a new connection gets a 503
with ``Retry-After`` the moment it opens and is closed; no thread is started
for it. The request bytes already arrived are read and dropped first, so the
caller reads the 503 rather than a reset connection.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger(__name__)


def _busy_answer(what: str) -> bytes:
    """The raw 503 sent to a connection past the cap."""
    body = json.dumps({"error": f"too many connections to the {what}; retry in a second"})
    return (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            b"Retry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
            % (len(body), body.encode()))


class CappedHTTPServer(ThreadingHTTPServer):
    """:param what: named in the log line and the 503 ("webhook cti", "board").
    :param max_connections: connections served at once."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 what: str, max_connections: int) -> None:
        self.what, self.max_connections = what, max_connections
        self._slots = threading.BoundedSemaphore(max_connections)
        self._busy, self._said_full = _busy_answer(what), False
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)

    def process_request(self, request: socket.socket, client_address: tuple) -> None:
        if self._slots.acquire(blocking=False):
            super().process_request(request, client_address)
            return
        if not self._said_full:  # one line per busy spell, not one per connection
            self._said_full = True
            log.warning("%s: %d connections open; answering 503 until one closes "
                        "(latest from %s)", self.what, self.max_connections, client_address[0])
        with contextlib.suppress(OSError):  # a caller gone already needs no answer
            request.sendall(self._busy)
            # Read what the caller already sent: closing on unread bytes would
            # reset the connection and could destroy the 503 before it is read.
            request.setblocking(False)
            for _ in range(16):
                if not request.recv(65536):
                    break
        self.shutdown_request(request)

    def process_request_thread(self, request: socket.socket, client_address: tuple) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._said_full = False
            self._slots.release()
