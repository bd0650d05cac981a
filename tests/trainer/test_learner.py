"""The learner against a real redis-server and a real S3 server (MinIO, own process)."""

from __future__ import annotations

import io
import math
import pickle
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import redis
import torch
from conftest import MinioServer, free_port

from tolaria.keys import LEARNER_GROUP, RunKeys
from tolaria.rollouts import STEPS_FIELD, STREAM_FIELD, VERSION_FIELD, encode_segment, stream_entry
from tolaria.trainer.checkpoint import open_store
from tolaria.trainer.config import LearnerConfig, NetworkConfig, PPOConfig, TrainerConfig
from tolaria.trainer.encoding import Encoder
from tolaria.trainer.learner import Learner
from tolaria.trainer.policy import PolicyNetwork
from tolaria.trainer.synthetic import PayloadFactory, synthetic_segment
from tolaria.trainer.weights import UnsafeWeightsError, decode_weights

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

NETWORK = NetworkConfig.from_preset("small", d_model=16, ff_dim=32)
STEPS = 16  # decisions per synthetic segment
# One update every four segments, on one CPU thread.
FOUR_SEGMENT_UPDATES = TrainerConfig(
    network=NETWORK,
    ppo=PPOConfig(batch_size=4 * STEPS, minibatch_size=32, epochs=1),
    learner=LearnerConfig(device="cpu", threads=1, read_block_ms=100),
)


class Producer:
    """Plays the actor's part: encodes segments and XADDs them to the run's stream."""

    def __init__(self, client: redis.Redis, keys: RunKeys, seed: int = 0):
        torch.manual_seed(seed)
        self.client, self.keys = client, keys
        self.encoder, self.model = Encoder(NETWORK), PolicyNetwork(NETWORK)
        self.factory = PayloadFactory(seed)

    def push(self, count: int, version: int = 1) -> list[bytes]:
        ids = []
        for i in range(count):
            segment = synthetic_segment(
                self.encoder, self.model, self.factory, STEPS, version, outcome=(1.0, -1.0, 0.0)[i % 3]
            )
            ids.append(self.client.xadd(self.keys.rollouts, {STREAM_FIELD: encode_segment(segment)}))
        return ids


def _pending(client: redis.Redis, keys: RunKeys) -> int:
    return int(client.xpending(keys.rollouts, LEARNER_GROUP)["pending"])


def test_learner_trains_publishes_checkpoints_and_skips_bad_entries(redis_server, tmp_path):
    client = redis.Redis.from_url(redis_server.url)
    keys = RunKeys("test", "inproc")
    producer = Producer(client, keys)
    producer.push(4, version=1)
    client.xadd(keys.rollouts, {STREAM_FIELD: b"\x80\x04garbage that is not a segment"})
    client.xadd(keys.rollouts, {b"other": b"field"})
    producer.push(2, version=-10)  # far too stale for maxPolicyLag 4
    producer.push(4, version=1)

    config = TrainerConfig(
        network=NETWORK,
        ppo=PPOConfig(batch_size=4 * STEPS, minibatch_size=32, epochs=1, max_policy_lag=4),
        learner=LearnerConfig(device="cpu", threads=1, checkpoint_every_updates=1, read_block_ms=100),
    )
    store = open_store(f"file://{tmp_path}/ckpt", keep=3)
    learner = Learner(config, client, keys, store)
    learner.start()
    assert int(client.get(keys.policy_version)) == 1  # initial weights published for the actors
    assert decode_weights(client.get(keys.policy)).version == 1
    learner.run(threading.Event(), max_updates=2)

    assert learner.step == 2 and learner.version == 3
    assert int(client.get(keys.policy_version)) == 3
    published = decode_weights(client.get(keys.policy))
    assert published.version == 3 and published.network == NETWORK
    for name, tensor in published.model().state_dict().items():
        assert torch.equal(tensor, learner.trainer.model.state_dict()[name])
    assert learner.counters["corrupt_entries"] == 2
    assert learner.counters["stale_segments"] == 2
    assert learner.counters["samples"] == 8 * STEPS
    assert _pending(client, keys) == 0  # everything used, skipped or dropped is acknowledged
    stats = {k.decode(): v.decode() for k, v in client.hgetall(keys.stats).items()}
    assert stats["learner_step"] == "2" and stats["learner_corrupt_entries"] == "2"
    latest = store.latest()
    assert (latest.step, latest.policy_version) == (2, 3)
    assert len(store.checkpoints()) >= 2
    # the newest checkpoint is announced for the operator's status.lastCheckpoint
    assert stats["checkpoint_uri"] == f"file://{tmp_path}/ckpt/{store.checkpoints()[-1]}"
    assert abs(float(stats["checkpoint_time"]) - time.time()) < 60

    # a learner resumed into an emptied Redis announces the checkpoint it resumed from
    client.flushall()
    Learner(config, client, keys, store).start()
    assert client.hget(keys.stats, "checkpoint_uri").decode() == stats["checkpoint_uri"]


def test_stale_entries_are_dropped_on_their_version_field_and_used_ones_trimmed(redis_server):
    """An entry whose `policy_version` field is stale is dropped without decoding its segment
    (here not a segment at all: it would count as corrupt if decoded); what the learner has
    acknowledged leaves the stream, and the group's lag stays readable for the operator."""
    client = redis.Redis.from_url(redis_server.url)
    keys = RunKeys("test", "fields")
    client.xadd(keys.rollouts, {STREAM_FIELD: b"never decoded", VERSION_FIELD: b"-10", STEPS_FIELD: b"16"})
    producer = Producer(client, keys)
    for _ in range(4):
        segment = synthetic_segment(producer.encoder, producer.model, producer.factory, STEPS, 1, outcome=1.0)
        client.xadd(keys.rollouts, stream_entry(segment))
    config = TrainerConfig(
        network=NETWORK,
        ppo=PPOConfig(batch_size=4 * STEPS, minibatch_size=32, epochs=1, max_policy_lag=4),
        learner=LearnerConfig(device="cpu", threads=1, read_block_ms=100),
    )
    learner = Learner(config, client, keys, None)
    learner.start()
    learner.run(threading.Event(), max_updates=1)
    assert (learner.counters["stale_segments"], learner.counters["corrupt_entries"]) == (1, 0)
    assert learner.counters["samples"] == 4 * STEPS
    assert client.xlen(keys.rollouts) == 0  # all acknowledged, all trimmed
    producer.push(1)
    learner._last_depth_check = 0.0
    learner._iteration(threading.Event(), 0)  # reads it and holds it: pending, so kept
    (group,) = client.xinfo_groups(keys.rollouts)
    assert client.xlen(keys.rollouts) == 1 and group["pending"] == 1 and group["lag"] == 0
    stats = client.hgetall(keys.stats)
    assert stats[b"learner_stale_segments"] == b"1"  # for the operator: consumed is not dropped


def test_the_queue_bookkeeping_meets_a_redis_back_empty_and_training_goes_on(redis_server):
    """Redis may come back empty at any moment, during an update too: the trim and the queue
    depth after it find no stream and skip it (a learner pod once died of Redis's `no such key`
    there), and the next read recreates the group and takes what the actors pushed since."""
    client = redis.Redis.from_url(redis_server.url)
    keys = RunKeys("test", "emptied")
    producer = Producer(client, keys, seed=4)
    learner = Learner(FOUR_SEGMENT_UPDATES, client, keys, None)
    learner.start()
    producer.push(4)
    learner.run(threading.Event(), max_updates=1)
    assert learner.step == 1

    client.flushall()
    learner._trim_acknowledged()
    learner._last_depth_check = 0.0
    learner._observe_queue()
    assert not client.exists(keys.rollouts)

    producer.push(4)
    learner.run(threading.Event(), max_updates=1)
    assert learner.step == 2 and learner.counters["samples"] == 8 * STEPS
    assert _pending(client, keys) == 0


def test_staleness_is_measured_against_the_promoted_version_the_actors_play(redis_server):
    client = redis.Redis.from_url(redis_server.url)
    keys = RunKeys("test", "gate")
    client.set(keys.policy_version, 9)  # the learner is far ahead: it starts by publishing v10
    client.set(keys.policy_promoted_version, 3)  # while the promotion gate keeps the actors on v3
    producer = Producer(client, keys)
    producer.push(4, version=3)  # what the actors were told to play: 7 versions behind the learner
    producer.push(2, version=0)  # 3 behind the promoted version: stale
    config = TrainerConfig(
        network=NETWORK,
        ppo=PPOConfig(batch_size=4 * STEPS, minibatch_size=32, epochs=1, max_policy_lag=2),
        learner=LearnerConfig(device="cpu", threads=1, read_block_ms=100),
    )
    learner = Learner(config, client, keys, None)
    learner.start()
    assert learner.version == 10
    stop = threading.Event()
    timer = threading.Timer(60, stop.set)  # without the promoted reference nothing is ever used
    timer.start()
    try:
        learner.run(stop, max_updates=1)
    finally:
        timer.cancel()
    assert learner.counters["stale_segments"] == 2
    assert learner.counters["samples"] == 4 * STEPS and learner.version == 11

    client.delete(keys.policy_promoted_version)  # gate off: lag is against the learner's v11 again
    producer.push(4, version=3)
    stop = threading.Event()
    timer = threading.Timer(3, stop.set)
    timer.start()
    learner.run(stop, max_updates=1)
    timer.cancel()
    assert learner.counters["stale_segments"] == 2 + 4 and learner.version == 11


def test_pickle_offered_as_policy_weights_is_refused(redis_server):
    client = redis.Redis.from_url(redis_server.url)
    keys = RunKeys("test", "pickle")

    class Boom:
        def __reduce__(self):
            return (print, ("pickle code ran",))

    client.set(keys.policy, pickle.dumps({"weights": Boom()}))
    with pytest.raises(UnsafeWeightsError, match="pickle"):
        decode_weights(client.get(keys.policy))
    buffer = io.BytesIO()
    torch.save({"w": torch.zeros(2)}, buffer)
    client.set(keys.policy, buffer.getvalue())
    with pytest.raises(UnsafeWeightsError, match=r"torch\.save"):
        decode_weights(client.get(keys.policy))
    client.set(keys.policy, b"\x10\x00\x00\x00\x00\x00\x00\x00{not safetensors}")
    with pytest.raises(UnsafeWeightsError, match="safetensors"):
        decode_weights(client.get(keys.policy))


def _spec(tmp_path: Path, checkpoint_every_updates: int = 1000) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(
        """
apiVersion: tolaria.dev/v1alpha1
kind: TrainingRun
metadata: {name: sigterm, namespace: test}
spec:
  decks: [red_aggro, white_weenie]
  learner:
    gpus: 0
    network: {preset: small, dModel: 16, ffDim: 32}
    ppo: {batchSize: 64, minibatchSize: 32, epochs: 1, maxPolicyLag: 1000}
  checkpoints: {uri: "s3://tolaria/runs/sigterm", everyUpdates: EVERY, everyMinutes: 60, keep: 3}
""".replace("EVERY", str(checkpoint_every_updates))
    )
    return path


def _start_learner(
    spec: Path, redis_url: str, env: dict[str, str], log: Path, *extra: str
) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tolaria.cli",
            "learner",
            "--spec",
            str(spec),
            "--redis",
            redis_url,
            "--metrics-port",
            str(port),
            "--threads",
            "1",
            "--device",
            "cpu",
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
        env=env,
    )
    return proc, port


def _wait(condition, timeout: float, what: str, proc: subprocess.Popen, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc.poll() is not None:
            pytest.fail(f"learner exited with {proc.returncode} while waiting for {what}:\n{log.read_text()}")
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}:\n{log.read_text()}")


def test_sigterm_checkpoints_and_restart_resumes(redis_server, s3_server, tmp_path):
    import os

    # a Redis with a password, given to the learner as the operator does (from spec.redis.passwordSecret)
    redis.Redis.from_url(redis_server.url).config_set("requirepass", "s3cret")
    env = {**os.environ, **s3_server.env, "TOLARIA_REDIS_PASSWORD": "s3cret"}
    client = redis.Redis.from_url(redis_server.url, password="s3cret")
    keys = RunKeys("test", "sigterm")
    producer = Producer(client, keys, seed=1)
    spec, log = _spec(tmp_path), tmp_path / "learner1.log"
    proc, port = _start_learner(spec, redis_server.url, env, log)
    try:
        _wait(lambda: client.get(keys.policy_version), 60, "initial weights", proc, log)
        producer.push(12)  # 3 updates of 64 samples
        _wait(lambda: int(client.get(keys.policy_version)) >= 4, 120, "three updates", proc, log)
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        assert (
            "tolaria_learner_policy_version 4.0" in metrics
            and "tolaria_learner_checkpoint_age_seconds" in metrics
        )
        grad_norm = re.search(r"^tolaria_learner_grad_norm (\S+)$", metrics, re.MULTILINE)
        assert grad_norm and 0 < float(grad_norm.group(1)) < math.inf, metrics
        held = producer.push(3)  # 48 samples: fewer than a batch, read but not used
        _wait(lambda: _pending(client, keys) == 3, 30, "the partial batch to be read", proc, log)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    step, version = 3, int(client.get(keys.policy_version))
    assert version == 4
    latest = open_store("s3://tolaria/runs/sigterm").latest()
    assert latest is not None and (latest.step, latest.policy_version) == (step, version)
    assert _pending(client, keys) == 3  # the unused entries stay unacknowledged

    log2 = tmp_path / "learner2.log"
    proc, _ = _start_learner(spec, redis_server.url, env, log2)
    try:
        _wait(lambda: "resumed from" in log2.read_text(), 60, "resume", proc, log2)
        assert re.search(rf"resumed from .*: step {step}, version {version}\b", log2.read_text())
        producer.push(1)  # 48 pending + 16 new = one batch
        _wait(lambda: int(client.get(keys.policy_version)) == version + 1, 120, "the next update", proc, log2)
        _wait(lambda: _pending(client, keys) == 0, 30, "acknowledgement", proc, log2)
        stats = {k.decode(): v.decode() for k, v in client.hgetall(keys.stats).items()}
        assert int(stats["learner_step"]) == step + 1
        assert int(stats["learner_samples"]) == (12 + 4) * STEPS  # the re-read entries were used
        assert stats["checkpoint_uri"].startswith("s3://tolaria/runs/sigterm/ckpt-")
        assert held[0] not in [
            e[0] for e in client.xpending_range(keys.rollouts, LEARNER_GROUP, "-", "+", 10)
        ]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert open_store("s3://tolaria/runs/sigterm").latest().step == step + 1


def test_a_crashed_learner_and_a_wiped_redis_never_reuse_a_version(redis_server, s3_server, tmp_path):
    """Versions published after the last checkpoint die with the learner and with Redis; the
    next learner still publishes above them (league snapshots and Elo are keyed by version)."""
    import os

    env = {**os.environ, **s3_server.env}
    client = redis.Redis.from_url(redis_server.url)
    keys = RunKeys("test", "sigterm")
    producer = Producer(client, keys, seed=2)
    spec, log = _spec(tmp_path, checkpoint_every_updates=2), tmp_path / "learner1.log"
    proc, _ = _start_learner(spec, redis_server.url, env, log)
    try:
        _wait(lambda: client.get(keys.policy_version), 60, "initial weights", proc, log)
        producer.push(8)  # 2 updates, then the checkpoint of every second update
        store = open_store("s3://tolaria/runs/sigterm")
        _wait(lambda: store.latest() is not None, 120, "the checkpoint after two updates", proc, log)
        producer.push(4)  # a third update, published but never checkpointed
        _wait(lambda: int(client.get(keys.policy_version)) >= 4, 120, "the third update", proc, log)
    finally:
        proc.kill()  # no last checkpoint
        proc.wait()
    published = int(client.get(keys.policy_version))
    latest = open_store("s3://tolaria/runs/sigterm").latest()
    assert latest is not None and latest.policy_version < published
    client.flushall()

    log2 = tmp_path / "learner2.log"
    proc, _ = _start_learner(spec, redis_server.url, env, log2)
    try:
        _wait(lambda: client.get(keys.policy_version), 60, "republished weights", proc, log2)
        assert int(client.get(keys.policy_version)) > published, log2.read_text()
        assert "may have been published after the checkpoint" in log2.read_text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # A clean stop gives back the versions it reserved but did not publish.
    assert open_store("s3://tolaria/runs/sigterm").reserved_versions() == int(client.get(keys.policy_version))


def test_learner_survives_a_redis_restart(redis_server, tmp_path):
    client = redis.Redis.from_url(redis_server.url)
    keys = RunKeys("test", "restart")
    learner = Learner(FOUR_SEGMENT_UPDATES, client, keys, open_store(f"file://{tmp_path}/ckpt"))
    learner.start()
    stop = threading.Event()
    thread = threading.Thread(target=learner.run, args=(stop, 2), daemon=True)
    thread.start()
    try:
        producer = Producer(client, keys, seed=3)
        producer.push(4)
        deadline = time.monotonic() + 60
        while learner.step < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert learner.step == 1 and int(client.get(keys.policy_version)) == 2

        redis_server.stop()  # no persistence: it comes back empty
        time.sleep(1.5)
        redis_server.start()
        deadline = time.monotonic() + 60
        while not client.exists(keys.policy) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert int(client.get(keys.policy_version)) == 3  # republished, and versions still only grow
        producer.push(4)
        thread.join(timeout=120)
        assert not thread.is_alive()
        assert learner.step == 2 and int(client.get(keys.policy_version)) == 4
    finally:
        stop.set()
        thread.join(timeout=30)


def test_learner_waits_for_a_redis_that_starts_after_it(redis_server, tmp_path):
    """On a cluster the run's Redis Service may not resolve yet when the learner starts: the
    learner waits, says what for, and starts once Redis answers (no restart used up)."""
    import os

    redis_server.stop()
    spec, log = _spec(tmp_path), tmp_path / "learner.log"
    proc, _ = _start_learner(
        spec, redis_server.url, {**os.environ}, log, "--checkpoint-uri", f"file://{tmp_path}/checkpoints"
    )
    try:
        _wait(lambda: "waiting for Redis at " in log.read_text(), 60, "the learner to wait", proc, log)
        redis_server.start()
        client = redis.Redis.from_url(redis_server.url)
        _wait(lambda: client.get(RunKeys("test", "sigterm").policy_version), 60, "initial weights", proc, log)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, log.read_text()


def test_learner_waits_for_a_checkpoint_store_that_is_not_up_yet(redis_server, tmp_path):
    """The store's endpoint refuses connections, as while a MinIO pod starts: the learner waits
    for it with backoff, naming it, and starts once it answers, from its checkpoints."""
    import os

    data = tmp_path / "minio-data"
    minio = MinioServer(data)  # the bucket and a first checkpoint, then the store goes away
    port, env = minio.port, {**os.environ, **minio.server.env}
    try:
        spec, log = _spec(tmp_path, checkpoint_every_updates=1), tmp_path / "learner1.log"
        client, keys = redis.Redis.from_url(redis_server.url), RunKeys("test", "sigterm")
        proc, _ = _start_learner(spec, redis_server.url, env, log)
        try:
            _wait(lambda: client.get(keys.policy_version), 60, "initial weights", proc, log)
            Producer(client, keys, seed=1).push(4)
            _wait(lambda: int(client.get(keys.policy_version)) >= 2, 120, "an update", proc, log)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    finally:
        minio.stop()
    version = int(client.get(keys.policy_version))

    log = tmp_path / "learner2.log"
    proc, _ = _start_learner(spec, redis_server.url, env, log)
    try:
        waiting = "waiting for the checkpoint store s3://tolaria/runs/sigterm: "
        _wait(lambda: log.read_text().count(waiting) >= 2, 60, "the learner to wait", proc, log)
        minio = MinioServer(data, port=port)
        try:
            _wait(lambda: "resumed from" in log.read_text(), 120, "the resume", proc, log)
            assert re.search(rf"resumed from s3://.*: step \d+, version {version}\b", log.read_text())
        finally:
            proc.terminate()
            proc.wait(timeout=60)
            minio.stop()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM, log.read_text()
    assert "gave up waiting" not in log.read_text()


def test_learner_gives_up_on_a_redis_that_never_answers(tmp_path):
    import os

    spec, log = _spec(tmp_path), tmp_path / "learner.log"
    redis_url = f"redis://127.0.0.1:{free_port()}/0"
    proc, _ = _start_learner(
        spec, redis_url, {**os.environ}, log, "--checkpoint-uri", f"file://{tmp_path}/checkpoints",
        "--dependency-timeout", "2",
    )  # fmt: skip
    assert proc.wait(timeout=120) == 1
    assert f"gave up waiting for Redis at {redis_url} after 2s" in log.read_text()


def test_learner_waits_for_a_redis_name_that_does_not_resolve_then_gives_up(tmp_path):
    """What a real cluster showed: the run's Redis Service, created moments before, did not
    resolve yet ("Name or service not known"). redis-py raises a ConnectionError for it, so the
    learner retries with backoff, says so, and gives up naming the host and the cause."""
    import os

    spec, log = _spec(tmp_path), tmp_path / "learner.log"
    host = "tolaria-no-such-host.invalid"  # .invalid never resolves (RFC 2606)
    redis_url = f"redis://{host}:6379/0"
    proc, _ = _start_learner(
        spec, redis_url, {**os.environ}, log, "--checkpoint-uri", f"file://{tmp_path}/checkpoints",
        "--dependency-timeout", "3",
    )  # fmt: skip
    assert proc.wait(timeout=120) == 1
    text = log.read_text()
    waits = re.findall(
        rf"waiting for Redis at {re.escape(redis_url)}: ConnectionError: .*{host}:6379.*next try in ([0-9.]+)s",
        text,
    )
    assert len(waits) >= 2 and waits[:2] == ["0.5", "1.0"], text  # backoff: the delay doubles
    gave_up = [line for line in text.splitlines() if "gave up waiting" in line]
    assert (
        len(gave_up) == 1
        and f"gave up waiting for Redis at {redis_url} after 3s: ConnectionError: " in gave_up[0]
    )
    assert f"connecting to {host}:6379" in gave_up[0], text


def _encoded_segments(count: int, seed: int = 5) -> list[bytes]:
    producer_encoder, producer_model = Encoder(NETWORK), PolicyNetwork(NETWORK)
    torch.manual_seed(seed)
    factory = PayloadFactory(seed)
    return [
        encode_segment(
            synthetic_segment(producer_encoder, producer_model, factory, STEPS, 1, outcome=(1.0, -1.0)[i % 2])
        )
        for i in range(count)
    ]


def _stop_at_forward(model: torch.nn.Module, stop: threading.Event, forwards: int):
    """Sets `stop` (as SIGTERM does) during the `forwards`-th forward pass of `model` from now:
    mid-update, between two of its minibatches."""
    calls = []

    def hook(*_):
        calls.append(1)
        if len(calls) == forwards:
            stop.set()

    return model.register_forward_hook(hook)


def test_a_resumed_learner_makes_exactly_the_update_an_uninterrupted_one_makes(redis_server, tmp_path):
    """One learner makes three updates; another makes one, is stopped in the middle of its second
    (which it abandons) and checkpoints, and a third resumes from that checkpoint, re-reads the
    unacknowledged entries and makes updates two and three: the weights, optimiser state and
    versions equal the uninterrupted learner's bit for bit (CPU)."""
    client = redis.Redis.from_url(redis_server.url)
    entries = _encoded_segments(12)  # three batches of four segments
    config = TrainerConfig(
        network=NETWORK,
        ppo=PPOConfig(
            batch_size=4 * STEPS, minibatch_size=16, epochs=2, warmup_updates=3, lr_decay_updates=2
        ),
        learner=LearnerConfig(device="cpu", threads=1, read_block_ms=100, checkpoint_every_updates=1000),
    )
    learners = {}
    for name in ("straight", "stopped"):
        keys = RunKeys("test", f"resume-{name}")
        for data in entries:
            client.xadd(keys.rollouts, {STREAM_FIELD: data})
        learners[name] = (keys, open_store(f"file://{tmp_path}/{name}"))

    keys, store = learners["straight"]
    straight = Learner(config, client, keys, store)
    straight.start()
    straight.run(threading.Event(), max_updates=3)
    assert straight.step == 3

    keys, store = learners["stopped"]
    first = Learner(config, client, keys, store)
    first.start()
    first.run(threading.Event(), max_updates=1)  # checkpoints at the end of its run, at step 1
    stop = threading.Event()
    second = Learner(config, client, keys, store)
    second.start()
    assert second.step == 1
    # update 2 has 2 epochs x 4 minibatches: stopped during the third of them
    hook = _stop_at_forward(second.trainer.model, stop, 3)
    second.run(stop, max_updates=2)
    hook.remove()
    assert second.step == 1 and store.latest().step == 1  # abandoned, not half-applied
    assert _pending(client, keys) == 8  # the two batches still to use stay unacknowledged
    resumed = Learner(config, client, keys, store)
    resumed.start()
    resumed.run(threading.Event(), max_updates=2)

    assert (resumed.step, resumed.version) == (straight.step, straight.version) == (3, 4)
    for name, tensor in straight.trainer.model.state_dict().items():
        assert torch.equal(tensor, resumed.trainer.model.state_dict()[name]), name
    ours, theirs = resumed.trainer.optimizer.state_dict(), straight.trainer.optimizer.state_dict()
    for param, state in theirs["state"].items():
        for field_name, value in state.items():
            assert torch.equal(value, ours["state"][param][field_name]), (param, field_name)
    assert resumed.trainer.scheduler.state_dict() == straight.trainer.scheduler.state_dict()
    assert resumed.last_stats["learning_rate"] == straight.last_stats["learning_rate"]
    assert resumed.counters == straight.counters


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["small", "medium", "large"])
def test_a_stop_during_an_update_checkpoints_within_one_minibatch_on_every_preset(preset, tmp_path):
    """The default minibatch (1,024 samples) of the full-size network: a stop that arrives during
    an update's first minibatch is honoured when that minibatch ends, and the checkpoint follows,
    far inside the learner pod's grace period (`LEARNER_GRACE_SECONDS`)."""
    from tolaria.operator.children import LEARNER_GRACE_SECONDS
    from tolaria.trainer.checkpoint import Checkpoint
    from tolaria.trainer.ppo import PPOTrainer, build_batch

    torch.manual_seed(0)
    torch.set_num_threads(2)
    network = NetworkConfig.from_preset(preset)
    encoder, model = Encoder(network), PolicyNetwork(network)
    factory = PayloadFactory(0)
    segments = [synthetic_segment(encoder, model, factory, 256, 1, outcome=1.0) for _ in range(8)]
    trainer = PPOTrainer(model, PPOConfig(), LearnerConfig(device="cpu"))
    batch = build_batch(segments, trainer.config)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    stop = threading.Event()
    forwards = []
    model.register_forward_hook(lambda *_: forwards.append(time.monotonic()) or stop.set())
    assert trainer.update(batch, stop) is None
    store = open_store(f"file://{tmp_path}/ckpt")
    state = trainer.state()
    store.save(Checkpoint(1, 1, {}, {}, state.model, state.optimizer, state.scheduler))
    seconds = time.monotonic() - forwards[0]
    assert len(forwards) == 1  # 8 minibatches x 4 epochs were due: the first one ended the update
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert seconds < LEARNER_GRACE_SECONDS / 2, seconds
