from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from torch._dynamo.utils import counters
from torch.utils._python_dispatch import TorchDispatchMode

from tolaria.rollouts import Segment
from tolaria.trainer.config import LearnerConfig, NetworkConfig, PPOConfig
from tolaria.trainer.encoding import KIND_ONE, KIND_PAIRS, KIND_SUBSET, Encoder
from tolaria.trainer.policy import (
    PolicyNetwork,
    all_slots,
    minibatch_widths,
    slot_extents,
    to_tensors,
    trim_padding,
)
from tolaria.trainer.ppo import PPOTrainer, build_batch, gae, learning_rate_factor, policy_lag, ppo_loss
from tolaria.trainer.synthetic import PayloadFactory, synthetic_segment
from trainer import payloads as P


def test_the_learning_rate_ramps_up_then_falls_to_its_floor_and_stays():
    config = PPOConfig(warmup_updates=4, lr_decay_updates=10, final_lr_fraction=0.2)
    factors = [learning_rate_factor(update, config) for update in range(14)]
    # warm-up ramp (update + 1) / 4 times the fall 1 - 0.8 * update / 10
    np.testing.assert_allclose(factors[:4], [0.25 * 1.0, 0.5 * 0.92, 0.75 * 0.84, 1.0 * 0.76])
    np.testing.assert_allclose(factors[4:11], [0.68, 0.6, 0.52, 0.44, 0.36, 0.28, 0.2])
    assert factors[11:] == [0.2] * 3
    assert [learning_rate_factor(u, PPOConfig(warmup_updates=0)) for u in (0, 10**6)] == [1.0, 1.0]


def test_the_trainer_takes_each_update_at_its_scheduled_learning_rate():
    model, segments = _mixed_segments("small", segments=1, d_model=16, ff_dim=32)
    config = PPOConfig(learning_rate=1e-3, minibatch_size=64, epochs=1, warmup_updates=0, lr_decay_updates=2)
    trainer = PPOTrainer(model, config, LearnerConfig(device="cpu"))
    batch = build_batch(segments, trainer.config)
    rates = [trainer.update(batch)["learning_rate"] for _ in range(4)]
    np.testing.assert_allclose(rates, [1e-3, 5.5e-4, 1e-4, 1e-4])


def test_a_resumed_trainer_takes_the_learning_rate_of_its_own_config_at_the_saved_update():
    """A run resumed after its spec's learningRate changed trains at the new rate, where the
    schedule left off (the saved state alone would bring back the old rate)."""
    model, segments = _mixed_segments("small", segments=1, d_model=16, ff_dim=32)
    saved = PPOTrainer(
        model,
        PPOConfig(learning_rate=1e-3, minibatch_size=64, epochs=1, warmup_updates=0, lr_decay_updates=4),
        LearnerConfig(device="cpu"),
    )
    batch = build_batch(segments, saved.config)
    saved.update(batch)
    saved.update(batch)
    state = saved.state()
    lowered = PPOConfig(learning_rate=1e-4, minibatch_size=64, epochs=1, warmup_updates=0, lr_decay_updates=4)
    resumed = PPOTrainer(copy.deepcopy(model), lowered, LearnerConfig(device="cpu"))
    resumed.load_state(state)
    expected = [1e-4 * learning_rate_factor(update, lowered) for update in (2, 3)]
    np.testing.assert_allclose([resumed.update(batch)["learning_rate"] for _ in range(2)], expected)


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
        assert all(math.isfinite(v) for k, v in stats.items() if k != "explained_variance" and ":" not in k)
    assert p_yes() > max(0.9, before + 0.3), (before, p_yes())


def _mixed_segments(preset: str, segments: int = 3, steps: int = 100, **overrides) -> tuple:
    """(model, segments): random decisions of every kind answered by a fresh network."""
    torch.manual_seed(0)
    network = NetworkConfig.from_preset(preset, **overrides)
    encoder, model = Encoder(network), PolicyNetwork(network)
    factory = PayloadFactory(0)
    return model, [
        synthetic_segment(encoder, model, factory, steps, 0, outcome=(-1.0, 1.0)[i % 2])
        for i in range(segments)
    ]


def _same_update(stats: dict[str, float], expected: dict[str, float]) -> None:
    for name, value in expected.items():
        if name != "seconds":
            assert stats[name] == pytest.approx(value, rel=1e-4, abs=1e-7, nan_ok=True), name


@pytest.mark.parametrize("preset", ["small", "medium"])
def test_bucketed_static_shapes_give_the_update_of_exact_widths(preset):
    """What a GPU or compiled learner runs (every card slot, widths rounded up to buckets) and what
    the CPU learner runs (present cards, exact widths) make the same update, to float tolerance."""
    torch.set_num_threads(1)
    model, segments = _mixed_segments(preset, d_model=32, ff_dim=64)
    updates = {}
    for bucketed in (False, True):
        trainer = PPOTrainer(
            copy.deepcopy(model),
            PPOConfig(minibatch_size=64, epochs=2, warmup_updates=0),
            LearnerConfig(device="cpu"),
        )
        trainer.bucketed = bucketed  # what the learner does on a GPU, here on the CPU
        updates[bucketed] = trainer, trainer.update(build_batch(segments, trainer.config))
    (exact, expected), (bucketed, stats) = updates[False], updates[True]
    assert stats["skipped_minibatches"] == 0
    _same_update(stats, expected)
    for a, b in zip(exact.model.parameters(), bucketed.model.parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)


def test_minibatch_widths_read_on_the_host_are_those_of_the_device_batch():
    _, segments = _mixed_segments("small")
    observations = build_batch(segments, PPOConfig()).observations
    extents, slots = slot_extents(observations), all_slots(observations)
    rng = np.random.default_rng(0)
    for size in (1, 7, 64, len(extents)):
        rows = rng.permutation(len(extents))[:size]
        batch = to_tensors({k: v[rows] for k, v in observations.items()})
        trimmed = trim_padding(batch)
        widths = minibatch_widths(extents[rows], slots, bucket=False)
        assert (widths.cards, widths.options, widths.targets) == (
            trimmed["card_mask"].shape[1],
            trimmed["option_mask"].shape[1],
            trimmed["target_feat"].shape[1],
        )
        subset = batch["option_mask"][batch["kind"] == KIND_SUBSET].sum(1)
        assert widths.subset == (int(subset.max()) if len(subset) else 0)
        bucketed = minibatch_widths(extents[rows], slots, bucket=True)
        assert widths.cards <= bucketed.cards <= slots.cards and widths.options <= bucketed.options
        assert bucketed.subset == bucketed.options and bucketed.targets == slots.targets


# aten operations that make the host wait for a CUDA device: they return (or need, to size their
# output) a value computed there.
_HOST_READS = {"_local_scalar_dense", "nonzero", "masked_select", "is_nonzero", "item"}


class _HostReads(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.reads: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        boolean_index = name == "index" and any(
            isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in args[1] if i is not None
        )
        if name in _HOST_READS or boolean_index:
            self.reads.append(name)
        return func(*args, **(kwargs or {}))


def test_a_bucketed_update_reads_nothing_from_the_device_between_minibatches():
    """On the path a GPU learner takes, no operation of an update waits for a value the device
    computes (on CUDA each would stall the host every minibatch); the update's figures are read once,
    at its end, which on the CPU is no operation at all. The CPU learner's exact widths need such
    reads (the present cards), and pay nothing for them on a CPU."""
    torch.set_num_threads(1)
    model, segments = _mixed_segments("small", d_model=16, ff_dim=32)
    trainer = PPOTrainer(model, PPOConfig(minibatch_size=64, epochs=2), LearnerConfig(device="cpu"))
    batch = build_batch(segments, trainer.config)
    trainer.bucketed = True
    with _HostReads() as bucketed:
        trainer.update(batch)
    assert bucketed.reads == []
    trainer.bucketed = False
    with _HostReads() as exact:
        trainer.update(batch)
    assert "nonzero" in exact.reads


def test_a_minibatch_whose_loss_is_not_finite_is_skipped_and_counted():
    """A non-finite return poisons its minibatch's value loss and gradient: that minibatch's step is
    skipped on the device (weights, Adam moments and step count as they were), the others are taken,
    and the update counts the skipped ones."""
    torch.set_num_threads(1)
    model, segments = _mixed_segments("small", segments=2, d_model=16, ff_dim=32)
    trainer = PPOTrainer(
        model, PPOConfig(minibatch_size=50, epochs=2, warmup_updates=2), LearnerConfig(device="cpu")
    )
    batch = build_batch(segments, trainer.config)  # 200 samples: 4 minibatches an epoch
    batch.returns[17] = np.nan  # in one minibatch of each epoch
    stats = trainer.update(batch)
    assert stats["skipped_minibatches"] == 2
    assert all(math.isfinite(stats[name]) for name in ("loss", "value_loss", "grad_norm")), stats
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert all(int(state["step"]) == 6 for state in trainer.optimizer.state.values())  # 8 - 2 taken

    before = copy.deepcopy(trainer.state())
    batch.returns[:] = np.nan  # every minibatch: nothing changes but the count
    stats = trainer.update(batch)
    assert stats["skipped_minibatches"] == 8 and math.isnan(stats["loss"])
    after = trainer.state()
    assert all(torch.equal(v, before.model[k]) for k, v in after.model.items())
    for param, state in before.optimizer["state"].items():
        for name, value in state.items():
            assert torch.equal(after.optimizer["state"][param][name], value), name
    assert after.scheduler == before.scheduler  # the warmup counts updates that changed the weights


def test_an_unfused_optimiser_state_is_loaded_fused():
    """A checkpoint of an older CPU learner holds an unfused AdamW; the trainer keeps its own fused
    (the skip of a non-finite minibatch is the fused step's)."""
    model, segments = _mixed_segments("small", segments=1, d_model=16, ff_dim=32)
    unfused = torch.optim.AdamW(copy.deepcopy(model).parameters(), lr=1e-3)
    for p in unfused.param_groups[0]["params"]:
        p.grad = torch.ones_like(p)
    unfused.step()
    trainer = PPOTrainer(model, PPOConfig(minibatch_size=50, epochs=1), LearnerConfig(device="cpu"))
    trainer.load_optimizer_state(unfused.state_dict())
    assert trainer.optimizer.param_groups[0]["fused"]
    batch = build_batch(segments, trainer.config)
    batch.returns[0] = np.nan
    assert trainer.update(batch)["skipped_minibatches"] == 1
    assert all(int(state["step"]) == 2 for state in trainer.optimizer.state.values())


def _graphs_and_breaks(trainer: PPOTrainer, batches: list) -> tuple[list[dict], int, int]:
    torch._dynamo.reset()
    counters.clear()
    stats = [trainer.update(batch) for batch in batches]
    return stats, counters["stats"]["unique_graphs"], sum(counters["graph_break"].values())


@pytest.mark.parametrize("preset", ["small", "medium"])
def test_a_compiled_learner_compiles_a_handful_of_graphs_without_breaks(preset, monkeypatch):
    """Many minibatches of varying widths, and a last minibatch of another size in every update:
    the compiled loss (network, distributions and PPO loss) is captured in a few whole graphs, and
    gives the eager update. Graph capture is backend-independent, so it is counted with the
    aot_eager backend here (inductor's code generation takes minutes on two cores; the slow test
    below runs it)."""
    torch.set_num_threads(1)
    model, segments = _mixed_segments(preset, segments=6, steps=70, d_model=16, ff_dim=32)
    config = PPOConfig(minibatch_size=32, epochs=2, warmup_updates=0)
    # updates of 140, 210 and 280 samples: 5, 7 and 9 minibatches an epoch, the last one short
    batches = [build_batch(segments[:k], config) for k in (2, 3, 4)]
    eager = PPOTrainer(copy.deepcopy(model), config, LearnerConfig(device="cpu"))
    expected = [eager.update(batch) for batch in batches]
    compile_ = torch.compile
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: compile_(fn, backend="aot_eager", **kw))
    compiled = PPOTrainer(model, config, LearnerConfig(device="cpu", compile=True))
    stats, graphs, breaks = _graphs_and_breaks(compiled, batches)
    assert breaks == 0
    assert graphs <= 3, graphs  # of 42 minibatches (small: 2, medium: 3)
    for got, want in zip(stats, expected, strict=True):
        _same_update(got, want)


@pytest.mark.slow
def test_inductor_compiled_updates_are_the_eager_ones():
    """`learner.compile` with inductor (here on the CPU): the same updates as the eager learner."""
    torch.set_num_threads(1)
    model, segments = _mixed_segments("small", segments=4, steps=60, d_model=32, ff_dim=64)
    config = PPOConfig(minibatch_size=64, epochs=1, warmup_updates=0)
    batches = [build_batch(segments[:k], config) for k in (2, 4)]
    eager = PPOTrainer(copy.deepcopy(model), config, LearnerConfig(device="cpu"))
    expected = [eager.update(batch) for batch in batches]
    compiled = PPOTrainer(model, config, LearnerConfig(device="cpu", compile=True))
    stats, graphs, breaks = _graphs_and_breaks(compiled, batches)
    assert breaks == 0 and graphs <= 3, (graphs, breaks)
    for got, want in zip(stats, expected, strict=True):
        _same_update(got, want)
    for a, b in zip(eager.model.parameters(), model.parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)


def test_an_update_on_data_many_versions_old_stays_bounded():
    """Behaviour log-probabilities far from the learner's, as from a policy many versions old (here
    -200: a ratio of e^199, which overflows float32): the dual clip bounds each sample's loss by
    c |A| and the log-ratio bound keeps the backward pass finite, so no minibatch is lost and the
    update is the size of any other."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    network = NetworkConfig.from_preset("small")
    encoder, model = Encoder(network), PolicyNetwork(network)
    config = PPOConfig(learning_rate=3e-3, minibatch_size=32, epochs=1, warmup_updates=0)
    trainer = PPOTrainer(model, config, LearnerConfig(device="cpu"))
    observations = encoder.encode([P.yes_no("confirm_action") for _ in range(64)])
    actions, log_probs, values = model.act(to_tensors(observations))
    rewards = np.where(np.arange(64) % 2 == 0, 1.0, -1.0).astype(np.float32)
    segments = one_step_games(observations, actions, log_probs.numpy().copy(), values, rewards)
    batch = build_batch(segments, trainer.config)
    batch.log_probs[:] = -200.0
    stats = trainer.update(batch)
    assert stats["skipped_minibatches"] == 0
    # normalised advantages of +-1 rewards are about +-1: |policy loss| <= c x max |A|
    assert abs(stats["policy_loss"]) <= config.dual_clip * 1.1, stats
    assert math.isfinite(stats["grad_norm"]) and math.isfinite(stats["approx_kl"])
    assert all(torch.isfinite(v).all() for v in model.state_dict().values())


def test_the_dual_clip_caps_the_loss_of_a_negative_advantage_and_cuts_its_gradient():
    config = PPOConfig(normalize_advantages=False, clip_range=0.2, dual_clip=3.0)
    old = torch.zeros(4)
    new = torch.log(torch.tensor([2.0, 5.0, 1e30, 5.0])).requires_grad_()
    advantages = torch.tensor([-1.0, -1.0, -1.0, 1.0])
    terms = ppo_loss(
        new, old, torch.zeros(4), torch.zeros(4), torch.zeros(4), advantages, torch.zeros(4), config
    )
    # per sample: 2 (inside the dual clip), 3 (capped at c|A|), 3 (capped; e^69 bounded to e^20),
    # -1.2 (A > 0: the ordinary clip)
    assert math.isclose(float(terms.policy_loss.detach()), (2 + 3 + 3 - 1.2) / 4, rel_tol=1e-6)
    terms.policy_loss.backward()
    assert torch.isfinite(new.grad).all()
    assert new.grad.tolist() == pytest.approx([0.25 * 2.0, 0.0, 0.0, 0.0])  # d(-A e^x)/dx / 4


def test_approx_kl_and_clip_fraction_are_reported_per_decision_kind():
    """One-step games of choose_action (a single choice), declare_attackers (a subset) and
    declare_blockers (pairs): the update's figures per kind average their own samples only."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    network = NetworkConfig.from_preset("small")
    encoder, model = Encoder(network), PolicyNetwork(network)
    trainer = PPOTrainer(
        model, PPOConfig(minibatch_size=32, epochs=1, warmup_updates=0), LearnerConfig(device="cpu")
    )
    payloads = [P.choose_action(), P.declare_attackers(), P.declare_blockers()] * 32
    observations = encoder.encode(payloads)
    actions, log_probs, values = model.act(to_tensors(observations))
    log_probs = log_probs.numpy().copy()
    log_probs[1::3] -= 1.0  # the subset decisions' behaviour was far less likely: ratio e
    segments = one_step_games(observations, actions, log_probs, values, np.ones(96, np.float32))
    stats = trainer.update(build_batch(segments, trainer.config))
    assert stats["clip_fraction:subset"] == 1.0
    assert math.isclose(stats["approx_kl:subset"], math.e - 2, rel_tol=0.05)
    for kind in ("one", "pairs"):  # their ratios are ~1 in the first minibatch, little moved later
        assert stats[f"clip_fraction:{kind}"] < 0.1 and stats[f"approx_kl:{kind}"] < 0.01, stats
    assert math.isclose(
        stats["approx_kl"],
        np.mean([stats[f"approx_kl:{k}"] for k in ("one", "subset", "pairs")]),
        rel_tol=0.02,
    )


@pytest.mark.parametrize("preset", ["small", "medium"])
def test_first_minibatch_log_ratio_is_about_zero_under_bf16_autocast(preset):
    """The actor records log-probabilities in float32; the learner's trunk runs under bf16
    autocast, its heads and distributions in float32: before any step the log-ratio of every
    decision kind is about zero and no sample looks clipped. (Head weights scaled up, as a trained
    network's confident logits, where bf16 rounding of the logits would show most.)"""
    torch.manual_seed(0)
    network = NetworkConfig.from_preset(preset)
    encoder, model = Encoder(network), PolicyNetwork(network)
    with torch.no_grad():
        for head in (model.one_head, model.subset_head, model.blocker_query, model.target_key):
            head.weight.mul_(20)
    factory = PayloadFactory(1)
    batch = to_tensors(encoder.encode([factory.payload() for _ in range(256)] + P.every_decision_type()))
    actions, behaviour, _ = model.act(batch)
    trainer = PPOTrainer(model, PPOConfig(), LearnerConfig(device="cpu"))
    trainer.autocast_dtype = torch.bfloat16  # what the learner runs on a GPU, here on the CPU
    mb = trim_padding(batch)
    with torch.no_grad():
        log_probs, _, _ = trainer.evaluate(mb, actions[:, : mb["option_mask"].shape[1]])
    assert log_probs.dtype == torch.float32
    log_ratio = log_probs - behaviour
    assert float(log_ratio.abs().mean()) < 0.01
    # one choice or one subset: well inside the clip range (0.2)
    for kind in (KIND_ONE, KIND_SUBSET):
        assert float(log_ratio[mb["kind"] == kind].abs().max()) < 0.1
    # blocks: a choice for each blocker, their log-probabilities summed, so the rounding adds up;
    # still no sample is clipped
    clip = PPOConfig().clip_range
    ratio = log_ratio[mb["kind"] == KIND_PAIRS].exp()
    assert bool(((ratio - 1).abs() < clip).all())
