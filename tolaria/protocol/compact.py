"""The `-x compact` payload format, and how a client gets full card objects back.

In compact mode the engine describes a card name in full only at its first appearance in the
game (over this connection). Later cards of that name carry `id`, `name` and their changing
state only: `tapped`, and for creatures `power`, `toughness`, `summoning_sick`, `damage`.
Left out: `oracle_text`, `mana_cost`, `cmc`, `types`, `keywords`, the battlefield `is_*` type
flags, and the battlefield fields that are constant for such a card (`summoning_sick` and
`damage` of non-creatures, `loyalty`, `counters`).

A client that wants the full objects keeps one `CompactExpander` per game and passes every
payload through it, in order; `expand` restores what the payload would have carried without
`-x compact`.
"""

from __future__ import annotations

from typing import Any

ZONES = ("hand", "graveyard", "battlefield", "exile")
# Same for every card of a name: sent once, with oracle_text.
NAME_STATIC_FIELDS = ("oracle_text", "mana_cost", "cmc", "types", "keywords")
TYPE_FLAGS = {
    "is_creature": "Creature",
    "is_land": "Land",
    "is_artifact": "Artifact",
    "is_enchantment": "Enchantment",
    "is_planeswalker": "Planeswalker",
}
# Battlefield fields a compact card leaves out when they hold these values.
BATTLEFIELD_DEFAULTS: dict[str, Any] = {"summoning_sick": False, "damage": 0, "loyalty": 0}


def type_flags(type_line: str) -> dict[str, bool]:
    """The battlefield `is_*` flags of a type line (`Artifact Creature — Golem`)."""
    card_types = type_line.split("—")[0].split()
    return {flag: name in card_types for flag, name in TYPE_FLAGS.items()}


class CompactExpander:
    """Restores full card objects in one game's compact payloads (feed them in order)."""

    def __init__(self) -> None:
        self.static: dict[str, dict[str, Any]] = {}

    def expand(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Fill in the left-out fields in place; returns the payload."""
        zone_of: dict[Any, str] = {}
        state = payload.get("game_state") or {}
        for player in state.get("players") or ():
            for zone in ZONES:
                for card in player.get(zone) or ():
                    zone_of[card.get("id")] = zone
                    self._expand_card(card, zone)
        # The decision's own card lists (targets, choices) show cards that lie in some zone.
        for card in payload.get("cards") or ():
            self._expand_card(card, zone_of.get(card.get("id")))
        for entity in payload.get("entities") or ():
            if entity.get("type") == "card":
                self._expand_card(entity, zone_of.get(entity.get("id")))
        return payload

    def _expand_card(self, card: dict[str, Any], zone: str | None) -> None:
        name = card.get("name")
        if "oracle_text" in card:
            self.static[name] = {f: card[f] for f in NAME_STATIC_FIELDS if f in card}
            return
        known = self.static.get(name)
        if known is None:
            return
        for field, value in known.items():
            card.setdefault(field, list(value) if isinstance(value, list) else value)
        if zone == "battlefield":
            for flag, value in type_flags(str(known.get("types", ""))).items():
                card.setdefault(flag, value)
            for field, value in BATTLEFIELD_DEFAULTS.items():
                card.setdefault(field, value)
            card.setdefault("counters", {})
