"""answer_text is the inverse of Decision.parse, for every decision the engine asks; the
protocol's first_option_reply is a legal reply to each."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

from engine.helpers import DECK_NAMES
from tolaria.engine import (
    CardPool,
    Game,
    HeuristicPlayer,
    RandomPlayer,
    decision_payload,
    find_deck,
    load_deck,
)
from tolaria.engine.answer_text import answer_text
from tolaria.protocol import first_option_reply

DECKS = Path(__file__).resolve().parents[2] / "decks"


def test_parse_of_answer_text_gives_the_answer_back():
    pool = CardPool.default()
    decks = {name: load_deck(find_deck(name, [DECKS]), pool) for name in DECK_NAMES}
    types: Counter[str] = Counter()
    for seed, (a, b) in enumerate(itertools.permutations(DECK_NAMES, 2)):
        for player_kind in (RandomPlayer, HeuristicPlayer):
            players = (player_kind(seed), player_kind(seed + 1))
            game = Game((decks[a], decks[b]), seed=seed)
            decision = game.start()
            while decision is not None:
                answer = players[decision.seat].choose(decision) if decision.expects_reply else None
                if decision.expects_reply:
                    text = answer_text(decision, answer)
                    assert "\n" not in text
                    assert decision.parse(text) == answer, (decision, answer, text)
                    types[decision.type] += 1
                    if types[decision.type] <= 20:  # the protocol's instant policy is legal too
                        decision.parse(first_option_reply(decision_payload(decision)))
                decision = game.submit(answer)
    assert {
        "choose_action",
        "declare_attackers",
        "declare_blockers",
        "confirm_action",
        "choose_entity",
        "choose_cards",
        "assign_combat_damage",
    } <= types.keys(), types
