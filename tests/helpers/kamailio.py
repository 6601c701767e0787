"""A real Kamailio presence server for the SIP source's tests, and sipp phones calling through it.

:class:`Kamailio` writes a minimal configuration of its own: registrar +
stateful proxy (``dialog`` tracks each call, ``pua_dialoginfo`` PUBLISHes its
states to the ``presence`` + ``presence_dialoginfo`` server in the same
process), digest auth on every SUBSCRIBE (initial and refresh), all state in
memory (``subs_db_mode=0``, ``publ_cache=2``; the per-instance sqlite file only
satisfies ``pua``'s need for a database). It runs without root on a free
loopback port, is ready when it answers OPTIONS, and is ended by its PID; a
restart forgets every subscription, registration and call, like a real one.

Phones are sipp processes: :func:`register` puts a sipp UAS behind an
extension (a REGISTER sent from Python), :class:`Phone` runs one scenario of
``tests/helpers/sip/kam_*.xml`` as caller or callee.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

from focuslight.tools.embedded_broker import free_port
from helpers.sipp import SCENARIOS, SippProcess, sipp_binary

DOMAIN = "pbx.test"
"""The SIP domain: an alias of the Kamailio instance (never resolved)."""
USERNAME, PASSWORD = "focuslight", "s3cret"
MODULES = next((str(p.parent) for p in Path("/usr/lib").glob("*/kamailio/modules/presence.so")),
               "/usr/lib/x86_64-linux-gnu/kamailio/modules")
SCHEMA = Path("/usr/share/kamailio/db_sqlite")

CONFIG = """#!KAMAILIO
debug=1
log_stderror=yes
children=2
tcp_children=2
listen=udp:127.0.0.1:{port}
listen=tcp:127.0.0.1:{port}
alias="{domain}"
auto_aliases=no
mpath="{modules}"
loadmodule "db_sqlite.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "dialog.so"
loadmodule "presence.so"
loadmodule "presence_dialoginfo.so"
loadmodule "pua.so"
loadmodule "pua_dialoginfo.so"
modparam("usrloc", "db_mode", 0)
modparam("presence", "db_url", "sqlite://{db}")
modparam("presence", "subs_db_mode", 0)
modparam("presence", "publ_cache", 2)
modparam("presence", "server_address", "sip:127.0.0.1:{port}")
modparam("presence", "max_expires", {max_expires})
modparam("presence", "min_expires", 1)
modparam("presence", "clean_period", {clean_period})
modparam("presence_dialoginfo", "force_dummy_dialog", {force_dummy_dialog})
modparam("pua", "db_url", "sqlite://{db}")
modparam("pua", "db_mode", 0)
modparam("pua", "outbound_proxy", "sip:127.0.0.1:{port}")

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (is_method("OPTIONS") && uri == myself && $rU == $null) {{
        sl_send_reply("200", "OK"); exit;
    }}
    if (has_totag()) {{
        if (loose_route()) {{ t_relay(); exit; }}
        if (is_method("SUBSCRIBE") && uri == myself) {{ route(PRESENCE); exit; }}
        if (is_method("ACK")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
        sl_send_reply("404", "Not here"); exit;
    }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    t_check_trans();
    if (is_method("PUBLISH|SUBSCRIBE")) {{ route(PRESENCE); exit; }}
    if (is_method("REGISTER")) {{ save("location"); exit; }}
    if (is_method("INVITE")) {{ record_route(); dlg_manage(); }}
    if (!lookup("location")) {{ sl_send_reply("404", "Not Found"); exit; }}
    t_relay();
}}

route[PRESENCE] {{
    if (is_method("SUBSCRIBE")) {{
        if ($au != "{username}" || !pv_www_authenticate("{domain}", "{password}", "0")) {{
            www_challenge("{domain}", "0"); exit;
        }}
        consume_credentials();
    }}
    if (!t_newtran()) {{ sl_reply_error(); exit; }}
    if (is_method("PUBLISH")) {{ handle_publish(); exit; }}
    handle_subscribe();
    if (has_totag()) {{ xlog("L_ALERT", "focuslight-test: SUBSCRIBE refresh\n"); }}
    else {{ xlog("L_ALERT", "focuslight-test: SUBSCRIBE initial\n"); }}
    exit;
}}
"""


def free_sip_port() -> int:
    """A port free for both TCP and UDP on loopback right now (Kamailio listens on both)."""
    while True:
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


class Kamailio:
    """One Kamailio on 127.0.0.1:*port* (UDP and TCP), started and ended by PID.

    :param force_dummy_dialog: presence_dialoginfo's setting: 0 (the default)
        NOTIFYs an idle extension with an empty body, 1 with a dummy document.
    :param max_expires: the longest subscription it grants (short in tests).
    """

    def __init__(self, tmp: Path, *, force_dummy_dialog: int = 0, max_expires: int = 3600,
                 clean_period: int = 100) -> None:
        self.binary = shutil.which("kamailio") or "/usr/sbin/kamailio"
        self.port = free_sip_port()
        self.dir = tmp / f"kamailio-{self.port}"
        self.dir.mkdir()
        self.db = self.dir / "kamailio.sqlite"
        with sqlite3.connect(self.db) as db:
            for schema in ("standard", "presence"):
                db.executescript((SCHEMA / f"{schema}-create.sql").read_text())
        self.config = self.dir / "kamailio.cfg"
        self.config.write_text(CONFIG.format(
            port=self.port, domain=DOMAIN, modules=MODULES, db=self.db,
            force_dummy_dialog=force_dummy_dialog, max_expires=max_expires,
            clean_period=clean_period, username=USERNAME, password=PASSWORD))
        self.log = self.dir / "kamailio.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 10.0) -> Kamailio:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, "-f", str(self.config), "-DD", "-E", "-Y", str(self.dir),
                 "-P", str(self.dir / "kamailio.pid"), "-m", "32", "-M", "8"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                start_new_session=True)
        deadline = time.monotonic() + timeout
        while not self.answers_options():
            if self.proc.poll() is not None:
                raise AssertionError(f"kamailio exited at start:\n{self.log.read_text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"kamailio did not answer OPTIONS:\n{self.log.read_text()}")
        return self

    def answers_options(self, wait: float = 0.2) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(("127.0.0.1", self.port))
            sock.settimeout(wait)
            local = sock.getsockname()[1]
            try:
                sock.send(f"OPTIONS sip:127.0.0.1:{self.port} SIP/2.0\r\n"
                          f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bKready{local}\r\n"
                          f"From: <sip:probe@{DOMAIN}>;tag=1\r\nTo: <sip:{DOMAIN}>\r\n"
                          f"Call-ID: ready{local}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
                          "Content-Length: 0\r\n\r\n".encode())
                return sock.recv(4096).startswith(b"SIP/2.0 200")
            except OSError:  # refused (not bound yet) or no answer in time
                time.sleep(0.02)
                return False

    def subscribes(self, kind: str) -> int:
        """How many authenticated SUBSCRIBEs of *kind* (``initial``, ``refresh``) it handled."""
        return self.log.read_text(errors="replace").count(f"focuslight-test: SUBSCRIBE {kind}")

    def wait_subscribes(self, kind: str, count: int, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while self.subscribes(kind) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"kamailio handled {self.subscribes(kind)} {kind} "
                                     f"SUBSCRIBEs, not {count}")
            time.sleep(0.02)

    def stop(self) -> None:
        """End Kamailio (its main process and the children it forked) by its process group."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def register(self, extension: str, port: int) -> None:
        """REGISTER *extension* at a phone (sipp) listening on UDP 127.0.0.1:*port*."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(("127.0.0.1", self.port))
            sock.settimeout(3)
            local = sock.getsockname()[1]
            sock.send(f"REGISTER sip:{DOMAIN} SIP/2.0\r\n"
                      f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bKreg{local}\r\n"
                      f"From: <sip:{extension}@{DOMAIN}>;tag=r{local}\r\n"
                      f"To: <sip:{extension}@{DOMAIN}>\r\nCall-ID: reg{local}\r\n"
                      f"CSeq: 1 REGISTER\r\nContact: <sip:{extension}@127.0.0.1:{port}>\r\n"
                      "Expires: 3600\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n".encode())
            answer = sock.recv(4096)
            assert answer.startswith(b"SIP/2.0 200"), answer[:80]


class Phone(SippProcess):
    """sipp as a phone: scenario ``tests/helpers/sip/kam_<name>.xml`` as callee (UAS) or caller
    (UAC).

    A callee listens on a free port (register it with :meth:`Kamailio.register`);
    a caller calls *extension* through Kamailio. *pause_ms* is the default
    ``<pause/>``: how long it rings or talks.
    """

    finish_timeout = 20.0

    def __init__(self, name: str, tmp: Path, *, kamailio: Kamailio | None = None,
                 extension: str = "201", pause_ms: int = 800, calls: int = 1,
                 rate: float | None = None) -> None:
        super().__init__(name, free_port(), tmp)
        self.name, self.kamailio = name, kamailio
        self.command = [sipp_binary(), "-sf", str(SCENARIOS / f"kam_{name}.xml"),
                        "-i", "127.0.0.1", "-p", str(self.port), "-t", "u1",
                        "-m", str(calls), "-d", str(pause_ms), "-s", extension,
                        "-timeout", str(30 + calls), "-timeout_error", "-nostdin",
                        "-trace_err", "-error_file", str(self.errors)]
        if rate is not None:
            self.command += ["-r", str(rate), "-l", "1"]
        if kamailio is not None:
            self.command.append(f"127.0.0.1:{kamailio.port}")

    def start(self) -> Phone:
        self.launch(wait_bound_port=self.kamailio is None)  # a callee listens, a caller calls
        return self

    def hang_up(self) -> None:
        """End the talk of a caller running ``kam_caller_hangup_on_info``: send it an INFO
        on its first call's Call-ID (sipp's default, ``1-<pid>@<ip>``); it then says BYE.

        Where a test needs a call to last until it says so, this beats a long pause,
        which a busy machine may outlast.
        """
        assert self.proc is not None
        info = (f"INFO sip:300@127.0.0.1:{self.port} SIP/2.0\r\n"
                "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKhangup\r\n"
                "From: <sip:201@pbx.test>;tag=test\r\nTo: <sip:300@pbx.test>;tag=caller\r\n"
                f"Call-ID: 1-{self.proc.pid}@127.0.0.1\r\nCSeq: 9 INFO\r\n"
                "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(info.encode(), ("127.0.0.1", self.port))
