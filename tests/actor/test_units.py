"""Unit tests: segment assembly, the shipper's bounded buffer, the daemon pool."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np
import pytest
import redis.asyncio as aioredis
from conftest import free_port

from tests.actor.conftest import NETWORK
from tolaria.actor.shipper import RolloutShipper
from tolaria.actor.trajectory import Trajectory, outcome_reward, shaping_potential
from tolaria.inference.backend import StepRecord
from tolaria.keys import RunKeys
from tolaria.rollouts import decode_segment, encode_segment
from tolaria.trainer.encoding import Encoder

ENCODER = Encoder(NETWORK)


def record(step: int, version: int = 5) -> StepRecord:
    observation = {name: array[0] for name, array in ENCODER.empty(1).items()}
    observation["decision_type"] = np.int32(step % 3)
    action = np.zeros(NETWORK.max_options, np.int32)
    action[0] = step % 2
    return StepRecord(
        observation, action, log_prob=-0.1 * (step % 4), value=step / 100, policy_version=version
    )


def trajectory(steps: int) -> Trajectory:
    t = Trajectory()
    for i in range(steps):
        t.add(record(i, version=5 + i // 4))
    return t


@pytest.mark.parametrize(
    ("winner", "seat", "reward"), [(1, 1, 1.0), (2, 1, -1.0), (None, 2, 0.0), (2, 2, 1.0)]
)
def test_outcome_reward(winner, seat, reward):
    assert outcome_reward(winner, seat) == reward


def test_a_short_game_is_one_done_segment_with_the_outcome_on_its_last_step():
    (segment,) = trajectory(5).segments(-1.0, 64, ENCODER.shape, {"seat": 1})
    assert segment.steps == 5
    assert segment.reward.tolist() == [0, 0, 0, 0, -1]
    assert segment.done.tolist() == [False] * 4 + [True]
    assert segment.bootstrap_value == 0.0
    assert segment.policy_version.tolist() == [5, 5, 5, 5, 6]
    assert segment.meta == {"seat": 1, "segment": 0, "first_step": 0, "game_steps": 5}


def test_a_long_game_is_cut_and_each_cut_bootstraps_from_the_next_value():
    segments = trajectory(10).segments(1.0, 4, ENCODER.shape, {})
    assert [s.steps for s in segments] == [4, 4, 2]
    assert [s.meta["segment"] for s in segments] == [0, 1, 2]
    assert segments[0].bootstrap_value == pytest.approx(0.04)  # value of step 4
    assert segments[1].bootstrap_value == pytest.approx(0.08)
    assert not segments[0].done.any() and not segments[1].done.any() and segments[2].done[-1]
    assert segments[2].reward.tolist() == [0.0, 1.0]
    assert sum(s.reward.sum() for s in segments) == 1.0
    joined = np.concatenate([s.observations["decision_type"] for s in segments])
    assert joined.tolist() == [i % 3 for i in range(10)]


def test_a_long_game_ships_its_segments_while_it_goes_on_exactly_as_cut_at_its_end():
    """Each segment leaves as soon as the step it bootstraps from is recorded; the segments of
    the game are those of the same game cut when it ended, and the actor holds one segment's
    rows at most."""
    potentials = [0.1 * (i % 5) for i in range(11)]
    at_end = Trajectory()
    for i, potential in enumerate(potentials):
        at_end.add(record(i, version=5 + i // 4), potential)
    expected = at_end.segments(1.0, 4, ENCODER.shape, {"seat": 2}, gamma=0.9)

    live, shipped, held = Trajectory(), [], []
    for i, potential in enumerate(potentials):
        live.add(record(i, version=5 + i // 4), potential)
        shipped += live.ready_segments(4, ENCODER.shape, {"seat": 2}, gamma=0.9)
        held.append(live._length)
        assert [s.steps for s in shipped] == [4] * ((i + 1 - 1) // 4)  # step 4 ships steps 0-3, ...
    shipped += live.segments(1.0, 4, ENCODER.shape, {"seat": 2}, gamma=0.9)
    assert max(held) <= 4 and len(live) == 11
    assert len(shipped) == len(expected) == 3
    for got, want in zip(shipped, expected, strict=True):
        assert got.meta == want.meta
        assert got.bootstrap_value == want.bootstrap_value
        for name, array in want.step_arrays().items():
            np.testing.assert_array_equal(getattr(got, name), array, err_msg=name)
        for name, array in want.observations.items():
            np.testing.assert_array_equal(got.observations[name], array, err_msg=name)
    assert [s.meta["first_step"] for s in shipped] == [0, 4, 8] and shipped[-1].meta["game_steps"] == 11
    assert "game_steps" not in shipped[0].meta  # not known while the game went on


def test_segments_round_trip_through_the_codec_as_the_learner_reads_them():
    for segment in trajectory(7).segments(1.0, 3, ENCODER.shape, {"opponent_kind": "self_play"}):
        decoded = decode_segment(encode_segment(segment), ENCODER.dtypes(), ENCODER.shape)
        assert decoded.steps == segment.steps
        assert np.array_equal(decoded.action, segment.action)
        assert np.allclose(decoded.log_prob, segment.log_prob)
        assert decoded.bootstrap_value == pytest.approx(segment.bootstrap_value)
        assert decoded.meta == segment.meta


def _payload(own_life: int, their_life: int, own_cards: int, their_cards: int) -> dict[str, Any]:
    return {
        "player": "Agent(1)-red_aggro",
        "game_state": {
            "players": [
                {"name": "Agent(1)-red_aggro", "life": own_life, "hand_size": own_cards, "battlefield": []},
                {"name": "Agent(2)-white_weenie", "life": their_life, "hand_size": 0,
                 "battlefield": [{"id": i} for i in range(their_cards)]},
            ]
        },
    }  # fmt: skip


def test_shaping_potential_reads_life_and_cards_of_the_deciding_player():
    payload = _payload(own_life=20, their_life=10, own_cards=5, their_cards=2)
    assert shaping_potential(payload, 0.0, 0.0) == 0.0
    assert shaping_potential(payload, 1.0, 0.0) == pytest.approx(0.5)
    assert shaping_potential(payload, 0.0, 0.1) == pytest.approx(0.3)
    assert shaping_potential({"player": "x", "game_state": {"players": []}}, 1.0, 1.0) == 0.0


def test_shaping_is_potential_based_and_the_outcome_stays_on_the_last_step():
    t = Trajectory()
    potentials = [0.2, 0.5, 0.25, 1.0]
    for i, potential in enumerate(potentials):
        t.add(record(i), potential)
    first, second = t.segments(-1.0, 2, ENCODER.shape, {}, gamma=0.9)
    # gamma x next potential - potential; the end of the game has potential 0
    assert first.reward.tolist() == pytest.approx([0.45 - 0.2, 0.225 - 0.5])
    assert second.reward.tolist() == pytest.approx([0.9 - 0.25, -1.0 - 1.0])
    # Undiscounted, the shaping of a game sums to -potential(first step) whatever was played.
    t = Trajectory()
    for i, potential in enumerate(potentials):
        t.add(record(i), potential)
    (whole,) = t.segments(0.0, 64, ENCODER.shape, {}, gamma=1.0)
    assert float(whole.reward.sum()) == pytest.approx(-potentials[0])


def test_no_segment_without_steps_per_segment():
    with pytest.raises(ValueError, match="max_steps"):
        trajectory(3).segments(0.0, 0, ENCODER.shape, {})


def _unreachable_shipper(**kwargs: Any) -> RolloutShipper:
    # a port nothing listens on: every write fails as against a Redis that is down
    client = aioredis.Redis(port=free_port(), socket_connect_timeout=0.5, socket_timeout=0.5)
    return RolloutShipper(client, RunKeys("ns", "run"), stream_max_length=1000, **kwargs)


def test_the_buffer_drops_the_oldest_segments_past_its_bound_and_counts_them():
    events: list[tuple[str, int]] = []
    shipper = _unreachable_shipper(max_buffered_segments=3, on_event=lambda e, n: events.append((e, n)))
    for i in range(5):
        shipper.ship({b"segment": bytes([i]) * 10})
    assert list(shipper.buffer) == [{b"segment": bytes([i]) * 10} for i in (2, 3, 4)]
    assert shipper.dropped == 2 and shipper.buffered_bytes == 30
    assert events == [("dropped", 1), ("dropped", 1)]


def test_the_byte_bound_also_drops_the_oldest():
    shipper = _unreachable_shipper(max_buffered_bytes=25)
    for i in range(4):
        shipper.ship({b"segment": bytes([i]) * 10})
    assert list(shipper.buffer) == [{b"segment": bytes([2]) * 10}, {b"segment": bytes([3]) * 10}]
    assert shipper.dropped == 2


def test_a_failed_write_keeps_segments_and_counters_for_the_retry():
    async def main() -> RolloutShipper:
        shipper = _unreachable_shipper()
        shipper.ship({b"segment": b"data"})
        shipper.count("games", 2)
        assert await shipper.write_once() is False
        assert await shipper.flush(timeout=1.0) is False
        await shipper.client.aclose()
        return shipper

    shipper = asyncio.run(main())
    assert list(shipper.buffer) == [{b"segment": b"data"}] and shipper.stats["games"] == 2
    assert shipper.redis_errors >= 1 and not shipper.connected


def test_the_pool_prefers_the_least_loaded_endpoint_and_backs_off_a_failing_one():
    from tolaria.actor.daemons import DaemonPool

    async def main() -> None:
        pool = DaemonPool([("127.0.0.1", 20001), ("127.0.0.1", 20002)])
        await pool.refresh()
        first = pool.pick()
        assert first is not None
        first.games += 1
        second = pool.pick()
        assert second is not None and second is not first
        pool.failed(second)
        assert pool.pick() is first  # the other one backs off, however idle
        for _ in range(15):  # the rest of its games in flight fail with it
            pool.failed(second)
        assert second.failures == 1 and second.retry_at - time.monotonic() <= 0.5
        pool.failed(first)
        assert pool.pick() is None and pool.seconds_until_ready() <= 0.5
        pool.succeeded(first)
        assert pool.pick() is first
        # a re-resolution without an address: no new games there, closed once its games are over
        pool.endpoints = [("127.0.0.1", 20002)]
        await pool.refresh()
        assert [e.client.port for e in pool.active.values()] == [20002]
        await pool.release(first)
        assert pool._retired == []
        await pool.close()

    asyncio.run(main())


def test_games_are_drawn_from_the_curriculum_stage_read_from_redis(redis_server):
    from collections import Counter

    from tolaria.actor.actor import Actor, ActorSettings
    from tolaria.actor.daemons import DaemonPool
    from tolaria.keys import StatsField
    from tolaria.spec import TrainingRunSpec

    spec = TrainingRunSpec(
        decks=["a", "b", "c"],
        deck_pools={"agent": [{"deck": "a", "weight": 3}, {"deck": "b"}], "mirrors": False},
        curriculum={
            "stages": [
                {
                    "name": "mirror",
                    "matchups": [{"agentDeck": "c", "opponentDeck": "c"}],
                    "until": {"games": 5},
                },
                {"name": "pools"},
            ]
        },
    )
    keys = RunKeys("ns", "draws")

    async def scenario():
        client = aioredis.Redis.from_url(redis_server.url)
        settings = ActorSettings(pairings=spec.pairings(), stage_pairings=spec.stage_pairings(), seed=3)
        actor = Actor(settings, client, keys, DaemonPool([]))
        try:
            await actor._read_stage()  # nothing written yet: the first stage
            first = Counter(
                (p.match.agent_deck, p.match.opponent_deck) for p in (actor._plan() for _ in range(50))
            )
            await client.hset(keys.stats, StatsField.CURRICULUM_STAGE, 1)
            await actor._read_stage()
            second = Counter(
                (p.match.agent_deck, p.match.opponent_deck) for p in (actor._plan() for _ in range(2000))
            )
            await client.hset(keys.stats, StatsField.CURRICULUM_STAGE, 9)  # a shortened curriculum: its last
            await actor._read_stage()
            return first, second, actor.stage
        finally:
            await client.aclose()

    first, second, clamped = asyncio.run(scenario())
    assert first == Counter({("c", "c"): 50})
    # pools a (3) and b (1), no mirrors: a-b and b-a, each weight 3
    assert set(second) == {("a", "b"), ("b", "a")}
    assert abs(second["a", "b"] / 2000 - 0.5) < 0.05
    assert clamped == 1
