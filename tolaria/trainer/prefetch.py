"""The next update's batch, built while the current update trains, in pinned memory (CUDA).

Building a batch is host work: GAE over every segment and the segments' arrays concatenated. On a
GPU the update does not wait for the host between minibatches (`tolaria.trainer.ppo`), so while
the device trains the host only launches work; a worker thread builds the next batch meanwhile,
into pinned (page-locked) memory, from which the copy to the device runs asynchronously (from
pageable memory it goes through a staging buffer, with the host waiting). This is what a torch
DataLoader with `pin_memory` and prefetching does, one batch ahead. The learner prefetches when the
entries it holds already make up the next batch.

On the CPU there is no idle host to use and nothing to copy: the batch is built when it is needed,
with no thread and no pinned memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from tolaria.rollouts import Segment
from tolaria.trainer.config import PPOConfig
from tolaria.trainer.ppo import RolloutBatch, build_batch


class BatchPrefetcher:
    """Builds batches of segments, known by the stream ids of their entries; `background`: the
    batch announced with `prefetch` is built on a worker thread."""

    def __init__(self, config: PPOConfig, background: bool, pin_memory: bool):
        self.config = config
        self.pin_memory = pin_memory
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="batch-prefetch") if background else None
        self._next: tuple[tuple[bytes, ...], Future[RolloutBatch]] | None = None

    def prefetch(self, ids: Sequence[bytes], segments: Sequence[Segment]) -> None:
        """Starts building the batch of `segments` (in the background; nothing without it)."""
        if self._worker is not None:
            self._next = (
                tuple(ids),
                self._worker.submit(build_batch, segments, self.config, self.pin_memory),
            )

    def batch(self, ids: Sequence[bytes], segments: Sequence[Segment]) -> RolloutBatch:
        """The batch of `segments`: the prefetched one if it was for these entries, else built now."""
        upcoming, self._next = self._next, None
        if upcoming is not None and upcoming[0] == tuple(ids):
            return upcoming[1].result()
        return build_batch(segments, self.config, self.pin_memory)
