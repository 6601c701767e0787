"""The simulated source keeps its script's timing: each state is reported after its wait."""

from __future__ import annotations

import itertools
import random
import time

from helpers.sources import RecordingSink

from focuslight.sources.simulated import SimulatedSource, agent_day


def test_a_day_is_plausible_and_repeatable() -> None:
    def first(n: int) -> list[tuple[float, str]]:
        day = agent_day(random.Random("1/alice"), 40, 60)
        return [next(day) for _ in range(n)]

    steps = first(200)
    assert steps == first(200)
    states = [s for _, s in steps]
    assert states[0] == "available"
    assert {"ringing", "engaged", "available"} <= set(states)
    for before, after in itertools.pairwise(states):
        if before == "ringing":
            assert after == "engaged"  # every call that rings is answered
    assert all(wait >= 0 for wait, _ in steps)


def test_states_are_reported_after_their_wait_not_before() -> None:
    source = SimulatedSource("sim", ["alice"], seed=3, speed=1.0, idle_s=1e6, contact_s=1e6)
    recorder = RecordingSink()
    source.start(recorder)
    time.sleep(0.5)
    source.stop()
    assert recorder.states() == ["available"]


def test_speed_scales_time_and_every_agent_plays() -> None:
    agents = [f"a{i}" for i in range(20)]
    source = SimulatedSource("sim", agents, seed=1, speed=500, idle_s=40, contact_s=60)
    recorder = RecordingSink()
    source.start(recorder)
    time.sleep(1.0)
    source.stop()
    by_agent = {agent for agent, _, _ in recorder.reports}
    assert by_agent == set(agents)
    assert len(recorder.reports) > 5 * len(agents)  # 500x: minutes of a day in a second
