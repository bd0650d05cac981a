"""A real daemon subprocess and published policies for the evaluator's integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from conftest import Daemon

from tolaria.trainer.config import NetworkConfig
from tolaria.trainer.policy import PolicyNetwork
from tolaria.trainer.weights import encode_weights

REPO = Path(__file__).resolve().parents[2]
NETWORK = NetworkConfig.from_preset("small", d_model=32, ff_dim=64)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory) -> Iterator[Daemon]:
    daemon = Daemon(tmp_path_factory.mktemp("daemon") / "daemon.log")
    yield daemon
    daemon.stop()


def policy_bytes(version: int, seed: int | None = None) -> bytes:
    """Weights of a freshly initialised policy, as the learner publishes them."""
    torch.manual_seed(version if seed is None else seed)
    return encode_weights(PolicyNetwork(NETWORK), NETWORK, version)
