"""The `-x compact` payload format: static card text only at a card name's first appearance.

The engine leaves out `oracle_text` for card names already shown in the game; on top of that
the daemon drops the other static fields of those cards (`compact_payload`), which halves a
typical DECISION line. A client that wants full card objects keeps one `CompactExpander` per
game and passes every payload through it, in order: `expand` restores exactly what the
uncompacted payload would have carried.
"""

from __future__ import annotations

from typing import Any

ZONES = ("hand", "graveyard", "battlefield", "exile")
# Same for every card of a name: sent once, with oracle_text.
NAME_STATIC_FIELDS = ("oracle_text", "mana_cost", "cmc", "types", "keywords")
# Present on battlefield cards only, fixed by the type line.
TYPE_FLAGS = {
    "is_creature": "Creature",
    "is_land": "Land",
    "is_artifact": "Artifact",
    "is_enchantment": "Enchantment",
    "is_planeswalker": "Planeswalker",
}


_NAME_STRIPPED = tuple(f for f in NAME_STATIC_FIELDS if f != "oracle_text")
_ZONE_STRIPPED = _NAME_STRIPPED + tuple(TYPE_FLAGS)


def _cards(payload: dict[str, Any]):
    """(zone, card) for every card object, in the order the engine describes them; zone is
    None for the decision's own lists (`cards`, `entities`), whose cards may lie anywhere."""
    state = payload.get("game_state") or {}
    for player in state.get("players") or ():
        for zone in ZONES:
            for card in player.get(zone) or ():
                yield zone, card
    for card in payload.get("cards") or ():
        yield None, card
    for entity in payload.get("entities") or ():
        if entity.get("type") == "card":
            yield None, entity


def compact_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """Drop the static fields of every card the engine already described (no oracle_text)."""
    for zone, card in _cards(payload):
        if "oracle_text" not in card:
            for field in _NAME_STRIPPED if zone is None else _ZONE_STRIPPED:
                card.pop(field, None)
    return payload


def type_flags(type_line: str) -> dict[str, bool]:
    """The battlefield `is_*` flags of a type line (`Artifact Creature — Golem`)."""
    card_types = type_line.split("—")[0].split()
    return {flag: name in card_types for flag, name in TYPE_FLAGS.items()}


class CompactExpander:
    """Restores full card objects in one game's compact payloads (feed them in order)."""

    def __init__(self) -> None:
        self.static: dict[str, dict[str, Any]] = {}

    def expand(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Fill in the static fields in place; returns the payload."""
        for zone, card in _cards(payload):
            name = card.get("name")
            if "oracle_text" in card:
                self.static[name] = {f: card[f] for f in NAME_STATIC_FIELDS if f in card}
                continue
            known = self.static.get(name)
            if known is None:
                continue
            for field, value in known.items():
                if field != "oracle_text":
                    card.setdefault(field, value)
            card.setdefault("oracle_text", known.get("oracle_text"))
            if zone == "battlefield":
                for flag, value in type_flags(str(known.get("types", ""))).items():
                    card.setdefault(flag, value)
        return payload
