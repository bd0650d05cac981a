"""Keywords and combat restrictions read from a card's oracle text (Forge's cards carry no
keywords): keyword lines count, reminder text and text that grants a keyword do not."""

from __future__ import annotations

import pytest

from tolaria.engine.cards import CardPool
from tolaria.engine.objects import Card
from tolaria.engine.payload import card_json
from tolaria.protocol.oracle import OracleRules, may_block, oracle_rules


@pytest.mark.parametrize(
    ("name", "text", "keywords"),
    [
        ("Wind Drake", "Flying", ("Flying",)),
        ("Wall of Air", "Defender, flying (This creature can't attack, and it can block creatures with flying.)",
         ("Defender", "Flying")),
        ("Deadly Recluse", "Reach (This creature can block creatures with flying.)\\nDeathtouch (Any amount of "
         "damage this deals to a creature is enough to destroy it.)", ("Deathtouch", "Reach")),
        ("Boggart Brute", "Menace (This creature can't be blocked except by two or more creatures.)", ("Menace",)),
        ("Knight", "First strike\nDouble strike, lifelink", ("Double Strike", "First Strike", "Lifelink")),
        ("Guard", "Ward {2}\nHexproof, indestructible", ("Hexproof", "Indestructible", "Ward")),
        ("Soldier of the Pantheon", "Protection from multicolored\nWhenever an opponent casts a multicolored "
         "spell, you gain 1 life.", ("Protection from multicolored",)),
        ("Paladin", "Protection from black and from red", ("Protection from black", "Protection from red")),
        ("Merfolk", "Islandwalk", ("Islandwalk",)),
        ("Jump", "Target creature gains flying until end of turn.", ()),
        ("Anthem", "Other creatures you control have flying and vigilance.", ()),
        ("Aura", "Flash\nEnchant creature\nEnchanted creature gets +1/+1 and has flying.", ("Flash",)),
        ("Light Up the Stage", "Spectacle {R} (You may cast this spell for its spectacle cost rather than its "
         "mana cost if an opponent lost life this turn.)\\nExile the top two cards of your library.", ()),
        ("Forest", "{G}", ()),
        ("Elvish Mystic", "{T}: Add {G}.", ()),
        ("Falter", "Creatures without flying can't block this turn.", ()),
    ],
)  # fmt: skip
def test_keywords_come_from_keyword_lines_only(name, text, keywords):
    assert oracle_rules(name, text).keywords == keywords


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("Wall of Air", "Defender, flying", {"cant_attack": True}),
        ("Goblin Brute", "Goblin Brute can't block.", {"cant_block": True}),
        ("Mogg Flunkies", "Mogg Flunkies can't attack or block alone.", {"cant_attack": True, "cant_block": True}),
        ("Sea Serpent", "Sea Serpent can't attack unless defending player controls an Island.", {"cant_attack": True}),
        ("Phantom Warrior", "Phantom Warrior can't be blocked.", {"unblockable": True}),
        ("Wily Goblin", "As long as you control an artifact, this creature can't be blocked.", {"unblockable": True}),
        ("Brute", "CARDNAME can't be blocked except by two or more creatures.", {"needs_two_blockers": True}),
        ("Boggart Brute", "Menace (This creature can't be blocked except by two or more creatures.)",
         {"needs_two_blockers": True}),
        ("Cloud Sprite", "Flying\nCloud Sprite can block only creatures with flying.", {"blocks_only_fliers": True}),
        ("Kiki, the Eager", "Kiki can't block.", {"cant_block": True}),  # a legendary's short name
        # not the card's own rule: reminder text, another creature, an activated ability's effect
        ("Inaction Injunction", "Detain target creature an opponent controls. (Until your next turn, that "
         "creature can't attack or block and its activated abilities can't be activated.)\\nDraw a card.", {}),
        ("Bully", "When Bully enters, target creature can't block this turn.", {}),
        ("Ghost", "{U}: Ghost can't be blocked this turn.", {}),
        ("Brimaz, King of Oreskos", "Whenever Brimaz blocks a creature, create a 1/1 white Cat Soldier creature "
         "token with vigilance that's blocking that creature.", {}),
    ],
)  # fmt: skip
def test_a_cards_own_combat_restrictions(name, text, expected):
    rules = oracle_rules(name, text)
    flags = ("cant_attack", "cant_block", "unblockable", "needs_two_blockers", "blocks_only_fliers")
    assert {f: getattr(rules, f) for f in flags} == {f: expected.get(f, False) for f in flags}


def test_every_built_in_card_reads_as_the_engine_knows_it():
    """The built-in pool's oracle texts read into the keywords its payloads carry."""
    pool = CardPool.default()
    for cdef in pool.cards.values():
        expected = card_json(None, Card(0, cdef, None), None)["keywords"]  # type: ignore[arg-type]
        assert list(oracle_rules(cdef.name, cdef.oracle_text).keywords) == sorted(expected), cdef.name


def _rules(text: str, name: str = "X") -> OracleRules:
    return oracle_rules(name, text)


@pytest.mark.parametrize(
    ("blocker", "attacker", "colours", "legal"),
    [
        ("", "", frozenset(), True),
        ("", "Flying", frozenset(), False),
        ("Reach", "Flying", frozenset(), True),
        ("Flying", "Flying", frozenset(), True),
        ("Flying\nX can block only creatures with flying.", "", frozenset(), False),
        ("Flying\nX can block only creatures with flying.", "Flying", frozenset(), True),
        ("X can't block.", "", frozenset(), False),
        ("", "X can't be blocked.", frozenset(), False),
        ("", "Menace", frozenset(), True),  # a second blocker is the reply's to add
        ("", "Fear", frozenset({"B"}), False),  # evasion not judged: not blocked
        ("", "Swampwalk", frozenset(), False),
        ("", "Protection from red", frozenset({"R"}), False),
        ("", "Protection from red", frozenset({"G"}), True),
        ("", "Protection from red", None, False),
        ("", "Protection from multicolored", frozenset({"G", "W"}), False),
        ("", "Protection from multicolored", frozenset({"W"}), True),
        ("", "Protection from creatures", frozenset({"W"}), False),
    ],
)
def test_may_block(blocker, attacker, colours, legal):
    assert may_block(_rules(blocker), _rules(attacker), blocker_colours=colours) is legal
