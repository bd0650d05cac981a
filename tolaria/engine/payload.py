"""The DECISION JSON of PROTOCOL.md, built from a pending Decision.

`seen` (compact mode) is the set of card names whose static text the client already has:
such cards omit `oracle_text`; every name shown is added to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tolaria.engine.cards import KEYWORDS
from tolaria.engine.objects import BATTLEFIELD, Card, Player, StackItem

if TYPE_CHECKING:
    from tolaria.engine.decision import Action, Decision
    from tolaria.engine.game import Game


def card_json(game: Game, c: Card, seen: set[str] | None, in_zone: bool = True) -> dict:
    """A card. In compact mode (`seen` given) a card whose name was already sent leaves out the
    static fields (tolaria.protocol.compact.NAME_STATIC_FIELDS and the battlefield type flags),
    which CompactExpander restores; the decision's own lists (`in_zone` False) keep the flags."""
    cdef = c.cdef
    out: dict = {"id": c.id, "name": cdef.name}
    full = seen is None or cdef.name not in seen
    if full:
        out["mana_cost"] = cdef.cost.text
        out["cmc"] = cdef.mana_value
        out["types"] = cdef.type_line
        out["oracle_text"] = cdef.oracle_text
        keywords = sorted(KEYWORDS[k] for k in cdef.keywords)
        out["keywords"] = keywords + [f"Protection from {q}" for q in sorted(cdef.protection)]
        if seen is not None:
            seen.add(cdef.name)
    on_field = c.zone == BATTLEFIELD
    if cdef.is_creature:
        out["power"] = game.power(c) if on_field else cdef.power
        out["toughness"] = game.toughness(c) if on_field else cdef.toughness
    if on_field:
        out["tapped"] = c.tapped
        out["summoning_sick"] = c.sick and cdef.is_creature and not c.has("haste")
        if full or not in_zone:
            out["is_creature"] = cdef.is_creature
            out["is_land"] = cdef.is_land
            out["is_artifact"] = "Artifact" in cdef.types
            out["is_enchantment"] = "Enchantment" in cdef.types
            out["is_planeswalker"] = False
        out["damage"] = c.damage
        out["loyalty"] = 0
        out["counters"] = {}
        if cdef.token:
            out["is_token"] = True
        if c.attacking:
            out["attacking"] = True
        if c.blocking is not None:
            out["blocking"] = c.blocking.id
        if c.detained_by is not None:
            out["detained_until_turn_of"] = c.detained_by.name
    elif c.time_counters:
        out["counters"] = {"TIME": c.time_counters}
    return out


def player_json(game: Game, p: Player, viewer: int, seen: set[str] | None) -> dict:
    show_hand = p.seat == viewer or game.full_observability
    return {
        "name": p.name,
        "life": p.life,
        "poison": 0,
        "has_lost": p.lost,
        "lands_played_this_turn": p.lands_played,
        "max_land_plays": 1,
        "hand_size": len(p.hand),
        "hand": [card_json(game, c, seen) for c in p.hand] if show_hand else [],
        "library_size": len(p.library),
        "graveyard": [card_json(game, c, seen) for c in p.graveyard],
        "battlefield": [card_json(game, c, seen) for c in p.battlefield],
        "exile": [card_json(game, c, seen) for c in p.exile],
        "mana_pool": {"total": 0, "white": 0, "blue": 0, "black": 0, "red": 0, "green": 0, "colorless": 0},
    }


def stack_json(item: StackItem) -> dict:
    return {
        "id": item.id,
        "description": item.text + _target_text(item),
        "controller": item.controller.name,
        "source_card": item.card.name,
        "source_card_id": item.card.id,
    }


def _target_text(item: StackItem) -> str:
    if not item.targets:
        return ""
    return " targeting " + ", ".join(entity_name(o) for o, _ in item.targets)


def entity_name(o: object) -> str:
    if isinstance(o, Player):
        return o.name
    if isinstance(o, StackItem):
        return f"spell {o.card.name} ({o.id})"
    return f"{o.name} ({o.id})"


def game_state_json(game: Game, viewer: int, seen: set[str] | None) -> dict:
    state = {
        "is_game_over": game.result is not None,
        "active_player": game.active.name,
        "priority_player": game.priority.name if game.priority is not None else None,
        "players": [player_json(game, p, viewer, seen) for p in game.players],
        "stack": [stack_json(it) for it in reversed(game.stack)],
    }
    if game.attackers:
        state["combat"] = {
            "attacking_player": game.active.name,
            "attackers": [
                {
                    "card_id": a.id,
                    "name": a.name,
                    "power": game.power(a),
                    "toughness": game.toughness(a),
                    "blocked_by": [b.id for b in game.blockers_of.get(a.id, ())],
                }
                for a in game.attackers
            ],
        }
    return state


def action_json(index: int, a: Action) -> dict:
    """An entry of a choose_action's `actions`."""
    return {
        "index": index,
        "description": a.description,
        "card": a.card.name,
        "card_id": a.card.id,
        "mana_cost": a.cost.text if a.cost is not None else "",
        "is_land": a.kind == "land",
    }


def decision_payload(d: Decision, seen: set[str] | None = None) -> dict:
    game = d.game
    me = game.players[d.seat]
    out = {
        "decision_type": d.type,
        "decision_id": d.decision_id,
        "player": me.name,
        "turn": game.turn,
        "phase": game.phase,
        "message": d.message,
        "game_state": game_state_json(game, d.seat, seen),
    }
    t = d.type
    if t == "choose_action":
        actions = [action_json(i, a) for i, a in enumerate(d.options)]
        actions.append(
            {
                "index": -1,
                "description": "Pass priority",
                "card": None,
                "card_id": None,
                "mana_cost": "",
                "is_land": False,
            }
        )
        out["actions"] = actions
    elif t == "declare_attackers":
        out["attackers"] = [
            {
                "index": i,
                "card_id": c.id,
                "name": c.name,
                "power": game.power(c),
                "toughness": game.toughness(c),
            }
            for i, c in enumerate(d.options)
        ]
        out["defenders"] = [{"index": 0, "name": me.opponent.name, "type": "player"}]
    elif t == "declare_blockers":
        out["blockers"] = [
            {
                "index": i,
                "card_id": c.id,
                "name": c.name,
                "power": game.power(c),
                "toughness": game.toughness(c),
                "can_block": d.context[i],
            }
            for i, c in enumerate(d.options)
        ]
        out["attackers"] = [
            {
                "index": i,
                "card_id": c.id,
                "name": c.name,
                "power": game.power(c),
                "toughness": game.toughness(c),
                "keywords": sorted(c.cdef.keywords),
            }
            for i, c in enumerate(d.attackers)
        ]
    elif t == "choose_cards":
        out["title"] = d.message
        out["cards"] = [dict(card_json(game, c, seen, False), index=i) for i, c in enumerate(d.options)]
        out["min"] = d.min
        out["max"] = d.max
        out["optional"] = d.min == 0
    elif t == "choose_entity":
        out["entities"] = [_entity_json(game, i, o, seen) for i, o in enumerate(d.options)]
        out["optional"] = d.optional
    elif t == "announce_value":
        out["ability"] = d.context.name
        out["announce"] = "X"
        out["min"] = d.min
        out["max"] = d.max
    elif t == "assign_combat_damage":
        a = d.context.attacker
        out["attacker"] = {
            "card_id": a.id,
            "name": a.name,
            "power": game.power(a),
            "toughness": game.toughness(a),
            "keywords": sorted(KEYWORDS[k] for k in a.cdef.keywords),
        }
        out["damage"] = d.min
        out["blockers"] = [
            {
                "index": i,
                "card_id": b.id,
                "name": b.name,
                "power": game.power(b),
                "toughness": game.toughness(b),
                "damage": b.damage,
                "lethal": d.context.lethal[i],
            }
            for i, b in enumerate(d.options)
        ]
        out["trample"] = d.context.defender is not None
        if d.context.defender is not None:
            out["defender"] = {"index": len(d.options), "type": "player", "name": d.context.defender.name}
    elif t == "reveal":
        zone, owner = d.context
        out["zone"] = zone
        out["owner"] = owner.name
        out["cards"] = [card_json(game, c, seen, False) for c in d.options]
    return out


def _entity_json(game: Game, i: int, o: object, seen: set[str] | None) -> dict:
    if isinstance(o, Player):
        return {"index": i, "type": "player", "name": o.name, "life": o.life}
    if isinstance(o, StackItem):
        return {
            "index": i,
            "type": "spell",
            "id": o.id,
            "name": o.card.name,
            "description": o.text,
            "controller": o.controller.name,
        }
    return dict(card_json(game, o, seen, False), index=i, type="card", controller=o.controller.name)
