"""The evaluation record survives Redis losing it (real redis-server, real MinIO)."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from tolaria.evaluation.record import EvaluationRecord
from tolaria.keys import EvalField, RunKeys
from tolaria.trainer.checkpoint import open_store

pytestmark = pytest.mark.integration
KEYS = RunKeys("team", "r1")


async def _hashes(client: aioredis.Redis) -> tuple[dict, dict, dict]:
    return (
        await client.hgetall(KEYS.eval),
        await client.hgetall(KEYS.elo),
        await client.hgetall(KEYS.elo_games),
    )


def test_a_wiped_redis_gets_the_record_back(redis_server, s3_server):
    record = EvaluationRecord(open_store("s3://tolaria/runs/r1", endpoint_url=s3_server.endpoint))

    async def scenario() -> None:
        client = aioredis.Redis.from_url(redis_server.url)
        try:
            await client.hset(
                KEYS.eval,
                mapping={
                    EvalField.POLICY_VERSION: 40,
                    EvalField.report(20): '{"a":1}',
                    EvalField.report(40): "{}",
                },
            )
            await client.hset(KEYS.elo, mapping={"v20": 1100.5, "v40": 1180.25, "random": 1000})
            await client.hset(KEYS.elo_games, mapping={"random:v20:losses": 150, "v20:v40:draws": 3})
            await record.save(client, KEYS)
            before = await _hashes(client)
            assert await record.restore(client, KEYS) == 0  # nothing lost: nothing written

            await client.flushall()
            assert await record.restore(client, KEYS) == 2
            assert await _hashes(client) == before
            assert before[2] == {b"random:v20:losses": b"150", b"v20:v40:draws": b"3"}

            # An evaluation that wrote before the restore keeps its own fields.
            await client.flushall()
            await client.hset(KEYS.elo, "v40", 1200)
            await record.restore(client, KEYS)
            assert float(await client.hget(KEYS.elo, "v40")) == 1200
        finally:
            await client.aclose()

    asyncio.run(scenario())


def test_a_fresh_run_has_nothing_to_restore(redis_server, tmp_path):
    record = EvaluationRecord(open_store(f"file://{tmp_path}/ckpt"))

    async def scenario() -> int:
        client = aioredis.Redis.from_url(redis_server.url)
        try:
            return await record.restore(client, KEYS)
        finally:
            await client.aclose()

    assert asyncio.run(scenario()) == 0
