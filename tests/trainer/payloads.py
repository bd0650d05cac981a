"""Hand-written DECISION payloads (PROTOCOL.md) and an independent legality check of replies."""

from __future__ import annotations

import copy
from typing import Any

ME, OPP = "Agent(1)-red_aggro", "Agent(2)-white_weenie"


def _state() -> dict[str, Any]:
    mountain = {
        "id": 11,
        "name": "Mountain",
        "mana_cost": "",
        "cmc": 0,
        "types": ["Basic", "Land", "Mountain"],
        "oracle_text": "({T}: Add {R}.)",
        "keywords": [],
        "tapped": True,
        "summoning_sick": False,
        "is_creature": False,
        "is_land": True,
        "is_artifact": False,
        "is_enchantment": False,
        "is_planeswalker": False,
        "damage": 0,
        "loyalty": None,
        "counters": {},
    }
    guide = {
        "id": 12,
        "name": "Goblin Guide",
        "mana_cost": "{R}",
        "cmc": 1,
        "types": ["Creature", "Goblin", "Scout"],
        "oracle_text": "Haste",
        "power": 2,
        "toughness": 2,
        "keywords": ["Haste"],
        "tapped": False,
        "summoning_sick": False,
        "is_creature": True,
        "is_land": False,
        "is_artifact": False,
        "is_enchantment": False,
        "is_planeswalker": False,
        "damage": 0,
        "loyalty": None,
        "counters": {},
    }
    angel = {
        "id": 21,
        "name": "Serra Angel",
        "mana_cost": "{3}{W}{W}",
        "cmc": 5,
        "types": ["Creature", "Angel"],
        "oracle_text": "Flying, vigilance",
        "power": 4,
        "toughness": 4,
        "keywords": ["Flying", "Vigilance"],
        "tapped": False,
        "summoning_sick": False,
        "is_creature": True,
        "is_land": False,
        "is_artifact": False,
        "is_enchantment": False,
        "is_planeswalker": False,
        "damage": 1,
        "loyalty": None,
        "counters": {},
    }
    bolt = {
        "id": 13,
        "name": "Lightning Bolt",
        "mana_cost": "{R}",
        "cmc": 1,
        "types": ["Instant"],
        "oracle_text": "Lightning Bolt deals 3 damage to any target.",
        "keywords": [],
    }
    pool = {"total": 1, "white": 0, "blue": 0, "black": 0, "red": 1, "green": 0, "colorless": 0}
    empty_pool = dict.fromkeys(pool, 0)
    return {
        "is_game_over": False,
        "active_player": ME,
        "priority_player": ME,
        "stack": [],
        "players": [
            {
                "name": ME,
                "life": 17,
                "poison": 0,
                "has_lost": False,
                "lands_played_this_turn": 1,
                "max_land_plays": 1,
                "hand_size": 1,
                "hand": [bolt],
                "library_size": 48,
                "graveyard": [],
                "battlefield": [mountain, guide],
                "exile": [],
                "mana_pool": pool,
            },
            {
                "name": OPP,
                "life": 20,
                "poison": 0,
                "has_lost": False,
                "lands_played_this_turn": 0,
                "max_land_plays": 1,
                "hand_size": 5,
                "hand": [],
                "library_size": 47,
                "graveyard": [],
                "battlefield": [angel],
                "exile": [],
                "mana_pool": empty_pool,
            },
        ],
    }


def _base(decision_type: str, phase: str = "MAIN1") -> dict[str, Any]:
    return {
        "decision_type": decision_type,
        "decision_id": 7,
        "player": ME,
        "turn": 4,
        "phase": phase,
        "message": "",
        "game_state": _state(),
    }


def choose_action() -> dict[str, Any]:
    p = _base("choose_action")
    p["actions"] = [
        {
            "index": 0,
            "description": "Cast Lightning Bolt",
            "card": "Lightning Bolt",
            "card_id": 13,
            "mana_cost": "{R}",
            "is_land": False,
        },
        {
            "index": 1,
            "description": "Attack with creatures",
            "card": None,
            "card_id": None,
            "mana_cost": "",
            "is_land": False,
        },
        {
            "index": -1,
            "description": "Pass priority",
            "card": None,
            "card_id": None,
            "mana_cost": "",
            "is_land": False,
        },
    ]
    return p


def declare_attackers() -> dict[str, Any]:
    p = _base("declare_attackers", "COMBAT_DECLARE_ATTACKERS")
    p["attackers"] = [{"index": 0, "card_id": 12, "name": "Goblin Guide", "power": 2, "toughness": 2}]
    p["defenders"] = [{"index": 0, "name": OPP, "type": "player"}]
    return p


def declare_blockers() -> dict[str, Any]:
    p = _base("declare_blockers", "COMBAT_DECLARE_BLOCKERS")
    p["player"] = OPP
    p["game_state"]["priority_player"] = OPP
    p["game_state"]["combat"] = {
        "attacking_player": ME,
        "attackers": [{"card_id": 12, "name": "Goblin Guide", "power": 2, "toughness": 2, "blocked_by": []}],
    }
    p["blockers"] = [
        {"index": 0, "card_id": 21, "name": "Serra Angel", "power": 4, "toughness": 4, "can_block": [0]},
        {"index": 1, "card_id": 22, "name": "Wall of Omens", "power": 0, "toughness": 4, "can_block": []},
    ]
    p["attackers"] = [{"index": 0, "card_id": 12, "name": "Goblin Guide", "power": 2, "toughness": 2}]
    return p


def choose_ability() -> dict[str, Any]:
    p = _base("choose_ability")
    p.update(card="Mountain", abilities=["{T}: Add {R}.", "Sacrifice: nothing"])
    return p


def yes_no(decision_type: str = "confirm_action") -> dict[str, Any]:
    p = _base(decision_type, "UPKEEP")
    p["message"] = "Keep this hand of 7 cards?"
    return p


def choose_cards() -> dict[str, Any]:
    p = _base("choose_cards")
    hand = [
        {
            "index": i,
            "id": 30 + i,
            "name": n,
            "mana_cost": "{R}",
            "cmc": 1,
            "types": ["Instant"],
            "oracle_text": "...",
            "keywords": [],
        }
        for i, n in enumerate(["Shock", "Lightning Bolt", "Lava Spike"])
    ]
    p.update(title="Put 2 cards on the bottom of your library", cards=hand, min=2, max=2, optional=False)
    return p


def choose_entity(optional: bool = True) -> dict[str, Any]:
    p = _base("choose_entity")
    p.update(
        entities=[
            {"index": 0, "type": "player", "name": ME, "life": 17},
            {"index": 1, "type": "player", "name": OPP, "life": 20},
            {"index": 2, "type": "card", "card_id": 21, "name": "Serra Angel", "controller": OPP},
        ],
        optional=optional,
    )
    return p


def announce_value() -> dict[str, Any]:
    p = _base("announce_value")
    p.update(ability="Fireball", announce="X", min=0, max=5)
    return p


def assign_combat_damage(trample: bool = False) -> dict[str, Any]:
    p = _base("assign_combat_damage", "COMBAT_DAMAGE")
    p.update(
        attacker={"card_id": 12, "name": "Goblin Guide", "power": 5, "toughness": 2, "keywords": []},
        damage=5,
        blockers=[
            {
                "index": 0,
                "card_id": 21,
                "name": "Serra Angel",
                "power": 4,
                "toughness": 4,
                "damage": 0,
                "lethal": 4,
            },
            {
                "index": 1,
                "card_id": 22,
                "name": "Wall of Omens",
                "power": 0,
                "toughness": 4,
                "damage": 2,
                "lethal": 2,
            },
        ],
        trample=trample,
    )
    if trample:
        p["defender"] = {"index": 2, "type": "player", "name": OPP}
    return p


def every_decision_type() -> list[dict[str, Any]]:
    return [
        choose_action(),
        declare_attackers(),
        declare_blockers(),
        choose_ability(),
        yes_no("play_trigger"),
        yes_no("play_from_effect"),
        yes_no("confirm_action"),
        choose_cards(),
        choose_entity(True),
        choose_entity(False),
        announce_value(),
        assign_combat_damage(False),
        assign_combat_damage(True),
    ]


def compact(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as `-x compact` would send it once every card has been seen: no oracle_text."""
    out = copy.deepcopy(payload)

    def strip(node: Any) -> None:
        if isinstance(node, dict):
            node.pop("oracle_text", None)
            for v in node.values():
                strip(v)
        elif isinstance(node, list):
            for v in node:
                strip(v)

    strip(out)
    return out


def _indices(entries: list[Any]) -> list[int]:
    return [int(e["index"]) if isinstance(e, dict) and "index" in e else i for i, e in enumerate(entries)]


def _int_list(text: str) -> list[int]:
    return [int(t) for t in text.split(",")] if text else []


def legal_reply(payload: dict[str, Any], reply: str) -> bool:
    """Whether `reply` is a legal answer to `payload` by PROTOCOL.md's table (independent of the encoder)."""
    dtype = payload["decision_type"]
    try:
        if dtype == "choose_action":
            return int(reply) in _indices(payload["actions"])
        if dtype in ("play_trigger", "play_from_effect", "confirm_action"):
            return reply in ("y", "n")
        if dtype == "choose_ability":
            return int(reply) in _indices(payload["abilities"])
        if dtype == "declare_attackers":
            chosen = _int_list(reply)
            return len(set(chosen)) == len(chosen) and set(chosen) <= set(_indices(payload["attackers"]))
        if dtype == "declare_blockers":
            pairs = [tuple(int(x) for x in p.split(":")) for p in reply.split(",")] if reply else []
            blockers = [b for b, _ in pairs]
            if not (
                len(set(blockers)) == len(blockers)
                and set(blockers) <= set(_indices(payload["blockers"]))
                and {a for _, a in pairs} <= set(_indices(payload["attackers"]))
            ):
                return False
            by_index = {int(b["index"]): b for b in payload["blockers"]}
            if any(a not in by_index[b].get("can_block", [a]) for b, a in pairs):
                return False
            menace = {
                int(a["index"])
                for a in payload["attackers"]
                if "menace" in [k.lower() for k in a.get("keywords", [])]
            }
            return all(sum(1 for _, x in pairs if x == a) != 1 for a in menace)
        if dtype == "choose_cards":
            chosen = _int_list(reply)
            return (
                len(set(chosen)) == len(chosen)
                and set(chosen) <= set(_indices(payload["cards"]))
                and payload["min"] <= len(chosen) <= payload["max"]
            )
        if dtype == "choose_entity":
            value = int(reply)
            return value in _indices(payload["entities"]) or (value == -1 and bool(payload.get("optional")))
        if dtype == "announce_value":
            return payload["min"] <= int(reply) <= payload["max"]
        if dtype == "assign_combat_damage":
            amounts = _int_list(reply)
            lethal = [int(b["lethal"]) for b in payload["blockers"]]
            trample = bool(payload.get("trample"))
            if len(amounts) != len(lethal) + trample or min(amounts) < 0 or sum(amounts) != payload["damage"]:
                return False
            return not (
                trample and amounts[-1] > 0 and any(a < n for a, n in zip(amounts, lethal, strict=False))
            )
    except (ValueError, KeyError):
        return False
    raise AssertionError(f"unknown decision type {dtype}")
