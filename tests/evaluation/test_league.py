"""League snapshots in a real file:// checkpoint store, and opponent sampling proportions."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch

from tolaria.evaluation.league import League, OpponentChoice, OpponentSampler, league_uri
from tolaria.spec import OpponentMix
from tolaria.trainer.checkpoint import open_store
from tolaria.trainer.config import NetworkConfig
from tolaria.trainer.policy import PolicyNetwork
from tolaria.trainer.weights import decode_weights, encode_weights

DRAWS = 20_000


def within_binomial_bounds(count: int, n: int, p: float, sigmas: float = 5.0) -> bool:
    return abs(count - n * p) <= sigmas * math.sqrt(n * p * (1 - p))


def test_kinds_follow_the_mix():
    sampler = OpponentSampler(
        OpponentMix(self_play=0.5, builtin_ai=0.2, random_player=0.1, league=0.2), seed=7
    )
    counts = Counter(sampler.sample(10, [2, 4, 6, 8]).kind for _ in range(DRAWS))
    for kind, p in (("self_play", 0.5), ("builtin_ai", 0.2), ("random_player", 0.1), ("league", 0.2)):
        assert within_binomial_bounds(counts[kind], DRAWS, p), (kind, counts)


def test_weights_are_normalised_by_their_sum():
    sampler = OpponentSampler(OpponentMix(self_play=0.8, builtin_ai=0.0, league=0.4), seed=1)
    counts = Counter(sampler.sample(5, [1, 2]).kind for _ in range(DRAWS))
    assert counts["builtin_ai"] == 0
    assert within_binomial_bounds(counts["league"], DRAWS, 0.4 / 1.2), counts


def test_past_snapshots_uniform():
    sampler = OpponentSampler(OpponentMix(self_play=0.0, builtin_ai=0.0, league=1.0), seed=3)
    counts = Counter(sampler.sample(10, [2, 4, 6, 8]).version for _ in range(DRAWS))
    for version in (2, 4, 6, 8):
        assert within_binomial_bounds(counts[version], DRAWS, 0.25), counts


def test_past_snapshots_recency_weighted():
    sampler = OpponentSampler(OpponentMix(self_play=0.0, builtin_ai=0.0, league=1.0), seed=3, past="recency")
    counts = Counter(sampler.sample(10, [8, 2, 6, 4]).version for _ in range(DRAWS))
    for version, weight in ((2, 1), (4, 2), (6, 3), (8, 4)):
        assert within_binomial_bounds(counts[version], DRAWS, weight / 10), counts


def test_past_weighting_comes_from_the_spec_unless_overridden():
    recency = OpponentMix(self_play=0.0, builtin_ai=0.0, league=1.0, past_weighting="recency")
    assert OpponentSampler(recency, seed=0).past == "recency"
    assert OpponentSampler(recency, seed=0, past="uniform").past == "uniform"
    assert OpponentSampler(OpponentMix(), seed=0).past == "uniform"  # the default, as before the field
    sampler = OpponentSampler(recency, seed=3)
    drawn = Counter(sampler.sample(10, [2, 8]).version for _ in range(DRAWS))
    assert within_binomial_bounds(drawn[8], DRAWS, 2 / 3), drawn


def test_latest_and_newer_versions_are_not_past():
    sampler = OpponentSampler(OpponentMix(self_play=0.0, builtin_ai=0.0, league=1.0), seed=0)
    assert {sampler.sample(6, [4, 6, 9]).version for _ in range(200)} == {4}


def test_empty_league_gives_its_share_to_self_play():
    sampler = OpponentSampler(OpponentMix(self_play=0.5, builtin_ai=0.3, league=0.2), seed=11)
    counts = Counter(sampler.sample(1, []).kind for _ in range(DRAWS))
    assert counts["league"] == 0
    assert within_binomial_bounds(counts["self_play"], DRAWS, 0.7), counts
    only_league = OpponentSampler(OpponentMix(self_play=0.0, builtin_ai=0.0, league=1.0), seed=0)
    assert only_league.sample(1, [1]) == OpponentChoice("self_play")


def test_sampling_is_deterministic_given_the_seed():
    def draws(seed: int) -> list[OpponentChoice]:
        sampler = OpponentSampler(OpponentMix(), seed=seed, past="recency")
        return [sampler.sample(20, [3, 9, 15]) for _ in range(500)]

    assert draws(5) == draws(5)
    assert draws(5) != draws(6)


def test_choice_metadata_for_rollouts():
    assert OpponentChoice("league", 12).meta() == {"opponent_kind": "league", "opponent_version": 12}
    assert OpponentChoice("builtin_ai").meta() == {"opponent_kind": "builtin_ai", "opponent_version": None}


def test_unknown_past_weighting_is_refused():
    with pytest.raises(ValueError, match="uniform or recency"):
        OpponentSampler(OpponentMix(), seed=0, past="newest")  # type: ignore[arg-type]


def published(version: int, seed: int) -> bytes:
    torch.manual_seed(seed)
    network = NetworkConfig.from_preset("small", d_model=16, ff_dim=32)
    return encode_weights(PolicyNetwork(network), network, version)


def test_league_keeps_snapshots_in_the_checkpoint_store(tmp_path):
    uri = f"file://{tmp_path}/ckpt"
    league = League.open(uri, size=3)
    assert league_uri(uri) == f"file://{tmp_path}/ckpt/league"
    assert league.versions() == []
    weights = {v: published(v, seed=v) for v in (5, 10, 15, 20)}
    assert league.add(weights[5]) is True
    assert league.add(weights[5]) is False  # one snapshot per version
    for v in (10, 15, 20):
        league.add(weights[v])
    assert league.versions() == [10, 15, 20]  # the newest `size` kept

    reopened = League.open(uri, size=3)  # another process (an actor) reads the same store
    assert reopened.versions() == [10, 15, 20]
    loaded = reopened.load(15)
    original = decode_weights(weights[15])
    assert loaded.version == 15 and loaded.network == original.network
    for name, tensor in original.state_dict.items():
        assert torch.equal(loaded.state_dict[name], tensor)
    with pytest.raises(KeyError, match="version 5 is not in the league"):
        reopened.load(5)
    # the run's own checkpoints do not see the league's objects
    assert open_store(uri).checkpoints() == []


def test_league_skips_a_corrupt_snapshot(tmp_path):
    league = League.open(f"file://{tmp_path}", size=5)
    league.add(published(1, seed=1))
    league.add(published(2, seed=2))
    newest = sorted((tmp_path / "league").glob("ckpt-*"))[-1]
    newest.write_bytes(newest.read_bytes()[:-10])
    assert League.open(f"file://{tmp_path}", size=5).versions() == [1]


@pytest.mark.integration
def test_league_in_an_s3_store_beside_the_run_checkpoints(s3_server):
    uri = "s3://tolaria/runs/demo"
    league = League.open(uri, size=2, endpoint_url=s3_server.endpoint)
    for version in (3, 6, 9):
        league.add(published(version, seed=version))
    assert League.open(uri, size=2, endpoint_url=s3_server.endpoint).versions() == [6, 9]
    assert league.load(9).version == 9
    # the learner's store at the run's prefix lists its own checkpoints only
    assert open_store(uri, endpoint_url=s3_server.endpoint).checkpoints() == []
