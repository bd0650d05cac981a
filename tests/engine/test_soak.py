"""Soak: many random-vs-random games over every ordered deck pairing, with no turn limit;
every game ends by the rules and the invariants hold after every action. TOLARIA_SOAK_GAMES
raises the count (default 2,000)."""

from __future__ import annotations

import itertools
import json
import os

from engine.helpers import DECK_NAMES, check_invariants, deck
from tolaria.engine import Game, RandomPlayer, decision_payload

GAMES = int(os.environ.get("TOLARIA_SOAK_GAMES", "2000"))
PAYLOAD_EVERY = 97  # build and serialise a payload now and then: it must never fail


def test_random_games_end_and_keep_invariants():
    decks = {n: deck(n) for n in DECK_NAMES}
    pairings = list(itertools.product(DECK_NAMES, repeat=2))
    reasons: dict[str, int] = {}
    decisions = 0
    for g in range(GAMES):
        a, b = pairings[g % len(pairings)]
        pair = (decks[a], decks[b])
        game = Game(pair, seed=g)
        players = (RandomPlayer(g), RandomPlayer(g + 7919))
        last_ids = [0, 0]
        d = game.start()
        check_invariants(game, pair, d)
        while d is not None:
            decisions += 1
            assert d.decision_id > last_ids[d.seat]
            last_ids[d.seat] = d.decision_id
            if decisions % PAYLOAD_EVERY == 0:
                json.dumps(decision_payload(d, set() if g % 2 else None))
            d = game.submit(players[d.seat].choose(d) if d.expects_reply else None)
            check_invariants(game, pair, d)
        assert decisions < 10_000_000
        reasons[game.result.reason] = reasons.get(game.result.reason, 0) + 1
    assert sum(reasons.values()) == GAMES
    assert set(reasons) <= {"life", "decking", "draw"}, reasons
    assert reasons.get("life", 0) > GAMES // 2, reasons
