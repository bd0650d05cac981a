"""The operator notices that a run's Redis lost its state, against a real redis-server: by the
mark it keeps in every Redis it reads, however many games the actors counted into the empty
Redis before the operator read it again; after an operator restart (no mark seen yet) by the
games counter falling below the status's. The count goes back once, never twice."""

from __future__ import annotations

import asyncio

import pytest
import redis

from tolaria.keys import RunKeys, StatsField
from tolaria.operator.metrics import OperatorMetrics
from tolaria.operator.observe import RedisSample, RunRedis, state_lost
from tolaria.operator.reconcile import RunLoop
from tolaria.spec import load_trainingrun


def make_run(games_played: int | None):
    document = {
        "apiVersion": "tolaria.dev/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {"name": "lost", "namespace": "team", "uid": "u", "generation": 1},
        "spec": {"decks": ["a", "b"]},
    }
    if games_played is not None:
        document["status"] = {"gamesPlayed": games_played}
    return load_trainingrun(document)


@pytest.mark.parametrize(
    ("games", "marked", "recorded", "marked_before", "lost"),
    [
        (0, False, None, False, False),  # a new run: nothing recorded, nothing to lose
        (900, True, 700, True, False),  # the mark is there: the state too
        (900, False, 700, True, True),  # the mark is gone: lost, though the counter is past the status
        (5, False, 700, False, True),  # no mark seen yet (operator restarted): the counter fell
        (800, False, 700, False, False),  # no mark seen yet, the counter grew: a run from before marks
    ],
)
def test_state_lost(games, marked, recorded, marked_before, lost):
    sample = RedisSample(at=0.0, games=games, marked=marked)
    assert (state_lost(sample, recorded, marked_before) is not None) is lost


def test_a_loss_seen_late_is_still_a_loss_and_the_count_goes_back_once(redis_server):
    keys = RunKeys("team", "lost")
    plain = redis.Redis.from_url(redis_server.url, decode_responses=True)
    events: list[tuple[str, str, str]] = []

    def new_loop() -> RunLoop:  # an operator process
        return RunLoop(
            None, "team", "lost", dict, dict, OperatorMetrics(), lambda _body, *e: events.append(e)
        )

    async def restore(loop: RunLoop, client: RunRedis, games_played: int | None) -> RedisSample:
        return await loop._restore_lost_games(make_run(games_played), client, await client.sample(0.0))

    async def scenario():
        client = RunRedis(redis_server.url, None, keys)
        try:
            loop = new_loop()
            plain.hset(keys.stats, StatsField.GAMES, 700)
            sample = await restore(loop, client, 690)
            assert sample.games == 700 and plain.hget(keys.stats, StatsField.OPERATOR_MARK) == "1"
            assert not events

            # Redis restarts empty and the actors count 900 games into it before the operator
            # reads it again: more than the status's 700, and still a loss.
            plain.flushall()
            plain.hset(keys.stats, StatsField.GAMES, 900)
            sample = await restore(loop, client, 700)
            assert sample.games == 1600 and int(plain.hget(keys.stats, StatsField.GAMES)) == 1600
            assert events[-1][:2] == ("Warning", "RedisStateLost")
            assert "the operator's mark in it is gone, and it counted 900 games since" in events[-1][2]
            assert "restored to 1600" in events[-1][2]
            # the next reading finds the mark: nothing is put back twice
            assert (await restore(loop, client, 1600)).games == 1600 and len(events) == 1

            # A restarted operator has no mark to go by until it wrote one: the counter decides.
            plain.flushall()
            plain.hset(keys.stats, StatsField.GAMES, 5)
            sample = await restore(new_loop(), client, 1600)
            assert sample.games == 1605 and "it counted 5 games, fewer than the 1600" in events[-1][2]

            # A run from before the mark: no loss, the mark is written.
            plain.hdel(keys.stats, StatsField.OPERATOR_MARK)
            sample = await restore(new_loop(), client, 1600)
            assert sample.games == 1605 and len(events) == 2
            assert plain.hget(keys.stats, StatsField.OPERATOR_MARK) == "1"
        finally:
            await client.close()

    asyncio.run(scenario())
