"""The daemon endpoints an actor plays on: a fixed list, or a headless Service re-resolved as the
pool scales.

Every resolved address gets one `AsyncDaemonClient` (persistent connections after HELLO, one
connection per game against a Forge daemon). New games go to the least loaded endpoint that is not
backing off; an endpoint whose game failed with a daemon error backs off exponentially (0.5 s up
to 30 s) and is forgiven by its next finished game. Failures during a backoff do not lengthen it:
the games a dying daemon takes with it count as one failure. An address that no longer resolves
gets no new games and its client is closed once its last game is over.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from tolaria.protocol import AsyncDaemonClient, resolve_endpoints

log = logging.getLogger(__name__)

BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0


@dataclass
class Endpoint:
    client: AsyncDaemonClient
    games: int = 0
    failures: int = 0
    retry_at: float = 0.0

    def backing_off(self, now: float) -> bool:
        return now < self.retry_at


class DaemonPool:
    def __init__(self, endpoints: list[tuple[str, int]], read_timeout: float = 120.0):
        self.endpoints = endpoints
        self.read_timeout = read_timeout
        self.active: dict[tuple[str, int], Endpoint] = {}
        self._retired: list[Endpoint] = []

    async def refresh(self) -> None:
        addresses = await asyncio.to_thread(resolve_endpoints, self.endpoints)  # DNS may block
        if not addresses:
            log.warning(
                "no daemon endpoint resolves (%s); keeping the %d known", self.endpoints, len(self.active)
            )
            return
        for address in list(self.active):
            if address not in addresses:
                log.info("daemon %s:%d is gone: no new games on it", *address)
                self._retired.append(self.active.pop(address))
        for address in addresses:
            if address not in self.active:
                log.info("daemon %s:%d joins the pool", *address)
                self.active[address] = Endpoint(
                    AsyncDaemonClient(*address, client_name="tolaria-actor", read_timeout=self.read_timeout)
                )
        await self._close_idle_retired()

    def pick(self) -> Endpoint | None:
        """The least loaded endpoint not backing off, or None when every one is."""
        now = time.monotonic()
        ready = [e for e in self.active.values() if not e.backing_off(now)]
        return min(ready, key=lambda e: e.games) if ready else None

    def seconds_until_ready(self) -> float:
        now = time.monotonic()
        waits = [e.retry_at - now for e in self.active.values()]
        return max(0.05, min(waits)) if waits else 1.0

    def succeeded(self, endpoint: Endpoint) -> None:
        endpoint.failures = 0
        endpoint.retry_at = 0.0

    def failed(self, endpoint: Endpoint) -> None:
        now = time.monotonic()
        if endpoint.backing_off(now):
            # Every game in flight fails at once when a daemon dies: one incident, not one per
            # game, or a restarted daemon would sit idle for the longest backoff.
            return
        endpoint.failures += 1
        delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (endpoint.failures - 1))
        endpoint.retry_at = now + delay

    async def release(self, endpoint: Endpoint) -> None:
        endpoint.games -= 1
        await self._close_idle_retired()

    async def close(self) -> None:
        for endpoint in [*self.active.values(), *self._retired]:
            await endpoint.client.close()
        self.active.clear()
        self._retired.clear()

    async def _close_idle_retired(self) -> None:
        for endpoint in [e for e in self._retired if e.games == 0]:
            self._retired.remove(endpoint)
            await endpoint.client.close()
