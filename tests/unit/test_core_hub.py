"""The hub (focuslight.core.hub) on its own: no broker, no config file, a recording output."""

from __future__ import annotations

import logging
import subprocess
import sys

from focuslight.core.agents import AgentSettings, agents_from_ids
from focuslight.core.hub import Hub
from focuslight.protocol import SetCommand, SetReply, Status
from focuslight.sources.base import Attention


class Recorder:
    """An output that keeps what it was given, in order."""

    def __init__(self) -> None:
        self.shown: list[tuple[str, str, str]] = []
        self.statuses: list[Status] = []

    def publish(self, agent: str, status: Status) -> None:
        self.shown.append((agent, status.state, status.source))
        self.statuses.append(status)


def make_hub(*agents: str) -> tuple[Hub, Recorder]:
    hub = Hub(agents_from_ids(agents), wrap_up_s=0)
    recorder = Recorder()
    hub.outputs.append(recorder)
    hub.start()
    return hub, recorder


def test_the_core_imports_no_io_library() -> None:
    """Importing the merge engine loads neither paho, pyserial, gpiozero nor h11."""
    code = ("import sys, focuslight.core.hub, focuslight.core.policy, focuslight.core.agents\n"
            "print(sorted({m.split('.')[0] for m in sys.modules}"
            " & {'paho', 'serial', 'gpiozero', 'h11'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_a_report_reaches_every_output_once() -> None:
    hub, recorder = make_hub("alice")
    try:
        hub.report("alice", "phone", "engaged")
        hub.report("alice", "phone", "engaged")
        hub.flush()
        assert recorder.shown[-1] == ("alice", "engaged", "phone")
        assert sum(1 for s in recorder.shown if s[1] == "engaged") == 1
        assert hub.snapshot()["alice"].state == "engaged"
    finally:
        hub.stop()


def test_unknown_agents_and_states_are_logged_once_and_ignored(caplog) -> None:
    hub, recorder = make_hub("alice")
    try:
        with caplog.at_level(logging.WARNING, logger="focuslight.core.hub"):
            for _ in range(3):
                hub.report("mallory", "phone", "engaged")
                hub.report("alice", "phone", "partying")
            hub.flush()
        assert [a for a, _, _ in recorder.shown] == ["alice"]  # only alice's first unknown
        assert len([r for r in caplog.records if "mallory" in r.getMessage()]) == 1
        assert len([r for r in caplog.records if "partying" in r.getMessage()]) == 1
    finally:
        hub.stop()


def test_a_set_is_answered_applied_or_outranked() -> None:
    hub, _ = make_hub("alice")
    replies: list[SetReply] = []
    try:
        hub.apply_set("alice", SetCommand("dnd", None, "a1"), reply=replies.append)
        hub.flush()
        hub.report("alice", "phone", "engaged")
        hub.apply_set("alice", SetCommand("away", None, "a2"), reply=replies.append)
        hub.flush()
        assert [(r.id, r.result) for r in replies] == [("a1", "applied"), ("a2", "outranked")]
    finally:
        hub.stop()


def test_attention_is_published_beside_the_state_and_cleared(caplog) -> None:
    """A source's attention reaches the outputs in the status; clearing it re-publishes."""
    hub, recorder = make_hub("alice")
    try:
        hub.report("alice", "chat", "engaged")
        hub.attention("alice", "chat", Attention("reply_due", 100.0, True, 2))
        hub.flush()
        last = recorder.statuses[-1]
        assert (last.state, last.cue, last.waiting_since, last.escalated, last.chats) == (
            "engaged", "reply_due", 100.0, True, 2)
        hub.attention("alice", "chat", Attention(chats=2))
        hub.flush()
        assert (recorder.statuses[-1].cue, recorder.statuses[-1].chats) == (None, 2)
        with caplog.at_level(logging.WARNING, logger="focuslight.core.hub"):
            hub.attention("alice", "chat", Attention("kettle_on"))
            hub.attention("mallory", "chat", Attention("reply_due"))
            hub.flush()
        assert recorder.statuses[-1].chats == 2
        assert any("kettle_on" in r.getMessage() for r in caplog.records)
        hub.attention("alice", "chat", None)
        hub.report("alice", "chat", "available")
        hub.flush()
        assert recorder.statuses[-1] == Status("available", "chat", recorder.statuses[-1].since)
    finally:
        hub.stop()


def test_agent_settings_are_plain_data() -> None:
    assert AgentSettings("alice", "Alice").beacons == []
    assert list(agents_from_ids(["a", "b"])) == ["a", "b"]
