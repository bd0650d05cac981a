"""The heuristic and random players: legal answers in real games, and the heuristic is a
baseline worth beating (it wins clearly against random play)."""

from __future__ import annotations

import itertools

from engine.helpers import DECK_NAMES, check_invariants, deck
from tolaria.engine import Game, HeuristicPlayer, RandomPlayer, play_game


def _play_checked(pair, players, seed):
    game = Game(pair, seed=seed)
    d = game.start()
    while d is not None:
        answer = players[d.seat].choose(d) if d.expects_reply else None
        d = game.submit(answer)
        check_invariants(game, pair, d)
    return game.result


def test_heuristic_games_keep_invariants_and_end():
    decks = {n: deck(n) for n in DECK_NAMES}
    for i, (a, b) in enumerate(itertools.product(DECK_NAMES, repeat=2)):
        pair = (decks[a], decks[b])
        for seed in (i, i + 100):
            result = _play_checked(pair, (HeuristicPlayer(seed), HeuristicPlayer(seed + 1)), seed)
            assert result is not None


def test_heuristic_beats_random_play():
    decks = {n: deck(n) for n in DECK_NAMES}
    wins = games = 0
    for i, (a, b) in enumerate(itertools.product(DECK_NAMES, repeat=2)):
        for k in range(4):
            seed = 10 * i + k
            heuristic_seat = k % 2
            players = [RandomPlayer(seed), RandomPlayer(seed)]
            players[heuristic_seat] = HeuristicPlayer(seed)
            result = play_game((decks[a], decks[b]), players, seed=seed)
            wins += result.winner == heuristic_seat
            games += 1
    assert wins >= 0.8 * games, f"heuristic won {wins} of {games}"


def test_heuristic_wins_with_the_sanguine_bond_combo():
    """The combo deck's wins come mostly from Sanguine Bond with Exquisite Blood, not combat."""
    decks = {n: deck(n) for n in DECK_NAMES}
    wins = combo_wins = 0
    for i, other in enumerate(DECK_NAMES):
        for k in range(6):
            seed, seat = 10 * i + k, k % 2
            pair = [decks[other], decks[other]]
            pair[seat] = decks["orzhov_sanguine"]
            game = Game(pair, seed=seed)
            players = (HeuristicPlayer(seed), HeuristicPlayer(seed + 1))
            d = game.start()
            while d is not None:
                d = game.submit(players[d.seat].choose(d) if d.expects_reply else None)
            if game.result.winner == seat:
                wins += 1
                names = {c.name for c in game.players[seat].battlefield}
                combo_wins += {"Sanguine Bond", "Exquisite Blood"} <= names
    assert wins >= 0.35 * 6 * len(DECK_NAMES) and combo_wins >= wins / 2, (wins, combo_wins)


def test_heuristic_aims_burn_at_a_killable_threat():
    from engine.helpers import Table

    t = Table(library="Mountain")
    t.hand(0, "Lightning Bolt")
    t.battlefield(0, "Mountain")
    marshal = t.battlefield(1, "Benalish Marshal")[0]
    t.battlefield(1, "Savannah Lions")
    t.start()
    t.pass_until("MAIN1", seat=0)
    ai = HeuristicPlayer(0)
    t.decision = t.game.submit(ai.choose(t.decision))
    d = t.expect("choose_entity", 0)
    assert d.options[ai.choose(d)] is marshal


def test_heuristic_exiles_the_biggest_threat_and_keeps_removal_for_one():
    from engine.helpers import Table

    t = Table(library="Plains")
    t.hand(0, "Swords to Plowshares")
    t.battlefield(0, "Plains")
    t.battlefield(1, "Savannah Lions", "Colossal Dreadmaw", "Elite Vanguard")
    t.start()
    t.pass_until("MAIN1", seat=0)
    ai = HeuristicPlayer(0)
    action = ai.choose(t.decision)
    assert action is not None and action.card.name == "Swords to Plowshares"
    t.decision = t.game.submit(action)
    d = t.expect("choose_entity", 0)
    assert d.options[ai.choose(d)].name == "Colossal Dreadmaw"

    small = Table(library="Plains")
    small.hand(0, "Swords to Plowshares")
    small.battlefield(0, "Plains")
    small.battlefield(1, "Elite Vanguard")
    small.start()
    small.pass_until("MAIN1", seat=0)
    assert HeuristicPlayer(0).choose(small.decision) is None  # a 2/1 is not worth the card


def test_heuristic_goes_face_for_lethal():
    from engine.helpers import Table

    t = Table(library="Mountain")
    t.opp.life = 3
    t.hand(0, "Lightning Bolt")
    t.battlefield(0, "Mountain")
    t.battlefield(1, "Benalish Marshal")
    t.start()
    ai = HeuristicPlayer(0)
    while t.decision is not None and t.decision.seat == 0:
        t.decision = t.game.submit(ai.choose(t.decision))
    assert t.game.result is not None and t.game.result.winner == 0


def test_heuristic_blocks_to_kill_and_chumps_only_to_survive():
    from engine.helpers import Table

    t = Table()
    t.battlefield(0, "Savannah Lions", "Colossal Dreadmaw")
    t.battlefield(1, "Kalonian Tusker", "Elite Vanguard")
    t.start()
    t.answer("0,1")
    d = t.expect("declare_blockers", 1)
    pairs = HeuristicPlayer(0).choose(d)
    assert [(b.name, a.name) for b, a in pairs] == [("Kalonian Tusker", "Savannah Lions")]
    t.opp.life = 6
    pairs = HeuristicPlayer(0).choose(d)
    assert ("Elite Vanguard", "Colossal Dreadmaw") in [(b.name, a.name) for b, a in pairs]


def test_heuristic_divides_damage_to_kill_the_most_valuable_blockers_then_tramples():
    from engine.helpers import Table

    t = Table()
    t.battlefield(0, "Centaur Courser")
    t.battlefield(1, "Llanowar Elves", "Savannah Lions", "Kalonian Tusker")
    t.start()
    t.answer("0")
    t.answer("0:0,1:0,2:0")
    d = t.pass_until("COMBAT_DAMAGE", seat=0, type="assign_combat_damage")
    # 3 damage: the Tusker (3 lethal) is worth more than the Elves and the Lions (1 each) together
    assert HeuristicPlayer(0).choose(d) == (0, 0, 3)

    t = Table()
    t.battlefield(0, "Colossal Dreadmaw")
    t.battlefield(1, "Savannah Lions", "Elite Vanguard")
    t.start()
    t.answer("0")
    t.answer("0:0,1:0")
    d = t.pass_until("COMBAT_DAMAGE", seat=0, type="assign_combat_damage")
    assert HeuristicPlayer(0).choose(d) == (1, 1, 4)


def test_random_player_divides_damage_uniformly_over_legal_divisions():
    from collections import Counter
    from types import SimpleNamespace

    from tolaria.engine.decision import DamageAssignment

    player = RandomPlayer(0)
    split = SimpleNamespace(
        type="assign_combat_damage", options=["x", "y"], min=3, context=DamageAssignment(None, (3, 1))
    )
    seen = Counter(player.choose(split) for _ in range(4000))
    assert set(seen) == {(0, 3), (1, 2), (2, 1), (3, 0)} and all(800 < n < 1200 for n in seen.values())
    trample = SimpleNamespace(
        type="assign_combat_damage", options=["x"], min=3, context=DamageAssignment(None, (2,), "Bob")
    )
    assert {player.choose(trample) for _ in range(400)} == {(3, 0), (2, 1)}


class _Attacker:
    id = 1

    def has(self, keyword: str) -> bool:
        return keyword == "menace"


def test_random_player_is_uniform_over_legal_card_subsets_and_block_assignments():
    from collections import Counter
    from types import SimpleNamespace

    player = RandomPlayer(0)
    pick = SimpleNamespace(type="choose_cards", purpose="discard", options=["a", "b", "c"], min=0, max=3)
    subsets = Counter(frozenset(player.choose(pick)) for _ in range(8000))
    assert len(subsets) == 8 and all(800 < n < 1200 for n in subsets.values()), subsets

    # Two blockers, one menace attacker: no block, or both block it (one alone is illegal).
    menace = _Attacker()
    blocks = SimpleNamespace(
        type="declare_blockers", options=["x", "y"], context=[[0], [0]], attackers=[menace]
    )
    seen = Counter(tuple(b for b, _ in player.choose(blocks)) for _ in range(4000))
    assert set(seen) == {(), ("x", "y")} and abs(seen[()] - 2000) < 200, seen
