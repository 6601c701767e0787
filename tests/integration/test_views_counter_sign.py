"""The counter sign: real mosquitto, the real sign server, a paho peer, headless Chromium.

Page checks read what a customer in the queue would read. Screenshots of each kind
go to the test's directory, or to ``$FOCUSLIGHT_SCREENSHOTS`` (``docs/img`` makes the
guide's pictures: ``FOCUSLIGHT_SCREENSHOTS=docs/img pytest -n 0
tests/integration/test_views_counter_sign.py``).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.browser import Chromium, Tab

from focuslight.mqtt.client import BrokerSettings
from focuslight.protocol import Status, Topics
from focuslight.protocol.expected import Expected
from focuslight.views.counter_sign import CounterSignServer, built_in

TOPICS = Topics("signtest")
AGENT = "counter-1"
MAIN = TOPICS.bridge_availability("main")
SIGN = """(document.body && document.getElementById('detail') ? {
  kind: document.body.className.replace('k-', ''),
  title: document.getElementById('title').innerText,
  detail: document.getElementById('detail').innerText,
  lang: document.documentElement.lang} : {kind: 'loading', detail: ''})"""


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    browser = Chromium(tmp_path_factory.mktemp("chromium"))
    yield browser
    browser.close()


@pytest.fixture
def peer(mosquitto, peer_factory):
    return peer_factory(mosquitto)


@pytest.fixture
def signs(mosquitto) -> Iterator:
    started: list[CounterSignServer] = []

    def start(lang: str = "en", port: int = 0) -> CounterSignServer:
        sign = CounterSignServer(BrokerSettings(mosquitto.host, mosquitto.port), TOPICS, AGENT,
                                 built_in(lang), ("127.0.0.1", port))
        started.append(sign.start())
        return sign

    yield start
    for sign in started:
        sign.stop()


@pytest.fixture
def tabs(chromium: Chromium) -> Iterator:
    opened: list[Tab] = []

    def open_tab(url: str) -> Tab:
        opened.append(chromium.tab(url, width=1024, height=600))  # a 10" tablet, landscape
        return opened[-1]

    yield open_tab
    for tab in opened:
        tab.close()


def status(state: str, bridge: str = "main", ago: float = 0.0) -> bytes:
    return Status(state, "counter", time.time() - ago, bridge).encode()


def expected(typical_s: float | None, serving_ago: float | None, bridge: str = "main") -> bytes:
    since = None if serving_ago is None else time.time() - serving_ago
    return Expected(typical_s, 9, since, bridge).encode()


def shown(tab: Tab, kind: str, timeout: float = 10.0) -> dict:
    """Wait until the page shows *kind*; what it reads."""
    tab.wait_for(f"{SIGN}.kind === {kind!r}", timeout=timeout)
    return tab.evaluate(SIGN)


def screenshot(tab: Tab, name: str, tmp_path: Path) -> None:
    folder = Path(os.environ.get("FOCUSLIGHT_SCREENSHOTS", tmp_path))
    tab.screenshot(folder / f"counter-sign-{name}.png")


def test_each_state_says_what_a_customer_needs_and_nothing_else(signs, peer, tabs,
                                                                tmp_path) -> None:
    peer.publish(MAIN, "online", retain=True)
    sign = signs()
    tab = tabs(sign.url)
    assert shown(tab, "unknown")["title"] == "Welcome"  # nothing heard yet: never "next"
    screenshot(tab, "unknown", tmp_path)
    wording = built_in("en").lines
    for state, kind in (("available", "free"), ("ringing", "arriving"),
                        ("engaged", "serving"), ("hold", "serving"),
                        ("wrap_up", "finishing"), ("dnd", "busy"), ("away", "closed")):
        peer.publish(TOPICS.status(AGENT), status(state), retain=True)
        if kind == "serving":  # the same kind twice in a row: wait for the state itself
            time.sleep(0.3)
        seen = shown(tab, kind)
        assert (seen["title"], seen["detail"]) == (wording[kind]["title"],
                                                   wording[kind]["detail"]), state
        if state in ("available", "dnd", "away", "wrap_up"):
            screenshot(tab, kind, tmp_path)
    assert shown(tab, "closed")["lang"] == "en"
    view = json.loads(urllib.request.urlopen(sign.url + "api/sign", timeout=5).read())
    assert set(view) == {"v", "now", "kind", "ends_at"}  # no source, name or reason


def test_serving_counts_down_the_expected_minutes(signs, peer, tabs, tmp_path) -> None:
    peer.publish(MAIN, "online", retain=True)
    peer.publish(TOPICS.status(AGENT), status("engaged", ago=60), retain=True)
    peer.publish(TOPICS.expected(AGENT), expected(300, serving_ago=60), retain=True)
    tab = tabs(signs().url)
    tab.wait_for(f"{SIGN}.detail.includes('about 4 min')")
    assert shown(tab, "serving")["detail"] == "We'll be with you shortly (about 4 min)"
    screenshot(tab, "serving", tmp_path)

    # running long: past the typical length the sign gives no number rather than a wrong one
    peer.publish(TOPICS.expected(AGENT), expected(300, serving_ago=301), retain=True)
    tab.wait_for(f"{SIGN}.detail === \"We'll be with you shortly\"")
    # 30 s left is "about 1 min", rounded up
    peer.publish(TOPICS.expected(AGENT), expected(300, serving_ago=270), retain=True)
    tab.wait_for(f"{SIGN}.detail.includes('about 1 min')")
    # the bridge that timed it went offline: its serving_since may be stale, so no number
    peer.publish(TOPICS.expected(AGENT), expected(300, serving_ago=60, bridge="pi"),
                 retain=True)
    tab.wait_for(f"{SIGN}.detail.includes('about 4 min')")
    peer.publish(TOPICS.bridge_availability("pi"), "offline", retain=True)
    tab.wait_for(f"{SIGN}.detail === \"We'll be with you shortly\"")
    assert shown(tab, "serving")  # the status's own bridge is online: still serving


def test_german_wording(signs, peer, tabs, tmp_path) -> None:
    peer.publish(MAIN, "online", retain=True)
    peer.publish(TOPICS.status(AGENT), status("engaged", ago=30), retain=True)
    peer.publish(TOPICS.expected(AGENT), expected(400, serving_ago=30), retain=True)
    tab = tabs(signs("de").url)
    tab.wait_for(f"{SIGN}.detail.includes('ca. 7 Min.')")
    seen = shown(tab, "serving")
    assert (seen["title"], seen["lang"]) == ("Wir bedienen gerade", "de")
    screenshot(tab, "serving-de", tmp_path)
    peer.publish(TOPICS.status(AGENT), status("available"), retain=True)
    assert shown(tab, "free")["title"] == "Der Nächste, bitte"


@pytest.mark.parametrize("doubt", ["bridge offline", "broker gone", "stream gone"])
def test_unknown_never_calls_the_next_customer(doubt, signs, mosquitto, peer, tabs) -> None:
    peer.publish(MAIN, "online", retain=True)
    peer.publish(TOPICS.status(AGENT), status("available"), retain=True)
    sign = signs()
    tab = tabs(sign.url)
    assert shown(tab, "free")["title"] == "Next please"
    if doubt == "bridge offline":
        peer.publish(MAIN, "offline", retain=True)
    elif doubt == "broker gone":
        mosquitto.kill()
    else:
        sign.stop()
    seen = shown(tab, "unknown", timeout=20)
    assert (seen["title"], seen["detail"]) == ("Welcome", "Please wait to be called")


def test_a_frozen_sign_turns_the_page_unknown(mosquitto, peer, tabs) -> None:
    """A stream that stays open but goes silent (sign hung, half-open TCP) is not trusted."""
    peer.publish(MAIN, "online", retain=True)
    peer.publish(TOPICS.status(AGENT), status("available"), retain=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "focuslight", "counter-sign", "--agent", AGENT, "--broker",
         mosquitto.url, "--prefix", TOPICS.prefix, "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = re.search(r"http://\S+/", process.stdout.readline())[0]
        tab = tabs(url)
        assert shown(tab, "free")["title"] == "Next please"
        process.send_signal(signal.SIGSTOP)
        try:
            shown(tab, "unknown", timeout=30)
        finally:
            process.send_signal(signal.SIGCONT)
        shown(tab, "free", timeout=30)
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        process.kill()
        process.wait()


def test_bad_messages_are_ignored_with_one_log_line_each(signs, peer, caplog) -> None:
    sign = signs()
    peer.publish(MAIN, "online", retain=True)
    peer.publish(TOPICS.status(AGENT), status("available"), retain=True)
    deadline = time.monotonic() + 10
    while sign.sign.view()["kind"] != "free":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    peer.publish(TOPICS.expected(AGENT), b'{"v":1,"contacts":"many"}')
    peer.publish(TOPICS.status(AGENT), b"[]")
    deadline = time.monotonic() + 10
    while len([r for r in caplog.records if "ignored message" in r.getMessage()]) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert sign.sign.view()["kind"] == "free"


def test_the_demo_serves_the_counter_sign(mosquitto, tabs) -> None:
    """alice's walk-up in the demo: her sign counts the demo's typical 5 minutes down."""
    demo = subprocess.Popen([sys.executable, "-m", "focuslight", "demo", "--duration", "30",
                             "--no-tour", "--broker", mosquitto.url], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, stdin=subprocess.PIPE, text=True)
    try:
        url = next(match[1] for line in demo.stdout
                   if (match := re.search(r"Counter sign .*: (http://\S+/)", line)))
        tab = tabs(url)
        assert shown(tab, "free", timeout=20)["title"] == "Next please"
        demo.stdin.write("walkup\n")
        demo.stdin.flush()
        assert shown(tab, "serving")["title"] == "Serving a customer"
        tab.wait_for(f"{SIGN}.detail.includes('about 5 min')")
    finally:
        demo.send_signal(signal.SIGINT)
        demo.communicate(timeout=20)
    assert demo.returncode == 0
