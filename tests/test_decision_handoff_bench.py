"""bench/decision_handoff.py's bookkeeping: which player answers a decision, and the per-deck split
of its deals, checked here on real engine decisions rather than inferred from a 2-minute run."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tolaria.engine import CardPool, Game, HeuristicPlayer, RandomPlayer, find_deck, load_deck

BENCH_DIR = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def handoff():
    sys.path.insert(0, str(BENCH_DIR))  # the script imports its sibling learning.py
    spec = importlib.util.spec_from_file_location("decision_handoff_bench", BENCH_DIR / "decision_handoff.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    sys.path.remove(str(BENCH_DIR))


class Recording:
    """A real player that notes which decisions reached it."""

    def __init__(self, player):
        self.player, self.seen = player, []

    def choose(self, decision):
        self.seen.append((decision.type, decision.purpose))
        return self.player.choose(decision)


def test_handed_decisions_go_to_the_ai_by_type_or_type_and_purpose(handoff):
    pool = CardPool.default()
    deck = load_deck(find_deck("blue_control", [BENCH_DIR.parent / "decks"]), pool)
    policy, ai = Recording(RandomPlayer(1)), Recording(HeuristicPlayer(2))
    player = handoff.HandoffPlayer(policy, ai, frozenset({"declare_attackers", "choose_cards:scry"}))
    for seed in range(6):
        game = Game([deck, deck], seed=seed)
        decision = game.start()
        while decision is not None:
            decision = game.submit(player.choose(decision) if decision.expects_reply else None)
    assert ai.seen and policy.seen
    assert all(
        kind == "declare_attackers" or (kind, purpose) == ("choose_cards", "scry")
        for kind, purpose in ai.seen
    )
    assert not any(kind == "declare_attackers" or purpose == "scry" for kind, purpose in policy.seen)


def test_all_hands_every_decision_to_the_ai(handoff):
    pool = CardPool.default()
    deck = load_deck(find_deck("orzhov_sanguine", [BENCH_DIR.parent / "decks"]), pool)
    policy, ai = Recording(RandomPlayer(1)), Recording(HeuristicPlayer(2))
    player = handoff.HandoffPlayer(policy, ai, frozenset({"all"}))
    game = Game([deck, deck], seed=3)
    decision = game.start()
    while decision is not None:
        decision = game.submit(player.choose(decision) if decision.expects_reply else None)
    assert ai.seen and not policy.seen


def test_by_deck_splits_each_rep_by_the_agents_deck(handoff):
    decks = len(handoff.SEVEN_DECKS)
    # two reps; in each, the agent's i-th deck wins exactly its first i of 2 * decks deals
    scores = [
        1.0 if k % (2 * decks) < i else 0.0 for _ in range(2) for i in range(decks) for k in range(2 * decks)
    ]
    rates = [float(r) for r in handoff.by_deck(scores).split(" | ")]
    assert rates == pytest.approx([i / (2 * decks) for i in range(decks)], abs=1e-3)
