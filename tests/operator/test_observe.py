"""Reading a run's Redis: queue depth and rates (unit), and against a real redis-server."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime

import pytest
import redis

from tolaria.keys import LEARNER_GROUP, RunKeys, redacted
from tolaria.operator.observe import (
    RedisSample,
    RedisUnavailable,
    RunRedis,
    parse_sample,
    queue_observation,
    rate,
)


def test_depth_without_a_group_is_the_stream_length():
    assert RedisSample(at=0, stream_length=40).queue_depth == 40


def test_depth_is_lag_plus_pending():
    assert (
        RedisSample(at=0, stream_length=40, group_exists=True, group_lag=10, group_pending=3).queue_depth
        == 13
    )


def test_depth_falls_back_to_length_when_redis_cannot_tell_the_lag():
    assert (
        RedisSample(at=0, stream_length=40, group_exists=True, group_lag=None, group_pending=3).queue_depth
        == 40
    )


def test_rates_from_monotonic_counters():
    before = RedisSample(at=10.0, entries_added=100, group_exists=True, group_entries_read=50)
    after = RedisSample(at=12.0, entries_added=140, group_exists=True, group_entries_read=80, group_lag=60)
    got = queue_observation(before, after)
    assert (got.depth, got.production_rate, got.consumption_rate) == (60, 20.0, 15.0)


def test_entries_the_learner_dropped_as_stale_are_not_consumption():
    """The learner read 30 entries in 2 s and dropped 20 of them unused (stale): 5/s consumed."""
    before = RedisSample(
        at=10.0, entries_added=100, group_exists=True, group_entries_read=50, dropped_by_learner=7
    )
    after = RedisSample(
        at=12.0,
        entries_added=140,
        group_exists=True,
        group_entries_read=80,
        group_lag=60,
        dropped_by_learner=27,
    )
    assert queue_observation(before, after).consumption_rate == 5.0
    # counters that appear, or go back (a learner resumed from an older checkpoint): unknown
    assert queue_observation(replace(before, dropped_by_learner=None), after).consumption_rate is None
    assert queue_observation(replace(before, dropped_by_learner=40), after).consumption_rate is None
    stats = {b"learner_stale_segments": b"20", b"learner_corrupt_entries": b"3", b"games": b"1"}
    assert parse_sample(0.0, None, [], stats, None, {}).dropped_by_learner == 23
    assert parse_sample(0.0, None, [], {b"games": b"1"}, None, {}).dropped_by_learner is None


def test_first_sample_has_no_rates():
    got = queue_observation(None, RedisSample(at=1.0, stream_length=5))
    assert (got.depth, got.production_rate, got.consumption_rate) == (5, None, None)


def test_consumption_is_zero_before_the_learner_exists():
    got = queue_observation(RedisSample(at=0.0, entries_added=0), RedisSample(at=1.0, entries_added=10))
    assert (got.production_rate, got.consumption_rate) == (10.0, 0.0)


def test_rate_is_unknown_for_resets_and_missing_counters():
    assert rate(10, 5, 1.0) is None  # the stream was recreated
    assert rate(None, 5, 1.0) is None
    assert rate(1, 5, 0.0) is None


def test_redacted_urls_lose_their_password():
    assert redacted("redis://:s3cret@redis.ns.svc:6379/0") == "redis://redis.ns.svc:6379/0"
    assert redacted("rediss://user:pw@h/2") == "rediss://h/2"


def test_parse_sample_from_raw_replies():
    got = parse_sample(
        at=5.0,
        stream_info={"length": 12, "entries-added": 30},
        groups=[
            {"name": b"other", "lag": 99},
            {"name": b"learners", "lag": 4, "pending": 2, "entries-read": 26},
        ],
        stats={
            b"games": b"321",
            b"checkpoint_uri": b"file:///ck/9",
            b"checkpoint_time": b"1795000000",
            b"win_rate:heuristic": b"0.75",
            b"win_rate:random": b"nan",
            b"win_rate:bad": b"1.5",
        },
        policy_version=b"9",
        evaluation={
            b"policy_version": b"5",
            b"baseline": b"heuristic",
            b"winrate": b"0.6254",
            b"elo": b"1400.4",
            b"v5": b"{}",
        },
    )
    assert got.queue_depth == 6 and got.entries_added == 30 and got.group_entries_read == 26
    assert got.games == 321 and got.policy_version == 9
    # the headline describes the last evaluated version, not the newest one
    assert (got.evaluated_version, got.baseline, got.win_rate) == (5, "heuristic", 0.6254)
    assert got.elo == pytest.approx(1400.4)
    assert got.win_rates == {"heuristic": 0.75}
    assert got.checkpoint_uri == "file:///ck/9"
    assert got.checkpoint_time == datetime.fromtimestamp(1795000000, UTC)


def test_parse_sample_refuses_a_win_rate_outside_0_1():
    got = parse_sample(0.0, None, [], {}, None, {b"winrate": b"1.2", b"elo": b"inf", b"baseline": b"random"})
    assert got.win_rate is None and got.elo is None


def test_parse_sample_of_an_empty_redis():
    got = parse_sample(at=0.0, stream_info=None, groups=[], stats={}, policy_version=None, evaluation={})
    assert got.queue_depth == 0 and got.games is None and got.policy_version is None and got.elo is None
    assert got.win_rate is None and got.evaluated_version is None


# -- a real redis-server


@pytest.mark.integration
def test_sample_real_redis(redis_server):
    keys = RunKeys("team", "r1")
    r = redis.Redis.from_url(redis_server.url)
    for i in range(10):
        r.xadd(keys.rollouts, {"i": i})
    r.xgroup_create(keys.rollouts, LEARNER_GROUP, id="0")
    r.xreadgroup(LEARNER_GROUP, "learner-0", {keys.rollouts: ">"}, count=4)  # 4 delivered
    ids = [entry["message_id"] for entry in r.xpending_range(keys.rollouts, LEARNER_GROUP, "-", "+", 10)]
    r.xack(keys.rollouts, LEARNER_GROUP, *ids[:3])  # 3 consumed, 1 pending
    r.hset(keys.stats, mapping={"games": 77})
    r.set(keys.policy_version, 5)
    r.hset(keys.eval, mapping={"policy_version": 4, "elo": 1250})

    async def read() -> RedisSample:
        client = RunRedis(redis_server.url, None, keys)
        try:
            return await client.sample(1.0)
        finally:
            await client.close()

    got = asyncio.run(read())
    assert got.queue_depth == 7  # 6 never delivered + 1 pending
    assert (got.entries_added, got.group_entries_read) == (10, 4)
    assert (got.games, got.policy_version, got.evaluated_version, got.elo) == (77, 5, 4, 1250.0)


@pytest.mark.integration
def test_what_the_evaluator_and_learner_write_is_what_the_operator_reads(redis_server, tmp_path):
    """The Redis contract end to end: the evaluator's and learner's own writers, the operator's reader."""
    from tolaria.evaluation.elo import GameCounts
    from tolaria.evaluation.evaluator import EvaluationSettings, Evaluator
    from tolaria.protocol.daemon_clients import DaemonClients
    from tolaria.trainer.checkpoint import Checkpoint, open_store
    from tolaria.trainer.config import LearnerConfig, NetworkConfig, TrainerConfig
    from tolaria.trainer.learner import Learner
    from tolaria.trainer.policy import PolicyNetwork

    keys = RunKeys("team", "contract")
    settings = EvaluationSettings(games=2, baselines=("random", "heuristic"), pairings=(("a", "b"),))
    report = {
        "policy_version": 7,
        "evaluated_at": 1795000000.0,
        "baselines": {
            "random": {"win_rate": 0.9, "ci_low": 0.8, "ci_high": 0.95, "games": 200},
            "heuristic": {"win_rate": 0.62349, "ci_low": 0.55, "ci_high": 0.7, "games": 200},
        },
    }

    async def evaluate_and_read() -> RedisSample:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(redis_server.url)
        evaluator = Evaluator(settings, client, keys, DaemonClients([], "tolaria-evaluator"))
        await evaluator._write(report, {"v7": 1312.6, "random": 1000.0}, GameCounts(), None)
        await client.aclose()
        reader = RunRedis(redis_server.url, None, keys)
        try:
            return await reader.sample(1.0)
        finally:
            await reader.close()

    r = redis.Redis.from_url(redis_server.url)
    store = open_store(f"file://{tmp_path}/ckpt")
    config = TrainerConfig(
        network=NetworkConfig.from_preset("small", d_model=16, ff_dim=32),
        learner=LearnerConfig(device="cpu", threads=1),
    )
    # a learner checkpoints trained weights only: this one resumes from an earlier one's
    store.save(Checkpoint(3, 4, {}, config.to_dict(), PolicyNetwork(config.network).state_dict()))
    learner = Learner(config, r, keys, store)
    assert learner.start()
    name = learner.checkpoint()
    r.set(keys.policy_version, 9)

    got = asyncio.run(evaluate_and_read())
    assert (got.policy_version, got.evaluated_version) == (9, 7)
    assert (got.baseline, got.win_rate, got.elo) == ("heuristic", 0.62349, 1312.6)
    assert got.win_rates == {"random": 0.9, "heuristic": 0.62349}
    assert got.checkpoint_uri == f"file://{tmp_path}/ckpt/{name}"
    assert got.checkpoint_time is not None
    assert abs(got.checkpoint_time.timestamp() - time.time()) < 60


@pytest.mark.integration
def test_sample_of_a_run_that_has_produced_nothing(redis_server):
    async def read() -> RedisSample:
        client = RunRedis(redis_server.url, None, RunKeys("team", "fresh"))
        try:
            return await client.sample(1.0)
        finally:
            await client.close()

    got = asyncio.run(read())
    assert got.queue_depth == 0 and not got.group_exists


@pytest.mark.integration
def test_unreachable_redis_raises_without_the_password(redis_server):
    url = f"redis://:hunter2@127.0.0.1:{redis_server.port}/0"
    redis_server.stop()

    async def read() -> None:
        client = RunRedis(url, "hunter2", RunKeys("team", "r1"), timeout=0.5)
        try:
            await client.sample(1.0)
        finally:
            await client.close()

    with pytest.raises(RedisUnavailable) as caught:
        asyncio.run(read())
    assert "hunter2" not in str(caught.value)
    assert f"127.0.0.1:{redis_server.port}" in str(caught.value)
