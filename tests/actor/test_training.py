"""Actor and learner together on CPU: real daemons, redis-server, the learner CLI checkpointing
to a real S3-compatible server. The loop closes: the actor's rollouts train the policy, the
learner's new versions reach the actor, and checkpoints land in the object store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request

import pytest
import redis
import yaml
from conftest import free_port

from actor.conftest import KEYS, REPO, wait_until, write_spec
from tolaria.trainer.checkpoint import open_store

pytestmark = pytest.mark.integration


def actor_policy_version(actor) -> float:
    text = (
        urllib.request.urlopen(f"http://127.0.0.1:{actor.metrics_port}/metrics", timeout=10).read().decode()
    )
    line = next(line for line in text.splitlines() if line.startswith("tolaria_actor_policy_version "))
    return float(line.split()[-1])


def test_actor_and_learner_train_and_checkpoint_to_s3(
    daemon, second_daemon, redis_server, s3_server, start_actor, tmp_path
):
    spec = write_spec(
        tmp_path / "run.yaml", redis_server.url, self_play=0.5, builtin_ai=0.5, games_in_flight=8
    )
    document = yaml.safe_load(spec.read_text())
    document["spec"]["learner"] = {
        "gpus": 0,
        "network": {"preset": "small", "dModel": 32, "ffDim": 64},
        "ppo": {"batchSize": 256, "minibatchSize": 128, "epochs": 1, "maxPolicyLag": 1000},
    }
    document["spec"]["checkpoints"] = {"uri": "s3://tolaria/runs/e2e", "everyUpdates": 2, "keep": 3}
    spec.write_text(yaml.safe_dump(document))
    client = redis.Redis.from_url(redis_server.url)

    log = tmp_path / "learner.log"
    learner = subprocess.Popen(
        [sys.executable, "-m", "tolaria.cli", "learner", "--spec", str(spec), "--redis", redis_server.url,
         "--metrics-port", str(free_port()), "--threads", "1", "--device", "cpu"],
        stdout=subprocess.DEVNULL, stderr=log.open("w"), cwd=REPO, env={**os.environ, **s3_server.env},
    )  # fmt: skip
    try:
        wait_until(lambda: client.get(KEYS.policy_version) is not None, 60, "the learner's first weights")
        actor = start_actor(spec, redis_server.url, f"{daemon.endpoint},{second_daemon.endpoint}")
        wait_until(
            lambda: int(client.get(KEYS.policy_version) or 0) >= 4, 240, "three PPO updates", actor=actor
        )
        # The actor plays the newer versions. (Its segments cannot show it here: the learner
        # deletes what it consumed.)
        wait_until(
            lambda: actor_policy_version(actor) >= 2, 60, "the actor playing an updated policy", actor=actor
        )
        assert actor.terminate() == 0, actor.log()[-3000:]
        learner.send_signal(signal.SIGTERM)
        assert learner.wait(timeout=60) == 128 + signal.SIGTERM, log.read_text()[-3000:]
    finally:
        if learner.poll() is None:
            learner.kill()
            learner.wait()

    stats = {k.decode(): v.decode() for k, v in client.hgetall(KEYS.stats).items()}
    version = int(client.get(KEYS.policy_version))
    latest = open_store("s3://tolaria/runs/e2e").latest()
    assert latest is not None and latest.policy_version == version  # SIGTERM checkpointed the last one
    keys = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket="tolaria")["Contents"]]
    assert "runs/e2e/latest" in keys and sum(k.endswith(".safetensors") for k in keys) >= 2
    assert stats["checkpoint_uri"].startswith("s3://tolaria/runs/e2e/ckpt-")
    assert int(stats["games"]) > 0 and int(stats["learner_step"]) == version - 1
