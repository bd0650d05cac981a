"""Rules tests for the green midrange and blue control cards."""

from __future__ import annotations

import pytest

from engine.helpers import POOL, Table
from tolaria.engine import ReplyError, decision_payload


def main_phase(t: Table, active: int = 0) -> None:
    t.start(active)
    t.pass_until("MAIN1", seat=active)


@pytest.mark.parametrize(
    ("name", "cost", "power", "toughness", "keywords"),
    [
        ("Llanowar Elves", "{G}", 1, 1, set()),
        ("Elvish Mystic", "{G}", 1, 1, set()),
        ("Deadly Recluse", "{1}{G}", 1, 2, {"reach", "deathtouch"}),
        ("Garruk's Companion", "{G}{G}", 3, 2, {"trample"}),
        ("Kalonian Tusker", "{G}{G}", 3, 3, set()),
        ("Centaur Courser", "{2}{G}", 3, 3, set()),
        ("Giant Spider", "{3}{G}", 2, 4, {"reach"}),
        ("Leatherback Baloth", "{G}{G}{G}", 4, 5, set()),
        ("Colossal Dreadmaw", "{4}{G}{G}", 6, 6, {"trample"}),
        ("Rampaging Baloths", "{4}{G}{G}", 6, 6, {"trample"}),
        ("Wall of Air", "{1}{U}{U}", 1, 5, {"defender", "flying"}),
        ("Cloudkin Seer", "{2}{U}", 2, 1, {"flying"}),
        ("Wind Drake", "{2}{U}", 2, 2, {"flying"}),
        ("Man-o'-War", "{2}{U}", 2, 2, set()),
        ("Air Elemental", "{3}{U}{U}", 4, 4, {"flying"}),
        ("Omenspeaker", "{1}{U}", 1, 3, set()),
        ("Mahamoti Djinn", "{4}{U}{U}", 5, 6, {"flying"}),
    ],
)
def test_printed_characteristics(name, cost, power, toughness, keywords):
    c = POOL[name]
    assert (c.cost.text, c.power, c.toughness, set(c.keywords)) == (cost, power, toughness, keywords)


def test_llanowar_elves_taps_for_green_once_it_is_not_summoning_sick():
    t = Table(library="Forest")
    t.battlefield(0, "Forest", "Llanowar Elves")
    t.hand(0, "Kalonian Tusker", "Llanowar Elves")
    main_phase(t)
    t.act("Cast Kalonian Tusker")  # Forest + Elves
    t.resolve()
    assert all(c.tapped for c in t.me.battlefield if c.name in ("Forest", "Llanowar Elves"))
    assert any(c.name == "Kalonian Tusker" for c in t.me.battlefield)


def test_a_summoning_sick_mana_creature_cannot_pay():
    t = Table(library="Forest")
    t.battlefield(0, "Forest")
    t.battlefield(0, "Elvish Mystic", sick=True)
    t.hand(0, "Kalonian Tusker", "Giant Growth")
    t.start()
    # turn 1 untap made the Mystic ready: it can pay now
    t.pass_until("MAIN1", seat=0)
    assert t.has_action("Cast Kalonian Tusker")
    t2 = Table(library="Forest")
    t2.battlefield(0, "Forest")
    t2.hand(0, "Elvish Mystic", "Giant Growth", "Kalonian Tusker")
    t2.battlefield(0, "Savannah Lions")
    t2.start()
    t2.pass_until("MAIN1", seat=0)
    t2.act("Cast Elvish Mystic")
    assert t2.decision is None or not t2.has_action("Kalonian Tusker")


def test_deadly_recluse_blocks_a_flier_and_kills_it_with_deathtouch():
    t = Table()
    elemental = t.battlefield(0, "Air Elemental")[0]
    recluse = t.battlefield(1, "Deadly Recluse")[0]
    t.start()
    t.answer("0")
    d = t.expect("declare_blockers", 1)
    assert d.context == [[0]]
    t.answer("0:0")
    t.pass_all()
    assert elemental.zone == "graveyard" and recluse.zone == "graveyard"


def test_garruks_companion_tramples_and_has_protection_from_red():
    t = Table()
    t.hand(0, "Giant Growth")
    t.battlefield(0, "Forest")
    companion = t.battlefield(0, "Garruk's Companion")[0]
    t.battlefield(1, "Goblin Guide", "Llanowar Elves")
    t.hand(1, "Lightning Bolt")
    t.battlefield(1, "Mountain")
    t.start()
    t.pass_until("COMBAT_DECLARE_ATTACKERS", type="declare_attackers")
    t.answer("0")
    d = t.pass_until("COMBAT_DECLARE_BLOCKERS", seat=1, type="declare_blockers")
    assert [c.name for c in d.options] == ["Llanowar Elves"]  # red Goblin Guide cannot block it
    t.answer("0:0")
    d = t.pass_until("COMBAT_DAMAGE", seat=0, type="assign_combat_damage")
    assert d.context.lethal == (1,) and d.context.defender is t.opp
    t.answer("1,2")
    t.pass_until("MAIN2", seat=0)
    assert t.opp.life == 20 - 2  # 3 power: 1 to the Elves, 2 trample over
    assert companion.zone == "battlefield"


def test_red_burn_cannot_target_garruks_companion():
    t = Table()
    t.hand(0, "Lightning Bolt")
    t.battlefield(0, "Mountain")
    t.battlefield(1, "Garruk's Companion")
    main_phase(t)
    t.act("Cast Lightning Bolt")
    d = t.expect("choose_entity")
    assert all(getattr(o, "name", "") != "Garruk's Companion" for o in d.options)


@pytest.mark.parametrize(("spell", "boost"), [("Giant Growth", 3), ("Titanic Growth", 4)])
def test_pump_spells_last_until_end_of_turn(spell, boost):
    t = Table(library="Forest")
    t.hand(0, spell)
    t.battlefield(0, "Forest", "Forest")
    tusker = t.battlefield(0, "Kalonian Tusker")[0]
    main_phase(t)
    t.act(f"Cast {spell}")
    t.target(tusker)
    t.resolve()
    assert t.game.power(tusker) == 3 + boost and t.game.toughness(tusker) == 3 + boost
    t.pass_until("MAIN1", seat=0, turn=3) if t.decision else None
    assert t.game.power(tusker) == 3


def test_giant_growth_in_response_to_bolt_saves_the_creature():
    t = Table(library="Forest")
    t.hand(0, "Lightning Bolt")
    t.battlefield(0, "Mountain")
    t.hand(1, "Giant Growth")
    t.battlefield(1, "Forest")
    tusker = t.battlefield(1, "Kalonian Tusker")[0]
    main_phase(t)
    t.act("Cast Lightning Bolt")
    t.target(tusker)
    t.act("Cast Giant Growth", seat=1)
    t.target(tusker)
    t.resolve()
    assert tusker.zone == "battlefield"  # Giant Growth resolved first: 6 toughness took 3
    assert [c.name for c in t.me.graveyard] == ["Lightning Bolt"]


def test_rampaging_baloths_landfall_may_create_a_beast():
    for accept, beasts in (("y", 1), ("n", 0)):
        t = Table(library="Forest")
        t.battlefield(0, "Rampaging Baloths")
        t.hand(0, "Forest")
        main_phase(t)
        t.act("Play Forest")
        t.expect("play_trigger", 0)
        t.answer(accept)
        assert sum(c.name == "Beast" for c in t.me.battlefield) == beasts


def test_colossal_dreadmaw_tramples_over_a_chump_blocker():
    t = Table()
    t.battlefield(0, "Colossal Dreadmaw")
    t.battlefield(1, "Savannah Lions")
    t.start()
    t.answer("0")
    t.answer("0:0")
    t.expect("assign_combat_damage", 0)
    t.answer("1,5")
    t.pass_all()
    assert t.opp.life == 15


def test_counterspell_counters_any_spell():
    t = Table(library="Island")
    t.hand(0, "Lightning Bolt")
    t.battlefield(0, "Mountain")
    t.hand(1, "Counterspell")
    t.battlefield(1, "Island", "Island")
    main_phase(t)
    t.act("Cast Lightning Bolt")
    t.target("Bob")
    t.act("Cast Counterspell", seat=1)
    t.resolve()
    assert t.opp.life == 20
    assert [c.name for c in t.me.graveyard] == ["Lightning Bolt"]
    assert [c.name for c in t.opp.graveyard] == ["Counterspell"]


def test_essence_scatter_and_negate_pick_their_spell_types():
    t = Table(library="Island")
    t.hand(0, "Goblin Guide")
    t.battlefield(0, "Mountain")
    t.hand(1, "Essence Scatter", "Negate")
    t.battlefield(1, "Island", "Island")
    main_phase(t)
    t.act("Cast Goblin Guide")
    d = t.expect("choose_action", 1)
    assert [a.description for a in d.options] == ["Cast Essence Scatter"]
    t.act("Cast Essence Scatter")
    t.resolve()
    assert [c.name for c in t.me.graveyard] == ["Goblin Guide"]
    t2 = Table(library="Island")
    t2.hand(0, "Lightning Bolt")
    t2.battlefield(0, "Mountain")
    t2.hand(1, "Essence Scatter", "Negate")
    t2.battlefield(1, "Island", "Island")
    main_phase(t2)
    t2.act("Cast Lightning Bolt")
    t2.target("Bob")
    d = t2.expect("choose_action", 1)
    assert [a.description for a in d.options] == ["Cast Negate"]


def test_opt_scries_then_draws():
    t = Table(library="Island")
    t.hand(0, "Opt")
    t.battlefield(0, "Island")
    t.library_top(0, "Air Elemental", "Wind Drake")
    main_phase(t)
    t.act("Cast Opt")
    t.resolve()
    d = t.expect("choose_cards", 0)
    assert [c.name for c in d.options] == ["Air Elemental"] and d.min == 0 and d.max == 1
    t.answer("0")  # bottom the Elemental
    assert "Wind Drake" in [c.name for c in t.me.hand]
    assert t.me.library[-1].name == "Air Elemental"


def test_omenspeaker_scries_two_when_it_enters():
    t = Table(library="Island")
    t.hand(0, "Omenspeaker")
    t.battlefield(0, "Island", "Island")
    t.library_top(0, "Air Elemental", "Wind Drake", "Opt")
    main_phase(t)
    t.act("Cast Omenspeaker")
    t.resolve()
    d = t.expect("choose_cards", 0)
    assert [c.name for c in d.options] == ["Air Elemental", "Wind Drake"] and (d.min, d.max) == (0, 2)
    t.answer("1")  # bottom the Drake, keep the Elemental on top
    assert [c.name for c in t.me.library[:2]] == ["Air Elemental", "Opt"]
    assert t.me.library[-1].name == "Wind Drake"
    assert "Omenspeaker" in [c.name for c in t.me.battlefield]


def test_exclude_counters_only_a_creature_spell_and_draws():
    t = Table(library="Island")
    t.hand(0, "Goblin Guide", "Lightning Bolt")  # the Bolt keeps a decision coming after Exclude
    t.battlefield(0, "Mountain", "Mountain")
    t.hand(1, "Exclude")
    t.battlefield(1, "Island", "Island", "Island")
    main_phase(t)
    t.act("Cast Goblin Guide")
    t.expect("choose_action", 0)
    t.answer("")  # Alice passes with the Guide on the stack
    d = t.expect("choose_action", 1)
    assert [a.description for a in d.options] == ["Cast Exclude"]
    t.act("Cast Exclude", seat=1)
    t.resolve()
    assert t.game.turn == 1 and [c.name for c in t.me.graveyard] == ["Goblin Guide"]
    assert [c.name for c in t.opp.graveyard] == ["Exclude"]
    assert [c.name for c in t.opp.hand] == ["Island"]  # the drawn card
    t2 = Table(library="Island")
    t2.hand(0, "Lightning Bolt")
    t2.battlefield(0, "Mountain")
    t2.hand(1, "Exclude")
    t2.battlefield(1, "Island", "Island", "Island")
    main_phase(t2)
    t2.act("Cast Lightning Bolt")
    t2.target("Bob")
    assert not t2.has_action("Cast Exclude")  # no creature spell to counter


def test_mahamoti_djinn_is_blocked_only_by_fliers_and_reach():
    t = Table()
    t.battlefield(0, "Mahamoti Djinn")
    t.battlefield(1, "Kalonian Tusker", "Giant Spider", "Wall of Air")
    t.start()
    t.expect("declare_attackers", 0)
    t.answer("0")
    d = t.expect("declare_blockers", 1)
    assert [c.name for c in d.options] == ["Giant Spider", "Wall of Air"]
    t.answer("")
    t.pass_until("MAIN2", seat=0)
    assert t.opp.life == 15


def test_divination_draws_two():
    t = Table(library="Island")
    t.hand(0, "Divination")
    t.battlefield(0, "Island", "Island", "Island")
    t.hand(0, "Opt")  # keeps a decision coming after Divination resolves
    main_phase(t)
    before = len(t.me.library)
    t.act("Cast Divination")
    t.resolve()
    assert len(t.me.library) == before - 2 and len(t.me.hand) == 3


def test_wall_of_air_cannot_attack_but_blocks_fliers():
    t = Table()
    t.battlefield(0, "Wall of Air", "Savannah Lions")
    t.battlefield(1, "Wind Drake")
    t.start()
    d = t.expect("declare_attackers", 0)
    assert [c.name for c in d.options] == ["Savannah Lions"]
    t.answer("")
    d = t.pass_until("COMBAT_DECLARE_ATTACKERS", seat=1, type="declare_attackers")
    t.answer("0")
    d = t.expect("declare_blockers", 0)
    assert [c.name for c in d.options] == ["Wall of Air"]  # the Lions cannot block a flier


def test_cloudkin_seer_draws_when_it_enters():
    t = Table(library="Island")
    t.hand(0, "Cloudkin Seer", "Opt")
    t.battlefield(0, "Island", "Island", "Island", "Island")
    main_phase(t)
    t.act("Cast Cloudkin Seer")
    t.resolve()
    assert len(t.me.hand) == 2  # Opt and the drawn card


def test_wind_drake_is_blocked_only_by_fliers_and_reach():
    t = Table()
    t.battlefield(0, "Wind Drake")
    t.battlefield(1, "Savannah Lions", "Giant Spider")
    t.start()
    t.answer("0")
    d = t.expect("declare_blockers", 1)
    assert [c.name for c in d.options] == ["Giant Spider"]


def test_man_o_war_returns_a_creature_to_its_owners_hand():
    t = Table(library="Island")
    t.hand(0, "Man-o'-War")
    t.battlefield(0, "Island", "Island", "Island")
    tusker = t.battlefield(1, "Kalonian Tusker")[0]
    main_phase(t)
    t.act("Cast Man-o'-War")
    t.resolve()
    t.target(tusker)  # Man-o'-War itself is a legal target too
    t.pass_all()
    assert tusker.zone == "hand" and tusker in t.opp.hand


# -- X costs: Stroke of Genius -----------------------------------------------------------------


def test_stroke_of_genius_announces_x_up_to_the_mana_available_and_draws_x():
    t = Table(library="Island")
    t.battlefield(0, *["Island"] * 6)
    t.hand(0, "Stroke of Genius")
    main_phase(t)
    t.act("Cast Stroke of Genius")
    d = t.expect("announce_value", 0)
    assert (d.min, d.max) == (0, 3)  # six Islands: {2}{U} and three for X
    payload = decision_payload(d)
    assert (payload["ability"], payload["announce"], payload["min"], payload["max"]) == (
        "Stroke of Genius",
        "X",
        0,
        3,
    )
    t.answer("2")
    assert t.game.mana_value(t.game.stack[-1].card) == 5  # X counts on the stack
    hand = len(t.me.hand)
    t.target("Alice")
    assert sum(c.tapped for c in t.me.battlefield) == 5  # X=2 plus {2}{U}
    t.resolve()
    assert len(t.me.hand) == hand + 2
    stroke = t.me.graveyard[0]
    assert stroke.name == "Stroke of Genius" and t.game.mana_value(stroke) == 3  # X is 0 elsewhere


def test_stroke_of_genius_can_make_the_opponent_draw_and_x_zero_needs_no_announcement():
    t = Table(library="Island")
    t.battlefield(0, *["Island"] * 3)
    t.hand(0, "Stroke of Genius")
    t.battlefield(1, "Island")
    t.hand(1, "Opt")  # Bob gets priority again after the resolution
    main_phase(t)
    t.act("Cast Stroke of Genius")
    t.target("Bob")  # nothing left for X: no announce_value decision
    t.resolve()
    assert len(t.opp.hand) == 1 and t.me.graveyard[0].name == "Stroke of Genius"


def test_thalia_tax_lowers_the_largest_x():
    t = Table(library="Island")
    t.battlefield(0, *["Island"] * 6)
    t.battlefield(1, "Thalia, Guardian of Thraben")
    t.hand(0, "Stroke of Genius")
    main_phase(t)
    t.act("Cast Stroke of Genius")
    assert t.expect("announce_value", 0).max == 2
    t.answer("2")
    t.target("Alice")
    assert all(c.tapped for c in t.me.battlefield)


def test_eidolon_sees_the_announced_x():
    for x, hurt in ((0, 2), (1, 0)):
        t = Table(library="Island")
        t.battlefield(0, *["Island"] * 4)
        t.battlefield(1, "Eidolon of the Great Revel")
        t.hand(0, "Stroke of Genius")
        main_phase(t)
        t.act("Cast Stroke of Genius")
        t.answer(str(x))
        t.target("Alice")
        t.resolve()
        assert t.me.life == 20 - hurt, f"X={x}"


def test_announce_value_replies():
    t = Table(library="Island")
    t.battlefield(0, *["Island"] * 5)
    t.hand(0, "Stroke of Genius")
    main_phase(t)
    t.act("Cast Stroke of Genius")
    d = t.expect("announce_value", 0)
    assert d.parse(" 2 ") == 2 and d.default() == 0
    for bad in ("3", "-1", "x", ""):
        with pytest.raises(ReplyError):
            d.parse(bad)


# -- "until your next turn": Inaction Injunction ----------------------------------------------


def test_inaction_injunction_detains_until_the_casters_next_turn_and_draws():
    t = Table(library="Island")
    t.battlefield(0, "Island", "Island", "Centaur Courser")
    elves = t.battlefield(1, "Llanowar Elves")[0]
    tusker = t.battlefield(1, "Kalonian Tusker")[0]
    t.hand(1, "Giant Growth")  # Bob's only way to use the Elves' mana
    t.hand(0, "Inaction Injunction")
    main_phase(t)
    assert t.has_action("Cast Inaction Injunction")
    t.act("Cast Inaction Injunction")
    t.target(tusker)
    t.resolve()
    assert tusker.detained_by is t.me and len(t.me.hand) == 1  # the drawn card
    assert (
        decision_payload(t.decision)["game_state"]["players"][1]["battlefield"][1]["detained_until_turn_of"]
        == "Alice"
    )
    # Alice attacks: the detained Tusker cannot block, the Elves can
    t.pass_until("COMBAT_DECLARE_ATTACKERS", type="declare_attackers")
    t.answer("0")
    d = t.pass_until("COMBAT_DECLARE_BLOCKERS", seat=1, type="declare_blockers")
    assert d.options == [elves]
    t.answer("")
    t.pass_until("MAIN2", seat=1)
    assert t.opp.life == 17
    # Bob's turn: only the Elves may attack
    d = t.pass_until("COMBAT_DECLARE_ATTACKERS", seat=1, type="declare_attackers", turn=2)
    assert d.options == [elves]
    assert elves in t.game.mana_sources(t.opp)
    elves.detained_by = t.me  # a detained mana creature's mana ability can't be activated
    assert elves not in t.game.mana_sources(t.opp)
    t.answer("")
    # Alice's next turn begins: the detention is over, before her untap step ends
    t.pass_until("MAIN1", seat=0, turn=3)
    assert tusker.detained_by is None and elves.detained_by is None
    t.pass_until("COMBAT_DECLARE_ATTACKERS", type="declare_attackers", turn=3)
    t.answer("0")
    d = t.pass_until("COMBAT_DECLARE_BLOCKERS", seat=1, type="declare_blockers", turn=3)
    assert set(d.options) == {elves, tusker}


def test_inaction_injunction_targets_only_an_opponents_creature():
    t = Table(library="Island")
    t.battlefield(0, "Island", "Island", "Centaur Courser")
    injunction = t.hand(0, "Inaction Injunction")[0]
    assert t.game.legal_actions(t.me) == []  # Alice's own creature is no target
    tusker = t.battlefield(1, "Kalonian Tusker")[0]
    t.game.active = t.me
    t.game.phase = "MAIN1"
    assert [a.card for a in t.game.legal_actions(t.me)] == [injunction]
    assert t.game.target_candidates("creature_an_opponent_controls", injunction) == [tusker]


def test_protection_from_red_prevents_a_red_attackers_combat_damage_to_its_blocker():
    t = Table(library="Forest")
    guide = t.battlefield(0, "Goblin Guide")[0]
    companion = t.battlefield(1, "Garruk's Companion")[0]
    t.start()
    t.answer("0")  # attack with Goblin Guide
    t.answer("")  # its reveal
    d = t.pass_until("COMBAT_DECLARE_BLOCKERS", seat=1, type="declare_blockers")
    assert d.options == [companion]  # protection does not stop it from blocking a red creature
    t.answer("0:0")
    t.pass_all()
    assert companion.zone == "battlefield"  # 2 damage would have killed the 3/2
    assert guide.zone == "graveyard"
