"""Waiting for what a component depends on, when it starts: Redis, the checkpoint store, the
game daemons.

On a cluster the parts of a run start together, in no order: a learner pod can start before the
run's Redis Service resolves or before the store answers, an actor before any daemon pod is
ready (a headless Service has no address until one is). Exiting then costs a Job restart (a
learner's restarts are counted), so a component tries again with exponential backoff, says what
it waits for and why, and gives up with a clear error after a bounded time.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from tolaria.keys import redacted
from tolaria.protocol.endpoints import first_listening, format_endpoints
from tolaria.protocol.errors import DaemonUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

# What a Redis client (sync or asyncio) raises while the server cannot be reached yet, its name
# not resolving included ("Name or service not known" is a ConnectionError).
REDIS_UNREACHABLE = (RedisConnectionError, RedisTimeoutError)
FIRST_DELAY_S = 0.5
MAX_DELAY_S = 10.0
DEFAULT_TIMEOUT_S = 300.0


def add_dependency_timeout(parser: argparse.ArgumentParser, what: str) -> None:
    """The `--dependency-timeout` flag of a component that waits for `what` at start."""
    parser.add_argument(
        "--dependency-timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        metavar="S",
        help=f"seconds to wait at start for {what} before giving up (default %(default)s)",
    )


class DependencyUnavailable(RuntimeError):
    """A dependency did not answer within the time allowed; the message names it and the cause."""


class Stopped(RuntimeError):
    """A stop was requested while waiting."""


class _Backoff:
    def __init__(self, what: str, timeout: float):
        self.what = what
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.delay = FIRST_DELAY_S

    def next_delay(self, error: BaseException) -> float:
        """How long to sleep before the next try; DependencyUnavailable once time is up."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise DependencyUnavailable(
                f"gave up waiting for {self.what} after {self.timeout:.0f}s: {type(error).__name__}: {error}"
            ) from error
        delay = min(self.delay, left)
        log.warning(
            "waiting for %s: %s: %s (next try in %.1fs%s)",
            self.what,
            type(error).__name__,
            error,
            delay,
            f", giving up in {left:.0f}s" if math.isfinite(left) else "",
        )
        self.delay = min(self.delay * 2, MAX_DELAY_S)
        return delay


def wait_for(
    what: str,
    probe: Callable[[], T],
    errors: tuple[type[BaseException], ...],
    timeout: float = DEFAULT_TIMEOUT_S,
    stop: threading.Event | None = None,
) -> T:
    """`probe()`'s result once it stops raising one of `errors`."""
    backoff = _Backoff(what, timeout)
    while True:
        try:
            return probe()
        except errors as error:
            delay = backoff.next_delay(error)
        if stop is not None and stop.wait(delay):
            raise Stopped(f"stopped while waiting for {what}")
        if stop is None:
            time.sleep(delay)


async def await_for(
    what: str,
    probe: Callable[[], Awaitable[T]],
    errors: tuple[type[BaseException], ...],
    timeout: float = DEFAULT_TIMEOUT_S,
    stop: asyncio.Event | None = None,
) -> T:
    """The asyncio twin of `wait_for`."""
    backoff = _Backoff(what, timeout)
    while True:
        try:
            return await probe()
        except errors as error:
            delay = backoff.next_delay(error)
        if stop is None:
            await asyncio.sleep(delay)
            continue
        try:
            await asyncio.wait_for(stop.wait(), delay)
        except TimeoutError:
            continue
        raise Stopped(f"stopped while waiting for {what}")


def wait_for_redis(client: Any, url: str, timeout: float, stop: threading.Event | None = None) -> None:
    """Until the Redis at `url` answers PING (`client`: a redis.Redis)."""
    wait_for(f"Redis at {redacted(url)}", client.ping, REDIS_UNREACHABLE, timeout, stop)


async def await_redis(client: Any, url: str, timeout: float, stop: asyncio.Event | None = None) -> None:
    """Until the Redis at `url` answers PING (`client`: a redis.asyncio.Redis)."""
    await await_for(f"Redis at {redacted(url)}", client.ping, REDIS_UNREACHABLE, timeout, stop)


def wait_for_store(store: Any, timeout: float, stop: threading.Event | None = None) -> None:
    """Until the checkpoint store `store` (a CheckpointStore) lists its checkpoints."""
    wait_for(f"the checkpoint store {store.uri}", store.checkpoints, store.transient_errors, timeout, stop)


async def await_store(store: Any, timeout: float, stop: asyncio.Event | None = None) -> None:
    """The asyncio twin of `wait_for_store`."""
    what = f"the checkpoint store {store.uri}"
    await await_for(what, lambda: asyncio.to_thread(store.checkpoints), store.transient_errors, timeout, stop)


async def await_daemon(
    endpoints: list[tuple[str, int]],
    timeout: float,
    stop: asyncio.Event | None = None,
    *,
    pool_may_be_empty: bool = False,
) -> None:
    """Until one of the daemons at `endpoints` accepts a connection.

    A pool that may be empty by design (`minReplicas: 0`) is waited for without a time limit: the
    autoscaler empties it while rollouts pile up and grows it again once the learner is starved,
    which may take longer than any fixed bound, and giving up would only restart the pod.
    """
    if pool_may_be_empty:
        timeout = math.inf
    what = f"a daemon at {format_endpoints(endpoints)}"
    await await_for(what, lambda: first_listening(endpoints), (DaemonUnavailable,), timeout, stop)
