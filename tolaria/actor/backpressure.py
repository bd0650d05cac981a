"""Back-pressure: actors slow down when the learner falls behind, instead of filling Redis.

The gate reads the rollout queue every `interval` seconds: its depth (entries the learners'
group has not acknowledged: the group's lag plus its pending entries, as the operator counts
them; every entry of the stream before the group exists) and its bytes (`MEMORY USAGE` of the
stream, which the learner keeps to the unconsumed entries by trimming what it acknowledged).
While either is at its cap (`spec.redis.maxQueueDepth`, `maxQueueBytes`) the gate is shut: the
shipper holds its segments (in its own bounded buffer) and the workers start no new games; the
games in flight play on. It opens again below 90% of both caps, so that it does not flap at the
edge. A gate that cannot read Redis stays as it was: the shipper's own retry handles an outage.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from tolaria.actor.shipper import REDIS_FAILURES
from tolaria.keys import LEARNER_GROUP, RunKeys

log = logging.getLogger(__name__)

REOPEN_FRACTION = 0.9


class QueueGate:
    def __init__(
        self,
        client: aioredis.Redis,
        keys: RunKeys,
        max_depth: int,
        max_bytes: int,
        interval: float = 0.5,
        on_reading: Callable[[int, int, bool], None] | None = None,
    ):
        if max_depth < 1 or max_bytes < 1:
            raise ValueError(f"queue caps must be >= 1, got depth {max_depth} and bytes {max_bytes}")
        self.client = client
        self.keys = keys
        self.max_depth = max_depth
        self.max_bytes = max_bytes
        self.interval = interval
        self.on_reading = on_reading or (lambda _depth, _bytes, _open: None)
        self.room = asyncio.Event()
        self.room.set()
        self.depth = 0
        self.bytes = 0
        self.shut_seconds = 0.0  # time spent shut, for metrics

    @property
    def open(self) -> bool:
        return self.room.is_set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                await self.read()
            except REDIS_FAILURES as e:
                log.debug("queue gate: redis unreachable: %s", e)
            await asyncio.sleep(self.interval)
            if not self.open:
                self.shut_seconds += loop.time() - started

    async def read(self) -> None:
        """One reading of the queue, opening or shutting the gate."""
        pipe = self.client.pipeline(transaction=False)
        pipe.xlen(self.keys.rollouts)
        pipe.xinfo_groups(self.keys.rollouts)
        pipe.memory_usage(self.keys.rollouts)
        length, groups, memory = await pipe.execute(raise_on_error=False)
        if isinstance(length, Exception):
            raise length
        self.depth = queue_depth(int(length), groups)
        self.bytes = 0 if isinstance(memory, Exception) or memory is None else int(memory)
        full = self.depth >= self.max_depth or self.bytes >= self.max_bytes
        low = self.depth < REOPEN_FRACTION * self.max_depth and self.bytes < REOPEN_FRACTION * self.max_bytes
        if self.open and full:
            self.room.clear()
            log.info(
                "rollout queue full (%d entries of %d, %d bytes of %d): holding rollouts, no new games",
                self.depth,
                self.max_depth,
                self.bytes,
                self.max_bytes,
            )
        elif not self.open and low:
            self.room.set()
            log.info("rollout queue has room again (%d entries, %d bytes)", self.depth, self.bytes)
        self.on_reading(self.depth, self.bytes, self.open)


def queue_depth(stream_length: int, groups: Any) -> int:
    """Entries the learners' group has not acknowledged (all of them before it exists)."""
    if isinstance(groups, ResponseError | Exception) or not groups:
        return stream_length
    for group in groups:
        name = group.get("name") if isinstance(group, dict) else None
        if name in (LEARNER_GROUP, LEARNER_GROUP.encode()):
            lag = group.get("lag")
            # Redis cannot tell the lag (entries deleted mid-stream): every entry may be waiting
            return stream_length if lag is None else int(lag) + int(group.get("pending") or 0)
    return stream_length
