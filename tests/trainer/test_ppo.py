from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tolaria.rollouts import Segment
from tolaria.trainer.config import LearnerConfig, NetworkConfig, PPOConfig
from tolaria.trainer.encoding import Encoder
from tolaria.trainer.policy import PolicyNetwork, to_tensors
from tolaria.trainer.ppo import PPOTrainer, build_batch, gae, policy_lag, ppo_loss
from trainer import payloads as P


def test_gae_by_hand():
    adv, ret = gae(
        np.array([0, 0, 1.0]),
        np.array([0.5, 0.4, 0.3], np.float32),
        np.array([0, 0, 1], bool),
        bootstrap_value=0.0,
        gamma=0.9,
        lam=0.8,
    )
    # t=2: 1 - 0.3 = 0.7; t=1: 0.9*0.3 - 0.4 + 0.72*0.7 = 0.374; t=0: 0.9*0.4 - 0.5 + 0.72*0.374
    np.testing.assert_allclose(adv, [0.12928, 0.374, 0.7], rtol=1e-5)
    np.testing.assert_allclose(ret, [0.62928, 0.774, 1.0], rtol=1e-5)


def test_gae_stops_at_done_and_bootstraps_a_cut_segment():
    adv, _ = gae(
        np.array([1.0, 0.0]),
        np.array([0.2, 0.6], np.float32),
        np.array([1, 0], bool),
        bootstrap_value=0.5,
        gamma=0.9,
        lam=0.8,
    )
    np.testing.assert_allclose(adv, [0.8, 0.9 * 0.5 - 0.6], rtol=1e-6)


def test_ppo_loss_by_hand():
    old = torch.tensor([-1.0, -2.0])
    new = old + torch.log(torch.tensor([1.5, 0.5]))
    config = PPOConfig(normalize_advantages=False, clip_range=0.2, value_coef=0.5, entropy_coef=0.01)
    terms = ppo_loss(
        new,
        old,
        torch.tensor([1.0, 2.0]),
        torch.tensor([1.0, 0.0]),
        torch.tensor([0.5, 0.5]),
        torch.tensor([1.0, -1.0]),
        torch.tensor([2.0, 0.0]),
        config,
    )
    assert math.isclose(float(terms.policy_loss), -0.2, abs_tol=1e-6)
    assert math.isclose(float(terms.value_loss), 0.445, abs_tol=1e-6)
    assert math.isclose(float(terms.entropy), 1.5, abs_tol=1e-6)
    assert math.isclose(float(terms.loss), -0.2 - 0.015 + 0.2225, abs_tol=1e-6)
    assert float(terms.clip_fraction) == 1.0
    expected_kl = ((0.5 - math.log(1.5)) + (-0.5 - math.log(0.5))) / 2
    assert math.isclose(float(terms.approx_kl), expected_kl, rel_tol=1e-5)
    unclipped = ppo_loss(
        new,
        old,
        torch.zeros(2),
        torch.tensor([1.0, 0.0]),
        torch.tensor([0.5, 0.5]),
        torch.tensor([1.0, -1.0]),
        torch.tensor([2.0, 0.0]),
        PPOConfig(normalize_advantages=False, clip_value_loss=False),
    )
    assert math.isclose(float(unclipped.value_loss), 0.5 * (1.0 + 0.0) / 2, abs_tol=1e-6)


def test_policy_lag_uses_the_oldest_step():
    seg = Segment(
        observations={},
        action=np.zeros((3, 1), np.int32),
        log_prob=np.zeros(3, np.float32),
        value=np.zeros(3, np.float32),
        reward=np.zeros(3, np.float32),
        done=np.zeros(3, bool),
        policy_version=np.array([5, 6, 7]),
    )
    assert policy_lag(seg, 9) == 4


def one_step_games(observations, actions, log_probs, values, rewards) -> list[Segment]:
    """One segment per decision, each a whole game of one step ending with its reward."""
    return [
        Segment(
            observations={k: v[i : i + 1] for k, v in observations.items()},
            action=actions[i : i + 1].numpy().astype(np.int32),
            log_prob=log_probs[i : i + 1],
            value=values[i : i + 1].numpy(),
            reward=rewards[i : i + 1],
            done=np.ones(1, bool),
            policy_version=np.zeros(1, np.int64),
        )
        for i in range(len(rewards))
    ]


@pytest.mark.slow
def test_ppo_learns_to_say_yes():
    """One-step games: answering y wins (+1), n loses (-1). PPO must move P(y) up."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    network = NetworkConfig.from_preset("small")
    encoder, model = Encoder(network), PolicyNetwork(network)
    trainer = PPOTrainer(
        model,
        PPOConfig(learning_rate=3e-3, minibatch_size=64, epochs=4, warmup_updates=0),
        LearnerConfig(device="cpu"),
    )
    payloads = [P.yes_no("confirm_action") for _ in range(256)]
    observations = encoder.encode(payloads)
    batch_tensors = to_tensors(observations)

    @torch.no_grad()
    def p_yes() -> float:
        logits, _ = model(batch_tensors)
        return float(torch.softmax(logits["one"], -1)[:, 0].mean())

    before = p_yes()
    for _ in range(8):
        actions, log_probs, values = model.act(batch_tensors)
        reward = np.where(actions[:, 0].numpy() == 0, 1.0, -1.0).astype(np.float32)
        segments = one_step_games(observations, actions, log_probs.numpy(), values, reward)
        stats = trainer.update(build_batch(segments, trainer.config))
        assert all(math.isfinite(v) for k, v in stats.items() if k != "explained_variance")
    assert p_yes() > max(0.9, before + 0.3), (before, p_yes())


@pytest.mark.slow
def test_compiled_network_matches_the_eager_one_and_trains():
    """`learner.compile`: torch.compile (inductor, here on the CPU) computes what the eager
    network does, and PPO updates run through it."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    network = NetworkConfig.from_preset("small", d_model=32, ff_dim=64)
    encoder, model = Encoder(network), PolicyNetwork(network)
    trainer = PPOTrainer(
        model,
        PPOConfig(minibatch_size=32, epochs=1, warmup_updates=0),
        LearnerConfig(device="cpu", compile=True),
    )
    assert trainer.forward is not model
    observations = encoder.encode(P.every_decision_type() * 4)
    tensors = to_tensors(observations)
    with torch.no_grad():
        eager_logits, eager_values = model(tensors)
        compiled_logits, compiled_values = trainer.forward(tensors)
    torch.testing.assert_close(compiled_values, eager_values, rtol=1e-4, atol=1e-4)
    for head, logits in eager_logits.items():
        finite = torch.isfinite(logits)
        torch.testing.assert_close(compiled_logits[head][finite], logits[finite], rtol=1e-4, atol=1e-4)

    before = [p.detach().clone() for p in model.parameters()]
    actions, log_probs, values = model.act(tensors)
    n = len(values)
    segment = Segment(
        observations=observations,
        action=actions.numpy().astype(np.int32),
        log_prob=log_probs.numpy(),
        value=values.numpy(),
        reward=np.where(np.arange(n) % 2 == 0, 1.0, -1.0).astype(np.float32),
        done=np.ones(n, bool),
        policy_version=np.zeros(n, np.int64),
    )
    stats = trainer.update(build_batch([segment], trainer.config))
    assert all(math.isfinite(v) for k, v in stats.items() if k != "explained_variance")
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_a_minibatch_whose_ratio_overflows_is_skipped_and_the_weights_stay_finite():
    """A recorded behaviour log-probability of -200 makes exp(new - old) overflow float32: that
    minibatch must not reach the weights (the learner would publish NaN), the others still train."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    network = NetworkConfig.from_preset("small")
    encoder, model = Encoder(network), PolicyNetwork(network)
    trainer = PPOTrainer(
        model,
        PPOConfig(learning_rate=3e-3, minibatch_size=32, epochs=1, warmup_updates=0),
        LearnerConfig(device="cpu"),
    )
    observations = encoder.encode([P.yes_no("confirm_action") for _ in range(64)])
    actions, log_probs, values = model.act(to_tensors(observations))
    log_probs = log_probs.numpy().copy()
    segments = one_step_games(observations, actions, log_probs, values, np.full(64, -1.0, np.float32))
    batch = build_batch(segments, trainer.config)
    batch.log_probs[:] = -200.0
    before = {k: v.clone() for k, v in model.state_dict().items()}
    stats = trainer.update(batch)
    assert stats["skipped_minibatches"] == 2
    assert math.isnan(stats["loss"])  # no minibatch trained
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), name

    batch.log_probs[:32] = log_probs[:32]  # one sane minibatch of two (order is shuffled: any half)
    stats = trainer.update(batch)
    assert 0 < stats["skipped_minibatches"] <= 2
    assert all(torch.isfinite(v).all() for v in model.state_dict().values())
