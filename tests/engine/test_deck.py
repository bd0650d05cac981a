"""Deck files (.dck) and card definition files: loading, exact contents, clear errors."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from engine.helpers import DECK_DIR, DECK_NAMES, POOL
from tolaria.engine import CardDataError, CardPool, DeckError, find_deck, load_deck
from tolaria.engine.cards import parse_card_file

SEED_DECKS = {
    "red_aggro": {
        "Lightning Bolt": 4, "Shock": 4, "Monastery Swiftspear": 4, "Goblin Guide": 4,
        "Eidolon of the Great Revel": 4, "Lava Spike": 4, "Rift Bolt": 4, "Searing Blaze": 4,
        "Light Up the Stage": 4, "Skullcrack": 4, "Mountain": 20,
    },
    "white_weenie": {
        "Savannah Lions": 4, "Elite Vanguard": 4, "Soldier of the Pantheon": 4, "Dryad Militant": 4,
        "Thalia, Guardian of Thraben": 4, "Benalish Marshal": 4, "Brimaz, King of Oreskos": 4,
        "Swords to Plowshares": 4, "Path to Exile": 4, "Honor of the Pure": 4, "Plains": 20,
    },
}  # fmt: skip


@pytest.mark.parametrize("name", DECK_NAMES)
def test_every_deck_is_sixty_known_cards(name):
    d = load_deck(DECK_DIR / f"{name}.dck", POOL)
    assert d.name == name and len(d.cards) == 60
    if name in SEED_DECKS:
        assert dict(Counter(c.name for c in d.cards)) == SEED_DECKS[name]


def test_deck_format_sections_set_codes_and_metadata(tmp_path):
    path = tmp_path / "mine.dck"
    path.write_text(
        "[metadata]\nName=My Deck\n\n[main]\n2 Lightning Bolt|M11\n1 plains\n[Sideboard]\n3 Shock\n"
    )
    d = load_deck(path, POOL)
    assert d.name == "My Deck" and [c.name for c in d.cards] == ["Lightning Bolt", "Lightning Bolt", "Plains"]
    path.write_text("[Main]\n1 Shock\n")
    assert load_deck(path, POOL).name == "mine"


def test_unknown_cards_are_all_named_with_the_file(tmp_path):
    path = tmp_path / "bad.dck"
    path.write_text("[Main]\n4 Black Lotus\n2 Shock\n1 Time Walk|LEA\n4 Black Lotus\n")
    with pytest.raises(DeckError) as e:
        load_deck(path, POOL)
    msg = str(e.value)
    assert "bad.dck" in msg and "Black Lotus" in msg and "Time Walk" in msg


def test_bad_lines_tokens_and_empty_decks_are_errors(tmp_path):
    path = tmp_path / "x.dck"
    for text, needle in (
        ("[Main]\nfour Shock\n", "line 2"),
        ("[Main]\n1 Cat Soldier\n", "Cat Soldier"),
        ("", "empty"),
    ):
        path.write_text(text)
        with pytest.raises(DeckError, match=needle):
            load_deck(path, POOL)
    with pytest.raises(DeckError, match="Could not load deck"):
        load_deck(tmp_path / "missing.dck", POOL)


def test_find_deck_resolves_names_and_refuses_escapes(tmp_path):
    decks = tmp_path / "decks"
    (decks / "sub").mkdir(parents=True)
    (decks / "a.dck").write_text("[Main]\n1 Shock\n")
    (decks / "sub" / "b.dck").write_text("[Main]\n1 Shock\n")
    (tmp_path / "secret.dck").write_text("[Main]\n1 Shock\n")
    (decks / "link.dck").symlink_to(tmp_path / "secret.dck")
    assert find_deck("a", [decks]) == (decks / "a.dck").resolve()
    assert find_deck("a.dck", [decks]) == (decks / "a.dck").resolve()
    assert find_deck("sub/b", [decks]) == (decks / "sub" / "b.dck").resolve()
    for bad in (
        "../secret",
        "../secret.dck",
        str(tmp_path / "secret.dck"),
        "/etc/passwd",
        "link",
        "nope",
        "",
        "sub",
    ):
        with pytest.raises(DeckError, match="Could not load deck"):
            find_deck(bad, [decks])
    assert find_deck("red_aggro", [tmp_path, DECK_DIR]).name == "red_aggro.dck"


def _card_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "cards.toml"
    path.write_text(body)
    return path


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ('[[card]]\nname = "X"\ncost = "{R}"\ntypes = ["Instant"]\ncolour = "red"\n', "unknown key 'colour'"),
        ('[[card]]\nname = "X"\ntypes = ["Instant"]\neffects = [{ op = "explode" }]\n', "unknown effect op"),
        (
            '[[card]]\nname = "X"\ntypes = ["Instant"]\neffects = [{ op = "draw", amont = 1 }]\n',
            "unknown key 'amont'",
        ),
        ('[[card]]\nname = "X"\ncost = "{Q}"\ntypes = ["Instant"]\n', "unknown mana symbol"),
        ('[[card]]\nname = "X"\ntypes = ["Creature"]\n', "power/toughness"),
        (
            '[[card]]\nname = "X"\ntypes = ["Instant"]\neffects = [{ op = "damage", target = 0, amount = 1 }]\n',
            "target",
        ),
        (
            '[[card]]\nname = "X"\ntypes = ["Creature"]\npower = 1\ntoughness = 1\nkeywords = ["flyin"]\n',
            "keyword",
        ),
        (
            '[[card]]\nname = "X"\ntypes = ["Creature"]\npower = 1\ntoughness = 1\n[[card.trigger]]\non = "dies"\n',
            "trigger",
        ),
        ("[[card]]\nname = \n", "cards.toml"),
    ],
)
def test_card_file_errors_name_the_file_and_the_problem(tmp_path, body, needle):
    path = _card_file(tmp_path, body)
    with pytest.raises(CardDataError) as e:
        parse_card_file(path)
    assert str(path) in str(e.value) and needle in str(e.value)


def test_a_new_card_with_existing_mechanics_is_a_data_change(tmp_path):
    path = _card_file(
        tmp_path,
        '[[card]]\nname = "Lava Dart Test"\ncost = "{R}"\ntypes = ["Instant"]\ntargets = ["any"]\n'
        'effects = [{ op = "damage", target = 0, amount = 1 }]\ntext = "deals 1 damage to any target."\n',
    )
    pool = CardPool([*POOL.cards.values(), *parse_card_file(path)])
    assert pool["Lava Dart Test"].effects[0].op == "damage"
    with pytest.raises(CardDataError, match="defined twice"):
        CardPool([*POOL.cards.values(), POOL["Shock"]])


def test_default_pool_is_parsed_once():
    assert CardPool.default() is CardPool.default()
