"""The warm start against the built daemon (observe mode), a real redis-server and a file store."""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import redis
import torch
from conftest import Daemon, free_port

from tolaria.keys import RunKeys
from tolaria.protocol import parse_endpoints
from tolaria.trainer.checkpoint import open_store
from tolaria.trainer.config import LearnerConfig, NetworkConfig, TrainerConfig, WarmStartConfig
from tolaria.trainer.encoding import Encoder
from tolaria.trainer.imitation import Demonstrations
from tolaria.trainer.learner import VERSION_RESERVATION_BLOCK, Learner
from tolaria.trainer.policy import PolicyNetwork, to_tensors
from tolaria.trainer.warm_progress import CLONE_OBJECT, GAMES_OBJECT
from tolaria.trainer.warm_start import WarmStart, WarmStartError
from tolaria.trainer.weights import decode_weights

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

NETWORK = NetworkConfig.from_preset("small", d_model=32, ff_dim=64)
PAIRINGS = [("red_aggro", "white_weenie")]
KEYS = RunKeys("test", "warm")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    d = Daemon(tmp_path_factory.mktemp("daemon") / "daemon.log")
    yield d
    d.stop()


def config(games: int, epochs: int = 8) -> TrainerConfig:
    return TrainerConfig(
        network=NETWORK,
        learner=LearnerConfig(device="cpu", threads=1, read_block_ms=100),
        warm_start=WarmStartConfig(games=games, epochs=epochs, minibatch_size=128, games_in_flight=4),
    )


class ThreadsSeen(Learner):
    """A learner that notes torch's thread count at the end of each cloning epoch."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cloning_threads: list[int] = []

    def _cloned_epoch(self, epoch: int, nll: float) -> None:
        self.cloning_threads.append(torch.get_num_threads())
        super()._cloned_epoch(epoch, nll)


def agreement(model: PolicyNetwork, demos: Demonstrations) -> float:
    with torch.no_grad():
        greedy, _, _ = model.act(to_tensors(demos.observations), greedy=True)
    return float((greedy == torch.from_numpy(demos.actions)).all(1).float().mean())


def test_the_learner_starts_from_a_copy_of_the_daemons_ai_and_keeps_it(daemon, redis_server, tmp_path):
    client = redis.Redis.from_url(redis_server.url)
    store = open_store(f"file://{tmp_path}/ckpt")
    cfg = config(games=12)
    # local mode's learner clones on every core (nothing else runs then) and trains PPO on its share
    cfg = dataclasses.replace(cfg, learner=dataclasses.replace(cfg.learner, warm_start_threads=2))
    warm_start = WarmStart(cfg.warm_start, parse_endpoints(daemon.endpoint), PAIRINGS, gamma=0.99)
    torch.manual_seed(0)
    untrained = PolicyNetwork(NETWORK)
    learner = ThreadsSeen(cfg, client, KEYS, store, warm_start=warm_start)
    torch.set_num_threads(cfg.learner.threads)
    assert learner.start(threading.Event())
    assert set(learner.cloning_threads) == {2} and torch.get_num_threads() == 1

    # Published and checkpointed as version 1, before any PPO update.
    assert int(client.get(KEYS.policy_version)) == 1 and learner.step == 0
    assert decode_weights(client.get(KEYS.policy)).version == 1
    checkpoint = store.latest()
    assert checkpoint is not None and (checkpoint.step, checkpoint.policy_version) == (0, 1)
    # its progress, for local mode's progress line: every game watched, every epoch cloned
    stats = client.hgetall(KEYS.stats)
    assert (stats[b"warm_start_games"], stats[b"warm_start_epochs"]) == (b"12", b"8")

    # The copy chooses as the AI does on games it never saw (other seeds), far more often than
    # the untrained network.
    held_out = WarmStart(cfg.warm_start, parse_endpoints(daemon.endpoint), PAIRINGS, gamma=0.99, seed=7)
    observation = held_out.observe(Encoder(NETWORK), threading.Event())
    assert observation.complete and observation.games == 12 and observation.failed == 0
    demos = observation.take_games(Encoder(NETWORK).empty(0)).demonstrations
    assert len(demos) > 300 and np.abs(demos.returns).max() <= 1
    assert (demos.returns > 0).any() and (demos.returns < 0).any()  # the winner's and the loser's
    before, after = agreement(untrained, demos), agreement(learner.trainer.model, demos)
    assert after > before + 0.2 and after > 0.6, (before, after)

    # A restarted learner resumes from the copy: it never looks for daemons again.
    nowhere = WarmStart(cfg.warm_start, [("127.0.0.1", free_port())], PAIRINGS, gamma=0.99, daemon_wait=0.1)
    restarted = Learner(cfg, client, KEYS, store, warm_start=nowhere)
    assert restarted.start(threading.Event())
    # The first learner never stopped cleanly: the versions it reserved are skipped.
    assert (restarted.step, restarted.version) == (0, 1 + VERSION_RESERVATION_BLOCK + 1)
    state = restarted.trainer.model.state_dict()
    assert all(torch.equal(v, state[k]) for k, v in learner.trainer.model.state_dict().items())


def stop_when_reported(client: redis.Redis, field: str, stop: threading.Event) -> None:
    """Sets `stop` (as SIGTERM does) once the learner reports `field` of its warm start's progress."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not client.hexists(KEYS.stats, field):
        time.sleep(0.01)
    stop.set()


def test_a_warm_start_stopped_while_watching_keeps_the_games_and_watches_only_the_rest(
    daemon, redis_server, tmp_path, caplog
):
    client = redis.Redis.from_url(redis_server.url)
    store = open_store(f"file://{tmp_path}/ckpt")
    stop = threading.Event()
    cfg = config(games=80, epochs=2)
    warm_start = WarmStart(cfg.warm_start, parse_endpoints(daemon.endpoint), PAIRINGS, gamma=0.99)
    learner = Learner(cfg, client, KEYS, store, warm_start=warm_start)
    watcher = threading.Thread(
        target=stop_when_reported, args=(client, "warm_start_games", stop), daemon=True
    )
    watcher.start()
    assert not learner.start(stop)
    assert store.latest() is None and client.get(KEYS.policy_version) is None  # nothing published
    learner.run(stop)  # as after SIGTERM: the final checkpoint of random weights is not written
    assert store.latest() is None
    watched = learner._warm_progress.load_games()
    assert 1 <= len(watched) < 80 and set(watched) <= set(range(80))

    caplog.set_level(logging.INFO, logger="tolaria.trainer.learner")
    restarted = Learner(cfg, client, KEYS, store, warm_start=warm_start)
    assert restarted.start(threading.Event())
    assert f"observing 80 games of the built-in AI ({len(watched)} watched before)" in caplog.text
    assert int(client.hget(KEYS.stats, "warm_start_games")) == 80
    assert (store.latest().step, int(client.get(KEYS.policy_version))) == (0, 1)
    assert store.get_object(GAMES_OBJECT) is None  # the copy is checkpointed: progress forgotten


def test_a_warm_start_stopped_while_cloning_continues_the_fit_without_watching_again(
    daemon, redis_server, tmp_path, caplog
):
    client = redis.Redis.from_url(redis_server.url)
    store = open_store(f"file://{tmp_path}/ckpt")
    stop = threading.Event()
    cfg = config(games=8, epochs=20)
    warm_start = WarmStart(cfg.warm_start, parse_endpoints(daemon.endpoint), PAIRINGS, gamma=0.99)
    learner = Learner(cfg, client, KEYS, store, warm_start=warm_start)
    watcher = threading.Thread(
        target=stop_when_reported, args=(client, "warm_start_epochs", stop), daemon=True
    )
    watcher.start()
    assert not learner.start(stop)
    stopped_at = int(client.hget(KEYS.stats, "warm_start_epochs"))
    assert stopped_at < 20
    assert store.latest() is None and client.get(KEYS.policy_version) is None
    assert store.get_object(GAMES_OBJECT) is not None and store.get_object(CLONE_OBJECT) is not None

    # No daemon answers the restarted learner: it needs none, the games are kept.
    caplog.set_level(logging.INFO, logger="tolaria.trainer")
    nowhere = WarmStart(cfg.warm_start, [("127.0.0.1", free_port())], PAIRINGS, gamma=0.99, daemon_wait=0.1)
    restarted = Learner(cfg, client, KEYS, store, warm_start=nowhere)
    assert restarted.start(threading.Event())
    assert f"resuming the fit at epoch {stopped_at}" in caplog.text
    assert int(client.hget(KEYS.stats, "warm_start_epochs")) == 20
    assert (store.latest().step, int(client.get(KEYS.policy_version))) == (0, 1)
    assert store.get_object(GAMES_OBJECT) is None and store.get_object(CLONE_OBJECT) is None


def test_no_daemon_is_a_clear_error_not_a_hang(redis_server, tmp_path):
    client = redis.Redis.from_url(redis_server.url)
    port = free_port()
    cfg = config(games=4)
    warm_start = WarmStart(cfg.warm_start, [("127.0.0.1", port)], PAIRINGS, gamma=0.99, daemon_wait=1.0)
    learner = Learner(cfg, client, KEYS, open_store(f"file://{tmp_path}/ckpt"), warm_start=warm_start)
    with pytest.raises(WarmStartError, match=f"no daemon of 127.0.0.1:{port} answered within 1s"):
        learner.start(threading.Event())


def test_unknown_decks_fail_the_warm_start_with_the_daemons_refusal(daemon):
    cfg = config(games=4)
    warm_start = WarmStart(
        cfg.warm_start, parse_endpoints(daemon.endpoint), [("no_such_deck", "red_aggro")], 0.99
    )
    with pytest.raises(WarmStartError, match=r"4 of 4 warm-start games failed.*no_such_deck"):
        warm_start.observe(Encoder(NETWORK), threading.Event())


def test_games_of_a_daemon_killed_mid_warm_start_are_played_on_another(daemon, tmp_path, caplog):
    doomed = Daemon(tmp_path / "doomed.log")
    cfg = config(games=24)
    try:
        endpoints = parse_endpoints(f"{doomed.endpoint},{daemon.endpoint}")
        warm_start = WarmStart(cfg.warm_start, endpoints, PAIRINGS, 0.99)
        # killed after the first game: the others are in flight
        observation = warm_start.observe(Encoder(NETWORK), threading.Event(), lambda games: doomed.kill())
    finally:
        doomed.stop()
    lost = [r.message for r in caplog.records if f"on {doomed.endpoint}:" in r.message]
    assert lost, "no game was in flight on the killed daemon"
    assert observation.complete and (observation.games, observation.failed) == (24, 0)


def test_a_negative_warm_start_thread_count_is_refused_by_name():
    env = {**os.environ, "TOLARIA_WARM_START_THREADS": "-1"}
    learner = subprocess.run(
        [sys.executable, "-m", "tolaria.cli", "learner", "--run-name", "warm"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert learner.returncode == 2
    assert "--warm-start-threads (env TOLARIA_WARM_START_THREADS) must be 0" in learner.stderr
