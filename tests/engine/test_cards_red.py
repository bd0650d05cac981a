"""Rules tests for the red aggro cards, on hand-built boards."""

from __future__ import annotations

from engine.helpers import Table


def main_phase(t: Table, active: int = 0) -> None:
    t.start(active)
    t.pass_until("MAIN1", seat=active)


def test_lightning_bolt_kills_a_creature_and_hits_a_player():
    t = Table()
    t.hand(0, "Lightning Bolt", "Lightning Bolt")
    t.battlefield(0, "Mountain", "Mountain")
    baloth = t.battlefield(1, "Kalonian Tusker")[0]
    main_phase(t)
    t.act("Cast Lightning Bolt")
    t.target(baloth)
    t.act("Cast Lightning Bolt")
    t.target("Bob")
    t.pass_all()
    assert baloth.zone == "graveyard"
    assert t.opp.life == 17


def test_shock_deals_two():
    t = Table()
    t.hand(0, "Shock")
    t.battlefield(0, "Mountain")
    main_phase(t)
    t.act("Cast Shock")
    t.target("Bob")
    t.pass_all()
    assert t.opp.life == 18
    assert [c.name for c in t.me.graveyard] == ["Shock"]


def test_monastery_swiftspear_haste_and_prowess_until_end_of_turn():
    t = Table()
    t.hand(0, "Monastery Swiftspear", "Shock")
    t.battlefield(0, "Mountain", "Mountain")
    main_phase(t)
    t.act("Cast Monastery Swiftspear")
    t.resolve()
    spear = t.me.battlefield[-1]
    assert spear.name == "Monastery Swiftspear"
    t.act("Cast Shock")
    t.target("Bob")
    d = t.expect("declare_attackers", 0)
    assert t.game.power(spear) == 2 and t.game.toughness(spear) == 3
    assert spear in d.options  # haste
    t.answer("0")
    t.pass_until("MAIN1", seat=1)
    assert t.opp.life == 20 - 2 - 2
    assert t.game.power(spear) == 1


def test_goblin_guide_gives_the_defender_a_revealed_land_only():
    t = Table()
    t.battlefield(0, "Goblin Guide")
    t.library_top(1, "Plains", "Savannah Lions")
    t.start()
    t.expect("declare_attackers")
    t.answer("0")
    for seat in (0, 1):  # both players see the revealed card
        d = t.expect("reveal", seat)
        assert d.options[0].name == "Plains"
        t.answer("")
    # the Plains went to Bob's hand; Savannah Lions became his top card and his next draw
    assert sorted(c.name for c in t.opp.hand) == ["Plains", "Savannah Lions"]
    assert t.opp.life == 18


def test_goblin_guide_leaves_a_nonland_on_top():
    t = Table()
    t.battlefield(0, "Goblin Guide")
    t.library_top(1, "Savannah Lions")
    t.start()
    t.answer("0")
    for seat in (0, 1):
        t.expect("reveal", seat)
        t.answer("")
    # the Lions stayed on top, so Bob's own draw step is what put it in his hand
    assert [c.name for c in t.opp.hand] == ["Savannah Lions"]
    assert len(t.opp.library) == 20


def test_eidolon_hurts_every_caster_of_small_spells_only():
    t = Table(library="Mountain")
    t.battlefield(0, "Eidolon of the Great Revel", "Mountain", "Mountain", "Mountain", "Mountain")
    t.hand(0, "Lava Spike")
    t.hand(1, "Shock")
    t.battlefield(1, "Mountain")
    main_phase(t)
    t.act("Cast Lava Spike")
    t.target("Bob")
    # Bob may respond with Shock; he does, and Eidolon punishes him too
    t.act("Cast Shock", seat=1)
    t.target("Alice")
    t.pass_all()
    assert t.me.life == 20 - 2 - 2  # Eidolon for Lava Spike, then Shock
    assert t.opp.life == 20 - 3 - 2  # Lava Spike, Eidolon for Shock


def test_eidolon_ignores_mana_value_four_or_more():
    t = Table(library="Forest")
    t.battlefield(1, "Eidolon of the Great Revel")
    t.battlefield(0, *["Forest"] * 6)
    t.hand(0, "Colossal Dreadmaw")
    main_phase(t)
    t.act("Cast Colossal Dreadmaw")
    t.pass_all()
    assert t.me.life == 20


def test_lava_spike_targets_players_only():
    t = Table()
    t.hand(0, "Lava Spike")
    t.battlefield(0, "Mountain")
    t.battlefield(1, "Savannah Lions")
    main_phase(t)
    t.act("Cast Lava Spike")
    d = t.expect("choose_entity")
    assert {getattr(o, "name", None) for o in d.options} == {"Alice", "Bob"}
    t.target("Bob")
    t.pass_all()
    assert t.opp.life == 17


def test_rift_bolt_suspends_for_one_red_and_resolves_next_upkeep():
    t = Table(library="Mountain")
    t.hand(0, "Rift Bolt")
    t.battlefield(0, "Mountain")
    main_phase(t)
    assert not t.has_action("Cast Rift Bolt")  # three mana it does not have
    t.act("Suspend Rift Bolt")
    bolt = t.me.exile[0]
    assert bolt.time_counters == 1
    t.pass_until("UPKEEP", seat=0, type="play_trigger")
    t.answer("y")
    t.target("Bob")
    t.pass_all()
    assert t.opp.life == 17
    assert bolt.zone == "graveyard"


def test_rift_bolt_hard_cast():
    t = Table(library="Mountain")
    t.hand(0, "Rift Bolt")
    t.battlefield(0, "Mountain", "Mountain", "Mountain")
    main_phase(t)
    t.act("Cast Rift Bolt")
    t.target("Bob")
    t.pass_all()
    assert t.opp.life == 17


def test_searing_blaze_deals_one_without_landfall_three_with():
    for landfall, expected_life, expected_zone in ((False, 19, "battlefield"), (True, 17, "graveyard")):
        t = Table(library="Mountain")
        t.hand(0, "Searing Blaze", "Mountain")
        t.battlefield(0, "Mountain", "Mountain")
        tusker = t.battlefield(1, "Kalonian Tusker")[0]
        main_phase(t)
        if landfall:
            t.act("Play Mountain")
        t.act("Cast Searing Blaze")
        # Bob is the only player with a creature, the Tusker his only creature: no choice to make
        t.pass_all()
        assert t.opp.life == expected_life
        assert tusker.zone == expected_zone


def test_searing_blaze_needs_a_creature_to_target():
    t = Table(library="Mountain")
    t.hand(0, "Searing Blaze")
    t.battlefield(0, "Mountain", "Mountain")
    t.battlefield(1, "Garruk's Companion")  # protection from red: not a legal target
    main_phase(t)
    assert t.decision is None or not t.has_action("Searing Blaze")


def test_light_up_the_stage_exiles_two_playable_until_end_of_next_turn():
    t = Table(library="Mountain")
    t.hand(0, "Light Up the Stage")
    t.battlefield(0, "Mountain", "Mountain", "Mountain")
    t.library_top(0, "Shock", "Mountain")
    main_phase(t)
    t.act("Cast Light Up the Stage")
    assert [c.name for c in t.me.exile] == ["Shock", "Mountain"]
    t.act("Play Mountain from exile")
    t.act("Cast Shock from exile")
    t.target("Bob")
    t.pass_all()
    assert t.opp.life == 18


def test_light_up_the_stage_cards_expire_after_the_next_turn():
    t = Table(library="Plains")
    t.hand(0, "Light Up the Stage", "Lightning Bolt")
    t.battlefield(0, "Mountain", "Mountain", "Mountain")
    t.library_top(0, "Mountain", "Mountain")
    main_phase(t)
    t.act("Cast Light Up the Stage")
    t.pass_until("MAIN1", seat=0, turn=3)  # still playable on Alice's next turn
    assert t.has_action("Play Mountain from exile")
    t.pass_until("MAIN1", seat=0, turn=5)  # expired; the Bolt in hand keeps decisions coming
    assert not t.has_action("from exile")


def test_light_up_the_stage_spectacle_costs_one_red():
    t = Table(library="Mountain")
    t.hand(0, "Shock", "Light Up the Stage")
    t.battlefield(0, "Mountain", "Mountain")
    main_phase(t)
    assert not t.has_action("Light Up the Stage")
    t.act("Cast Shock")
    t.target("Bob")
    t.pass_until("MAIN1", seat=0)  # back in main phase 1 with Shock resolved
    t.act("Light Up the Stage (spectacle)")
    assert len(t.me.exile) == 2


def test_skullcrack_stops_lifegain_and_damage_prevention():
    t = Table(library="Mountain")
    t.hand(0, "Skullcrack")
    t.battlefield(0, "Mountain", "Mountain", "Goblin Guide")
    t.hand(1, "Swords to Plowshares")
    t.battlefield(1, "Plains")
    companion = t.battlefield(1, "Garruk's Companion")[0]
    main_phase(t)
    t.act("Cast Skullcrack")
    t.target("Bob")
    t.pass_all()
    assert t.opp.life == 17
    t.expect("declare_attackers")
    t.answer("0")
    t.answer("")  # reveal
    t.pass_until("COMBAT_DECLARE_BLOCKERS", seat=1, type="declare_blockers")
    t.answer("0:0")
    # protection from red would prevent Goblin Guide's damage: not this turn
    t.pass_until("MAIN2", seat=0)
    assert companion.zone == "graveyard"
    t2 = Table()
    t2.hand(0, "Skullcrack", "Swords to Plowshares")
    t2.battlefield(0, "Mountain", "Mountain", "Plains")
    lions = t2.battlefield(1, "Savannah Lions")[0]
    t2.start()
    t2.pass_until("MAIN1", seat=0)
    t2.act("Cast Skullcrack")
    t2.target("Bob")
    t2.resolve()
    t2.act("Cast Swords to Plowshares")
    t2.target(lions)
    t2.pass_all()
    assert t2.opp.life == 17  # no life gained from Swords this turn


def test_rift_bolt_from_suspend_is_cast_so_eidolon_and_thalia_see_it():
    t = Table(library="Mountain")
    t.hand(0, "Rift Bolt")
    t.battlefield(0, "Mountain", "Mountain", "Eidolon of the Great Revel")
    t.battlefield(1, "Thalia, Guardian of Thraben")
    main_phase(t)
    t.act("Suspend Rift Bolt")  # a special action: not a cast, no Eidolon trigger, no Thalia tax
    assert t.me.life == 20 and sum(c.tapped for c in t.me.battlefield) == 1
    t.pass_until("UPKEEP", seat=0, type="play_trigger")
    t.answer("y")  # cast without paying its mana cost, but Thalia's {1} must be paid
    t.target("Bob")
    t.pass_all()
    assert t.opp.life == 17 and t.me.life == 18


def test_rift_bolt_stays_exiled_when_the_thalia_tax_cannot_be_paid():
    t = Table(library="Plains")
    t.hand(0, "Rift Bolt")
    mountain = t.battlefield(0, "Mountain")[0]
    t.battlefield(1, "Thalia, Guardian of Thraben")
    main_phase(t)
    t.act("Suspend Rift Bolt")
    bolt = t.me.exile[0]
    t.game._move(mountain, "graveyard")  # no mana left for Thalia's {1} on the next upkeep
    while t.decision is not None and t.game.turn < 4:
        assert t.decision.type != "play_trigger"
        t.answer("")
    assert bolt.zone == "exile" and bolt.time_counters == 0 and t.opp.life == 20


def test_searing_blaze_checks_landfall_on_resolution():
    # no land yet when Alice casts it; Bob's Path to Exile in response hands her one
    t = Table(library="Mountain")
    t.hand(0, "Searing Blaze")
    t.battlefield(0, "Mountain", "Mountain")
    courser = t.battlefield(0, "Centaur Courser")[0]
    t.hand(1, "Path to Exile")
    t.battlefield(1, "Plains")
    tusker = t.battlefield(1, "Kalonian Tusker")[0]
    main_phase(t)
    t.act("Cast Searing Blaze")
    t.target("Bob")
    t.target(tusker)
    assert not t.me.landfall_this_turn
    t.act("Cast Path to Exile", seat=1)
    t.target(courser)
    d = t.expect("choose_cards", 0)
    assert d.purpose == "search" and d.min == 0
    t.answer("0")
    t.resolve()
    assert t.opp.life == 17 and tusker.zone == "graveyard"


def test_light_up_the_stage_lands_use_the_land_drop_and_sorcery_timing():
    t = Table(library="Mountain")
    t.hand(0, "Light Up the Stage", "Mountain")
    t.battlefield(0, "Mountain", "Mountain", "Mountain")
    t.library_top(0, "Mountain", "Lightning Bolt")
    t.hand(1, "Shock")
    t.battlefield(1, "Mountain")
    main_phase(t)
    t.act("Play Mountain")
    t.act("Cast Light Up the Stage")
    t.pass_until("MAIN1", seat=0)
    assert not t.has_action("Play Mountain from exile")  # the land drop is used
    assert t.has_action("Cast Lightning Bolt from exile")
    t.pass_until("UPKEEP", seat=1, turn=2)
    assert t.has_action("Cast Shock")
    d = t.pass_until("UPKEEP", seat=0, turn=2)
    assert [a.description for a in d.options] == ["Cast Lightning Bolt from exile"]  # no land
    t.pass_until("MAIN1", seat=0, turn=3)
    assert t.has_action("Play Mountain from exile")
