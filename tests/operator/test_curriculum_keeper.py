"""The operator as the curriculum's keeper, against a real redis-server: it begins the first
stage, moves on when a stage's `until` is met, and puts the stage back when Redis lost it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import redis

from tolaria.keys import RunKeys, StatsField
from tolaria.operator.metrics import OperatorMetrics
from tolaria.operator.observe import RunRedis
from tolaria.operator.reconcile import RunLoop
from tolaria.operator.status import LearnerObservation, Observation, Outcome, build_status
from tolaria.spec import load_trainingrun

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CURRICULUM = {
    "stages": [
        {"name": "mirrors", "until": {"games": 100}},
        {"name": "aggro", "until": {"winRate": 0.6, "baseline": "heuristic"}},
        {"name": "whole-pool"},
    ]
}


def make_run(status=None):
    document = {
        "apiVersion": "tolaria.dev/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {"name": "cur", "namespace": "team", "uid": "u", "generation": 1},
        "spec": {"decks": ["a", "b"], "curriculum": CURRICULUM},
    }
    if status is not None:
        document["status"] = status
    return load_trainingrun(document)


def test_the_operator_keeps_the_stage_in_redis_and_in_status(redis_server):
    keys = RunKeys("team", "cur")
    plain = redis.Redis.from_url(redis_server.url, decode_responses=True)
    events: list[tuple[str, str, str]] = []
    loop = RunLoop(None, "team", "cur", dict, dict, OperatorMetrics(), lambda _body, *e: events.append(e))

    def stage_in_redis():
        stats = plain.hgetall(keys.stats)
        return stats.get(StatsField.CURRICULUM_STAGE), stats.get(StatsField.CURRICULUM_STAGE_GAMES)

    def status_after(run, sample):
        observation = Observation(2, 2, 2, 2, LearnerObservation(), sample)
        return build_status(run, observation, Outcome(), NOW)

    async def scenario():
        client = RunRedis(redis_server.url, None, keys)
        try:
            run = make_run()

            async def keep():
                sample = await client.sample(0.0)
                return await loop._keep_curriculum(run, client, sample)

            # the first stage begins with the run
            sample = await keep()
            assert stage_in_redis() == ("0", "0") and sample.stage == 0
            status = status_after(run, sample)
            assert status.stage == "mirrors(1/3)" and status.curriculum.stage == 0

            plain.hset(keys.stats, StatsField.GAMES, 99)
            assert (await keep()).stage == 0
            plain.hset(keys.stats, StatsField.GAMES, 130)
            sample = await keep()
            assert stage_in_redis() == ("1", "130") and sample.stage == 1
            assert events[-1][:2] == ("Normal", "CurriculumStage")
            assert "mirrors ended: 130 games played" in events[-1][2]
            status = status_after(run, sample)
            assert status.stage == "aggro(2/3)"
            assert (status.curriculum.stage, status.curriculum.stage_start_games) == (1, 130)

            # a win rate measured on the previous stage does not end this one; one on this stage does
            plain.hset(keys.stats, mapping={"win_rate:heuristic": 0.8, StatsField.EVAL_STAGE: 0})
            run = make_run(status.to_wire())
            assert (await keep()).stage == 1
            plain.hset(keys.stats, StatsField.EVAL_STAGE, 1)
            sample = await keep()
            assert stage_in_redis() == ("2", "130") and sample.stage == 2
            status = status_after(run, sample)
            assert status.stage == "whole-pool(3/3)"

            # Redis loses the run's state: the status puts the stage back
            run = make_run(status.to_wire())
            plain.flushall()
            sample = await keep()
            assert stage_in_redis() == ("2", "130") and sample.stage == 2
            assert events[-1][:2] == ("Warning", "RedisStateLost")
            assert "stage 2 is restored" in events[-1][2]
        finally:
            await client.close()

    asyncio.run(scenario())
