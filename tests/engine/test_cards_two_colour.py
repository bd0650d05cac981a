"""Rules tests for the cards of the two-colour decks (gruul_midrange, azorius_control,
orzhov_sanguine): dual lands, the Sanguine Bond combo, and the cards around them."""

from __future__ import annotations

import pytest

from engine.helpers import POOL, Table
from tolaria.engine import CardDataError, decision_payload
from tolaria.engine.cards import parse_card_file
from tolaria.engine.mana import ManaCost, can_pay, choose_sources


def main_phase(t: Table, active: int = 0) -> None:
    t.start(active)
    t.pass_until("MAIN1", seat=active)


@pytest.mark.parametrize(
    ("name", "cost", "power", "toughness", "keywords"),
    [
        ("Flametongue Kavu", "{3}{R}", 4, 2, set()),
        ("Serra Angel", "{3}{W}{W}", 4, 4, {"flying", "vigilance"}),
        ("Healer's Hawk", "{W}", 1, 1, {"flying", "lifelink"}),
        ("Vampire Sovereign", "{3}{B}{B}", 3, 4, {"flying"}),
    ],
)
def test_printed_characteristics(name, cost, power, toughness, keywords):
    c = POOL[name]
    assert (c.cost.text, c.power, c.toughness, set(c.keywords)) == (cost, power, toughness, keywords)


# -- mana and dual lands -----------------------------------------------------------------------


class _Source:
    def __init__(self, produces: str):
        self.produces = produces

    def __repr__(self) -> str:
        return self.produces


def test_dual_sources_pay_either_colour_and_basics_are_spent_first():
    cost = ManaCost.parse("{1}{W}{U}{U}")
    assert can_pay(cost, {"WU": 4})
    assert not can_pay(cost, {"W": 3, "U": 1})
    assert can_pay(cost, {"W": 2, "U": 1, "WU": 1})
    assert not can_pay(ManaCost.parse("{R}{G}"), {"RG": 1})
    assert can_pay(ManaCost.parse("{G/W}{B}"), {"WB": 1, "G": 1})
    island, plains, fortress, cove = _Source("U"), _Source("W"), _Source("WU"), _Source("WU")
    used = choose_sources(ManaCost.parse("{W}{U}"), [fortress, island, plains, cove])
    assert set(map(id, used)) == {id(island), id(plains)}  # both duals stay untapped
    used = choose_sources(ManaCost.parse("{U}{U}"), [fortress, island, plains])
    assert set(map(id, used)) == {id(fortress), id(island)}
    used = choose_sources(ManaCost.parse("{2}"), [fortress, island, plains])
    assert set(map(id, used)) == {id(island), id(plains)}
    assert choose_sources(ManaCost.parse("{U}{U}{U}"), [fortress, island, plains]) is None


def test_bad_mana_colours_are_refused(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[[card]]\nname = "Odd Land"\ntypes = ["Land"]\nmana = "RX"\n')
    with pytest.raises(CardDataError, match=r"Odd Land.*bad mana colours"):
        parse_card_file(path)
    path.write_text('[[card]]\nname = "Odd Land"\ntypes = ["Land"]\nenters_tapped = "yes"\n')
    with pytest.raises(CardDataError, match="enters_tapped"):
        parse_card_file(path)


@pytest.mark.parametrize(
    ("land", "basic", "colours"),
    [
        ("Rootbound Crag", "Forest", "RG"),
        ("Glacial Fortress", "Island", "WU"),
        ("Isolated Chapel", "Swamp", "WB"),
    ],
)
def test_check_lands_enter_tapped_unless_you_control_a_basic_type(land, basic, colours):
    t = Table()
    t.hand(0, land)
    main_phase(t)
    t.act(f"Play {land}")
    crag = next(c for c in t.me.battlefield if c.name == land)
    assert crag.tapped and crag.produces == colours
    t = Table()
    t.hand(0, land)
    t.battlefield(0, basic)
    main_phase(t)
    t.act(f"Play {land}")
    crag = next(c for c in t.me.battlefield if c.name == land)
    assert not crag.tapped


@pytest.mark.parametrize("land", ["Rugged Highlands", "Tranquil Cove", "Scoured Barrens"])
def test_gain_lands_enter_tapped_and_gain_one_life(land):
    t = Table()
    t.hand(0, land, "Plains")
    t.battlefield(0, "Mountain", "Island", "Swamp", "Forest")  # no basic type spares it
    main_phase(t)
    t.act(f"Play {land}")
    t.resolve()
    gain = next(c for c in t.me.battlefield if c.name == land)
    assert gain.tapped and t.me.life == 21


def test_a_dual_land_pays_either_colour_of_a_gold_spell():
    t = Table(library="Island")
    t.hand(0, "Lightning Bolt", "Mountain")  # the land keeps Alice deciding after the Bolt
    t.battlefield(0, "Mountain")
    t.hand(1, "Absorb")
    t.battlefield(1, "Glacial Fortress", "Glacial Fortress", "Island")
    main_phase(t)
    t.act("Cast Lightning Bolt")
    t.target("Bob")
    t.act("Cast Absorb", seat=1)  # {W}{U}{U}: two Fortresses and an Island
    t.resolve()
    assert t.opp.life == 23 and [c.name for c in t.me.graveyard] == ["Lightning Bolt"]
    assert all(c.tapped for c in t.opp.battlefield)


def test_swamp_makes_black_mana():
    t = Table(library="Swamp")
    t.hand(0, "Sign in Blood")
    t.battlefield(0, "Swamp", "Swamp")
    main_phase(t)
    t.act("Cast Sign in Blood")
    t.target("Alice")
    t.resolve()
    assert len(t.me.hand) == 2 and t.me.life == 18 and t.me.hand[0].name == "Swamp"


# -- the Sanguine Bond combo -------------------------------------------------------------------


def test_sanguine_bond_drains_the_opponent_of_the_life_you_gain():
    t = Table()
    t.battlefield(0, "Sanguine Bond", "Plains")
    t.hand(0, "Chaplain's Blessing")
    main_phase(t)
    t.act("Cast Chaplain's Blessing")
    t.resolve()
    assert t.me.life == 25 and t.opp.life == 15


def test_exquisite_blood_gains_the_life_an_opponent_loses():
    t = Table(library="Mountain")
    t.battlefield(0, "Exquisite Blood", "Mountain")
    t.hand(0, "Lightning Bolt")
    main_phase(t)
    t.act("Cast Lightning Bolt")
    t.target("Bob")
    t.resolve()
    assert t.opp.life == 17 and t.me.life == 23


def test_sanguine_bond_and_exquisite_blood_together_win_from_any_life_gain():
    t = Table()
    t.battlefield(0, "Sanguine Bond", "Exquisite Blood", "Plains")
    t.hand(0, "Chaplain's Blessing")
    main_phase(t)
    t.act("Cast Chaplain's Blessing")
    while t.decision is not None:
        t.answer("")
    assert t.game.result.winner == 0 and t.game.result.reason == "life"
    # 5 gained, 5 lost, 5 gained, ...: Bob is at 0 before the last gain trigger resolves
    assert t.opp.life == 0 and t.me.life == 20 + 5 + 15


def test_a_combat_lifelink_gain_starts_the_loop_and_skullcrack_stops_it():
    t = Table(library="Mountain")
    t.battlefield(0, "Sanguine Bond", "Exquisite Blood", "Healer's Hawk")
    t.hand(1, "Skullcrack")
    t.battlefield(1, "Mountain", "Mountain")
    t.start()
    t.pass_until("COMBAT_DECLARE_ATTACKERS", type="declare_attackers")
    t.answer("0")
    t.act("Cast Skullcrack", seat=1)  # players can't gain life this turn: no lifelink, no loop
    t.target("Alice")
    t.resolve()
    t.pass_until("MAIN2", seat=0)
    assert t.me.life == 17 and t.opp.life == 19 and t.game.result is None


def test_vampire_sovereign_drains_three_and_triggers_sanguine_bond():
    t = Table(library="Swamp")
    t.hand(0, "Vampire Sovereign")
    t.battlefield(0, "Swamp", "Swamp", "Swamp", "Swamp", "Swamp", "Sanguine Bond")
    main_phase(t)
    t.act("Cast Vampire Sovereign")
    t.resolve()
    t.resolve()
    assert t.opp.life == 20 - 3 - 3 and t.me.life == 23


def test_diabolic_tutor_finds_any_card_then_shuffles():
    t = Table(library="Swamp", library_size=10)
    t.library_top(0, "Sanguine Bond")
    t.hand(0, "Diabolic Tutor")
    t.battlefield(0, "Swamp", "Swamp", "Swamp", "Swamp")
    main_phase(t)
    t.act("Cast Diabolic Tutor")
    t.resolve()
    d = t.expect("choose_cards", 0)
    assert d.purpose == "tutor" and (d.min, d.max) == (0, 1)
    assert [c.name for c in d.options] == ["Sanguine Bond", "Swamp"]  # one per name
    payload = decision_payload(d)
    assert payload["optional"] is True and len(payload["cards"]) == 2
    t.answer("0")
    assert [c.name for c in t.me.hand] == ["Sanguine Bond"] and len(t.me.library) == 10


def test_murder_destroys_any_creature():
    t = Table(library="Swamp")
    t.hand(0, "Murder")
    t.battlefield(0, "Swamp", "Swamp", "Swamp")
    angel = t.battlefield(1, "Serra Angel")[0]
    main_phase(t)
    t.act("Cast Murder")
    t.target(angel)
    t.resolve()
    assert angel.zone == "graveyard"


# -- Azorius control ---------------------------------------------------------------------------


def test_wrath_of_god_destroys_every_creature_and_nothing_else():
    t = Table()
    t.hand(0, "Wrath of God")
    t.battlefield(0, "Plains", "Plains", "Plains", "Plains", "Serra Angel")
    t.battlefield(1, "Kalonian Tusker", "Honor of the Pure", "Llanowar Elves")
    main_phase(t)
    t.act("Cast Wrath of God")
    t.resolve()
    assert not any(c.cdef.is_creature for p in t.game.players for c in p.battlefield)
    assert [c.name for c in t.opp.battlefield] == ["Honor of the Pure"]
    assert len(t.me.graveyard) == 2 and len(t.opp.graveyard) == 2


def test_sphinxs_revelation_gains_and_draws_x():
    t = Table(library="Island")
    t.hand(0, "Sphinx's Revelation")
    t.battlefield(0, "Glacial Fortress", "Glacial Fortress", "Island", "Island", "Island", "Island")
    main_phase(t)
    t.act("Cast Sphinx's Revelation")
    d = t.expect("announce_value", 0)
    assert d.max == 3
    t.answer("3")
    t.resolve()
    assert t.me.life == 23 and len(t.me.hand) == 3


def test_absorb_counters_and_gains_three_even_against_a_creature():
    t = Table(library="Island")
    t.hand(0, "Serra Angel")
    t.battlefield(0, "Plains", "Plains", "Plains", "Plains", "Plains")
    t.hand(1, "Absorb")
    t.battlefield(1, "Tranquil Cove", "Island", "Island")
    main_phase(t)
    t.act("Cast Serra Angel")
    t.act("Cast Absorb", seat=1)
    t.resolve()
    assert t.opp.life == 23 and [c.name for c in t.me.graveyard] == ["Serra Angel"]


def test_serra_angel_attacks_without_tapping():
    t = Table()
    angel = t.battlefield(0, "Serra Angel")[0]
    t.start()
    t.answer("0")
    t.pass_until("MAIN2", seat=0)
    assert t.opp.life == 16 and not angel.tapped


def test_revitalize_gains_three_and_draws_at_instant_speed():
    t = Table()
    t.hand(1, "Revitalize")
    t.battlefield(1, "Plains", "Plains")
    t.battlefield(0, "Savannah Lions")
    t.hand(0, "Plains")  # Alice plays it in her second main phase: the turn stops there
    t.start()
    t.pass_until("COMBAT_DECLARE_ATTACKERS", type="declare_attackers")
    t.answer("0")
    t.act("Cast Revitalize", seat=1)  # in Alice's combat
    t.resolve()
    assert t.game.phase == "MAIN2"
    assert t.opp.life == 20 + 3 - 2 and len(t.opp.hand) == 1  # the Lions connected after it


def test_healers_hawk_gains_life_as_it_deals_damage():
    t = Table()
    t.battlefield(0, "Healer's Hawk")
    t.start()
    t.answer("0")
    t.pass_until("MAIN2", seat=0)
    assert (t.me.life, t.opp.life) == (21, 19)


# -- Gruul midrange ----------------------------------------------------------------------------


def test_flametongue_kavu_deals_four_to_a_creature_even_its_own_when_alone():
    t = Table(library="Mountain")
    t.hand(0, "Flametongue Kavu")
    t.battlefield(0, "Rootbound Crag", "Rootbound Crag", "Mountain", "Forest")
    angel, baloth = t.battlefield(1, "Serra Angel", "Leatherback Baloth")
    main_phase(t)
    t.act("Cast Flametongue Kavu")
    t.resolve()  # the spell resolves; its trigger asks for a target
    d = t.expect("choose_entity", 0)
    assert {angel, baloth} <= set(d.options)
    t.target(angel)
    t.resolve()
    assert angel.zone == "graveyard" and baloth.zone == "battlefield"
    t = Table(library="Mountain")
    t.hand(0, "Flametongue Kavu")
    t.battlefield(0, "Mountain", "Mountain", "Mountain", "Mountain")
    main_phase(t)
    t.act("Cast Flametongue Kavu")
    t.resolve()  # its only legal target is itself
    assert [c.name for c in t.me.graveyard] == ["Flametongue Kavu"]
