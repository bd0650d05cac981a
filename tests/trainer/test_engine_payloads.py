"""The encoder and policy on real DECISION payloads of the built-in engine: every reply the
policy produces must be accepted by `Decision.parse`, full and compact payloads alike."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from tolaria.engine import CardPool, Game, ReplyError, decision_payload, find_deck, load_deck
from tolaria.trainer.config import NetworkConfig
from tolaria.trainer.encoding import Encoder
from tolaria.trainer.policy import PolicyNetwork, to_tensors

DECKS = Path(__file__).resolve().parents[2] / "decks"


def _play(
    encoder: Encoder, model: PolicyNetwork, decks, seed: int, compact: bool, seen_types: Counter
) -> int:
    game = Game(decks, seed=seed, names=("Agent(1)-a", "Agent(2)-b"), max_turns=30)
    seen: tuple[set[str], set[str]] = (set(), set())
    decision, decisions = game.start(), 0
    while decision is not None:
        if not decision.expects_reply:
            decision = game.submit(None)
            continue
        payload = decision_payload(decision, seen[decision.seat] if compact else None)
        batch = to_tensors(encoder.encode([payload]))
        actions, log_probs, _ = model.act(batch)
        assert torch.isfinite(log_probs).all()
        reply = encoder.reply_text(payload, actions[0].numpy())
        try:
            answer = decision.parse(reply)
        except ReplyError as e:
            pytest.fail(f"illegal reply {reply!r} to {payload['decision_type']}: {e}\n{payload}")
        seen_types[payload["decision_type"]] += 1
        decision = game.submit(answer)
        decisions += 1
    return decisions


@pytest.mark.slow
def test_policy_replies_are_legal_in_real_games():
    torch.manual_seed(0)
    config = NetworkConfig.from_preset("small")
    encoder, model = Encoder(config), PolicyNetwork(config)
    pool = CardPool.default()
    decks = {
        name: load_deck(find_deck(name, [DECKS]), pool)
        for name in ("red_aggro", "white_weenie", "green_midrange", "blue_control")
    }
    seen_types: Counter = Counter()
    total = 0
    pairs = list(itertools.permutations(decks, 2))
    for seed, (a, b) in enumerate(pairs[:6]):
        total += _play(
            encoder, model, (decks[a], decks[b]), seed, compact=seed % 2 == 1, seen_types=seen_types
        )
    assert total > 100
    assert {"choose_action", "declare_attackers", "confirm_action"} <= set(seen_types), seen_types


def test_full_and_compact_engine_payloads_encode_identically():
    pool = CardPool.default()
    decks = (
        load_deck(find_deck("red_aggro", [DECKS]), pool),
        load_deck(find_deck("white_weenie", [DECKS]), pool),
    )
    encoder = Encoder(NetworkConfig.from_preset("small"))
    full_game, compact_game = Game(decks, seed=5), Game(decks, seed=5)
    seen: tuple[set[str], set[str]] = (set(), set())
    full, compact = full_game.start(), compact_game.start()
    for _ in range(60):
        if full is None:
            break
        if full.expects_reply:
            a = encoder.encode([decision_payload(full)])
            b = encoder.encode([decision_payload(compact, seen[compact.seat])])
            for name in a:
                np.testing.assert_array_equal(a[name], b[name], err_msg=name)
        full = full_game.submit(full.default() if full.expects_reply else None)
        compact = compact_game.submit(compact.default() if compact.expects_reply else None)
