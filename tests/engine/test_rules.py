"""Scenario tests: combat damage, the stack, state-based actions, triggers, mulligans, turn
structure and determinism."""

from __future__ import annotations

import json

import pytest

from engine.helpers import POOL, Table, deck
from tolaria.engine import CardPool, Game, RandomPlayer, ReplyError, decision_payload
from tolaria.engine.answer_text import answer_text
from tolaria.engine.cards import parse_card_file

# -- combat -------------------------------------------------------------------------------


def _two_blockers(division: str) -> Table:
    t = Table()
    t.battlefield(0, "Centaur Courser")
    t.battlefield(1, "Kalonian Tusker", "Savannah Lions")
    t.start()
    t.answer("0")
    t.expect("declare_blockers", 1)
    t.answer("0:0,1:0")
    t.pass_until("COMBAT_DAMAGE", seat=0, type="assign_combat_damage")
    t.answer(division)
    t.pass_all()
    return t


def test_the_attacking_player_divides_damage_among_blockers():
    """510.1c-d: no damage assignment order (gone since Magic Foundations): the attacking player
    divides the damage at the combat damage step, lethal or not, in any split."""
    t = Table()
    t.battlefield(0, "Centaur Courser")
    t.battlefield(1, "Kalonian Tusker", "Savannah Lions")
    t.start()
    t.answer("0")
    t.answer("0:0,1:0")
    d = t.pass_until("COMBAT_DAMAGE", seat=0, type="assign_combat_damage")
    assert d.min == d.max == 3 and d.context.lethal == (3, 1) and d.context.defender is None
    assert [c.name for c in d.options] == ["Kalonian Tusker", "Savannah Lions"]
    for bad, why in (
        ("3", "expected 2 amounts"),
        ("2,2", "add up to 4"),
        ("4,-1", "negative"),
        ("", "amounts"),
    ):
        with pytest.raises(ReplyError, match=why):
            d.parse(bad)
    assert d.default() == (3, 0)
    assert d.parse("2,1") == (2, 1)  # not lethal to the first: allowed without an order


def test_damage_division_decides_which_blocker_dies():
    t = _two_blockers("3,0")  # all 3 to the Tusker, none to the Lions
    assert sorted(c.name for c in t.opp.graveyard) == ["Kalonian Tusker"]
    t = _two_blockers("2,1")  # 1 lethal to the Lions, 2 to the Tusker
    assert sorted(c.name for c in t.opp.graveyard) == ["Savannah Lions"]
    assert [c.name for c in t.me.graveyard] == ["Centaur Courser"]  # 5 damage back
    t = _two_blockers("0,3")  # more than lethal to one blocker is allowed
    assert sorted(c.name for c in t.opp.graveyard) == ["Savannah Lions"]


def test_trample_reaches_the_player_only_past_lethal_damage_to_every_blocker():
    t = Table()
    t.battlefield(0, "Colossal Dreadmaw")
    t.battlefield(1, "Kalonian Tusker", "Savannah Lions")
    t.start()
    t.answer("0")
    t.answer("0:0,1:0")
    d = t.pass_until("COMBAT_DAMAGE", seat=0, type="assign_combat_damage")
    assert d.context.lethal == (3, 1) and d.context.defender is t.opp
    payload = decision_payload(d)
    assert payload["damage"] == 6 and payload["trample"] is True
    assert [b["lethal"] for b in payload["blockers"]] == [3, 1]
    assert payload["defender"] == {"index": 2, "type": "player", "name": "Bob"}
    with pytest.raises(ReplyError, match="trample"):
        d.parse("2,1,3")
    assert d.parse("5,1,0") == (5, 1, 0)  # trample need not reach the player
    assert d.default() == (3, 1, 2)
    t.answer("3,1,2")
    t.pass_all()
    assert t.opp.life == 18 and len(t.opp.graveyard) == 2


def test_a_lone_blocker_without_trample_takes_all_the_damage_unasked():
    t = Table()
    t.battlefield(0, "Centaur Courser")
    lions = t.battlefield(1, "Savannah Lions")[0]
    t.start()
    t.answer("0")
    t.answer("0:0")
    t.pass_all()  # the next decision is Alice's attack of turn 3: nothing was asked in between
    assert lions.zone == "graveyard" and t.decision.type == "declare_attackers" and t.game.turn == 3


def test_first_strike_damage_counts_toward_lethal_in_the_regular_step():
    t = Table()
    ace = t.battlefield(0, "Fencing Ace")[0]
    t.hand(0, "Giant Growth")
    t.battlefield(0, "Forest")
    wall, baloth = t.battlefield(1, "Wall of Air", "Leatherback Baloth")
    t.start()
    t.pass_until("COMBAT_DECLARE_ATTACKERS", type="declare_attackers")
    t.answer("0")
    t.pass_until("COMBAT_DECLARE_BLOCKERS", seat=1, type="declare_blockers")
    t.answer("0:0,1:0")
    t.act("Cast Giant Growth")  # a 4/4 double striker
    t.target(ace)
    t.resolve()
    d = t.pass_until("COMBAT_FIRST_STRIKE_DAMAGE", seat=0, type="assign_combat_damage")
    assert d.context.lethal == (5, 5)
    t.answer("3,1")
    d = t.pass_until("COMBAT_DAMAGE", seat=0, type="assign_combat_damage")
    assert d.context.lethal == (2, 4)  # the first-strike damage is marked already
    t.answer("2,2")
    t.pass_all()
    assert (wall.zone, baloth.zone, ace.zone) == ("graveyard", "battlefield", "graveyard")
    assert baloth.damage == 0  # cleanup: the 3 damage wore off


def test_first_strike_damage_step_only_when_a_first_striker_fights():
    t = Table()
    t.battlefield(0, "Fencing Ace")
    lions = t.battlefield(1, "Savannah Lions")[0]
    t.start()
    t.answer("0")
    t.answer("0:0")
    assert t.decision is None or t.game.phase != "COMBAT_DAMAGE"
    t.pass_all()
    assert lions.zone == "graveyard"  # killed in the first-strike step, it never struck back
    assert [c.name for c in t.me.battlefield] == ["Fencing Ace"]


def test_double_strike_hits_twice_unblocked():
    t = Table()
    t.battlefield(0, "Fencing Ace")
    t.start()
    t.answer("0")
    t.pass_all()
    assert t.opp.life == 18


def test_double_strike_blocked_strikes_again_in_the_regular_step():
    t = Table()
    ace = t.battlefield(0, "Fencing Ace")[0]
    spear = t.battlefield(1, "Monastery Swiftspear")[0]
    t.start()
    t.answer("0")
    t.answer("0:0")
    t.pass_all()
    # 1 first-strike damage alone leaves the 1/2 alive; the second hit kills it, and the
    # Swiftspear strikes back in the regular step.
    assert (ace.zone, spear.zone) == ("graveyard", "graveyard")
    assert t.opp.life == 20


def test_fliers_cannot_be_blocked_by_ground_creatures():
    t = Table()
    t.battlefield(0, "Vampire Nighthawk")
    t.battlefield(1, "Leatherback Baloth")
    t.start()
    t.answer("0")
    # the Baloth can block nothing: Bob gets no declare_blockers decision at all
    t.pass_all()
    assert t.opp.life == 18


def test_lifelink_gains_on_combat_damage_and_deathtouch_kills_any_blocker():
    t = Table()
    t.battlefield(0, "Vampire Nighthawk")
    spider = t.battlefield(1, "Giant Spider")[0]
    t.start()
    t.answer("0")
    t.expect("declare_blockers", 1)
    t.answer("0:0")
    t.pass_all()
    assert spider.zone == "graveyard"
    assert t.me.life == 22
    t2 = Table()
    t2.battlefield(0, "Vampire Nighthawk")
    t2.start()
    t2.answer("0")
    t2.pass_all()
    assert t2.me.life == 22 and t2.opp.life == 18


def test_trample_with_deathtouch_assigns_one_per_blocker():
    extra = """
[[card]]
name = "Test Basilisk"
cost = "{3}{G}"
types = ["Creature"]
power = 5
toughness = 5
keywords = ["trample", "deathtouch"]
text = "Trample, deathtouch"
"""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "basilisk.toml"
        path.write_text(extra)
        pool = CardPool([*POOL.cards.values(), *parse_card_file(path)])
    t = Table(pool=pool)
    t.battlefield(0, "Test Basilisk")
    t.battlefield(1, "Leatherback Baloth", "Giant Spider")
    t.start()
    t.answer("0")
    t.answer("0:0,1:0")
    d = t.expect("assign_combat_damage", 0)
    assert d.context.lethal == (1, 1)  # deathtouch: 1 is lethal
    t.answer("1,1,3")
    t.pass_all()
    assert t.opp.graveyard and len(t.opp.graveyard) == 2
    assert t.opp.life == 17  # 1 + 1 to the blockers, 3 tramples over


def test_menace_needs_two_blockers():
    t = Table()
    t.battlefield(0, "Boggart Brute")
    t.battlefield(1, "Savannah Lions", "Elite Vanguard")
    t.start()
    t.answer("0")
    d = t.expect("declare_blockers", 1)
    with pytest.raises(ReplyError, match="menace"):
        d.parse("0:0")
    t.answer("0:0,1:0")
    t.expect("assign_combat_damage", 0)
    t.answer("1,2")
    t.pass_all()
    assert t.opp.life == 20 and len(t.opp.graveyard) == 2


def test_a_lone_possible_blocker_gets_no_decision_against_menace():
    t = Table()
    t.battlefield(0, "Boggart Brute")
    t.battlefield(1, "Savannah Lions")
    t.start()
    t.answer("0")
    t.pass_all()
    assert t.opp.life == 17


def test_blocked_attacker_whose_blocker_is_gone_deals_no_damage_without_trample():
    t = Table()
    t.battlefield(0, "Centaur Courser")
    t.hand(0, "Lightning Bolt")
    t.battlefield(0, "Mountain")
    lions = t.battlefield(1, "Savannah Lions")[0]
    t.start()
    t.pass_until("COMBAT_DECLARE_ATTACKERS", type="declare_attackers")
    t.answer("0")
    t.pass_until("COMBAT_DECLARE_BLOCKERS", type="declare_blockers")
    t.answer("0:0")
    t.act("Cast Lightning Bolt")
    t.target(lions)
    t.pass_all()
    assert lions.zone == "graveyard" and t.opp.life == 20


COMBAT_STEPS = [
    "COMBAT_BEGIN",
    "COMBAT_DECLARE_ATTACKERS",
    "COMBAT_DECLARE_BLOCKERS",
    "COMBAT_DAMAGE",
    "COMBAT_END",
]


def _priority_steps(t: Table) -> list[tuple[str, int]]:
    """Pass everything until the second main phase; the (step, seat) of every priority offered."""
    seen = []
    while t.game.phase != "MAIN2":
        d = t.decision
        if d.type == "choose_action":
            seen.append((t.game.phase, d.seat))
        t.answer("0" if d.type == "declare_attackers" else "")
    return seen


def test_every_combat_step_gives_both_players_priority():
    t = Table(library="Mountain")
    t.battlefield(0, "Savannah Lions", "Mountain")
    t.hand(0, "Lightning Bolt")
    t.battlefield(1, "Mountain")
    t.hand(1, "Shock")
    t.start()
    t.pass_until("MAIN1", seat=0)
    t.answer("")
    steps = [s for s in _priority_steps(t) if s[0].startswith("COMBAT")]
    assert steps == [(step, seat) for step in COMBAT_STEPS for seat in (0, 1)]
    assert t.opp.life == 18


def test_a_creature_killed_at_the_beginning_of_combat_cannot_attack():
    t = Table(library="Mountain")
    lions = t.battlefield(0, "Savannah Lions")[0]
    t.battlefield(1, "Mountain")
    t.hand(1, "Shock")
    t.start()
    t.pass_until("COMBAT_BEGIN", seat=1)
    t.act("Cast Shock")
    t.target(lions)
    t.resolve()
    assert lions.zone == "graveyard"
    t.pass_until("MAIN2", seat=1)
    assert t.opp.life == 20


def test_without_attackers_blockers_and_damage_steps_are_skipped_but_end_of_combat_is_not():
    t = Table(library="Mountain")
    t.battlefield(0, "Savannah Lions", "Mountain")
    t.hand(0, "Lightning Bolt")
    t.start()
    t.pass_until("MAIN1", seat=0)
    t.answer("")
    seen = []
    while t.game.phase != "MAIN2":
        d = t.decision
        if d.type == "choose_action":
            seen.append(t.game.phase)
        t.answer("")  # declares no attackers
    assert seen == ["COMBAT_BEGIN", "COMBAT_DECLARE_ATTACKERS", "COMBAT_END"]


def test_forge_priority_asks_with_pass_alone_but_not_in_the_steps_forge_skips():
    """Priority as a Forge daemon gives it (its emulation): a choose_action at every priority,
    pass alone included, but none in the first turn's draw step nor in a declare attackers step
    without attackers. What the timing allows is listed payable or not, each copy on request."""
    t = Table(library="Mountain", forge_priority=True)
    t.battlefield(0, "Savannah Lions")
    t.hand(1, "Lightning Bolt", "Lightning Bolt")  # no land: Bob cannot pay for them
    t.start()
    assert [a.description for a in t.game.timely_actions(t.opp)] == ["Cast Lightning Bolt"]
    assert len(t.game.timely_actions(t.opp, distinct=False)) == 2 and t.game.legal_actions(t.opp) == []
    seen = []
    while t.game.turn == 1:
        d = t.decision
        if d.type == "choose_action":
            seen.append((t.game.phase, d.seat, len(d.options)))
        t.answer("")  # passes, declares no attackers
    phases = ("UPKEEP", "MAIN1", "COMBAT_BEGIN", "COMBAT_END", "MAIN2", "END_OF_TURN")
    assert seen == [(phase, seat, 0) for phase in phases for seat in (0, 1)]


def test_a_creature_shot_after_combat_damage_dies_with_that_damage():
    t = Table(library="Mountain")
    t.battlefield(0, "Centaur Courser", "Mountain")
    t.hand(0, "Shock")
    spider = t.battlefield(1, "Giant Spider")[0]
    t.start()
    t.pass_until("COMBAT_DECLARE_ATTACKERS", type="declare_attackers")
    t.answer("0")
    t.pass_until("COMBAT_DECLARE_BLOCKERS", seat=1, type="declare_blockers")
    t.answer("0:0")
    t.pass_until("COMBAT_DAMAGE", seat=0)
    assert spider.damage == 3
    t.act("Cast Shock")
    t.target(spider)
    t.resolve()
    assert spider.zone == "graveyard"


# -- the stack ----------------------------------------------------------------------------


def test_responses_resolve_last_in_first_out():
    t = Table(library="Island")
    t.hand(0, "Lightning Bolt", "Counterspell")
    t.battlefield(0, "Mountain", "Island", "Island")
    t.hand(1, "Counterspell")
    t.battlefield(1, "Island", "Island")
    t.start()
    t.pass_until("MAIN1", seat=0)
    t.act("Cast Lightning Bolt")
    t.target("Bob")
    t.answer("")  # Alice passes with the Bolt on the stack
    t.act("Cast Counterspell", seat=1)
    d = t.expect("choose_action", 0)
    assert [it.card.name for it in t.game.stack] == ["Lightning Bolt", "Counterspell"]
    assert decision_payload(d)["game_state"]["stack"][0]["source_card"] == "Counterspell"  # top first
    t.act("Cast Counterspell", seat=0)
    t.target(t.game.stack[1])  # Bob's Counterspell, not her own Bolt
    t.resolve()
    assert t.opp.life == 17  # the Bolt survived: the last Counterspell resolved first


def test_a_spell_whose_only_target_is_gone_is_countered_on_resolution():
    t = Table()
    t.hand(0, "Swords to Plowshares")
    t.battlefield(0, "Plains")
    t.hand(1, "Lightning Bolt")
    t.battlefield(1, "Mountain")
    lions = t.battlefield(1, "Savannah Lions")[0]
    t.start()
    t.pass_until("MAIN1", seat=0)
    t.act("Cast Swords to Plowshares")
    t.act("Cast Lightning Bolt", seat=1)
    t.target(lions)
    t.resolve()
    assert lions.zone == "graveyard" and t.opp.life == 20  # no life from a fizzled Swords
    assert [c.name for c in t.me.graveyard] == ["Swords to Plowshares"]


# -- state-based actions and game end ---------------------------------------------------------


def test_zero_life_loses():
    t = Table()
    t.opp.life = 3
    t.hand(0, "Lightning Bolt")
    t.battlefield(0, "Mountain")
    t.start()
    t.pass_until("MAIN1", seat=0)
    t.act("Cast Lightning Bolt")
    t.target("Bob")
    assert t.decision is None
    assert t.game.result.winner == 0 and t.game.result.reason == "life"
    assert t.opp.lost


def test_zero_toughness_dies_without_damage():
    t = Table()
    lions = t.battlefield(1, "Savannah Lions")[0]
    lions.pump_toughness = -1  # as an "until end of turn" -X/-1 effect leaves it
    t.start()
    assert lions.zone == "graveyard" and lions.damage == 0


def test_drawing_from_an_empty_library_loses():
    t = Table(library_size=0)
    t.battlefield(0, "Savannah Lions")
    t.start()
    t.answer("")  # no attack; Bob draws from an empty library on turn 2
    assert t.decision is None
    assert t.game.result.winner == 0 and t.game.result.reason == "decking"


def test_there_is_no_turn_limit_by_default_decking_ends_the_game():
    t = Table(library_size=80)
    assert t.game.max_turns is None
    t.start()
    while t.decision is not None:
        t.answer(answer_text(t.decision, t.decision.default()))
    assert t.game.result.reason == "decking" and t.game.result.turns == 162
    assert t.game.result.winner == 0  # Bob draws from turn 2 on: his 81st draw comes first


def test_a_turn_limit_must_be_positive():
    with pytest.raises(ValueError, match="max_turns"):
        Table(max_turns=0)


def test_turn_limit_is_a_draw():
    t = Table(max_turns=4)
    t.battlefield(0, "Savannah Lions")
    t.battlefield(1, "Savannah Lions")
    t.start()
    while t.decision is not None:
        t.answer("")
    assert t.game.result.winner is None and t.game.result.reason == "turn_limit"
    assert t.game.result.turns == 4


def test_concede_ends_the_game():
    g = Game((deck("red_aggro"), deck("blue_control")), seed=3)
    assert g.start() is not None
    g.concede(1)
    assert g.result.winner == 0 and g.result.reason == "concede"


def test_cleanup_discards_down_to_seven():
    t = Table()
    t.hand(0, *["Air Elemental"] * 9)
    t.start()
    d = t.expect("choose_cards", 0)
    assert d.purpose == "discard" and d.min == d.max == 2 and t.game.phase == "CLEANUP"
    t.answer("0,1")
    assert len(t.me.hand) == 7 and len(t.me.graveyard) == 2


def test_first_player_skips_the_first_draw():
    t = Table()
    t.hand(0, "Lightning Bolt")
    t.battlefield(0, "Mountain")
    t.start()
    t.pass_until("MAIN1", seat=0)
    assert len(t.me.hand) == 1 and len(t.me.library) == 20


def test_one_land_per_turn():
    t = Table()
    t.hand(0, "Plains", "Plains", "Savannah Lions")
    t.start()
    t.act("Play Plains")
    assert not t.has_action("Play Plains")


def test_lands_played_this_turn_starts_over_for_both_players():
    t = Table()
    t.hand(0, "Plains")
    t.hand(1, "Plains", "Savannah Lions")
    t.start()
    t.act("Play Plains")  # Alice has nothing more to do: Bob's turn begins
    assert t.game.active is t.opp and t.decision.seat == 1
    players = decision_payload(t.decision)["game_state"]["players"]
    assert [p["lands_played_this_turn"] for p in players] == [0, 0]


def test_upkeep_triggers_of_your_own_upkeep_only():
    t = Table()
    t.battlefield(0, "Phyrexian Arena")
    t.start()  # turn 1 has no draw step: the Plains in hand is the Arena's
    assert t.decision.seat == 0 and t.me.life == 19 and t.me.lost_life_this_turn
    assert [c.name for c in t.me.hand] == ["Plains"]
    t.act("Play Plains")  # Alice is done; Bob's upkeep leaves the Arena silent
    assert t.game.active is t.opp and t.decision.seat == 1
    assert t.me.life == 19 and t.me.hand == []


def test_sorceries_wait_for_an_empty_stack_in_your_main_phase():
    t = Table(library="Mountain")
    t.hand(0, "Lava Spike", "Lightning Bolt", "Lightning Bolt")
    t.battlefield(0, "Mountain", "Mountain", "Mountain")
    t.start()
    d = t.expect("choose_action", 0)
    assert t.game.phase == "UPKEEP" and [a.description for a in d.options] == ["Cast Lightning Bolt"]
    t.pass_until("MAIN1", seat=0)
    assert t.has_action("Cast Lava Spike")
    t.act("Cast Lightning Bolt")
    t.target("Bob")
    d = t.expect("choose_action", 0)  # the Bolt is on the stack: instants only
    assert t.game.stack and [a.description for a in d.options] == ["Cast Lightning Bolt"]


# -- triggers ----------------------------------------------------------------------------


def test_simultaneous_triggers_go_on_the_stack_active_player_first():
    t = Table()
    t.battlefield(0, "Eidolon of the Great Revel", "Plains", "Mountain")
    t.battlefield(1, "Soldier of the Pantheon")
    t.hand(0, "Dryad Militant", "Lightning Bolt")
    t.start()
    t.pass_until("MAIN1", seat=0)
    t.act("Cast Dryad Militant")
    d = t.expect("choose_action", 0)
    texts = [it.text for it in t.game.stack]
    assert texts[0] == "Dryad Militant"
    assert texts[1].startswith("Eidolon") and texts[2].startswith("Soldier")  # Bob's resolves first
    assert d.type == "choose_action"


# -- mulligans and determinism ---------------------------------------------------------------


def test_mulligans_follow_rule_103_4_round_by_round_in_turn_order():
    """Both draw seven; each declares in turn order; declared mulligans are taken together (a new
    seven, one card per mulligan to the bottom); the next round asks only who mulliganed."""
    g = Game((deck("red_aggro"), deck("white_weenie")), seed=11)
    d = g.start()
    first, second = g.active, g.active.opponent
    assert len(first.hand) == len(second.hand) == 7  # both hands drawn before anyone declares
    assert (d.type, d.purpose, d.seat) == ("confirm_action", "mulligan", first.seat)
    first_hand = list(first.hand)
    d = g.submit(d.parse("n"))
    # the other player declares before the starting player's mulligan is taken
    assert (d.type, d.purpose, d.seat) == ("confirm_action", "mulligan", second.seat)
    assert first.hand == first_hand and first.mulligans == 0
    d = g.submit(d.parse("n"))
    # both mulligans at once, in turn order: each draws seven and puts one on the bottom
    assert (d.type, d.purpose, d.seat, d.min, d.max) == ("choose_cards", "mulligan_bottom", first.seat, 1, 1)
    assert first.mulligans == second.mulligans == 1 and len(first.hand) == 7
    bottom = d.options[0]
    d = g.submit(d.parse("0"))
    assert len(first.hand) == 6 and first.library[-1] is bottom and len(first.library) == 54
    assert (d.type, d.purpose, d.seat) == ("choose_cards", "mulligan_bottom", second.seat)
    d = g.submit(d.parse("0"))
    assert len(second.hand) == 6
    # round two: the starting player keeps its six, the other takes a second mulligan
    assert (d.type, d.seat) == ("confirm_action", first.seat) and "6 cards" in d.message
    d = g.submit(d.parse("y"))
    assert (d.type, d.seat) == ("confirm_action", second.seat)
    d = g.submit(d.parse("n"))
    assert (d.type, d.seat, d.min) == ("choose_cards", second.seat, 2)
    d = g.submit(d.parse("0,1"))
    # round three asks the second player alone; keeping starts the game
    assert (d.type, d.seat) == ("confirm_action", second.seat) and "5 cards" in d.message
    d = g.submit(d.parse("y"))
    assert g.turn == 1 and len(first.hand) == 6 and len(second.hand) == 5
    assert len(first.library) + 6 == len(second.library) + 5 == 60


def test_a_player_keeps_a_hand_of_zero_cards_without_being_asked():
    g = Game((deck("red_aggro"), deck("white_weenie")), seed=4)
    d = g.start()
    first = g.active
    while g.turn == 0:
        if d.type == "confirm_action":
            d = g.submit(d.parse("n" if d.seat == first.seat else "y"))
        else:
            d = g.submit(d.default())
    assert first.mulligans == 7 and first.hand == [] and len(first.library) == 60


def _transcript(seed: int) -> list[str]:
    g = Game((deck("green_midrange"), deck("blue_control")), seed=seed)
    players = (RandomPlayer(seed), RandomPlayer(seed + 1))
    out = []
    seen: set[str] = set()
    d = g.start()
    while d is not None:
        out.append(json.dumps(decision_payload(d, seen), sort_keys=True))
        d = g.submit(players[d.seat].choose(d) if d.expects_reply else None)
    out.append(repr(g.result))
    return out


def test_same_seed_and_answers_give_the_same_game():
    a, b = _transcript(5), _transcript(5)
    assert a == b and len(a) > 10
    assert _transcript(6) != a


_TRANSCRIPT_SCRIPT = """
import hashlib, json, sys
from pathlib import Path
from tolaria.engine import CardPool, Game, HeuristicPlayer, RandomPlayer, decision_payload, load_deck
pool = CardPool.default()
decks = [load_deck(Path(sys.argv[1]) / f"{n}.dck", pool) for n in ("white_weenie", "green_midrange")]
h = hashlib.sha256()
for seed in range(3):
    kind = HeuristicPlayer if seed % 2 == 0 else RandomPlayer
    players = (kind(seed), kind(seed + 1))
    g = Game(decks, seed=seed)
    d = g.start()
    while d is not None:
        h.update(json.dumps(decision_payload(d, set()), sort_keys=True).encode())
        d = g.submit(players[d.seat].choose(d) if d.expects_reply else None)
    h.update(repr(g.result).encode())
print(h.hexdigest())
"""


def test_games_are_identical_across_processes_with_different_hash_seeds():
    import os
    import subprocess
    import sys

    from engine.helpers import DECK_DIR

    digests = set()
    for hash_seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        out = subprocess.run(
            [sys.executable, "-c", _TRANSCRIPT_SCRIPT, str(DECK_DIR)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        digests.add(out.stdout.strip())
    assert len(digests) == 1


def test_damage_wears_off_in_the_cleanup_step():
    t = Table()
    t.hand(0, "Shock", "Mountain")  # the land to play keeps Alice deciding after Shock resolves
    t.battlefield(0, "Mountain")
    brimaz = t.battlefield(1, "Brimaz, King of Oreskos")[0]
    t.start()
    t.pass_until("MAIN1", seat=0)
    t.act("Cast Shock")
    t.target(brimaz)
    t.resolve()
    assert t.game.phase == "MAIN1" and t.has_action("Play Mountain")
    assert brimaz.zone == "battlefield" and brimaz.damage == 2
    t.pass_until("MAIN1", seat=1)  # Alice's cleanup came and went
    assert brimaz.zone == "battlefield" and brimaz.damage == 0
