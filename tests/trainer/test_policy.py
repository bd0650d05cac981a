from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from tolaria.trainer.config import NetworkConfig
from tolaria.trainer.encoding import KIND_SUBSET, Encoder
from tolaria.trainer.policy import PolicyNetwork, action_log_probs, to_tensors
from tolaria.trainer.synthetic import PayloadFactory
from trainer import payloads as P


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)
    torch.manual_seed(0)


@pytest.mark.parametrize("preset", ["small", "medium"])
def test_every_reply_to_random_payloads_is_legal(preset):
    config = NetworkConfig.from_preset(preset)
    encoder, model = Encoder(config), PolicyNetwork(config)
    factory = PayloadFactory(seed=11, compact=preset == "medium")
    checked = 0
    for _ in range(4 if preset == "small" else 1):
        payloads = [factory.payload() for _ in range(400)] + P.every_decision_type()
        batch = to_tensors(encoder.encode(payloads))
        for greedy in (False, True):
            actions, log_probs, values = model.act(batch, greedy=greedy)
            assert (
                torch.isfinite(log_probs).all() and (log_probs <= 1e-5).all() and torch.isfinite(values).all()
            )
            for payload, action in zip(payloads, actions.numpy(), strict=True):
                reply = encoder.reply_text(payload, action)
                assert P.legal_reply(payload, reply), (payload["decision_type"], reply)
                checked += 1
    assert checked >= 800


@pytest.mark.parametrize("greedy", [False, True])
def test_act_log_probs_match_evaluate(greedy):
    """The actor's behaviour log-probabilities (the sampler's own) are the learner's."""
    config = NetworkConfig.from_preset("small")
    encoder, model = Encoder(config), PolicyNetwork(config)
    factory = PayloadFactory(5)
    batch = to_tensors(encoder.encode([factory.payload() for _ in range(200)] + P.every_decision_type()))
    actions, log_probs, values = model.act(batch, greedy=greedy)
    again, entropy, values_again = model.evaluate(batch, actions)
    torch.testing.assert_close(log_probs, again)
    torch.testing.assert_close(values, values_again)
    assert (entropy >= -1e-6).all()
    loss = -(again.mean()) + values_again.pow(2).mean() - entropy.mean()
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_subset_distribution_is_normalised_and_sampled_exactly():
    """Conditional Bernoulli: probabilities of all subsets with min <= size <= max sum to 1, and
    sampling frequencies follow them."""
    config = NetworkConfig.from_preset("small", max_options=4)
    encoder = Encoder(config)
    payload = P.choose_cards()
    payload["cards"] = [dict(payload["cards"][0], index=i, id=40 + i) for i in range(4)]
    payload.update(min=1, max=2)
    arrays = encoder.encode([payload])
    batch = to_tensors(arrays)
    assert int(batch["kind"][0]) == KIND_SUBSET
    logits = {
        "one": torch.zeros(1, 4),
        "pairs": torch.zeros(1, 4, config.max_block_targets),
        "subset": torch.tensor([[1.5, -0.5, 0.3, -2.0]]),
    }
    subsets = [s for s in itertools.product((0, 1), repeat=4) if 1 <= sum(s) <= 2]
    actions = torch.tensor(subsets)
    big = {k: v.expand(len(subsets), *v.shape[1:]) for k, v in batch.items()}
    lp, _ = action_log_probs(
        {k: v.expand(len(subsets), *v.shape[1:]) for k, v in logits.items()}, big, actions
    )
    assert math.isclose(float(lp.exp().sum()), 1.0, rel_tol=1e-5)

    from tolaria.trainer.policy import sample_actions

    draws = 20000
    many = {k: v.expand(draws, *v.shape[1:]) for k, v in batch.items()}
    sampled, sampled_lp = sample_actions({k: v.expand(draws, *v.shape[1:]) for k, v in logits.items()}, many)
    counts = {s: 0 for s in subsets}
    for row in sampled.tolist():
        counts[tuple(row)] += 1  # a KeyError here would be an illegal subset
    for s, p in zip(subsets, lp.exp().tolist(), strict=True):
        assert abs(counts[s] / draws - p) < 0.015, (s, counts[s] / draws, p)
    by_subset = dict(zip(subsets, lp.tolist(), strict=True))
    expected = torch.tensor([by_subset[tuple(row)] for row in sampled.tolist()])
    assert torch.allclose(sampled_lp, expected, atol=1e-5)


@pytest.mark.parametrize("greedy", [False, True])
def test_a_forced_subset_the_network_would_rather_not_take_is_still_taken(greedy):
    """Choose exactly k of n (a discard to hand size) where every option is improbable: the draw
    takes k, and its log-probability is the learner's (the legal counts' whole mass is ~1e-48)."""
    from tolaria.trainer.policy import sample_actions

    n, k = 14, 8
    config = NetworkConfig.from_preset("small", max_options=16)
    payload = P.choose_cards()
    payload["cards"] = [dict(payload["cards"][0], index=i, id=40 + i) for i in range(n)]
    payload.update(min=k, max=k)
    batch = to_tensors(Encoder(config).encode([payload] * 4))
    subset = torch.full((4, 16), -12.0)
    subset[:, 3] = -30.0
    logits = {
        "one": torch.zeros(4, 16),
        "pairs": torch.zeros(4, 16, config.max_block_targets),
        "subset": subset,
    }
    actions, log_probs = sample_actions(logits, batch, greedy=greedy)
    assert actions.sum(1).tolist() == [k] * 4
    expected, _ = action_log_probs(logits, batch, actions)
    assert (log_probs <= 0).all()
    torch.testing.assert_close(log_probs, expected.to(log_probs.dtype), atol=1e-4, rtol=1e-6)


def test_pairs_and_one_log_probs_by_hand():
    config = NetworkConfig.from_preset("small")
    encoder = Encoder(config)
    batch = to_tensors(encoder.encode([P.declare_blockers(), P.choose_action()]))
    o, t = config.max_options, config.max_block_targets
    pairs = torch.full((2, o, t), -1e9)
    pairs[0, 0, :2] = torch.tensor([0.0, math.log(3.0)])  # no block 1/4, block 3/4
    pairs[0, 1, 0] = 0.0  # the second blocker can block nothing: no block, surely
    one = torch.full((2, o), -1e9)
    one[1, :3] = torch.tensor([0.0, 0.0, math.log(2.0)])  # 1/4, 1/4, 1/2
    logits = {"one": one, "pairs": pairs, "subset": torch.zeros(2, o)}
    actions = torch.zeros(2, o, dtype=torch.long)
    actions[0, 0] = 1
    actions[1, 0] = 2
    lp, ent = action_log_probs(logits, batch, actions)
    assert np.allclose(lp.exp().numpy(), [0.75, 0.5], atol=1e-6)
    # per decision: the mean over its two blockers (the second's choice is sure: entropy 0)
    expected_ent = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75)) / 2
    assert math.isclose(float(ent[0]), expected_ent, rel_tol=1e-5)


def test_reply_text_refuses_actions_that_were_not_offered():
    encoder = Encoder(NetworkConfig.from_preset("small"))
    action = np.zeros(encoder.max_options, dtype=np.int64)
    action[0] = 5
    with pytest.raises(ValueError, match="not offered"):
        encoder.reply_text(P.choose_action(), action)
    assert (
        encoder.reply_text(P.declare_blockers(), np.eye(1, encoder.max_options, 0, dtype=np.int64)[0])
        == "0:0"
    )
    assert encoder.reply_text(P.declare_attackers(), np.zeros(encoder.max_options, dtype=np.int64)) == ""


def test_lone_blocker_on_a_menace_attacker_becomes_no_block():
    config = NetworkConfig.from_preset("small")
    encoder = Encoder(config)
    payload = P.declare_blockers()
    payload["attackers"][0]["keywords"] = ["Menace"]
    batch = to_tensors(encoder.encode([payload]))
    o, t = config.max_options, config.max_block_targets
    pairs = torch.full((1, o, t), -1e9)
    pairs[0, 0, :2] = torch.tensor([-20.0, 20.0])  # blocker 0 all but surely blocks attacker 0
    pairs[0, 1, 0] = 0.0
    logits = {"one": torch.zeros(1, o), "subset": torch.zeros(1, o), "pairs": pairs}
    from tolaria.trainer.policy import sample_actions

    action = sample_actions(logits, batch)[0][0]
    assert action[0] == 0 and encoder.reply_text(payload, action.numpy()) == ""
    lone = np.zeros(o, dtype=np.int64)
    lone[0] = 1
    with pytest.raises(ValueError, match="menace"):
        encoder.reply_text(payload, lone)


def test_entropy_counts_a_subset_or_block_decision_like_a_single_choice():
    """With every option an even coin (subset) and every target equally likely (blocks), the
    entropy bonus of an attack decision is log 2 whether it offers 1 attacker or 10, and a block
    decision's is the mean over its blockers, not the sum."""
    config = NetworkConfig.from_preset("small")
    encoder, model = Encoder(config), PolicyNetwork(config)
    with torch.no_grad():
        for head in (model.subset_head, model.blocker_query, model.pair_score[-1]):
            head.weight.zero_()
            head.bias.zero_()
    one_attacker = P.declare_attackers()
    ten_attackers = P.declare_attackers()
    ten_attackers["attackers"] = [
        {"index": i, "card_id": 100 + i, "name": "Goblin Guide", "power": 2, "toughness": 2}
        for i in range(10)
    ]
    blocks = P.declare_blockers()  # Serra Angel: no block or the attacker; Wall of Omens: no block
    batch = to_tensors(encoder.encode([one_attacker, ten_attackers, blocks]))
    actions, _, _ = model.act(batch)
    _, entropy, _ = model.evaluate(batch, actions)
    assert entropy[0].item() == pytest.approx(math.log(2), rel=1e-5)
    assert entropy[1].item() == pytest.approx(math.log(2), rel=1e-5)
    assert entropy[2].item() == pytest.approx((math.log(2) + 0.0) / 2, rel=1e-5)
