from __future__ import annotations

import pickle

import pytest
import torch

from tolaria.trainer.checkpoint import (
    POINTER,
    Checkpoint,
    CheckpointError,
    checkpoint_name,
    deserialize,
    open_store,
    serialize,
)
from tolaria.trainer.config import LearnerConfig, NetworkConfig, PPOConfig, TrainerConfig
from tolaria.trainer.policy import PolicyNetwork
from tolaria.trainer.ppo import PPOTrainer


def _trained_checkpoint(step: int, version: int) -> tuple[Checkpoint, PPOTrainer]:
    torch.manual_seed(step)
    config = TrainerConfig(network=NetworkConfig.from_preset("small", d_model=16, name_buckets=64))
    trainer = PPOTrainer(PolicyNetwork(config.network), PPOConfig(), LearnerConfig(device="cpu"))
    for p in trainer.model.parameters():  # one optimiser step so that Adam has state
        p.grad = torch.randn_like(p)
    trainer.optimizer.step()
    trainer.scheduler.step()
    checkpoint = Checkpoint(
        step=step,
        policy_version=version,
        counters={"samples": 10.0 * step},
        config=config.to_dict(),
        model_state=trainer.model.state_dict(),
        optimizer_state=trainer.optimizer.state_dict(),
        scheduler_state=trainer.scheduler.state_dict(),
    )
    return checkpoint, trainer


def test_roundtrip_restores_model_optimizer_and_scheduler():
    checkpoint, trainer = _trained_checkpoint(3, 2)
    back = deserialize(serialize(checkpoint))
    assert (back.step, back.policy_version, back.counters) == (3, 2, {"samples": 30.0})
    fresh = PPOTrainer(
        PolicyNetwork(NetworkConfig(**back.config["network"])), PPOConfig(), LearnerConfig(device="cpu")
    )
    fresh.model.load_state_dict(back.model_state)
    fresh.optimizer.load_state_dict(back.optimizer_state)
    fresh.scheduler.load_state_dict(back.scheduler_state)
    for a, b in zip(trainer.model.parameters(), fresh.model.parameters(), strict=True):
        assert torch.equal(a, b)
    state_a, state_b = trainer.optimizer.state_dict()["state"], fresh.optimizer.state_dict()["state"]
    assert torch.equal(state_a[0]["exp_avg"], state_b[0]["exp_avg"])
    assert fresh.scheduler.last_epoch == trainer.scheduler.last_epoch


def test_roundtrip_restores_the_random_states_and_the_gradient_scaler():
    """What the next update draws (the numpy shuffler, torch's generators) and the fp16 scaler's
    state come back exactly, so that a resumed learner's next update is the uninterrupted one's."""
    checkpoint, trainer = _trained_checkpoint(2, 2)
    trainer.generator.permutation(100)  # a shuffler that has drawn, at a 128-bit state
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    scaler.scale(torch.ones(()))
    scaler.update(512.0)
    state = trainer.state()
    checkpoint.scaler_state = scaler.state_dict()
    checkpoint.random_state = {
        "numpy": state.numpy_random,
        "torch": state.torch_random,
        "cuda": [torch.get_rng_state()],  # a stand-in for one device's state, as bytes
    }
    back = deserialize(serialize(checkpoint))
    assert back.scaler_state == scaler.state_dict() and back.scaler_state["scale"] == 512.0
    assert back.random_state["numpy"] == state.numpy_random
    assert torch.equal(back.random_state["torch"], state.torch_random)
    assert len(back.random_state["cuda"]) == 1
    assert torch.equal(back.random_state["cuda"][0], torch.get_rng_state())
    expected = trainer.generator.permutation(1000)
    trainer.generator.bit_generator.state = back.random_state["numpy"]
    assert (trainer.generator.permutation(1000) == expected).all()
    assert deserialize(serialize(_trained_checkpoint(1, 1)[0])).random_state is None  # none saved


def test_corrupt_or_foreign_bytes_are_refused():
    data = serialize(_trained_checkpoint(1, 1)[0])
    with pytest.raises(CheckpointError):
        deserialize(data[: len(data) // 2])
    flipped = bytearray(data)
    flipped[-5] ^= 0xFF
    with pytest.raises(CheckpointError, match="sha256"):
        deserialize(bytes(flipped))
    with pytest.raises(CheckpointError):
        deserialize(pickle.dumps({"model": 1}))


def _exercise_store(store):
    assert store.latest() is None
    for step in (1, 2, 3, 4):
        store.save(_trained_checkpoint(step, step + 10)[0])
    assert len(store.checkpoints()) == 2  # keep=2
    newest = store.latest()
    assert (newest.step, newest.policy_version) == (4, 14)

    # a torn newest object (as if the writer died mid-upload without the atomic rename)
    newest_name = store.checkpoints()[-1]
    store._put(newest_name, store._get(newest_name)[:1000])
    assert store.latest().step == 3
    # a pointer that is garbage is ignored as well
    store._put(POINTER, b"{not json")
    assert store.latest().step == 3
    # a writer that died between its object and the pointer: that complete object is the newest
    store._put(checkpoint_name(5), serialize(_trained_checkpoint(5, 15)[0]))
    assert store.latest().step == 5


def test_file_store(tmp_path):
    store = open_store(f"file://{tmp_path}/ckpt", keep=2)
    _exercise_store(store)
    assert not [p for p in (tmp_path / "ckpt").iterdir() if p.name.endswith(".tmp")]


@pytest.mark.integration
def test_s3_store_against_a_real_server(s3_server):
    store = open_store("s3://tolaria/runs/demo", keep=2)
    _exercise_store(store)
    keys = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket="tolaria")["Contents"]]
    assert "runs/demo/latest" in keys and all(k.startswith("runs/demo/") for k in keys)


def test_bad_uris():
    with pytest.raises(ValueError, match="file:// or s3://"):
        open_store("/tmp/x")
    with pytest.raises(ValueError, match="bucket"):
        open_store("s3:///prefix")
