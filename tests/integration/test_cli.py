"""The commands a user meets: set, watch, bridge — as real processes against a real broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from helpers.sources import BridgeProcess

from focuslight.mqtt.client import BrokerSettings, BrokerURLError

FOCUSLIGHT = [sys.executable, "-m", "focuslight"]


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([*FOCUSLIGHT, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def bridge_process(mosquitto, tmp_path):
    bridge = BridgeProcess(tmp_path, f"""
[bridge]
broker = "{mosquitto.url}"
[agents.alice]
[agents.bob]
""").start_connected()
    yield bridge
    bridge.stop()


def test_set_is_confirmed_by_the_bridge_and_watch_shows_it(mosquitto, bridge_process):
    done = run("set", "alice", "dnd", "--minutes", "30", "--broker", mosquitto.url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("alice: dnd for 30 min (until "), done.stdout
    table = run("watch", "--once", "--json", "--broker", mosquitto.url)
    body = json.loads(table.stdout)
    assert body["alice"]["state"] == "dnd" and body["alice"]["source"] == "manual"
    assert body["bob"]["state"] == "unknown"  # no source has said anything about bob
    done = run("set", "alice", "auto", "--broker", mosquitto.url)
    assert done.returncode == 0, done.stderr
    text = run("watch", "--once", "--broker", mosquitto.url).stdout
    assert "alice  unknown" in text and "bridges: main online" in text


def test_watch_piped_prints_one_line_per_change(mosquitto, bridge_process):
    env = {**os.environ, "FOCUSLIGHT_BROKER": mosquitto.url}
    watch = subprocess.Popen([*FOCUSLIGHT, "watch"], stdout=subprocess.PIPE, text=True, env=env)
    try:
        time.sleep(1.5)
        assert run("set", "bob", "away", "--broker", mosquitto.url).returncode == 0
        lines = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any("bob away" in x for x in lines):
            lines.append(watch.stdout.readline())
        assert any(line.rstrip().endswith("bob away source=manual") for line in lines), lines
        assert not any("\x1b[" in line for line in lines)
    finally:
        watch.terminate()
        watch.wait(timeout=10)


def test_set_without_a_bridge_says_so(mosquitto):
    done = run("set", "alice", "dnd", "--broker", mosquitto.url)
    assert done.returncode == 3
    assert "no bridge answered for alice within 3 s" in done.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["set", "alice", "busy"], "unknown state 'busy'"),
    (["set", "Alice", "dnd"], "agent must match"),
    (["set", "alice", "dnd", "--broker", "http://x"], "mqtt://HOST:PORT"),
])
def test_set_rejects_bad_input(args, message):
    done = run(*args)
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_set_with_unreachable_broker(tmp_path):
    from focuslight.tools.embedded_broker import free_port
    done = run("set", "alice", "dnd", "--broker", f"mqtt://127.0.0.1:{free_port()}")
    assert done.returncode == 2
    assert "cannot reach broker" in done.stderr


def test_watch_json_without_once_says_to_add_once():
    done = run("watch", "--json", "--broker", "mqtt://127.0.0.1:1")
    assert done.returncode == 2
    assert done.stderr.strip() == "focuslight watch: --json prints the table once: add --once"


def test_board_on_a_taken_port_says_how_to_choose_another():
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run("board", "--listen", f"127.0.0.1:{port}", "--broker", "mqtt://127.0.0.1:1")
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr
    assert "pass --listen HOST:PORT with a free port" in done.stderr


def test_every_command_has_help():
    for command in ("bridge", "set", "watch"):
        done = run(command, "--help")
        assert done.returncode == 0 and "--broker" in done.stdout


@pytest.mark.parametrize(("url", "expected"), [
    ("mqtt://h", ("h", 1883, False, None, None)),
    ("mqtts://h", ("h", 8883, True, None, None)),
    ("mqtt://u:p%40ss@h:1884", ("h", 1884, False, "u", "p@ss")),
    ("h:1883", ("h", 1883, False, None, None)),  # every command: what flash always took
    ("192.168.1.10", ("192.168.1.10", 1883, False, None, None)),
])
def test_broker_urls(url, expected):
    s = BrokerSettings.parse(url)
    assert (s.host, s.port, s.tls, s.username, s.password) == expected
    assert "@" not in s.url


@pytest.mark.parametrize("url", ["tcp://h", "mqtt://", "mqtt://h/path", "mqtt://h:x", "h:x", ""])
def test_bad_broker_urls(url):
    with pytest.raises(BrokerURLError):
        BrokerSettings.parse(url)


def test_bridge_over_tls_with_a_password(tmp_path):
    """mqtts:// with a private CA and username/password against a real mosquitto."""
    from focuslight.tools.embedded_broker import free_port, wait_for_port
    subj = "/CN=focuslight-test-ca"
    openssl = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
    subprocess.run([*openssl, "-keyout", tmp_path / "ca.key", "-out", tmp_path / "ca.pem",
                    "-subj", subj], check=True, capture_output=True)
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    tmp_path / "srv.key", "-out", tmp_path / "srv.csr", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost"], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", tmp_path / "srv.csr", "-CA",
                    tmp_path / "ca.pem", "-CAkey", tmp_path / "ca.key", "-CAcreateserial",
                    "-out", tmp_path / "srv.pem", "-days", "2", "-copy_extensions", "copy"],
                   check=True, capture_output=True)
    (tmp_path / "passwd").write_text("")
    subprocess.run(["mosquitto_passwd", "-b", tmp_path / "passwd", "site", "s3cret"], check=True)
    port = free_port()
    conf = tmp_path / "tls.conf"
    conf.write_text(f"user root\nlistener {port} 127.0.0.1\ncafile {tmp_path}/ca.pem\n"
                    f"certfile {tmp_path}/srv.pem\nkeyfile {tmp_path}/srv.key\n"
                    f"allow_anonymous false\npassword_file {tmp_path}/passwd\n")
    broker = subprocess.Popen(["mosquitto", "-c", str(conf)], stderr=subprocess.DEVNULL)
    url = f"mqtts://localhost:{port}"
    bridge = BridgeProcess(tmp_path, '[agents.alice]\n[bridge]\nusername = "site"\n'
                           f'password = "s3cret"\nca_file = "{tmp_path}/ca.pem"\n',
                           command=[*FOCUSLIGHT, "bridge", "--broker", url])
    try:
        wait_for_port("127.0.0.1", port)
        bridge.start_connected()
        done = run("set", "alice", "away", "--broker", url, "--username", "site",
                   "--password", "s3cret", "--ca-file", str(tmp_path / "ca.pem"))
        assert done.returncode == 0, done.stderr
        wrong = run("set", "alice", "away", "--broker", url, "--username", "site",
                    "--password", "wrong", "--ca-file", str(tmp_path / "ca.pem"), "--no-wait")
        assert wrong.returncode != 0
    finally:
        bridge.kill()
        broker.kill()
        broker.wait()


def test_watch_redraws_in_place_on_a_terminal(mosquitto, bridge_process):
    """On a real pseudo-terminal: clear-and-home redraws with colour, durations ticking."""
    import pty
    import select

    assert run("set", "alice", "dnd", "--broker", mosquitto.url).returncode == 0
    main_fd, child_fd = pty.openpty()
    watch = subprocess.Popen([*FOCUSLIGHT, "watch", "--broker", mosquitto.url],
                             stdin=child_fd, stdout=child_fd, stderr=subprocess.DEVNULL)
    os.close(child_fd)
    screen = b""
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and screen.count(b"\x1b[H\x1b[2J") < 4:
            if select.select([main_fd], [], [], 0.5)[0]:
                screen += os.read(main_fd, 65536)
    finally:
        watch.terminate()
        watch.wait(timeout=10)
        os.close(main_fd)
    # The read may stop mid-frame; the frame before the last clear is whole.
    frames = screen.split(b"\x1b[H\x1b[2J")
    assert len(frames) >= 5, screen
    last = frames[-2].decode()
    assert "alice" in last and "\x1b[35mdnd" in last and "bridges: main online" in last


def test_every_command_takes_the_broker_in_the_same_forms(mosquitto, tmp_path):
    """One parser: ``--broker 127.0.0.1:PORT`` (what flash always took) works for all."""
    bare = f"127.0.0.1:{mosquitto.port}"
    setter = run("set", "alice", "auto", "--no-wait", "--broker", bare)
    assert setter.returncode == 0, setter.stderr
    watch = run("watch", "--once", "--broker", bare)
    assert watch.returncode == 0, watch.stderr
    config = tmp_path / "focuslight.toml"
    config.write_text(f'[bridge]\nbroker = "{bare}"\n[agents.alice]\n')
    check = run("bridge", "-c", str(config), "--check")
    assert check.returncode == 0, check.stderr
    assert f"broker mqtt://{bare}" in check.stdout
    flashed = run("flash", "--dry-run", "--port", str(tmp_path / "none"), "--board", "pico_w",
                  "--agent", "alice", "--wifi-ssid", "office", "--broker", "192.168.1.10:1884")
    assert '"broker": "192.168.1.10"' in flashed.stdout and '"port": 1884' in flashed.stdout
