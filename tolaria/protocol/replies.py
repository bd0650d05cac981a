"""Reply texts for DECISION lines, as PROTOCOL.md's decision table spells them."""

from __future__ import annotations

from collections.abc import Iterable

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
