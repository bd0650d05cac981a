"""Wire text of an engine Answer: the `ai_choice` of observe mode.

The inverse of `Decision.parse`: `decision.parse(answer_text(decision, a))` gives `a` back, so a
client can replay an observed game by sending the AI's choices as its replies.
"""

from __future__ import annotations

from typing import Any

from tolaria.protocol.replies import (
    PASS,
    amounts_reply,
    blocks_reply,
    index_reply,
    indices_reply,
    value_reply,
    yes_no_reply,
)

_YES_NO_TYPES = frozenset({"confirm_action", "play_trigger", "play_from_effect"})


def answer_text(decision: Any, answer: Any) -> str:
    kind = decision.type
    if kind in _YES_NO_TYPES:
        return yes_no_reply(bool(answer))
    if kind == "choose_action":
        return PASS if answer is None else index_reply(_position(decision.options, answer))
    if kind == "declare_attackers":
        return indices_reply(_position(decision.options, card) for card in answer)
    if kind == "declare_blockers":
        return blocks_reply(
            (_position(decision.options, blocker), _position(decision.attackers, attacker))
            for blocker, attacker in answer
        )
    if kind == "choose_cards":
        return indices_reply(answer)
    if kind in ("choose_entity", "choose_ability"):
        return PASS if answer is None else index_reply(answer)
    if kind == "announce_value":
        return value_reply(answer)
    if kind == "assign_combat_damage":
        return amounts_reply(answer)
    raise ValueError(f"no wire text for an answer to a {kind} decision")


def _position(options: list, item: Any) -> int:
    for index, option in enumerate(options):
        if option is item:
            return index
    raise ValueError(f"{item!r} is not among the decision's options")
