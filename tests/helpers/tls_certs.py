"""A self-made site CA, a broker certificate it signs, and a rogue pair, with the openssl CLI.

For TLS tests with real peers: mosquitto serves the certificates, the
firmware on the unix port (mbedtls) and paho check them. EC P-256 keys keep
generation fast; the broker's certificate names 127.0.0.1 and localhost.
"""

from __future__ import annotations

import getpass
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SAN = "subjectAltName=IP:127.0.0.1,DNS:localhost\n"


@dataclass(frozen=True)
class Pair:
    """A CA certificate and a server certificate + key that it signed."""

    ca: Path
    cert: Path
    key: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run([shutil.which("openssl") or "openssl", *args], cwd=cwd, check=True,
                   capture_output=True, timeout=30)


def make_pair(folder: Path, name: str) -> Pair:
    """A CA called *name* and a server certificate for 127.0.0.1/localhost signed by it."""
    folder.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", f"{name}-ca.key", "-out", f"{name}-ca.pem",
             "-days", "2", "-subj", f"/CN={name} site CA", cwd=folder)
    _openssl("req", *ec, "-keyout", f"{name}-server.key", "-out", f"{name}-server.csr",
             "-subj", "/CN=127.0.0.1", cwd=folder)
    (folder / "san.cnf").write_text(SAN)
    _openssl("x509", "-req", "-in", f"{name}-server.csr", "-CA", f"{name}-ca.pem", "-CAkey",
             f"{name}-ca.key", "-CAcreateserial", "-out", f"{name}-server.pem", "-days", "2",
             "-extfile", "san.cnf", cwd=folder)
    key = folder / f"{name}-server.key"
    key.chmod(0o644)  # mosquitto reads it after it may have dropped root
    return Pair(folder / f"{name}-ca.pem", folder / f"{name}-server.pem", key)


def wrong_host(folder: Path, name: str) -> Pair:
    """A server certificate the CA of :func:`make_pair` (*name*) signs for another host
    (``elsewhere.example.lan``, ``10.9.9.9``): trusted issuer, wrong name."""
    (folder / f"{name}-wrong.cnf").write_text(
        "subjectAltName=DNS:elsewhere.example.lan,IP:10.9.9.9\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", *ec, "-keyout", f"{name}-wrong.key", "-out", f"{name}-wrong.csr",
             "-subj", "/CN=elsewhere.example.lan", cwd=folder)
    _openssl("x509", "-req", "-in", f"{name}-wrong.csr", "-CA", f"{name}-ca.pem", "-CAkey",
             f"{name}-ca.key", "-CAcreateserial", "-out", f"{name}-wrong.pem", "-days", "2",
             "-extfile", f"{name}-wrong.cnf", cwd=folder)
    key = folder / f"{name}-wrong.key"
    key.chmod(0o644)
    return Pair(folder / f"{name}-ca.pem", folder / f"{name}-wrong.pem", key)


def mosquitto_tls_conf(plain_port: int, listeners: list[tuple[int, Pair]]) -> str:
    """A mosquitto config: a plain listener for test peers, one TLS listener per pair."""
    lines = [f"listener {plain_port} 127.0.0.1", "allow_anonymous true", "persistence false",
             f"user {getpass.getuser()}"]
    for port, pair in listeners:
        lines += [f"listener {port} 127.0.0.1", f"cafile {pair.ca}", f"certfile {pair.cert}",
                  f"keyfile {pair.key}"]
    return "\n".join(lines) + "\n"
