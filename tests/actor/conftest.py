"""Real processes for the actor's integration tests: daemons, redis-server, the actor CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
import torch
import yaml
from conftest import Daemon, free_port

from tolaria.keys import RunKeys
from tolaria.rollouts import STREAM_FIELD, Segment, decode_segment
from tolaria.trainer.config import NetworkConfig
from tolaria.trainer.encoding import Encoder
from tolaria.trainer.policy import PolicyNetwork
from tolaria.trainer.weights import encode_weights

REPO = Path(__file__).resolve().parents[2]
NETWORK = NetworkConfig.from_preset("small", d_model=32, ff_dim=64)
KEYS = RunKeys("default", "actor-test")


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    d = Daemon(tmp_path / "daemon.log")
    yield d
    d.stop()


@pytest.fixture
def second_daemon(tmp_path: Path) -> Iterator[Daemon]:
    d = Daemon(tmp_path / "daemon2.log")
    yield d
    d.stop()


def policy_bytes(version: int) -> bytes:
    torch.manual_seed(version)
    return encode_weights(PolicyNetwork(NETWORK), NETWORK, version)


def publish_policy(client: redis.Redis, version: int) -> None:
    client.set(KEYS.policy, policy_bytes(version))
    client.set(KEYS.policy_version, version)


def write_spec(
    path: Path,
    redis_url: str,
    *,
    self_play: float,
    builtin_ai: float,
    random_player: float = 0.0,
    league: float = 0.0,
    games_in_flight: int = 4,
    policy_sync_interval: float = 0.5,
    max_queue_depth: int = 5000,
) -> Path:
    document = {
        "apiVersion": "tolaria.dev/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {"name": KEYS.name, "namespace": KEYS.namespace},
        "spec": {
            "decks": ["red_aggro", "white_weenie"],
            "matchups": [{"agentDeck": "red_aggro", "opponentDeck": "white_weenie"}],
            "actors": {
                "replicas": 1,
                "gamesInFlight": games_in_flight,
                "policySyncIntervalSeconds": policy_sync_interval,
                "opponents": {
                    "selfPlay": self_play,
                    "builtinAi": builtin_ai,
                    "randomPlayer": random_player,
                    "league": league,
                },
            },
            "redis": {"url": redis_url, "streamMaxLength": 5000, "maxQueueDepth": max_queue_depth},
            "seed": 7,
        },
    }
    path.write_text(yaml.safe_dump(document))
    return path


class ActorProcess:
    def __init__(self, spec: Path, redis_url: str, daemons: str, log_path: Path, *extra: str):
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.metrics_port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tolaria.cli", "actor", "--spec", str(spec), "--redis", redis_url,
             "--daemons", daemons, "--device", "cpu", "--metrics-port", str(self.metrics_port),
             "--segment-steps", "64", "--grace-period", "10", *extra],
            stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip

    def log(self) -> str:
        return self.log_path.read_text()

    def terminate(self, timeout: float = 40) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.stop()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


@pytest.fixture
def start_actor(tmp_path: Path) -> Iterator[Callable[..., ActorProcess]]:
    started: list[ActorProcess] = []

    def start(spec: Path, redis_url: str, daemons: str, *extra: str) -> ActorProcess:
        actor = ActorProcess(spec, redis_url, daemons, tmp_path / f"actor{len(started)}.log", *extra)
        started.append(actor)
        return actor

    yield start
    for actor in started:
        actor.stop()


def read_segments(client: redis.Redis) -> list[Segment]:
    encoder = Encoder(NETWORK)
    segments = []
    for _, fields in client.xrange(KEYS.rollouts):
        segment = decode_segment(fields[STREAM_FIELD], encoder.dtypes(), encoder.shape)
        encoder.validate(segment.observations)
        segments.append(segment)
    return segments


def wait_until(
    predicate: Callable[[], bool], timeout: float, what: str, actor: ActorProcess | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if actor is not None and actor.proc.poll() is not None:
            raise AssertionError(
                f"the actor exited ({actor.proc.returncode}) waiting for {what}:\n{actor.log()}"
            )
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}" + (f":\n{actor.log()[-4000:]}" if actor else ""))
