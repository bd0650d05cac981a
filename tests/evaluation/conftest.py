"""A real daemon subprocess and published policies for the evaluator's integration tests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from conftest import free_port, wait_for_port

from tolaria.trainer.config import NetworkConfig
from tolaria.trainer.policy import PolicyNetwork
from tolaria.trainer.weights import encode_weights

REPO = Path(__file__).resolve().parents[2]
NETWORK = NetworkConfig.from_preset("small", d_model=32, ff_dim=64)


class Daemon:
    def __init__(self, log_path: Path):
        self.port = free_port()
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tolaria.cli", "daemon", "--host", "127.0.0.1", "--port", str(self.port),
             "--decks", str(REPO / "decks"), "--metrics-port", "0", "--reply-timeout", "60"],
            stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO,
        )  # fmt: skip
        try:
            wait_for_port(self.port, timeout=60)
        except TimeoutError:
            self.stop()
            raise AssertionError(f"daemon did not start:\n{log_path.read_text()}") from None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory) -> Iterator[Daemon]:
    daemon = Daemon(tmp_path_factory.mktemp("daemon") / "daemon.log")
    yield daemon
    daemon.stop()


def policy_bytes(version: int, seed: int | None = None) -> bytes:
    """Weights of a freshly initialised policy, as the learner publishes them."""
    torch.manual_seed(version if seed is None else seed)
    return encode_weights(PolicyNetwork(NETWORK), NETWORK, version)
