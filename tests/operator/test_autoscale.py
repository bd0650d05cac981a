"""The daemon-pool autoscaler: recommendations, bounds, stabilisation windows, Redis outages."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from tolaria.operator.autoscale import AutoscalePolicy, QueueObservation, ScalingState, decide, recommend
from tolaria.spec import Autoscaling


def policy(**overrides) -> AutoscalePolicy:
    values = dict(
        min_replicas=1,
        max_replicas=10,
        target_queue_depth=1000,
        scale_up_window=0.0,
        scale_down_window=60.0,
    )
    values.update(overrides)
    return AutoscalePolicy(**values)


def test_policy_from_spec_takes_every_field():
    spec = Autoscaling(
        min_replicas=2,
        max_replicas=9,
        target_queue_depth=500,
        scale_up_stabilization_seconds=7,
        scale_down_stabilization_seconds=90,
        fallback_replicas=3,
    )
    got = AutoscalePolicy.from_spec(spec)
    assert (got.min_replicas, got.max_replicas, got.target_queue_depth) == (2, 9, 500)
    assert (got.scale_up_window, got.scale_down_window, got.fallback_replicas) == (7.0, 90.0, 3)


# -- the raw recommendation


def test_starved_without_rates_doubles():
    assert recommend(policy(), 3, QueueObservation(depth=0)) == (6, "Starved")


def test_starved_from_zero_starts_one_daemon():
    assert recommend(policy(min_replicas=0), 0, QueueObservation(depth=0)) == (1, "Starved")


def test_piled_up_without_rates_steps_down_by_one():
    assert recommend(policy(), 5, QueueObservation(depth=5000)) == (4, "PiledUp")


def test_within_tolerance_is_at_target():
    assert recommend(policy(), 4, QueueObservation(depth=1050)) == (4, "AtTarget")
    assert recommend(policy(), 4, QueueObservation(depth=950)) == (4, "AtTarget")


def test_starved_sized_from_rates():
    # 4 daemons produce 40/s (10 each); the learner consumes 100/s and the queue is 600 short:
    # 100 + 600/60 = 110/s needed -> 11 daemons, capped at doubling (8).
    got = recommend(
        policy(max_replicas=20), 4, QueueObservation(depth=400, production_rate=40.0, consumption_rate=100.0)
    )
    assert got == (8, "Starved")


def test_starved_sizing_never_recommends_fewer():
    # Production already exceeds consumption (the queue is refilling): still at least one more.
    got = recommend(policy(), 4, QueueObservation(depth=100, production_rate=400.0, consumption_rate=10.0))
    assert got == (5, "Starved")


def test_piled_up_sized_from_rates_can_drop_to_minimum():
    # The learner consumes nothing and 9000 entries wait: no daemon is needed beyond the minimum.
    got = recommend(
        policy(min_replicas=2), 8, QueueObservation(depth=10_000, production_rate=80.0, consumption_rate=0.0)
    )
    assert got == (2, "PiledUp")


def test_piled_up_sized_from_rates_keeps_what_consumption_needs():
    # 10/s per daemon; the learner eats 60/s; 1200 too many over 60 s -> 60 - 20 = 40/s -> 4 daemons.
    got = recommend(policy(), 8, QueueObservation(depth=2200, production_rate=80.0, consumption_rate=60.0))
    assert got == (4, "PiledUp")


def test_recommendation_within_bounds():
    assert recommend(policy(max_replicas=5), 4, QueueObservation(depth=0)) == (5, "Starved")
    assert recommend(policy(min_replicas=3), 3, QueueObservation(depth=99_999)) == (3, "PiledUp")


# -- decisions and stabilisation


def test_scale_up_is_immediate_with_zero_window_and_event_message_has_numbers():
    # 10/s per daemon; 30/s consumed + 990 missing over 60 s = 46.5/s -> 5 daemons.
    d = decide(
        policy(),
        2,
        QueueObservation(depth=10, production_rate=20.0, consumption_rate=30.0),
        ScalingState(),
        0.0,
    )
    assert d.replicas == 5 and d.reason == "Starved"
    assert d.message.startswith("daemons 2 -> 5: learner starved")
    for number in ("queue depth 10", "target 1000", "production 20.0/s", "consumption 30.0/s", "[1, 10]"):
        assert number in d.message


def test_scale_up_waits_for_its_window():
    p = policy(scale_up_window=10.0)
    state = ScalingState()
    d = decide(p, 2, QueueObservation(depth=1000), state, 0.0)  # at target: recommends 2
    assert d.replicas == 2
    d = decide(p, 2, QueueObservation(depth=0), d.state, 5.0)  # starved, but 2 is still in the window
    assert d.replicas == 2 and d.recommended == 4
    d = decide(p, 2, QueueObservation(depth=0), d.state, 10.5)  # the at-target recommendation aged out
    assert d.replicas == 4


def test_scale_down_waits_for_its_window_and_takes_the_highest_recommendation():
    p = policy(scale_down_window=60.0)
    state = ScalingState()
    d = decide(p, 8, QueueObservation(depth=1000), state, 0.0)  # at target: 8
    d = decide(p, 8, QueueObservation(depth=50_000), d.state, 10.0)  # piled up: 7
    assert d.replicas == 8
    d = decide(p, 8, QueueObservation(depth=50_000), d.state, 30.0)
    assert d.replicas == 8
    d = decide(p, 8, QueueObservation(depth=50_000), d.state, 61.0)  # the 8 aged out; highest left is 7
    assert d.replicas == 7
    assert d.message.startswith("daemons 8 -> 7: rollouts piling up")


def test_a_forgotten_history_does_not_scale_down_at_once():
    """An operator restarted (or a peer taking over) starts with no history: a piled-up queue on
    its first look waits the whole scale-down window, as it would have without the restart."""
    p = policy(scale_down_window=60.0)
    d = decide(p, 8, QueueObservation(depth=50_000), ScalingState(), 1000.0)
    assert (d.replicas, d.recommended) == (8, 7)
    d = decide(p, 8, QueueObservation(depth=50_000), d.state, 1059.0)
    assert d.replicas == 8
    d = decide(p, 8, QueueObservation(depth=50_000), d.state, 1061.0)
    assert d.replicas == 7


def test_bounds_apply_at_once_when_they_change():
    d = decide(policy(max_replicas=3), 8, QueueObservation(depth=1000), ScalingState(), 0.0)
    assert d.replicas == 3
    d = decide(policy(min_replicas=4), 1, QueueObservation(depth=1000), ScalingState(), 0.0)
    assert d.replicas == 4


def test_unchanged_decision_says_so():
    d = decide(policy(), 5, QueueObservation(depth=1000), ScalingState(), 0.0)
    assert d.replicas == 5 and d.message.startswith("daemons stay at 5: queue at target")


def test_redis_unavailable_holds_the_current_size():
    state = decide(policy(), 5, QueueObservation(depth=0), ScalingState(), 0.0).state
    d = decide(policy(), 5, None, state, 1.0)
    assert d.replicas == 5 and d.reason == "RedisUnavailable"
    assert d.state == state  # an outage adds nothing to the history
    assert "Redis cannot be read" in d.message


def test_redis_unavailable_uses_the_fallback_when_configured():
    d = decide(policy(fallback_replicas=3), 6, None, ScalingState(), 0.0)
    assert d.replicas == 3 and d.message.startswith("daemons 6 -> 3")
    assert "fallbackReplicas" in d.message


def test_history_is_pruned_to_the_longest_window():
    p = policy(scale_up_window=5.0, scale_down_window=20.0)
    state = ScalingState()
    for t in range(100):
        state = decide(p, 4, QueueObservation(depth=1000), state, float(t)).state
    assert all(99 - r.at <= 20 for r in state.history)
    assert len(state.history) == 21


def test_noisy_queue_around_target_does_not_flap():
    rng = random.Random(7)
    p = policy(scale_up_window=15.0, scale_down_window=120.0)
    replicas, state, changes = 5, ScalingState(), 0
    for t in range(0, 1200, 5):
        depth = int(1000 * rng.uniform(0.5, 1.5))  # +-50% around the target, every 5 s
        d = decide(p, replicas, QueueObservation(depth=depth), state, float(t))
        changes += d.replicas != replicas
        replicas, state = d.replicas, d.state
    # Scale-ups need 15 s of agreeing samples, scale-downs 120 s: noise cannot move the pool much.
    assert changes <= 2, changes


def test_sustained_starvation_then_pile_up_scales_up_fast_and_down_slowly():
    p = policy(scale_up_window=10.0, scale_down_window=60.0, max_replicas=16)
    replicas, state, history = 2, ScalingState(), []
    for t in range(0, 300, 5):
        depth = 0 if t < 100 else 20_000
        d = decide(p, replicas, QueueObservation(depth=depth), state, float(t))
        replicas, state = d.replicas, d.state
        history.append((t, replicas))
    peak_time = next(t for t, r in history if r == 16)
    assert peak_time <= 60
    # After the queue piles up at t=100 nothing goes down before the 60 s window has passed.
    assert all(r == 16 for t, r in history if 100 <= t < 160)
    assert history[-1][1] < 16


@settings(max_examples=200, deadline=None)
@given(
    depths=st.lists(st.integers(min_value=0, max_value=5000), min_size=1, max_size=60),
    up=st.sampled_from([0.0, 10.0, 30.0]),
    down=st.sampled_from([0.0, 30.0, 120.0]),
)
def test_decisions_respect_bounds_and_windows(depths, up, down):
    p = policy(min_replicas=2, max_replicas=12, scale_up_window=up, scale_down_window=down)
    replicas, state = 5, ScalingState()
    recommendations: list[tuple[float, int]] = []
    for i, depth in enumerate(depths):
        now = i * 5.0
        d = decide(p, replicas, QueueObservation(depth=depth), state, now)
        recommendations.append((now, d.recommended))
        assert p.min_replicas <= d.replicas <= p.max_replicas
        if d.replicas > replicas:  # every recommendation within the scale-up window agreed
            assert all(r >= d.replicas for t, r in recommendations if now - t <= up)
        if d.replicas < replicas:  # none within the scale-down window asked for more
            assert all(r <= d.replicas for t, r in recommendations if now - t <= down)
        replicas, state = d.replicas, d.state


def test_default_policy_scales_up_on_the_first_starved_sample():
    """With the spec's defaults the pool reacts to a starved learner within one poll (5 s), as the
    HPA's default scale-up does; only scale-downs are stabilised."""
    defaults = Autoscaling()
    p = AutoscalePolicy.from_spec(defaults)
    state, at_target = ScalingState(), QueueObservation(depth=defaults.target_queue_depth)
    for i in range(20):
        decision = decide(p, 2, at_target, state, now=i * defaults.poll_interval_seconds)
        state = decision.state
        assert decision.replicas == 2
    starved = decide(p, 2, QueueObservation(depth=0), state, now=20 * defaults.poll_interval_seconds)
    assert (starved.replicas, starved.reason) == (4, "Starved")
    assert defaults.poll_interval_seconds < 10
