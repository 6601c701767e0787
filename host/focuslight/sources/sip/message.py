"""SIP messages: just enough RFC 3261 parsing and building for SUBSCRIBE/NOTIFY.

The BLF source speaks a small, well-defined corner of SIP, so this module
parses what a PBX sends (requests and responses, compact header names,
header params) and builds what we send, without the rest of the protocol.
Bad input raises :class:`SipParseError`, whose message never quotes header
values or bodies (they may carry caller numbers).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

MAX_MESSAGE = 65536
"""Largest SIP message we accept (bytes); a dialog-info body is a few KB."""

COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact",
           "l": "content-length", "c": "content-type", "o": "event", "k": "supported",
           "u": "allow-events", "e": "content-encoding", "s": "subject"}

_CANONICAL = {"call-id": "Call-ID", "cseq": "CSeq", "www-authenticate": "WWW-Authenticate"}


class SipParseError(ValueError):
    """A message we cannot read; the text says what was wrong, never what was in it."""


@dataclass
class SipMessage:
    """One request (``method`` set) or response (``status`` set).

    Header names are stored lower-case with compact forms expanded; values
    keep their order so a response can copy ``Via`` headers verbatim.
    """

    method: str | None = None
    uri: str = ""
    status: int | None = None
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def get(self, name: str) -> str | None:
        """The first value of header *name* (case-insensitive), or None."""
        name = name.lower()
        return next((v for k, v in self.headers if k == name), None)

    def get_all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k == name]

    def add(self, name: str, value: str) -> SipMessage:
        self.headers.append((name.lower(), value))
        return self

    def encode(self) -> bytes:
        start = (f"{self.method} {self.uri} SIP/2.0" if self.method
                 else f"SIP/2.0 {self.status} {self.reason}")
        lines = [start]
        lines += [f"{_display(k)}: {v}" for k, v in self.headers if k != "content-length"]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


def is_decimal(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also accepts "²", which ``int()`` rejects."""
    return text.isascii() and text.isdigit()


def _display(name: str) -> str:
    return _CANONICAL.get(name) or "-".join(p.capitalize() for p in name.split("-"))


def parse_message(data: bytes, *, head_only: bool = False) -> SipMessage:
    """Parse one complete SIP message (a UDP datagram or one framed TCP message).

    *head_only*: *data* is just the start line and headers of a message whose
    body was skipped (see :func:`frame_length`); Content-Length is not checked.
    """
    if len(data) > MAX_MESSAGE:
        raise SipParseError(f"message of {len(data)} bytes is over {MAX_MESSAGE}")
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = data.partition(b"\n\n")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise SipParseError("headers are not UTF-8") from None
    lines = text.replace("\r\n", "\n").split("\n")
    msg = _start_line(lines[0])
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and msg.headers:  # folded continuation (RFC 3261 7.3.1)
            name, value = msg.headers[-1]
            msg.headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise SipParseError("a header line has no name")
        name = name.strip().lower()
        msg.headers.append((COMPACT.get(name, name), value.strip()))
    length = msg.get("content-length")
    if length is not None and not head_only:
        if not is_decimal(length) or int(length) > len(body):
            raise SipParseError("Content-Length does not match the body")
        body = body[:int(length)]
    msg.body = body
    return msg


def _start_line(line: str) -> SipMessage:
    parts = line.strip().split(" ", 2)
    if len(parts) == 3 and parts[0] == "SIP/2.0" and is_decimal(parts[1]):
        return SipMessage(status=int(parts[1]), reason=parts[2])
    if len(parts) == 3 and parts[2] == "SIP/2.0" and parts[0].isalpha():
        return SipMessage(method=parts[0].upper(), uri=parts[1])
    raise SipParseError("the first line is neither a SIP request nor a SIP response")


def frame_length(buffer: bytes) -> int | None:
    """Bytes of the first complete message in a TCP stream *buffer*, or None if incomplete.

    Raises :class:`SipParseError` if the stream cannot be framed (no or a bad
    Content-Length, oversized headers): the connection must then be dropped.
    A message over :data:`MAX_MESSAGE` is framed all the same (its length is
    returned as soon as the headers are in): the reader skips it, not the link.
    """
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if len(buffer) > MAX_MESSAGE:
            raise SipParseError("headers longer than the message limit")
        return None
    match = re.search(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\d+)[ \t]*\r?$",
                      buffer[:end + 2])
    if not match:
        raise SipParseError("a message on a stream has no Content-Length")
    total = end + 4 + int(match.group(1))
    if total > MAX_MESSAGE:
        return total
    return total if len(buffer) >= total else None


def head_length(buffer: bytes) -> int:
    """Bytes of the start line and headers (with the blank line) at the start of *buffer*."""
    return buffer.find(b"\r\n\r\n") + 4


_PARAM = re.compile(r';\s*([^;=\s]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^;]*))?')


def split_params(value: str) -> tuple[str, dict[str, str]]:
    """``'<sip:a@b>;tag=x;lr'`` → ``('<sip:a@b>', {'tag': 'x', 'lr': ''})``.

    Splits after a closing ``>`` so params inside a name-addr's URI stay put.
    """
    cut = value.find(">") + 1 if "<" in value else 0
    semi = value.find(";", cut)
    if semi < 0:
        return value.strip(), {}
    params = {m.group(1).lower(): (m.group(2) or "").strip().strip('"')
              for m in _PARAM.finditer(value[semi:])}
    return value[:semi].strip(), params


def uri_of(name_addr: str) -> str:
    """The URI inside a name-addr (``"Bob" <sip:b@x>;tag=1`` → ``sip:b@x``)."""
    match = re.search(r"<([^>]*)>", name_addr)
    if match:
        return match.group(1).strip()
    return split_params(name_addr)[0]


def tag_of(name_addr: str | None) -> str | None:
    return split_params(name_addr)[1].get("tag") if name_addr else None


def new_token() -> str:
    """An unguessable token for tags, Call-IDs and branches."""
    return secrets.token_hex(8)


def response_to(request: SipMessage, status: int, reason: str) -> SipMessage:
    """A response to *request* that copies what RFC 3261 8.2.6.2 says to copy."""
    reply = SipMessage(status=status, reason=reason)
    for name in ("via", "from", "to", "call-id", "cseq"):
        for value in request.get_all(name):
            reply.add(name, value)
    return reply
