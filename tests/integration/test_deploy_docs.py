"""The files docs/deploy-a-site.md tells an admin to write must work as written.

An admin copies the guide's config blocks into /etc. These tests take the same
blocks out of the guide (each is marked ``<!-- file: PATH -->``) and run them
for real: the bridge validates both TOML files, a real mosquitto enforces the
guide's password and ACL setup against real paho clients, and the systemd unit
shown in the guide is the one shipped next to it.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from focuslight.tools.embedded_broker import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "deploy-a-site.md"
UNIT = ROOT / "docs" / "focuslight-bridge.service"
FILE_BLOCK = re.compile(r"<!-- file: (?P<path>[^>]+?) -->\n```\w*\n(?P<body>.*?)```", re.S)
TIMEOUT = 10.0


def guide_files() -> dict[str, str]:
    """``path → content`` of every marked code block in the guide."""
    return {m["path"]: m["body"] for m in FILE_BLOCK.finditer(GUIDE.read_text())}


@pytest.mark.parametrize("path", ["/etc/focuslight/focuslight.toml",
                                  "/etc/focuslight/focuslight.toml on the counter Pi"])
def test_guide_configs_pass_the_bridge_check(path: str, tmp_path: Path) -> None:
    config = tmp_path / "focuslight.toml"
    config.write_text(guide_files()[path])
    result = subprocess.run([sys.executable, "-m", "focuslight", "bridge", "-c", str(config),
                             "--check"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert ": ok" in result.stdout


def test_guide_shows_the_shipped_systemd_unit() -> None:
    shown = re.search(r"```ini\n(.*?)```", GUIDE.read_text(), re.S)
    assert shown, "deploy-a-site.md shows no ```ini unit"
    shipped = UNIT.read_text()
    assert shown.group(1) == shipped[shipped.index("[Unit]"):], "the guide's unit is stale"


def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is not installed (apt install systemd)")
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text())
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                            timeout=60)
    # /opt/focuslight is where the guide installs the venv; it does not exist on a test machine.
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if line.strip() and "/opt/focuslight/bin/focuslight is not executable" not in line]
    assert problems == []


EXPOSURE = re.compile(r"Overall exposure level for \S+: (\d+\.\d+)")


def test_systemd_rates_the_unit_exposure_at_most_3(tmp_path: Path) -> None:
    """``systemd-analyze security --offline=yes``: works without systemd as PID 1."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is not installed (tests/run installs it: apt install systemd)")
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text())
    result = subprocess.run([analyze, "security", "--offline=yes", "--no-pager", str(unit)],
                            capture_output=True, text=True, timeout=60)
    found = EXPOSURE.search(result.stdout)
    assert found, result.stdout + result.stderr
    assert float(found[1]) <= 3.0, result.stdout


def test_the_unit_starts_after_the_clock_is_set() -> None:
    """A Pi has no RTC: overrides' expiries restored before NTP would be judged by a wrong
    clock, so the unit orders itself after time-sync.target."""
    after = [line.split("=", 1)[1].split() for line in UNIT.read_text().splitlines()
             if line.startswith("After=")]
    assert any("time-sync.target" in units for units in after)


def test_the_unit_grants_the_devices_serial_beacons_and_gpio_need() -> None:
    """Reviewed by hand (deploy-a-site.md): ttyACM/ttyUSB for beacons, gpiochip for lgpio,
    a state directory for overrides; everything else closed."""
    lines = set(UNIT.read_text().splitlines())
    assert {"DevicePolicy=closed", "DeviceAllow=char-ttyACM rw", "DeviceAllow=char-ttyUSB rw",
            "DeviceAllow=char-gpiochip rw", "StateDirectory=focuslight",
            "WorkingDirectory=/var/lib/focuslight", "SupplementaryGroups=dialout"} <= lines
    assert "PrivateDevices=yes" not in lines  # it would hide /dev/ttyACM* and /dev/gpiochip*
    assert "ProcSubset=pid" not in lines  # gpiozero reads /proc/device-tree and /proc/cpuinfo


def syscall_set(group: str, analyze: str, seen: set[str] | None = None) -> set[str]:
    """The system calls in a systemd ``@group``, nested groups expanded."""
    seen = set() if seen is None else seen
    listing = subprocess.run([analyze, "syscall-filter", group], capture_output=True,
                             text=True, timeout=30, check=True).stdout
    calls: set[str] = set()
    for line in listing.splitlines()[1:]:
        name = line.strip()
        if name.startswith("@") and name not in seen:
            seen.add(name)
            calls |= syscall_set(name, analyze, seen)
        elif name and not name.startswith(("#", "@")):
            calls.add(name)
    return calls


def test_the_bridge_stays_inside_the_units_system_call_filter(tmp_path: Path,
                                                                mosquitto) -> None:
    """Run the real bridge (connect, publish, clean stop) under strace: every system call it
    makes must pass the unit's SystemCallFilter, or systemd would fail it with EPERM."""
    analyze, strace = shutil.which("systemd-analyze"), shutil.which("strace")
    if analyze is None or strace is None:
        pytest.fail("needs systemd-analyze and strace (tests/run installs systemd and strace)")
    filters = [line.split("=", 1)[1] for line in UNIT.read_text().splitlines()
               if line.startswith("SystemCallFilter=")]
    assert filters == ["@system-service", "~@privileged @resources"]
    allowed = syscall_set("@system-service", analyze)
    for group in filters[1][1:].split():
        allowed -= syscall_set(group, analyze)
    config = tmp_path / "focuslight.toml"
    config.write_text(f'[bridge]\nbroker = "{mosquitto.url}"\nstate_dir = "{tmp_path}/state"\n'
                      '[agents.alice]\nbeacons = ["alice-desk"]\n[[sources]]\ntype = "simulated"\n')
    trace = tmp_path / "trace"
    bridge = subprocess.Popen([strace, "-f", "-qq", "-o", str(trace), sys.executable, "-m",
                               "focuslight", "bridge", "-c", str(config)],
                              stderr=subprocess.PIPE, text=True)
    try:
        for line in bridge.stderr:
            if "serving 1 agent from 1 source" in line:
                break
        else:
            raise AssertionError("the bridge did not start under strace")
        watcher = Client(mosquitto.port, None)
        watcher.subscribe("focuslight/agents/alice/status")
        watcher.next()  # it published: connected, subscribed, discovery sent
        watcher.close()
        traced = Path(f"/proc/{bridge.pid}/task/{bridge.pid}/children").read_text().split()
        os.kill(int(traced[0]), signal.SIGTERM)  # the bridge itself, as systemd would stop it
        assert bridge.wait(timeout=30) == 0
    finally:
        bridge.kill()
        bridge.wait()
    used = set(re.findall(r"^\d+ +([a-z0-9_]+)\(", trace.read_text(), re.M))
    assert len(used) > 20, "strace saw almost nothing"
    assert used - allowed == set()


# -- mosquitto with the guide's auth and ACL ---------------------------------------------

ACCOUNTS = ("focuslight-bridge", "homeassistant", "supervisor", "setter", "counter-1",
            "alice-desk", "board", "focuslight-admin")


class Client:
    """A paho client logged in as one broker account, collecting what it receives."""

    def __init__(self, port: int, username: str | None, client_id: str = "") -> None:
        self.received: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.connack: queue.Queue[mqtt.ReasonCode] = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv311)
        if username:
            self.client.username_pw_set(username, f"pw-{username}")
        self.client.on_connect = lambda _c, _u, _f, reason, _p: self.connack.put(reason)
        self.client.on_message = lambda _c, _u, m: self.received.put((m.topic, m.payload))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.reason = self.connack.get(timeout=TIMEOUT)

    def subscribe(self, topic: str) -> None:
        done: queue.Queue[bool] = queue.Queue()
        self.client.on_subscribe = lambda *_: done.put(True)
        self.client.subscribe(topic, qos=1)
        done.get(timeout=TIMEOUT)

    def publish(self, topic: str, payload: str, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(TIMEOUT)

    def next(self) -> tuple[str, bytes]:
        return self.received.get(timeout=TIMEOUT)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def site_broker(tmp_path: Path) -> Iterator[int]:
    """mosquitto with the guide's conf.d file and ACL, the guide's accounts, on a free port."""
    files = guide_files()
    acl = tmp_path / "focuslight.acl"
    acl.write_text(files["/etc/mosquitto/focuslight.acl"])
    passwd = tmp_path / "passwd"
    passwd.touch()
    for account in ACCOUNTS:
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), account, f"pw-{account}"],
                       check=True, timeout=30)
    port = free_port()
    guide = files["/etc/mosquitto/conf.d/focuslight.conf"].splitlines()
    conf_lines = [line for line in guide if not line.startswith(
        ("listener", "password_file", "acl_file", "use_username_as_clientid"))]
    # what the guide sets on its listeners (per-listener options) goes on the test's one
    per_listener = sorted({line for line in guide if line.startswith("use_username_as_clientid")})
    conf = tmp_path / "mosquitto.conf"
    conf.write_text("\n".join([*conf_lines, f"password_file {passwd}", f"acl_file {acl}",
                               f"listener {port} 127.0.0.1", *per_listener,
                               # root keeps mosquitto able to read pytest's 0700 tmp dir
                               "user root", ""]))
    proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for_port("127.0.0.1", port)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def clients(site_broker: int) -> Iterator:
    made: list[Client] = []

    def connect(username: str | None, client_id: str = "") -> Client:
        client = Client(site_broker, username, client_id)
        made.append(client)
        return client

    yield connect
    for client in made:
        client.close()


def test_anonymous_clients_are_refused(clients) -> None:
    assert clients(None).reason.is_failure


def test_a_beacon_writes_only_its_own_topics(clients) -> None:
    bridge = clients("focuslight-bridge")
    bridge.subscribe("focuslight/#")
    beacon = clients("alice-desk")
    beacon.publish("focuslight/beacons/bob-desk/event", '{"v":1,"button":"press"}')
    beacon.publish("focuslight/agents/alice/status", '{"v":1,"state":"available"}')
    beacon.publish("focuslight/agents/alice/set", '{"state":"auto"}')
    beacon.publish("focuslight/beacons/alice-desk/availability", "online", retain=True)
    beacon.publish("focuslight/beacons/alice-desk/event", '{"v":1,"button":"press"}')
    # One publisher, one subscriber: had a forbidden message got through, it would come first.
    assert bridge.next() == ("focuslight/beacons/alice-desk/availability", b"online")
    assert bridge.next()[0] == "focuslight/beacons/alice-desk/event"


def test_a_beacon_reads_statuses_and_bridge_availability(clients) -> None:
    bridge = clients("focuslight-bridge")
    bridge.publish("focuslight/bridges/main/availability", "online", retain=True)
    bridge.publish("focuslight/agents/alice/status", '{"v":1,"state":"engaged"}', retain=True)
    beacon = clients("alice-desk")
    beacon.subscribe("focuslight/bridges/+/availability")
    assert beacon.next() == ("focuslight/bridges/main/availability", b"online")
    beacon.subscribe("focuslight/agents/alice/status")
    assert beacon.next() == ("focuslight/agents/alice/status", b'{"v":1,"state":"engaged"}')
    bridge.publish("focuslight/looks/default", b'{"v":1}', retain=True)  # the site's looks
    beacon.subscribe("focuslight/looks/default")
    assert beacon.next() == ("focuslight/looks/default", b'{"v":1}')


def test_home_assistant_may_set_but_not_forge_a_status(clients) -> None:
    bridge = clients("focuslight-bridge")
    bridge.subscribe("focuslight/#")
    hass = clients("homeassistant")
    hass.publish("focuslight/agents/alice/status", '{"v":1,"state":"available"}')
    hass.publish("focuslight/agents/alice/set", '{"state":"dnd","minutes":30}')
    assert bridge.next() == ("focuslight/agents/alice/set", b'{"state":"dnd","minutes":30}')


def test_the_counter_bridge_writes_only_its_own_agent(clients) -> None:
    bridge = clients("focuslight-bridge")
    bridge.subscribe("focuslight/#")
    counter = clients("counter-1")
    counter.publish("focuslight/agents/alice/status", '{"v":1,"state":"available"}')
    counter.publish("focuslight/bridges/main/availability", "offline")
    counter.publish("focuslight/agents/counter-1/status", '{"v":1,"state":"engaged"}')
    assert bridge.next() == ("focuslight/agents/counter-1/status", b'{"v":1,"state":"engaged"}')


def test_discovery_reaches_home_assistant_only_from_the_rightful_bridge(clients) -> None:
    """The topics the bridge's discovery really uses (focuslight.outputs.home_assistant)."""
    from focuslight.core.agents import AgentSettings
    from focuslight.outputs.home_assistant import Discovery
    from focuslight.protocol import Topics

    hass = clients("homeassistant")
    hass.subscribe("homeassistant/#")
    main = Discovery(Topics(), "main").messages({"alice": AgentSettings("alice", "Alice")})
    counter = Discovery(Topics(), "counter-1").messages(
        {"counter-1": AgentSettings("counter-1", "Front desk")})
    bridge, counter_bridge = clients("focuslight-bridge"), clients("counter-1")
    counter_bridge.publish(main[0][0], "forged")  # the counter may not speak for alice
    counter_bridge.publish(counter[0][0], counter[0][1].decode())
    bridge.publish(main[0][0], main[0][1].decode())
    assert hass.next() == (counter[0][0], counter[0][1])
    assert hass.next() == (main[0][0], main[0][1])


def test_the_board_reads_statuses_and_writes_nothing(clients) -> None:
    bridge = clients("focuslight-bridge")
    bridge.subscribe("focuslight/#")
    bridge.publish("focuslight/agents/alice/status", '{"v":1,"state":"engaged"}', retain=True)
    board = clients("board")
    board.subscribe("focuslight/agents/+/status")
    assert board.next() == ("focuslight/agents/alice/status", b'{"v":1,"state":"engaged"}')
    assert bridge.next()[0] == "focuslight/agents/alice/status"  # the bridge's own message
    board.publish("focuslight/agents/alice/set", '{"state":"dnd"}')
    board.publish("focuslight/agents/alice/status", '{"v":1,"state":"available"}')
    bridge.publish("focuslight/bridges/main/availability", "online")
    assert bridge.next() == ("focuslight/bridges/main/availability", b"online")


# -- the guide's ACL with real bridges: set answers, retiring -------------------------------

def run_bridge(port: int, tmp_path: Path, bridge: str, account: str, agent: str
               ) -> subprocess.Popen:
    """A real bridge logged in with one of the guide's accounts, serving one agent."""
    config = tmp_path / f"{bridge}.toml"
    config.write_text(f'[bridge]\nid = "{bridge}"\nbroker = "mqtt://127.0.0.1:{port}"\n'
                      f'username = "{account}"\npassword = "pw-{account}"\n'
                      f'state_dir = "{tmp_path / bridge}"\n[agents.{agent}]\n')
    proc = subprocess.Popen([sys.executable, "-m", "focuslight", "bridge", "-c", str(config)],
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:
        if "connected to" in line:
            return proc
    raise AssertionError(f"bridge {bridge} exited before connecting")


def focuslight_as(port: int, account: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "focuslight", *args, "--broker",
                           f"mqtt://127.0.0.1:{port}", "--username", account, "--password",
                           f"pw-{account}", "--timeout" if args[0] == "set" else "--prefix",
                           "2" if args[0] == "set" else "focuslight"],
                          capture_output=True, text=True, timeout=60)


def test_set_answers_pass_the_guide_acl_and_a_denied_set_says_so(site_broker: int,
                                                                 tmp_path: Path) -> None:
    bridges = [run_bridge(site_broker, tmp_path, "main", "focuslight-bridge", "alice"),
               run_bridge(site_broker, tmp_path, "counter-1", "counter-1", "counter-1")]
    try:
        for account in ("setter", "supervisor", "homeassistant"):
            done = focuslight_as(site_broker, account, "set", "alice", "dnd")
            assert (done.returncode, done.stdout) == (0, "alice: dnd\n"), done.stderr
            done = focuslight_as(site_broker, account, "set", "counter-1", "away")  # its reply
            assert (done.returncode, done.stdout) == (0, "counter-1: away\n"), done.stderr
        denied = focuslight_as(site_broker, "board", "set", "alice", "auto")
        assert denied.returncode == 3
        assert "the broker's ACL denies this account writing focuslight/agents/alice/set" \
            in denied.stderr
    finally:
        for proc in bridges:
            proc.terminate()
            proc.wait(timeout=30)


def test_retire_a_gone_counter_bridge_with_the_admin_account(site_broker: int,
                                                              tmp_path: Path) -> None:
    counter = run_bridge(site_broker, tmp_path, "counter-1", "counter-1", "counter-1")
    supervisor = Client(site_broker, "supervisor")
    supervisor.subscribe("focuslight/agents/counter-1/status")
    assert supervisor.next()[0] == "focuslight/agents/counter-1/status"  # retained now
    supervisor.close()
    counter.terminate()  # the counter Pi is taken away: its status and availability stay
    counter.wait(timeout=30)
    stayed = focuslight_as(site_broker, "supervisor", "retire", "--bridge", "counter-1", "--yes")
    assert stayed.returncode == 1 and "ACL allow writing" in stayed.stderr
    assert "STAYED  focuslight/agents/counter-1/status" in stayed.stdout
    done = focuslight_as(site_broker, "focuslight-admin", "retire", "--bridge", "counter-1",
                         "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "cleared focuslight/agents/counter-1/status" in done.stdout
    assert "cleared focuslight/bridges/counter-1/availability" in done.stdout
    left = focuslight_as(site_broker, "supervisor", "watch", "--once", "--json")
    assert "counter-1" not in left.stdout


def test_beacon_telemetry_and_an_update_pass_the_guide_acl(site_broker: int, clients,
                                                           tmp_path: Path) -> None:
    """The real firmware as alice-desk: its telemetry reaches the board account, no other
    account may offer it firmware, and `focuslight update` with the admin account works
    while the real bridge runs, which it never pushes off the broker (no offline will, no
    reconnect); the bridge's own account is refused in one line."""
    from focuslight.tools.virtual_beacon import VirtualBeacon

    board = clients("board")
    board.subscribe("focuslight/beacons/+/telemetry")
    main = run_bridge(site_broker, tmp_path, "main", "focuslight-bridge", "alice")
    config = {"agent": "alice", "beacon": "alice-desk", "board": "unix", "broker": "127.0.0.1",
              "port": site_broker, "username": "alice-desk", "password": "pw-alice-desk"}
    try:
        with VirtualBeacon(config) as beacon:
            topic, payload = board.next()
            assert topic == "focuslight/beacons/alice-desk/telemetry" and b'"firmware"' in payload
            for account in ("supervisor", "homeassistant", "board", "alice-desk"):
                forger = Client(site_broker, account)  # closed: no reconnect pushing others
                forger.publish("focuslight/beacons/alice-desk/update", '{"v":1}', retain=True)
                forger.close()
            admin = clients("focuslight-admin")
            admin.subscribe("focuslight/beacons/alice-desk/update")
            with pytest.raises(queue.Empty):
                admin.next()  # nothing retained: every forged offer was dropped
            admin.close()
            watcher = clients("supervisor")
            watcher.subscribe("focuslight/bridges/main/availability")
            assert watcher.next() == ("focuslight/bridges/main/availability", b"online")
            watcher.subscribe("focuslight/agents/alice/reply")  # marker: see the end
            toml = tmp_path / "main.toml"  # run_bridge's: [bridge] username focuslight-bridge
            for account in (None, "focuslight-bridge"):
                refused = subprocess.run(
                    [sys.executable, "-m", "focuslight", "update", "-c", str(toml), "--beacon",
                     "alice-desk", "--force", "--source",
                     *(("--username", account, "--password", f"pw-{account}") if account
                       else ())], capture_output=True, text=True, timeout=60)
                assert refused.returncode == 1 and refused.stdout == ""
                assert len(refused.stderr.splitlines()) == 1, refused.stderr
                assert "focuslight-admin in docs/deploy-a-site.md" in refused.stderr
            done = subprocess.run(
                [sys.executable, "-m", "focuslight", "update", "-c", str(toml), "--beacon",
                 "alice-desk", "--force", "--source", "--timeout", "60", "--username",
                 "focuslight-admin", "--password", "pw-focuslight-admin"],
                capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stdout + done.stderr
            assert "beacon alice-desk runs 0.2.0 and is connected" in done.stdout
            assert (beacon.root / "beacon.old").is_dir()
        setter = clients("setter")
        setter.subscribe("focuslight/agents/alice/reply")
        setter.publish("focuslight/agents/alice/set", '{"state":"dnd","id":"t1"}')
        topic, reply = setter.next()
        assert topic == "focuslight/agents/alice/reply" and b'"t1"' in reply
        # a bridge pushed off during the update would have left an "offline" will (and an
        # "online" again) on the watcher before this reply
        assert watcher.next() == (topic, reply), "the bridge went offline during the update"
    finally:
        main.terminate()
        main.wait(timeout=30)


# -- client ids bound to accounts ---------------------------------------------------------

def test_no_account_can_take_the_bridges_client_id(site_broker: int, clients,
                                                   tmp_path: Path) -> None:
    """A beacon account connecting as ``focuslight-bridge-main`` must not push the real
    bridge off (issue 8.7): the guide's ``use_username_as_clientid`` makes its id its own."""
    from focuslight.app import Service
    from focuslight.config import load

    watcher = clients("supervisor")
    watcher.subscribe("focuslight/bridges/main/availability")
    watcher.subscribe("focuslight/agents/alice/reply")  # the marker: see the end
    config = tmp_path / "focuslight.toml"
    config.write_text(f'[bridge]\nid = "main"\nbroker = "mqtt://127.0.0.1:{site_broker}"\n'
                      'username = "focuslight-bridge"\npassword = "pw-focuslight-bridge"\n'
                      "[agents.alice]\n")
    service = Service(load(config))
    drops: list[object] = []
    lost = service.link.client.on_disconnect
    service.link.client.on_disconnect = lambda *a: (drops.append(a[3]), lost(*a))
    service.start()
    try:
        assert watcher.next() == ("focuslight/bridges/main/availability", b"online")
        for _ in range(5):  # what the field test did: 8 takeovers in 20 s
            thief = clients("alice-desk", client_id=service.link.client_id)
            assert not thief.reason.is_failure
            thief.close()
        setter = clients("setter")
        setter.subscribe("focuslight/agents/alice/reply")
        setter.publish("focuslight/agents/alice/set", '{"state":"dnd","id":"t1"}')
        topic, reply = setter.next()
        assert topic == "focuslight/agents/alice/reply" and b'"t1"' in reply
        # a pushed-off bridge's paho calls on_disconnect before it reconnects and answers
        assert drops == [] and service.link.connected
        # and the broker hands the watcher an "offline" will before this later reply
        assert watcher.next() == (topic, reply), "the bridge went offline"
    finally:
        service.stop()


def test_the_counter_bridge_hears_its_own_check(clients) -> None:
    """Every bridge checks it still hears the broker on bridges/<id>/check (Liveness)."""
    counter = clients("counter-1")
    counter.subscribe("focuslight/bridges/counter-1/check")
    counter.publish("focuslight/bridges/counter-1/check", "1")
    assert counter.next() == ("focuslight/bridges/counter-1/check", b"1")
