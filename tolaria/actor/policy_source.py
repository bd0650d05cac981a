"""Where the actor's policy comes from: the run's published weights in Redis.

The actor plays the version it is told to play: the promoted one (`...:policy:promoted`) while the
evaluator's promotion gate holds one, else the newest the learner published (`...:policy`). The
weights are safetensors and carry their own version (`tolaria.trainer.weights`); anything else
is refused and the actor keeps its current version.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import redis.asyncio as aioredis

from tolaria.keys import RunKeys
from tolaria.trainer.weights import PolicyWeights, UnsafeWeightsError, decode_weights

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PublishedVersions:
    latest: int | None  # ...:policy:version
    promoted: int | None  # ...:policy:promoted:version

    @property
    def to_play(self) -> int | None:
        return self.promoted if self.promoted is not None else self.latest


class PolicySource:
    def __init__(self, client: aioredis.Redis, keys: RunKeys):
        self.client = client
        self.keys = keys

    async def versions(self) -> PublishedVersions:
        latest, promoted = await self.client.mget(self.keys.policy_version, self.keys.policy_promoted_version)
        return PublishedVersions(_int_or_none(latest), _int_or_none(promoted))

    async def load(self, versions: PublishedVersions) -> PolicyWeights | None:
        """The weights to play, decoded off the event loop; None when absent or refused."""
        key = self.keys.policy if versions.promoted is None else self.keys.policy_promoted
        data = await self.client.get(key)
        if data is None:
            return None
        try:
            return await asyncio.to_thread(decode_weights, data)
        except UnsafeWeightsError as e:
            log.error("%s: %s", key, e)
            return None


def _int_or_none(value: bytes | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        log.warning("policy version %r is not an integer; ignored", value)
        return None
