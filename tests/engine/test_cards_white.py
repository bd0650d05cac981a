"""Rules tests for the white weenie cards."""

from __future__ import annotations

from engine.helpers import Table


def main_phase(t: Table, active: int = 0) -> None:
    t.start(active)
    t.pass_until("MAIN1", seat=active)


def test_savannah_lions_and_elite_vanguard_attack_for_two_each():
    t = Table()
    lions, vanguard = t.battlefield(0, "Savannah Lions", "Elite Vanguard")
    assert (t.game.power(lions), t.game.toughness(lions)) == (2, 1)
    assert (t.game.power(vanguard), t.game.toughness(vanguard)) == (2, 1)
    t.start()
    t.expect("declare_attackers")
    t.answer("0,1")
    t.pass_until("MAIN2", seat=0) if t.decision else None
    assert t.opp.life == 16


def test_summoning_sick_creatures_cannot_attack():
    t = Table()
    lions = t.battlefield(0, "Savannah Lions")[0]
    t.battlefield(0, "Plains")
    t.hand(0, "Elite Vanguard")
    main_phase(t)
    t.act("Cast Elite Vanguard")
    d = t.expect("declare_attackers")
    assert d.options == [lions]


def test_soldier_of_the_pantheon_protection_and_lifegain_from_multicolored_spells():
    t = Table(library="Plains")
    soldier = t.battlefield(0, "Soldier of the Pantheon")[0]
    t.battlefield(1, "Plains")
    t.hand(1, "Dryad Militant")
    t.start(active=1)
    t.pass_until("MAIN1", seat=1)
    t.act("Cast Dryad Militant")
    t.pass_all()
    assert t.me.life == 21  # an opponent cast a multicolored spell
    militant = t.opp.battlefield[-1]
    militant.sick = False
    d = t.pass_until("COMBAT_DECLARE_ATTACKERS", seat=0, type="declare_attackers")
    t.answer(str(d.options.index(soldier)))
    # Dryad Militant (green and white) cannot block a creature with protection from multicolored
    assert t.decision is None or t.decision.type != "declare_blockers"
    assert t.opp.life == 18


def test_dryad_militant_exiles_instants_and_sorceries_headed_to_a_graveyard():
    t = Table()
    t.battlefield(1, "Dryad Militant")
    t.hand(0, "Lightning Bolt", "Lava Spike")
    t.battlefield(0, "Mountain", "Mountain")
    tusker = t.battlefield(0, "Leatherback Baloth")[0]
    main_phase(t)
    t.act("Cast Lava Spike")
    t.target("Bob")
    t.resolve()
    t.act("Cast Lightning Bolt")
    t.target(tusker)
    t.resolve()
    assert sorted(c.name for c in t.me.exile) == ["Lava Spike", "Lightning Bolt"]
    assert [c.name for c in t.me.graveyard] == []
    assert tusker.zone == "battlefield" and tusker.damage == 3  # creature cards are unaffected


def test_thalia_taxes_noncreature_spells_of_both_players_and_has_first_strike():
    t = Table()
    t.battlefield(1, "Thalia, Guardian of Thraben")
    t.hand(0, "Lightning Bolt", "Goblin Guide")
    t.battlefield(0, "Mountain")
    main_phase(t)
    assert not t.has_action("Lightning Bolt")  # {R} + {1}
    t.act("Cast Goblin Guide")  # creature spells are not taxed
    d = t.expect("declare_attackers")
    t.answer("0")
    t.answer("")  # Goblin Guide's reveal
    d = t.pass_until("COMBAT_DECLARE_BLOCKERS", type="declare_blockers")
    t.answer("0:0")
    thalia = d.options[0]
    t.pass_until("MAIN2", seat=0) if t.decision else None
    # Thalia's first-strike damage kills Goblin Guide before it deals damage
    assert thalia.zone == "battlefield" and thalia.damage == 0
    assert [c.name for c in t.me.graveyard] == ["Goblin Guide"]


def test_benalish_marshal_pumps_the_others_only():
    t = Table()
    marshal, lions = t.battlefield(0, "Benalish Marshal", "Savannah Lions")
    enemy = t.battlefield(1, "Elite Vanguard")[0]
    g = t.game
    assert (g.power(marshal), g.toughness(marshal)) == (3, 3)
    assert (g.power(lions), g.toughness(lions)) == (3, 2)
    assert (g.power(enemy), g.toughness(enemy)) == (2, 1)


def test_two_marshals_pump_each_other():
    t = Table()
    a, b = t.battlefield(0, "Benalish Marshal", "Benalish Marshal")
    assert t.game.power(a) == 4 and t.game.toughness(b) == 4


def test_honor_of_the_pure_pumps_white_creatures_you_control():
    t = Table()
    t.hand(0, "Honor of the Pure")
    t.battlefield(0, "Plains", "Plains")
    lions, militant, tusker = t.battlefield(0, "Savannah Lions", "Dryad Militant", "Kalonian Tusker")
    enemy = t.battlefield(1, "Elite Vanguard")[0]
    main_phase(t)
    t.act("Cast Honor of the Pure")
    t.resolve()
    g = t.game
    assert g.power(lions) == 3 and g.power(militant) == 3  # Dryad Militant is white too
    assert g.power(tusker) == 3 and g.power(enemy) == 2


def test_brimaz_attacks_with_a_vigilant_cat_token():
    t = Table()
    brimaz = t.battlefield(0, "Brimaz, King of Oreskos")[0]
    t.start()
    t.expect("declare_attackers")
    t.answer("0")
    assert not brimaz.tapped  # vigilance
    t.pass_until("MAIN2", seat=0) if t.decision else None
    cats = [c for c in t.me.battlefield if c.name == "Cat Soldier"]
    assert len(cats) == 1 and not cats[0].tapped
    assert t.opp.life == 20 - 3 - 1  # Brimaz and the attacking token


def test_brimaz_blocks_with_a_cat_token_blocking_the_same_creature():
    for division, cats_left in (("0,3", 0), ("3,0", 1)):
        t = Table()
        t.battlefield(0, "Centaur Courser")
        t.battlefield(1, "Brimaz, King of Oreskos")
        t.start()
        t.answer("0")
        t.expect("declare_blockers", 1)
        t.answer("0:0")
        t.pass_until("COMBAT_DAMAGE", seat=0, type="assign_combat_damage")
        # the token blocks the same attacker: the attacking player divides among both
        d = t.decision
        assert [c.name for c in d.options] == ["Brimaz, King of Oreskos", "Cat Soldier"]
        t.answer(division)
        t.pass_all()
        assert [c.name for c in t.me.graveyard] == ["Centaur Courser"]  # 3 + 1 damage
        assert sum(c.name == "Cat Soldier" for c in t.opp.battlefield) == cats_left
        assert t.opp.life == 20


def test_swords_to_plowshares_exiles_and_gives_life_equal_to_power():
    t = Table()
    t.hand(0, "Swords to Plowshares")
    t.battlefield(0, "Plains")
    _marshal, lions = t.battlefield(1, "Benalish Marshal", "Savannah Lions")
    main_phase(t)
    t.act("Cast Swords to Plowshares")
    t.target(lions)
    t.resolve()
    assert lions.zone == "exile"
    assert t.opp.life == 23  # the Lions had 3 power under the Marshal


def test_path_to_exile_lets_the_controller_fetch_a_tapped_basic():
    t = Table(library="Forest")
    t.hand(0, "Path to Exile", "Lightning Bolt")  # the Bolt gives Alice a decision after Path
    t.battlefield(0, "Plains", "Mountain")
    baloths = t.battlefield(1, "Rampaging Baloths")[0]
    main_phase(t)
    t.act("Cast Path to Exile")
    t.target(baloths)
    t.resolve()  # Alice passes with the Bolt
    d = t.expect("choose_cards", 1)
    assert d.min == 0 and d.max == 1 and d.options[0].name == "Forest"
    t.answer("0")
    assert baloths.zone == "exile"
    forests = [c for c in t.opp.battlefield if c.name == "Forest"]
    assert len(forests) == 1 and forests[0].tapped
    assert t.opp.landfall_this_turn


def test_path_to_exile_search_may_be_declined_and_then_nothing_is_shuffled():
    t = Table(library="Forest")
    t.hand(0, "Path to Exile")
    t.battlefield(0, "Plains")
    t.battlefield(1, "Kalonian Tusker")
    order = [c.id for c in t.opp.library]
    main_phase(t)
    t.act("Cast Path to Exile")
    t.resolve()
    t.expect("choose_cards", 1)
    t.answer("")  # declined; Alice has nothing left to do, so Bob's turn begins with his draw
    assert t.opp.battlefield == [] and [c.id for c in t.opp.hand] == order[:1]
    # The shuffle is part of the search the player declined.
    assert [c.id for c in t.opp.library] == order[1:]


def test_legend_rule_keeps_the_chosen_one():
    t = Table()
    t.hand(0, "Thalia, Guardian of Thraben")
    t.battlefield(0, "Plains", "Plains")
    first = t.battlefield(0, "Thalia, Guardian of Thraben")[0]
    main_phase(t)
    t.act("Cast Thalia")
    t.resolve()
    d = t.expect("choose_cards", 0)
    assert d.purpose == "legend" and len(d.options) == 2
    t.answer(str(d.options.index(first)))
    thalias = [c for c in t.me.battlefield if c.name.startswith("Thalia")]
    assert thalias == [first]
    assert [c.name for c in t.me.graveyard] == ["Thalia, Guardian of Thraben"]


def test_dryad_militant_exiles_countered_and_discarded_instants_and_sorceries():
    t = Table(library="Island")
    t.battlefield(1, "Dryad Militant", "Island", "Island")
    t.hand(1, "Counterspell")
    t.hand(0, "Lava Spike", *["Lightning Bolt"] * 8)
    t.battlefield(0, "Mountain")
    main_phase(t)
    t.act("Cast Lava Spike")
    t.target("Bob")
    t.act("Cast Counterspell", seat=1)
    t.resolve()
    assert [c.name for c in t.me.exile] == ["Lava Spike"]  # countered: exiled, not in the graveyard
    assert [c.name for c in t.opp.exile] == ["Counterspell"]
    d = t.pass_until("CLEANUP", seat=0, type="choose_cards", turn=1)  # eight Bolts in hand
    assert d.purpose == "discard" and d.min == 1
    t.answer("0")
    assert [c.name for c in t.me.exile] == ["Lava Spike", "Lightning Bolt"] and not t.me.graveyard
