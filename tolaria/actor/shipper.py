"""Shipping rollout stream entries and stats counters to the run's Redis, surviving Redis outages.

Entries (`tolaria.rollouts.stream_entry`: an encoded segment and its version) wait in a bounded
in-memory buffer (a count and a byte bound); past either bound the
oldest are dropped and counted, so an actor cut off from Redis keeps playing with bounded memory.
A background task writes the buffer with pipelined `XADD ... MAXLEN ~ <bound>` (the stream bound
keeps Redis memory bounded too) together with the pending HINCRBYs of the stats hash; when Redis
fails the batch stays buffered, the counters are kept, and the task retries with backoff.
While the back-pressure gate (`tolaria.actor.backpressure`) is shut the task writes only the
counters and holds the entries; `flush` at shutdown writes them regardless.

Delivery is at least once: a pipeline that fails after Redis applied part of it is sent again,
so a segment may in rare cases arrive twice (the learner treats entries independently).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Callable
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from tolaria.keys import RunKeys

log = logging.getLogger(__name__)

REDIS_FAILURES = (RedisConnectionError, RedisTimeoutError, OSError)
Entry = dict[bytes, bytes]


class Gate(Protocol):
    room: asyncio.Event


def entry_bytes(entry: Entry) -> int:
    return sum(len(value) for value in entry.values())


class RolloutShipper:
    def __init__(
        self,
        client: aioredis.Redis,
        keys: RunKeys,
        stream_max_length: int,
        max_buffered_segments: int = 10_000,
        max_buffered_bytes: int = 256 * 1024 * 1024,
        entries_per_write: int = 64,
        on_event: Callable[[str, int], None] | None = None,
        gate: Gate | None = None,
    ):
        self.client = client
        self.keys = keys
        self.stream_max_length = stream_max_length
        self.max_buffered_segments = max_buffered_segments
        self.max_buffered_bytes = max_buffered_bytes
        self.entries_per_write = entries_per_write
        # ("shipped" | "shipped_bytes" | "dropped" | "redis_error", amount), for metrics
        self.on_event = on_event or (lambda _event, _amount: None)
        self.gate = gate
        self.buffer: deque[Entry] = deque()
        self.buffered_bytes = 0
        self.stats: Counter[str] = Counter()
        self.shipped = 0
        self.dropped = 0
        self.redis_errors = 0
        self.connected = True
        self._wake = asyncio.Event()
        self._writing = asyncio.Lock()  # `run` and `flush` must never send the same head twice

    def ship(self, entry: Entry) -> None:
        self.buffer.append(entry)
        self.buffered_bytes += entry_bytes(entry)
        while len(self.buffer) > self.max_buffered_segments or (
            self.buffered_bytes > self.max_buffered_bytes and len(self.buffer) > 1
        ):
            oldest = self.buffer.popleft()
            self.buffered_bytes -= entry_bytes(oldest)
            self.dropped += 1
            self.on_event("dropped", 1)
        self._wake.set()

    def count(self, field: str, amount: int = 1) -> None:
        """HINCRBY `field` of the run's stats hash by `amount` with the next write."""
        self.stats[field] += amount
        self._wake.set()

    @property
    def pending(self) -> bool:
        return bool(self.buffer) or any(self.stats.values())

    @property
    def _held_back(self) -> bool:
        return self.gate is not None and not self.gate.room.is_set()

    @property
    def _writable(self) -> bool:
        return any(self.stats.values()) or (bool(self.buffer) and not self._held_back)

    async def run(self, stop: asyncio.Event) -> None:
        """Write until `stop` is set and nothing is pending (or the final flush fails)."""
        backoff = 0.1
        while True:
            if not self._writable:
                if stop.is_set():
                    return
                self._wake.clear()
                waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
                if self._held_back:
                    assert self.gate is not None
                    waiters.append(asyncio.ensure_future(self.gate.room.wait()))
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                for waiter in waiters:
                    waiter.cancel()
                continue
            if await self.write_once(hold_entries=self._held_back):
                backoff = 0.1
            else:
                if stop.is_set():
                    return
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def flush(self, timeout: float) -> bool:
        """Try to write everything pending within `timeout` seconds; whether all of it went out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.pending and loop.time() < deadline:
            try:
                async with asyncio.timeout(max(0.01, deadline - loop.time())):
                    if not await self.write_once():
                        await asyncio.sleep(min(0.5, max(0.0, deadline - loop.time())))
            except TimeoutError:
                break
        return not self.pending

    async def write_once(self, hold_entries: bool = False) -> bool:
        """One pipelined write of up to `entries_per_write` entries (none with `hold_entries`)
        plus the stats; success."""
        async with self._writing:
            return await self._write_head(0 if hold_entries else self.entries_per_write)

    async def _write_head(self, entries: int) -> bool:
        batch = [self.buffer[i] for i in range(min(entries, len(self.buffer)))]
        stats = {k: v for k, v in self.stats.items() if v}
        pipe = self.client.pipeline(transaction=False)
        for entry in batch:
            pipe.xadd(self.keys.rollouts, entry, maxlen=self.stream_max_length, approximate=True)
        for field, amount in stats.items():
            pipe.hincrby(self.keys.stats, field, amount)
        try:
            await pipe.execute()
        except REDIS_FAILURES as e:
            self.redis_errors += 1
            self.on_event("redis_error", 1)
            if self.connected:
                log.warning(
                    "redis unreachable (%s): buffering rollouts (%d segments held)", e, len(self.buffer)
                )
            self.connected = False
            return False
        if not self.connected:
            log.info("redis reachable again: shipping %d buffered segments", len(self.buffer))
        self.connected = True
        # the buffer only grows at its right end meanwhile, or drops from the left past its bound:
        # remove exactly the written segments that are still at its head
        for entry in batch:
            if self.buffer and self.buffer[0] is entry:
                self.buffer.popleft()
                self.buffered_bytes -= entry_bytes(entry)
        for field, amount in stats.items():
            self.stats[field] -= amount
        self.shipped += len(batch)
        self.on_event("shipped", len(batch))
        self.on_event("shipped_bytes", sum(entry_bytes(e) for e in batch))
        return True
