"""compact_payload / CompactExpander on hand-made payloads."""

from __future__ import annotations

import copy

from tolaria.protocol import CompactExpander, compact_payload
from tolaria.protocol.compact import type_flags

BOLT = {"id": 1, "name": "Lightning Bolt", "mana_cost": "{R}", "cmc": 1, "types": "Instant", "keywords": []}
GOLEM_STATIC = {"mana_cost": "{3}", "cmc": 3, "types": "Artifact Creature — Golem", "keywords": ["Trample"]}


def golem(card_id: int, first: bool) -> dict:
    card = {"id": card_id, "name": "Golem", **GOLEM_STATIC, "power": 3, "toughness": 3, "tapped": False,
            "is_creature": True, "is_land": False, "is_artifact": True, "is_enchantment": False,
            "is_planeswalker": False, "damage": 0}  # fmt: skip
    if first:
        card["oracle_text"] = "Trample"
    return card


def payload(cards_first: bool) -> dict:
    bolt = dict(BOLT, oracle_text="Deal 3.") if cards_first else dict(BOLT)
    return {
        "decision_type": "choose_entity",
        "game_state": {
            "players": [{"hand": [bolt], "battlefield": [golem(2, cards_first), golem(3, False)]}]
        },
        "entities": [
            {"index": 0, "type": "player", "name": "Agent(1)-x"},
            dict(golem(3, False), type="card"),
        ],
    }


def test_type_flags():
    assert type_flags("Artifact Creature — Golem") == {
        "is_creature": True, "is_land": False, "is_artifact": True, "is_enchantment": False, "is_planeswalker": False
    }  # fmt: skip
    assert type_flags("Basic Land — Mountain")["is_land"]


def test_compact_strips_described_cards_and_the_expander_restores_them():
    first, later = payload(True), payload(False)
    full_first = copy.deepcopy(first)  # what the daemon sends without -x compact
    full_first["game_state"]["players"][0]["battlefield"][1]["oracle_text"] = "Trample"
    full_first["entities"][1]["oracle_text"] = "Trample"
    compact_first, compact_later = (
        compact_payload(copy.deepcopy(first)),
        compact_payload(copy.deepcopy(later)),
    )
    assert compact_first["game_state"]["players"][0]["battlefield"][0] == golem(2, True)
    assert compact_first["game_state"]["players"][0]["battlefield"][1] == {
        "id": 3, "name": "Golem", "power": 3, "toughness": 3, "tapped": False, "damage": 0
    }  # fmt: skip
    # Entities keep their type flags: the zone of a target is not known to the expander.
    assert "is_artifact" in compact_later["entities"][1] and "types" not in compact_later["entities"][1]
    expander = CompactExpander()
    assert expander.expand(compact_first) == full_first
    restored = expander.expand(compact_later)
    for card in [*restored["game_state"]["players"][0]["battlefield"], restored["entities"][1]]:
        assert card["oracle_text"] == "Trample" and card["types"] == GOLEM_STATIC["types"]
        assert card["is_artifact"] is True
    assert restored["game_state"]["players"][0]["hand"][0]["oracle_text"] == "Deal 3."


def test_expander_leaves_unknown_cards_alone():
    lone = payload(False)
    assert CompactExpander().expand(copy.deepcopy(lone)) == lone
