from __future__ import annotations

import threading

import numpy as np
import torch

from tolaria.trainer import prefetch
from tolaria.trainer.config import NetworkConfig, PPOConfig
from tolaria.trainer.encoding import Encoder
from tolaria.trainer.policy import PolicyNetwork
from tolaria.trainer.ppo import build_batch
from tolaria.trainer.synthetic import PayloadFactory, synthetic_segment


def _segments(count: int) -> list:
    torch.manual_seed(0)
    network = NetworkConfig.from_preset("small", d_model=16, ff_dim=32)
    encoder, model, factory = Encoder(network), PolicyNetwork(network), PayloadFactory(0)
    return [synthetic_segment(encoder, model, factory, 20, 0, outcome=1.0) for _ in range(count)]


def _equal(a, b) -> bool:
    return all(np.array_equal(a.observations[k], b.observations[k]) for k in a.observations) and all(
        np.array_equal(getattr(a, f), getattr(b, f))
        for f in ("actions", "log_probs", "values", "advantages", "returns")
    )


def test_the_prefetched_batch_is_built_in_the_background_and_used_for_its_entries_only(monkeypatch):
    segments, config = _segments(4), PPOConfig()
    prefetcher = prefetch.BatchPrefetcher(config, background=True, pin_memory=False)  # pinned needs CUDA
    built = []  # (thread, first segment) of every batch built

    def build(segments, *args):
        built.append((threading.current_thread().name, segments[0]))
        return build_batch(segments, *args)

    monkeypatch.setattr(prefetch, "build_batch", build)
    prefetcher.prefetch([b"1-0", b"2-0"], segments[:2])
    batch = prefetcher.batch([b"1-0", b"2-0"], segments[:2])
    assert built == [(built[0][0], segments[0])] and built[0][0].startswith("batch-prefetch")
    assert _equal(batch, build_batch(segments[:2], config))
    prefetcher.prefetch([b"3-0"], segments[2:3])
    other = prefetcher.batch([b"4-0"], segments[3:])  # not the prefetched entries: built now
    assert (threading.current_thread().name, segments[3]) in built
    assert _equal(other, build_batch(segments[3:], config))


def test_without_a_gpu_nothing_is_built_ahead():
    segments, config = _segments(2), PPOConfig()
    prefetcher = prefetch.BatchPrefetcher(config, background=False, pin_memory=False)
    prefetcher.prefetch([b"1-0"], segments[:1])
    assert prefetcher._next is None
    assert _equal(prefetcher.batch([b"1-0"], segments[:1]), build_batch(segments[:1], config))
