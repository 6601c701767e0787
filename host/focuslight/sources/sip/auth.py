"""SIP digest authentication (RFC 3261 22, RFC 7616 algorithms, RFC 8760 for SIP).

PBXs challenge SUBSCRIBE like any other request with ``401`` /
``WWW-Authenticate`` or ``407`` / ``Proxy-Authenticate``. We answer the
strongest challenge we can: SHA-256 before MD5, ``qop=auth`` before none.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

ALGORITHMS = {"MD5": "md5", "MD5-SESS": "md5", "SHA-256": "sha256", "SHA-256-SESS": "sha256",
              "SHA-512-256": "sha512_256", "SHA-512-256-SESS": "sha512_256"}
"""Digest ``algorithm`` values we answer → hashlib names (strongest last)."""

_STRENGTH = ["MD5", "MD5-SESS", "SHA-256", "SHA-256-SESS", "SHA-512-256", "SHA-512-256-SESS"]
_PARAM = re.compile(r'([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]+)')


@dataclass(frozen=True)
class Challenge:
    """One parsed ``Digest`` challenge."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False


def parse_challenge(value: str) -> Challenge | None:
    """A ``Digest`` challenge header value → :class:`Challenge`, or None if we can't answer it."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    params = {k.lower(): v[1:-1] if v.startswith('"') else v for k, v in _PARAM.findall(rest)}
    algorithm = params.get("algorithm", "MD5").upper()
    qop = tuple(q.strip().lower() for q in params.get("qop", "").split(",") if q.strip())
    if "realm" not in params or "nonce" not in params or algorithm not in ALGORITHMS:
        return None
    if algorithm.endswith("-SESS") and "auth" not in qop:
        return None  # a -sess HA1 needs a cnonce, which only comes with qop
    if qop and "auth" not in qop:
        return None  # auth-int only: not worth supporting for body-less SUBSCRIBE
    return Challenge(params["realm"], params["nonce"], algorithm, qop, params.get("opaque"),
                     params.get("stale", "").lower() == "true")


def best_challenge(values: list[str]) -> Challenge | None:
    """The strongest challenge among several headers (RFC 8760 servers send one per algorithm)."""
    challenges = [c for c in map(parse_challenge, values) if c is not None]
    return max(challenges, key=lambda c: _STRENGTH.index(c.algorithm), default=None)


def authorization(challenge: Challenge, *, username: str, password: str, method: str,
                  uri: str, nonce_count: int = 1, cnonce: str | None = None) -> str:
    """The ``Authorization`` / ``Proxy-Authorization`` value answering *challenge*."""
    def h(text: str) -> str:
        return hashlib.new(ALGORITHMS[challenge.algorithm], text.encode()).hexdigest()

    cnonce = cnonce or secrets.token_hex(8)
    nc = f"{nonce_count:08x}"
    ha1 = h(f"{username}:{challenge.realm}:{password}")
    if challenge.algorithm.endswith("-SESS"):
        ha1 = h(f"{ha1}:{challenge.nonce}:{cnonce}")
    ha2 = h(f"{method}:{uri}")
    fields = [f'username="{_quote(username)}"', f'realm="{_quote(challenge.realm)}"',
              f'nonce="{_quote(challenge.nonce)}"', f'uri="{_quote(uri)}"']
    if challenge.qop:
        response = h(f"{ha1}:{challenge.nonce}:{nc}:{cnonce}:auth:{ha2}")
        fields += [f'response="{response}"', f"algorithm={challenge.algorithm}",
                   f'cnonce="{cnonce}"', "qop=auth", f"nc={nc}"]
    else:
        response = h(f"{ha1}:{challenge.nonce}:{ha2}")
        fields += [f'response="{response}"', f"algorithm={challenge.algorithm}"]
    if challenge.opaque is not None:
        fields.append(f'opaque="{_quote(challenge.opaque)}"')
    return "Digest " + ", ".join(fields)


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
