"""League snapshots in a real checkpoint store (file://, and S3 beside the run's checkpoints)."""

from __future__ import annotations

import pytest
import torch

from tolaria.matchmaking.league import League, league_uri
from tolaria.trainer.checkpoint import open_store
from tolaria.trainer.config import NetworkConfig
from tolaria.trainer.policy import PolicyNetwork
from tolaria.trainer.weights import decode_weights, encode_weights


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
