"""Reply texts for DECISION lines, as PROTOCOL.md's decision table spells them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

PASS = "-1"


def index_reply(index: int) -> str:
    """choose_action, choose_ability, choose_entity: one index (`-1` passes / declines)."""
    return str(int(index))


def indices_reply(indices: Iterable[int]) -> str:
    """declare_attackers, choose_cards: comma-separated indices; empty means none."""
    return ",".join(str(int(i)) for i in indices)


def blocks_reply(pairs: Iterable[tuple[int, int]]) -> str:
    """declare_blockers: `blocker:attacker` index pairs; empty means no block."""
    return ",".join(f"{int(b)}:{int(a)}" for b, a in pairs)


def yes_no_reply(yes: bool) -> str:
    """play_trigger, play_from_effect, confirm_action."""
    return "y" if yes else "n"


def value_reply(value: int) -> str:
    """announce_value."""
    return str(int(value))


def amounts_reply(amounts: Iterable[int]) -> str:
    """assign_combat_damage: the damage to each blocker in the offered order, then the defending
    player's share when the attacker has trample."""
    return ",".join(str(int(n)) for n in amounts)


def lethal_in_order(damage: int, lethal: Sequence[int], trample: bool) -> list[int]:
    """A legal assign_combat_damage division: lethal damage to each blocker in the given order,
    the rest to the defending player (trample) or else to the last of them."""
    left, out = damage, []
    for need in lethal:
        give = min(left, max(0, int(need)))
        out.append(give)
        left -= give
    if trample:
        out.append(left)
    elif out:
        out[-1] += left
    return out


def first_option_reply(payload: dict) -> str:
    """The first legal reply to a DECISION payload: the first offered action, entity, ability or
    cards, `y` to optional plays, no attack and no block. A client answering with it can never
    stall a game; the benchmarks and tests use it as an instant, deterministic policy."""
    kind = payload.get("decision_type")
    if kind == "choose_action":
        actions = payload.get("actions") or [{"index": -1}]
        return index_reply(actions[0].get("index", -1))
    if kind in ("declare_attackers", "declare_blockers"):
        return ""
    if kind in ("play_trigger", "play_from_effect", "confirm_action"):
        return yes_no_reply(True)
    if kind == "choose_cards":
        return indices_reply(range(int(payload.get("min") or 0)))
    if kind == "choose_entity":
        return index_reply(0 if payload.get("entities") else -1)
    if kind == "announce_value":
        return value_reply(int(payload.get("min") or 0))
    if kind == "assign_combat_damage":
        lethal = [b.get("lethal", 0) for b in payload.get("blockers") or []]
        return amounts_reply(
            lethal_in_order(int(payload.get("damage") or 0), lethal, bool(payload.get("trample")))
        )
    return index_reply(0)
