"""The merge policy, rule by rule: every pair of states, wrap-up grace, manual overrides."""

from __future__ import annotations

import itertools

import pytest

from focuslight.core.policy import PRIORITY, AgentPolicy, merge, merge_attention
from focuslight.protocol import STATES
from focuslight.sources.base import Attention


def expected_pair(a: str, b: str) -> str:
    """The design's table, written out independently of the implementation."""
    order = ["engaged", "hold", "ringing", "wrap_up", "dnd", "away", "available"]
    if a == b == "unknown":
        return "unknown"
    known = [s for s in (a, b) if s != "unknown"]
    best = min(known, key=order.index)
    if "unknown" in (a, b) and best in ("available", "away"):
        return "unknown"
    return best


@pytest.mark.parametrize(("a", "b"), list(itertools.product(STATES, repeat=2)))
def test_merge_every_pair(a: str, b: str) -> None:
    assert merge([a, b]) == expected_pair(a, b)
    assert merge([b, a]) == merge([a, b])


def test_priority_covers_every_state_but_unknown() -> None:
    assert set(PRIORITY) == set(STATES) - {"unknown"}


def test_no_information_is_unknown() -> None:
    assert merge([]) == "unknown"
    assert AgentPolicy("alice", sources=["phone"]).state == "unknown"


def test_engaged_from_live_source_beats_a_dead_one() -> None:
    assert merge(["unknown", "unknown", "engaged"]) == "engaged"
    assert merge(["unknown", "dnd"]) == "dnd"


def make(wrap: float = 30) -> AgentPolicy:
    return AgentPolicy("alice", wrap_up_s=wrap, sources=["phone", "counter"])


def test_silent_source_keeps_agent_unknown() -> None:
    agent = make()
    agent.report("phone", "available", 0, 1000)
    assert agent.state == "unknown"  # counter has not said anything yet
    agent.report("counter", "available", 0, 1001)
    assert (agent.state, agent.since) == ("available", 1001)


def test_wrap_up_grace_after_contact() -> None:
    agent = make(wrap=30)
    agent.report("counter", "available", 0, 0)
    agent.report("phone", "ringing", 1, 1)
    agent.report("phone", "engaged", 2, 2)
    agent.report("phone", "available", 10, 10)
    assert (agent.state, agent.source) == ("wrap_up", "phone")
    assert agent.next_deadline() == 40
    agent.expire(39.9, 39.9)
    assert agent.state == "wrap_up"
    agent.expire(40, 40)
    assert agent.state == "available"
    assert agent.next_deadline() is None


def test_missed_call_has_no_wrap_up() -> None:
    agent = make()
    agent.report("counter", "available", 0, 0)
    agent.report("phone", "ringing", 1, 1)
    agent.report("phone", "available", 5, 5)
    assert agent.state == "available"


def test_new_contact_during_wrap_up_wins() -> None:
    agent = make()
    agent.report("counter", "available", 0, 0)
    agent.report("phone", "engaged", 1, 1)
    agent.report("phone", "available", 2, 2)
    agent.report("phone", "engaged", 3, 3)
    agent.expire(100, 100)
    assert agent.state == "engaged"


def test_zero_grace_goes_straight_to_available() -> None:
    agent = make(wrap=0)
    agent.report("counter", "available", 0, 0)
    agent.report("phone", "hold", 1, 1)
    agent.report("phone", "available", 2, 2)
    assert agent.state == "available"


def test_manual_override_with_expiry_and_auto() -> None:
    agent = make()
    for source in ("phone", "counter"):
        agent.report(source, "available", 0, 0)
    agent.set_manual("dnd", 1, 10, 10)
    assert (agent.state, agent.source) == ("dnd", "manual")
    agent.report("phone", "engaged", 20, 20)
    assert agent.state == "engaged"  # a customer beats focus time
    agent.report("phone", "available", 30, 30)
    agent.expire(60, 60)
    assert agent.state == "dnd"  # grace over, still inside the minute
    agent.expire(70, 70)
    assert agent.state == "available"
    agent.set_manual("away", None, 80, 80)
    agent.expire(10_000, 10_000)
    assert agent.state == "away"
    agent.set_manual("auto", None, 10_001, 10_001)
    assert agent.state == "available"


def test_manual_available_ends_wrap_up_early() -> None:
    agent = make()
    agent.report("counter", "available", 0, 0)
    agent.report("phone", "engaged", 1, 1)
    agent.report("phone", "available", 2, 2)
    agent.set_manual("available", None, 3, 3)
    assert agent.state == "available"


def test_button_press_toggles_and_hold_clears() -> None:
    agent = make()
    for source in ("phone", "counter"):
        agent.report(source, "available", 0, 0)
    agent.button("press", 1, 1)
    assert agent.state == "dnd"
    agent.button("press", 2, 2)
    assert agent.state == "available"
    agent.button("press", 3, 3)
    agent.button("hold", 4, 4)
    assert agent.state == "available"


def test_source_change_keeps_since_when_state_stays() -> None:
    agent = make()
    agent.report("counter", "engaged", 0, 100)
    agent.report("phone", "engaged", 1, 101)
    agent.report("counter", "available", 2, 102)
    assert (agent.state, agent.source, agent.since) == ("engaged", "phone", 100)


def test_a_customer_standing_there_wins_over_a_chat_waiting() -> None:
    """customer_waiting beats reply_due and brings its own wait; escalation and chats merge."""
    merged = merge_attention([Attention("reply_due", 50.0, True, 2),
                              Attention("customer_waiting", 90.0),
                              Attention(None, 10.0, chats=1)])
    assert merged == Attention("customer_waiting", 90.0, True, 3)
    assert merge_attention([Attention("reply_due", 70.0), Attention("reply_due", 60.0)]) == (
        Attention("reply_due", 60.0))
    assert merge_attention([Attention(chats=600), Attention(chats=600)]).chats == 999
    assert merge_attention([]) == Attention()


def test_attention_needs_a_state_that_may_be_believed() -> None:
    """No attention while the agent is unknown, nor from a source that cannot see."""
    agent = make()
    agent.set_attention("counter", Attention("customer_waiting", 5.0))
    assert agent.attention() == Attention()  # phone and counter never reported: unknown
    agent.report("phone", "engaged", 1, 1)
    assert agent.attention() == Attention()  # counter still reads unknown
    agent.report("counter", "available", 2, 2)
    assert agent.attention() == Attention("customer_waiting", 5.0)
    agent.set_attention("chat", Attention("reply_due", 3.0, chats=1))  # not a merged source
    assert agent.attention() == Attention("customer_waiting", 5.0, chats=1)
    agent.set_attention("counter", None)
    assert agent.attention() == Attention("reply_due", 3.0, chats=1)


def test_a_waiting_customer_is_cued_only_while_the_agent_is_busy_elsewhere() -> None:
    """customer_waiting: shown while the phone (or away) keeps the agent from the counter;
    not while free (they see the customer), nor while the counter itself keeps them busy."""
    agent = make()
    agent.report("phone", "available", 1, 1)
    agent.report("counter", "available", 1, 1)
    agent.set_attention("counter", Attention("customer_waiting", 5.0))
    assert agent.attention() == Attention()  # free: the agent sees the customer
    agent.report("phone", "engaged", 2, 2)
    assert agent.attention() == Attention("customer_waiting", 5.0)  # on the phone: cue
    agent.report("phone", "available", 3, 3)
    assert agent.state == "wrap_up" and agent.attention().cue == "customer_waiting"
    agent.report("counter", "engaged", 4, 4)  # a stale ask while the counter serves
    agent.expire(100, 100)
    assert (agent.state, agent.source) == ("engaged", "counter")
    assert agent.attention() == Attention()


def test_working_hours_say_away_outside_and_nothing_inside() -> None:
    """The schedule's ``available`` is no evidence; its ``away`` merges as any away."""
    agent = AgentPolicy("alice", sources=["phone"])
    agent.report("schedule", "available", 0, 1)
    assert agent.state == "unknown"  # the phone has said nothing: hours prove nobody free
    agent.report("phone", "available", 0, 2)
    assert (agent.state, agent.source) == ("available", "phone")
    agent.report("schedule", "away", 0, 3)
    assert (agent.state, agent.source) == ("away", "schedule")
    agent.report("phone", "ringing", 0, 4)
    assert agent.state == "ringing"  # a live contact outside hours still shows
    agent.report("phone", "unknown", 0, 5)
    assert agent.state == "unknown"  # the trust rule is not bent by the clock


def test_a_manual_state_overrides_the_schedule() -> None:
    agent = AgentPolicy("alice", sources=["phone"])
    agent.report("phone", "available", 0, 1)
    agent.report("schedule", "away", 0, 2)
    agent.set_manual("available", None, 0, 3)  # working late
    assert (agent.state, agent.source) == ("available", "phone")
    agent.set_manual("auto", None, 0, 4)
    assert agent.state == "away"
