"""CompactExpander on hand-made payloads in the engine's compact format."""

from __future__ import annotations

import copy

from tolaria.protocol import CompactExpander
from tolaria.protocol.compact import type_flags

GOLEM_STATIC = {"mana_cost": "{3}", "cmc": 3, "types": "Artifact Creature — Golem", "oracle_text": "Trample",
                "keywords": ["Trample"]}  # fmt: skip
GOLEM_FLAGS = {"is_creature": True, "is_land": False, "is_artifact": True, "is_enchantment": False,
               "is_planeswalker": False}  # fmt: skip
ISLAND_STATIC = {"mana_cost": "", "cmc": 0, "types": "Basic Land — Island", "oracle_text": "({T}: Add {U}.)",
                 "keywords": []}  # fmt: skip


def full_golem(card_id: int) -> dict:
    return {"id": card_id, "name": "Golem", **GOLEM_STATIC, "power": 3, "toughness": 3, "tapped": False,
            **GOLEM_FLAGS, "summoning_sick": True, "damage": 1, "loyalty": 0, "counters": {}}  # fmt: skip


def full_island(card_id: int) -> dict:
    return {"id": card_id, "name": "Island", **ISLAND_STATIC, "tapped": True, **type_flags(ISLAND_STATIC["types"]),
            "summoning_sick": False, "damage": 0, "loyalty": 0, "counters": {}}  # fmt: skip


def payload(golems: list[dict], islands: list[dict], entity: dict) -> dict:
    return {
        "decision_type": "choose_entity",
        "game_state": {
            "players": [{"hand": [], "battlefield": golems}, {"graveyard": [], "battlefield": islands}]
        },
        "entities": [{"index": 0, "type": "player", "name": "Agent(1)-x"}, entity],
    }


def test_type_flags():
    assert type_flags("Artifact Creature — Golem") == GOLEM_FLAGS
    assert type_flags("Basic Land — Mountain")["is_land"]


def test_expander_restores_what_compact_mode_left_out():
    first_full = payload([full_golem(1)], [full_island(2)], dict(full_golem(1), index=1, type="card"))
    later_full = payload([full_golem(3)], [full_island(4)], dict(full_golem(3), index=1, type="card"))
    later_compact = payload(
        [{"id": 3, "name": "Golem", "power": 3, "toughness": 3, "tapped": False, "summoning_sick": True, "damage": 1}],
        [{"id": 4, "name": "Island", "tapped": True}],
        {"id": 3, "name": "Golem", "power": 3, "toughness": 3, "tapped": False, "summoning_sick": True, "damage": 1,
         "index": 1, "type": "card"},
    )  # fmt: skip
    expander = CompactExpander()
    assert expander.expand(copy.deepcopy(first_full)) == first_full
    assert expander.expand(later_compact) == later_full


def test_expander_leaves_unknown_cards_alone():
    lone = payload([{"id": 5, "name": "Golem", "tapped": False}], [], {"index": 1, "type": "card", "id": 5})
    assert CompactExpander().expand(copy.deepcopy(lone)) == lone
