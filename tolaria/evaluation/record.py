"""The evaluator's record of a run, kept in the checkpoint store as well as in Redis.

Redis holds the record the operator and the summary read (the `...:eval` hash: the headline and
one report per evaluated version, the learning curve; the `...:elo` hash: the ratings; the
`...:elo:games` hash: the games between each pair of players that the ratings are fitted from).
Redis may lose it (a managed Redis pod lost with its volume, an external one flushed), so after
each evaluation the evaluator also writes the three hashes, whole, as one JSON document beside the
run's checkpoints; an evaluator that finds the record gone from Redis puts it back from there, and
the next fit, over the restored games, gives the ratings it would have given without the loss.

While the store cannot be read the evaluator does not evaluate: an evaluation would write a new,
short record over the stored one, which may be the only copy left.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from tolaria.keys import RunKeys
from tolaria.trainer.checkpoint import CheckpointStore

DOCUMENT = "evaluation.json"


class RecordUnavailable(ConnectionError):
    """The store holding the record cannot be reached now; worth trying again later."""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True)
class EvaluationRecord:
    store: CheckpointStore

    async def save(self, redis_client: aioredis.Redis, keys: RunKeys) -> None:
        """Copy the run's record from Redis to the store (after an evaluation wrote it)."""
        async with redis_client.pipeline(transaction=True) as pipe:
            pipe.hgetall(keys.eval)
            pipe.hgetall(keys.elo)
            pipe.hgetall(keys.elo_games)
            evaluation, elo, games = await pipe.execute()
        document = {
            "eval": {_text(k): _text(v) for k, v in evaluation.items()},
            "elo": {_text(k): _text(v) for k, v in elo.items()},
            "elo_games": {_text(k): _text(v) for k, v in games.items()},
        }
        await asyncio.to_thread(self.store.write_document, DOCUMENT, document)

    async def restore(self, redis_client: aioredis.Redis, keys: RunKeys) -> int:
        """Put the stored record back when Redis has none; the number of evaluations restored."""
        if await redis_client.exists(keys.eval):
            return 0
        try:
            document: dict[str, Any] | None = await asyncio.to_thread(self.store.read_document, DOCUMENT)
        except self.store.transient_errors as e:
            raise RecordUnavailable(f"the evaluation record in {self.store.uri} cannot be read: {e}") from e
        if not document or not document.get("eval"):
            return 0
        async with redis_client.pipeline(transaction=True) as pipe:
            # Only where still absent: an evaluation that raced this restore keeps its own writes.
            for field, value in document["eval"].items():
                pipe.hsetnx(keys.eval, field, value)
            for field, value in (document.get("elo") or {}).items():
                pipe.hsetnx(keys.elo, field, value)
            # a record from before the Bradley-Terry ratings has none: the fit starts afresh
            for field, value in (document.get("elo_games") or {}).items():
                pipe.hsetnx(keys.elo_games, field, value)
            await pipe.execute()
        return sum(1 for field in document["eval"] if field.startswith("v") and field[1:].isdigit())
