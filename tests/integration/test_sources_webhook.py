"""The CTI webhook, spoken to by a real HTTP client (http.client) over a real socket."""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.sources import (
    BridgeProcess,
    FakeClock,
    RecordingSink,
    bridge_config,
    load_doc_examples,
)
from helpers.waiting import wait_until

from focuslight import http_server
from focuslight.config_section import ConfigError, Section
from focuslight.sources import http_endpoint, webhook
from focuslight.sources.webhook import WebhookSource, from_config
from focuslight.tools.embedded_broker import free_port, wait_for_port

TOKEN = "s3cret-token-for-tests"
AGENTS = ("alice", "bob")


class Client:
    """Plain HTTP against the running source; returns (status, headers, JSON body)."""

    def __init__(self, port: int) -> None:
        self.port = port

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), json.loads(response.read())
        finally:
            conn.close()

    def post(self, agent: str, body: object, *, token: str = TOKEN,
             content_type: str = "application/json") -> tuple[int, dict, dict]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.request("POST", f"/v1/agents/{agent}/state", raw,
                            {"Authorization": f"Bearer {token}", "Content-Type": content_type})


@pytest.fixture
def served() -> Iterator[tuple[WebhookSource, Client, RecordingSink]]:
    port = free_port()
    table = {"name": "cti", "token": TOKEN, "port": port, "max_body": 1024,
             "states": {"AFTER_CONTACT_WORK": "wrap_up", "CONNECTED": "engaged",
                        "Available": "available"}}
    source = from_config(Section(table, "site.toml", "sources[1]"), AGENTS)
    sink = RecordingSink()
    source.start(sink)
    wait_for_port("127.0.0.1", port)
    yield source, Client(port), sink
    source.stop()


def test_good_request_sets_the_agent_state(served) -> None:
    _, client, sink = served
    status, headers, body = client.post("alice", {"state": "engaged", "source": "cti"})
    assert (status, body) == (200, {"agent": "alice", "source": "cti", "state": "engaged"})
    assert headers["Content-Type"] == "application/json"
    assert sink.reports == [("alice", "cti", "engaged")]
    status, _, _ = client.request("POST", "/v1/agents/alice/state?via=relay", b'{"state":"hold"}',
                                  {"Authorization": f"Bearer {TOKEN}",
                                   "Content-Type": "application/json"})
    assert status == 200 and sink.reports[-1] == ("alice", "cti", "hold")


def test_platform_activity_names_map_through_the_states_table(served) -> None:
    _, client, sink = served
    for name in ("CONNECTED", "AFTER_CONTACT_WORK", "Available"):
        assert client.post("bob", {"state": name})[0] == 200
    assert sink.states("bob") == ["engaged", "wrap_up", "available"]


@pytest.mark.parametrize(("token", "header"), [("wrong-token-of-some-length", None),
                                               ("", None), (TOKEN, "Basic " + TOKEN)])
def test_wrong_or_missing_token_is_401(served, token: str, header: str | None) -> None:
    _, client, sink = served
    if header is None:
        status, headers, body = client.post("alice", {"state": "engaged"}, token=token)
    else:
        status, headers, body = client.request(
            "POST", "/v1/agents/alice/state", b'{"state":"engaged"}',
            {"Authorization": header, "Content-Type": "application/json"})
    assert status == 401 and "token" in body["error"]
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert sink.reports == []


@pytest.mark.parametrize(("raw", "expected"), [
    (b'{"state": "engaged"', "body is not JSON"),
    (b"\xff\xfe", "body is not UTF-8"),
    (b'["engaged"]', "body must be a JSON object, got list"),
    (b'{"state": "busy"}', "unknown state 'busy'; expected one of available"),
    (b'{"state": 3}', "unknown state '3'"),
    (b'{}', "unknown state 'None'"),
    (b'{"state": "engaged", "source": "phone"}', "source must be 'cti' on this endpoint"),
])
def test_bad_body_is_400_with_the_reason(served, raw: bytes, expected: str) -> None:
    _, client, sink = served
    status, _, body = client.post("alice", raw)
    assert status == 400 and expected in body["error"]
    assert sink.reports == []


def test_unknown_agent_and_unknown_path_are_404(served) -> None:
    _, client, sink = served
    status, _, body = client.post("mallory", {"state": "engaged"})
    assert (status, body) == (404, {"error": "unknown agent 'mallory'"})
    status, _, body = client.request("POST", "/v1/agents/alice", b"{}")
    assert status == 404 and "POST /v1/agents/<agent>/state" in body["error"]
    assert sink.reports == []


def test_other_methods_are_405(served) -> None:
    _, client, _ = served
    for method in ("GET", "PUT", "DELETE"):
        status, headers, _ = client.request(method, "/v1/agents/alice/state")
        assert (status, headers["Allow"]) == (405, "POST")


def test_wrong_content_type_is_415(served) -> None:
    _, client, _ = served
    status, _, body = client.post("alice", b"state=engaged",
                                  content_type="application/x-www-form-urlencoded")
    assert status == 415 and "application/json" in body["error"]
    assert client.post("alice", {"state": "hold"}, content_type="application/json; "
                       "charset=utf-8")[0] == 200


def test_huge_body_is_413_before_it_is_read(served) -> None:
    _, client, sink = served
    # A body just over the limit, sent in full.
    status, _, body = client.post("alice", b'{"state": "engaged", "pad": "' + b"x" * 1024
                                  + b'"}')
    assert status == 413 and "limit is 1024" in body["error"]
    # A claimed 100 MB body: refused on the headers alone, nothing is read.
    conn = http.client.HTTPConnection("127.0.0.1", client.port, timeout=10)
    conn.putrequest("POST", "/v1/agents/alice/state")
    for key, value in {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json",
                       "Content-Length": str(100 * 2**20)}.items():
        conn.putheader(key, value)
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 413 and b"104857600 bytes" in response.read()
    conn.close()
    assert sink.reports == []


def test_missing_length_is_411(served) -> None:
    _, client, _ = served
    conn = http.client.HTTPConnection("127.0.0.1", client.port, timeout=10)
    conn.putrequest("POST", "/v1/agents/alice/state", skip_accept_encoding=True)
    for key, value in {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json",
                       "Transfer-Encoding": "chunked"}.items():
        conn.putheader(key, value)
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 411 and b"Content-Length" in response.read()
    conn.close()


def test_each_refusal_is_one_log_line_without_the_token(served,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    _, client, _ = served
    with caplog.at_level(logging.INFO, logger=webhook.__name__):
        client.post("alice", {"state": "engaged"}, token=TOKEN[:-1] + "X")
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1 and "401" in lines[0] and "/v1/agents/alice/state" in lines[0]
    assert TOKEN[:8] not in caplog.text


def test_idle_connections_past_the_cap_get_503_and_service_resumes(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(http_endpoint, "MAX_CONNECTIONS", 4)
    port = free_port()
    source = from_config(Section({"token": TOKEN, "port": port}, "site.toml", "sources[1]"),
                         AGENTS)
    sink = RecordingSink()
    source.start(sink)
    client = Client(port)
    idle = []
    try:
        wait_for_port("127.0.0.1", port)
        wait_until(lambda: source.server and source.server.stats()["connections"] == 0, timeout=5)
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
        wait_until(lambda: source.server.stats()["connections"] == 4, timeout=5)
        with caplog.at_level(logging.WARNING, logger=http_server.__name__):
            for _ in range(3):  # answered before the caller says anything, then closed
                with socket.create_connection(("127.0.0.1", port), timeout=5) as extra:
                    answer = b"".join(iter(lambda: extra.recv(4096), b""))
                head, body = answer.split(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 503 ") and b"Retry-After: 1" in head
        assert json.loads(body) == {
            "error": "too many connections to the webhook webhook; retry in a second"}
        assert [r.getMessage() for r in caplog.records] == [
            "webhook webhook: 4 connections open; answering 503 until one closes "
            "(latest from 127.0.0.1)"]
        for conn in idle:
            conn.close()
        deadline = time.monotonic() + 5
        while sink.states("alice") != ["engaged"]:  # the handlers see the idle ones go
            assert time.monotonic() < deadline
            with contextlib.suppress(ConnectionError):
                client.post("alice", {"state": "engaged"})
    finally:
        for conn in idle:
            conn.close()
        source.stop()


def test_port_taken_reads_unknown_and_serves_once_free(caplog: pytest.LogCaptureFixture) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    clock, sink = FakeClock(), RecordingSink()
    source = WebhookSource("cti", AGENTS, token=TOKEN, port=port, retry_s=5, clock=clock)
    with caplog.at_level(logging.ERROR, logger=webhook.__name__):
        source.start(sink)
        clock.settle()
        clock.advance(5)
        clock.advance(5)
    try:
        assert sink.reports == [("alice", "cti", "unknown"), ("bob", "cti", "unknown")]
        [line] = [r.getMessage() for r in caplog.records]
        assert f"cannot listen on 127.0.0.1:{port}" in line and "alice, bob read unknown" in line
        holder.close()
        clock.advance(5, workers=0)
        wait_for_port("127.0.0.1", port)
        assert Client(port).post("bob", {"state": "dnd"})[0] == 200
        assert sink.reports[-1] == ("bob", "cti", "dnd")
    finally:
        holder.close()
        source.stop()


def test_silent_agent_reads_unknown_after_stale_s(caplog: pytest.LogCaptureFixture) -> None:
    """With stale_s, a platform that stops talking (relay down) cannot leave a stale light."""
    port, clock, sink = free_port(), FakeClock(), RecordingSink()
    source = WebhookSource("cti", AGENTS, token=TOKEN, port=port, stale_s=300, clock=clock)
    source.start(sink)
    try:
        wait_for_port("127.0.0.1", port)
        clock.settle()
        client = Client(port)
        assert client.post("alice", {"state": "engaged"})[0] == 200
        clock.advance(200)
        assert client.post("alice", {"state": "engaged"})[0] == 200   # a heartbeat
        clock.advance(299)
        assert sink.states("alice") == ["engaged", "engaged"]
        with caplog.at_level(logging.WARNING, logger=webhook.__name__):
            clock.advance(1)
        assert sink.states("alice") == ["engaged", "engaged", "unknown"]
        assert caplog.messages == ["webhook cti: nothing about alice for 300 s; it reads unknown"]
        clock.advance(1000)
        assert sink.states("alice")[-1] == "unknown" and sink.states("bob") == []
        assert client.post("alice", {"state": "available"})[0] == 200
        assert sink.states("alice")[-1] == "available"
    finally:
        source.stop()


@pytest.mark.parametrize(("table", "message"), [
    ({}, "sources[1].token: expected a string, it is missing"),
    ({"token": "short"}, "sources[1].token: expected a secret of at least 16 characters"),
    ({"token": TOKEN, "port": 70000}, "sources[1].port: expected an integer in 1..65535"),
    ({"token": TOKEN, "agents": ["carol"]}, "sources[1].agents: expected agents declared"),
    ({"token": TOKEN, "states": {"Busy": "bussy"}},
     "sources[1].states.Busy: expected one of available, away"),
    ({"token": TOKEN, "tokn": "x"}, "sources[1].tokn: expected a known key"),
    ({"token": TOKEN, "stale_s": -5}, "sources[1].stale_s: expected a number in 0..86400"),
])
def test_config_errors_name_the_key(table: dict, message: str) -> None:
    section = Section(table, "site.toml", "sources[1]")
    with pytest.raises(ConfigError) as err:
        from_config(section, AGENTS)
        section.finish()
    assert message in str(err.value)


def test_the_documented_examples_load(tmp_path: Path) -> None:
    sources = load_doc_examples("webhook", tmp_path)
    assert sources and all(isinstance(s, WebhookSource) for s in sources)


# -- end to end: the real `focuslight bridge` process and a real mosquitto ------------------

def test_webhook_call_reaches_mqtt_through_the_real_bridge(mosquitto, peer_factory,
                                                           tmp_path: Path) -> None:
    prefix, port = "fl-webhook", free_port()
    watcher = peer_factory(mosquitto)
    watcher.subscribe(f"{prefix}/agents/+/status")
    source = (f'type = "webhook"\nname = "cti"\ntoken = "{TOKEN}"\nport = {port}\n'
              '[sources.states]\n"CONNECTED" = "engaged"\n')
    bridge = BridgeProcess(tmp_path, bridge_config(mosquitto.url, prefix, list(AGENTS),
                                                   source)).start()
    try:
        wait_for_port("127.0.0.1", port)
        assert Client(port).post("bob", {"state": "CONNECTED", "source": "cti"})[0] == 200
        status = watcher.wait_for_state(f"{prefix}/agents/bob/status", "engaged")
        assert status["source"] == "cti"
        assert Client(port).post("bob", {"state": "available"})[0] == 200
        watcher.wait_for_state(f"{prefix}/agents/bob/status", "wrap_up")
    finally:
        bridge.kill()


def test_port_taken_bridge_keeps_running_with_unknown(mosquitto, peer_factory,
                                                      tmp_path: Path) -> None:
    prefix = "fl-webhook-taken"
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    watcher = peer_factory(mosquitto)
    watcher.subscribe(f"{prefix}/agents/+/status")
    source = (f'type = "webhook"\nname = "cti"\ntoken = "{TOKEN}"\nport = {port}\n'
              "retry_s = 1\n")
    bridge = BridgeProcess(tmp_path, bridge_config(mosquitto.url, prefix, ["alice"],
                                                   source)).start()
    try:
        line = bridge.wait_for_log("webhook cti:")
        assert f"cannot listen on 127.0.0.1:{port} (Address already in use)" in line
        watcher.wait_for_state(f"{prefix}/agents/alice/status", "unknown")
        holder.close()                          # the other program goes away
        wait_for_port("127.0.0.1", port)
        assert Client(port).post("alice", {"state": "engaged"})[0] == 200
        watcher.wait_for_state(f"{prefix}/agents/alice/status", "engaged")
        assert bridge.alive(), bridge.text()
    finally:
        bridge.kill()
        holder.close()
    errors = [line for line in bridge.text().splitlines() if "ERROR" in line]
    assert len(errors) == 1, bridge.text()
