"""Forge's dialect of the protocol, as a real Forge RL daemon prints it, and its translation
into Tolaria's.

The reference is recorded output of that daemon (Forge 1.6.28 with the ForgeRL fork's daemon
classes; the project's shared recordings in `../shared/forge/`). A
client knows it talks to Forge when `HELLO` is refused. From then on it is strict in what it
sends (no extensions, whole-number flag values) and liberal in what it accepts: every DECISION
payload passes through `normalize_decision`, which turns Forge's shapes into the ones
PROTOCOL.md describes, so that the encoder, the actors and the warm start see one dialect:

- cards: `summoningSickness` -> `summoning_sick`; `counters` (`[{type, count}]` in observe mode,
  a Java map printed as text such as `{P1P1=2}` in interactive mode) -> `{TYPE: count}`;
  `types` made from the `is_*` flags (Forge sends no type line); `power`/`toughness` dropped
  from non-creatures (Forge sends 0/0 for a land); `oracle_text`'s literal backslash-n -> a
  line break; `keywords` read from `oracle_text` (`tolaria.protocol.oracle`: keyword lines
  only, not text that grants a keyword), in Tolaria's names; `attacking`/
  `attacking_planeswalker` -> `attacking`;
- players: the opponent's hand is emptied (Forge shows both hands; `hand_size` stays), so that
  a policy never learns from what it could not see against the built-in daemon;
- game state: `priority_player` (the decider of a `choose_action`), `combat` (from the
  attackers of a `declare_blockers` or the cards marked attacking);
- actions: `card_id` inferred by name (a land or spell from the decider's hand, an ability
  from the battlefield; identical cards get distinct ids, in order), pass gets `card: None`;
  only what the client may choose stays offered (`drop_unchoosable_actions`): Forge lists its
  mana abilities (`{T}: Add {G}.`, cost `{0}`) and every spell the timing allows, payable or
  not, and drops a reply it cannot use without a word, so a client that chose an unpayable
  spell would lose its decision;
- attacks and blocks: Forge checks neither for legality (it executes an illegal block), so the
  client offers only what the cards' texts allow (`restrict_combat`): no attacker with defender
  or `can't attack`; no blocker that can't block; each blocker gets Tolaria's `can_block` (the
  attackers it may take: a flier only with flying or reach, ...), and the attackers their
  `keywords` (menace: the policy never sends a lone blocker on it);
- observe mode: Forge's `ai_choice` (`{card, description, is_land}`, `{"action": "pass"}`, a
  list of attacker indexes, a list of `{blocker, attacker}`) becomes the reply text of the
  offered option it names (`ai_choice_reply`), or None when it names none or an illegal
  block; the original is kept as `forge_ai_choice`. Forge lists a declare_blockers' `blockers`
  after its AI has declared its blocks, without the creatures that block (in the recordings,
  every blocker the AI chose is missing from the list, and every list of a decision without a
  block holds all the untapped creatures); the client puts those back (`_restore_ai_blockers`)
  at the index Forge numbers them by, their place among the player's creatures.
"""

from __future__ import annotations

import enum
import math
import re
from collections import Counter
from dataclasses import replace
from typing import Any

from tolaria.engine.cards import CardPool
from tolaria.engine.mana import COLORS, ManaCost
from tolaria.engine.mana import can_pay as engine_can_pay
from tolaria.protocol.commands import GameOptions
from tolaria.protocol.oracle import OracleRules, may_block, oracle_rules
from tolaria.protocol.replies import PASS, blocks_reply, index_reply, indices_reply

FORGE_MAX_CONCURRENT = 10  # Forge's fixed thread pool (games and STATUS alike)
UNKNOWN_COMMAND = "Unknown command. Use NEWGAME, STATUS, or SHUTDOWN"
USAGE = "Usage: NEWGAME deck1.dck deck2.dck [-i] [-o] [-q] [-c timeout] [-t ai_timeout] [-s seed]"
# Forge may parse -s as a Java int or long (not recorded); a seed in 0..2^31-1 is safe with both.
SEED_MODULUS = 2**31
ACTION_DESCRIPTION_LIMIT = 100  # Forge cuts an action's description to this many characters
# The card kinds Forge flags, and the type-line word each stands for.
TYPE_FLAGS = {
    "is_creature": "Creature",
    "is_land": "Land",
    "is_artifact": "Artifact",
    "is_enchantment": "Enchantment",
    "is_planeswalker": "Planeswalker",
    "is_instant": "Instant",
    "is_sorcery": "Sorcery",
}
_ZONES = ("hand", "battlefield", "graveyard", "exile")
_JAVA_MAP_ENTRY = re.compile(r"\s*([^=,{}]+?)\s*=\s*(-?\d+)\s*")


class Dialect(enum.Enum):
    TOLARIA = "tolaria"  # HELLO answered: extensions, persistent connections
    FORGE = "forge"  # HELLO refused: Forge's dialect


def forge_options(options: GameOptions) -> GameOptions:
    """The flags as a Forge daemon must get them: timeouts in whole seconds (rounded up) and the
    seed within 0..2^31-1, since Forge closes the connection without a word on a value it cannot
    parse as a number. The caller has refused the extensions (`check_supported`)."""
    return replace(
        options,
        game_timeout=_whole_seconds(options.game_timeout),
        ai_timeout=_whole_seconds(options.ai_timeout),
        seed=None if options.seed is None else options.seed % SEED_MODULUS,
    )


def _whole_seconds(value: float | None) -> float | None:
    return None if value is None else float(max(1, math.ceil(value)))


# ---------------------------------------------------------------------------------------
# DECISION payloads


def normalize_decision(payload: dict[str, Any]) -> dict[str, Any]:
    """Turn a Forge DECISION payload into Tolaria's shapes, in place (see the module); returns it."""
    decider = payload.get("player")
    kind = payload.get("decision_type")
    state = payload.get("game_state")
    if not isinstance(state, dict):
        state = {}
    attacking: list[dict[str, Any]] = []
    for player in _dicts(state.get("players")):
        for zone in _ZONES:
            for card in _dicts(player.get(zone)):
                normalize_card(card)
                if zone == "battlefield" and card.get("attacking"):
                    attacking.append(card)
        if player.get("name") != decider and player.get("hand"):
            player["hand_size"] = player.get("hand_size", len(player["hand"]))
            player["hand"] = []
    if kind == "choose_action" and decider is not None:
        state.setdefault("priority_player", decider)
    if "combat" not in state:
        combat = _combat(payload, state, attacking)
        if combat is not None:
            state["combat"] = combat
    if kind == "choose_action":
        _complete_actions(payload, state)
        drop_unchoosable_actions(payload, state)
    if kind == "declare_blockers" and "ai_choice" in payload:
        _restore_ai_blockers(payload, state)
    if kind in ("declare_attackers", "declare_blockers"):
        restrict_combat(payload, state)
    if "ai_choice" in payload:
        payload["forge_ai_choice"] = payload["ai_choice"]
        payload["ai_choice"] = ai_choice_reply(payload)
    return payload


def normalize_card(card: dict[str, Any]) -> dict[str, Any]:
    """One Forge card object in Tolaria's shape, in place."""
    if "summoningSickness" in card:
        card["summoning_sick"] = bool(card.pop("summoningSickness"))
    if card.pop("attacking_planeswalker", False):
        card["attacking"] = True
    if "counters" in card:
        card["counters"] = parse_counters(card["counters"])
    if "types" not in card and any(flag in card for flag in TYPE_FLAGS):
        card["types"] = " ".join(word for flag, word in TYPE_FLAGS.items() if card.get(flag))
    if card.get("is_creature") is False:
        card.pop("power", None)
        card.pop("toughness", None)
    text = card.get("oracle_text")
    if isinstance(text, str) and "\\n" in text:
        card["oracle_text"] = text = text.replace("\\n", "\n")
    if "keywords" not in card and isinstance(text, str):
        card["keywords"] = list(oracle_rules(str(card.get("name") or ""), text).keywords)
    return card


def parse_counters(value: Any) -> dict[str, int]:
    """Counters in any of the recorded or documented shapes -> `{TYPE: count}`: Forge's observe
    list `[{"type": "P1P1", "count": 2}]`, its interactive Java map text `{P1P1=2, LOYALTY=3}`,
    or our own dict. Entries that say nothing countable are left out."""
    counters: dict[str, int] = {}
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = ((e.get("type"), e.get("count")) for e in value if isinstance(e, dict))
    elif isinstance(value, str):
        items = (m.groups() for m in _JAVA_MAP_ENTRY.finditer(value.strip().strip("{}")))
    else:
        items = ()
    for kind, count in items:
        try:
            number = int(count)
        except (TypeError, ValueError):
            continue
        if kind is not None and number:
            counters[str(kind)] = counters.get(str(kind), 0) + number
    return counters


def _combat(payload: dict[str, Any], state: dict[str, Any], attacking: list[dict[str, Any]]) -> dict | None:
    """Tolaria's `combat` from what Forge shows: the attackers a blocker must choose among, or
    the battlefield cards marked attacking (interactive mode)."""
    if payload.get("decision_type") == "declare_blockers":
        attackers = [
            {k: a.get(k) for k in ("card_id", "name", "power", "toughness")}
            for a in _dicts(payload.get("attackers"))
        ]
    else:
        attackers = [
            {
                "card_id": c.get("id"),
                "name": c.get("name"),
                "power": c.get("power"),
                "toughness": c.get("toughness"),
            }
            for c in attacking
        ]
    if not attackers:
        return None
    for attacker in attackers:
        attacker["blocked_by"] = []
    return {"attacking_player": state.get("active_player"), "attackers": attackers}


def restrict_combat(payload: dict[str, Any], state: dict[str, Any]) -> None:
    """Keep, of a declare_attackers' attackers, those that may attack (no defender, no `can't
    attack`); of a declare_blockers' blockers, those that may block (untapped, no `can't
    block`), each with Tolaria's `can_block` (the `index` of every attacker it may take, by
    `may_block`), and give each attacker its `keywords`. A card the game state does not show is
    judged as one without text."""
    cards = {c.get("id"): c for p in _dicts(state.get("players")) for c in _dicts(p.get("battlefield"))}
    if payload.get("decision_type") == "declare_attackers":
        payload["attackers"] = [
            a for a in _dicts(payload.get("attackers")) if not _rules(cards.get(a.get("card_id"))).cant_attack
        ]
        return
    attackers = _dicts(payload.get("attackers"))
    for attacker in attackers:
        attacker.setdefault("keywords", list(_rules(cards.get(attacker.get("card_id"))).keywords))
    blockers = []
    for blocker in _dicts(payload.get("blockers")):
        card = cards.get(blocker.get("card_id")) or {}
        rules = _rules(card)
        if rules.cant_block or card.get("tapped"):
            continue
        colours = _colours(card)
        blocker["can_block"] = [
            _int(a.get("index"))
            for a in attackers
            if may_block(
                rules,
                _rules(cards.get(a.get("card_id"))),
                blocker_colours=colours,
                blocker_is_artifact=bool(card.get("is_artifact")),
            )
        ]
        blockers.append(blocker)
    payload["blockers"] = blockers


def _rules(card: dict[str, Any] | None) -> OracleRules:
    if not card:
        return OracleRules()
    return oracle_rules(str(card.get("name") or ""), str(card.get("oracle_text") or ""))


def _colours(card: dict[str, Any]) -> frozenset[str] | None:
    """A card's colours (W, U, B, R, G): Forge sends none, so they come from the built-in
    card pool's card of the same name; None for a card it does not know."""
    cdef = CardPool.default().get(str(card.get("name") or ""))
    return None if cdef is None else frozenset(cdef.colors)


def _restore_ai_blockers(payload: dict[str, Any], state: dict[str, Any]) -> None:
    """Put back into an observed declare_blockers' `blockers` the creatures Forge's AI chose
    that the list leaves out (Forge lists them after the AI declared, without those that
    block), at their place among the deciding player's creatures, Forge's blocker index."""
    choice = payload.get("ai_choice")
    if not isinstance(choice, list):
        return
    blockers = _dicts(payload.get("blockers"))
    offered = _indexes(blockers)
    me = next((p for p in _dicts(state.get("players")) if p.get("name") == payload.get("player")), {})
    creatures = [c for c in _dicts(me.get("battlefield")) if c.get("is_creature")]
    for index in sorted({_int(pair.get("blocker")) for pair in _dicts(choice)} - offered):
        if 0 <= index < len(creatures):
            card = creatures[index]
            entry = {k: card.get(k) for k in ("name", "power", "toughness")}
            blockers.append({"index": index, "card_id": card.get("id"), **entry})
    payload["blockers"] = sorted(blockers, key=lambda b: _int(b.get("index")))


def _complete_actions(payload: dict[str, Any], state: dict[str, Any]) -> None:
    """`card_id` of each action, inferred by card name (Forge sends none); pass gets `card: None`."""
    me = next((p for p in _dicts(state.get("players")) if p.get("name") == payload.get("player")), {})
    hand = [c for c in _dicts(me.get("hand"))]
    battlefield = [c for c in _dicts(me.get("battlefield"))]
    used: set[Any] = set()
    for action in _dicts(payload.get("actions")):
        if _is_pass(action):
            action["card"] = None
            action.setdefault("card_id", None)
            continue
        if "card_id" in action:
            continue
        places = (battlefield, hand) if _is_ability(action) else (hand, battlefield)
        action["card_id"] = _unused_card(action.get("card"), places, used)


def drop_unchoosable_actions(payload: dict[str, Any], state: dict[str, Any]) -> None:
    """Keep, of a choose_action's actions, the pass, the land plays and the spells and abilities
    whose mana cost the decider can pay; drop the mana abilities. Forge pays a cost by itself,
    so activating a mana ability as a choice only floats mana. What can be paid: the mana pool
    (its colours unknown: Forge sends only `{total}`) plus one mana from each permanent with an
    offered mana ability, in a colour it makes (`can_pay`). On the recorded games this keeps all
    47 spells and abilities Forge's AI chose and drops 348 of the 819 offered (besides 2,619
    mana abilities)."""
    actions = _dicts(payload.get("actions"))
    sources: dict[Any, set[str]] = {}
    others = []
    for action in actions:
        colours = _mana_ability_colours(action)
        if colours is None:
            others.append(action)
        else:
            sources.setdefault(action.get("card_id"), set()).update(colours)
    me = next((p for p in _dicts(state.get("players")) if p.get("name") == payload.get("player")), {})
    pool = me.get("mana_pool")
    floating = max(0, _int(pool.get("total", 0))) if isinstance(pool, dict) else 0
    payload["actions"] = [
        a
        for a in others
        if _is_pass(a)
        or a.get("is_land")
        or can_pay(str(a.get("mana_cost") or ""), floating, list(sources.values()))
    ]


def _mana_ability_colours(action: dict[str, Any]) -> list[str] | None:
    """The mana symbols a mana ability adds (`{T}: Add {R} or {G}.` -> R, G), or None for any
    other action."""
    description = str(action.get("description") or "")
    _, sep, effect = description.partition(": Add ")
    if action.get("is_land") or not sep or action.get("mana_cost") not in ("{0}", "", None):
        return None
    return _MANA_SYMBOL.findall(effect) or None


def can_pay(cost: str, floating: int, sources: list[set[str]]) -> bool:
    """Whether a mana cost such as `{2}{G}{G}` can be paid with `floating` mana of any colour
    and one mana from each source (the colours it can make), by the built-in engine's payment
    rules (hybrid symbols take either colour, `{X}` counts as 0). A cost with a symbol the
    engine does not know (Phyrexian, `{C}`) is left to Forge to judge."""
    try:
        parsed = ManaCost.parse(cost)
    except ValueError:
        return True
    available = Counter("".join(sorted(colours)) for colours in sources)
    available[COLORS] += floating
    return engine_can_pay(parsed, available)


_MANA_SYMBOL = re.compile(r"\{([^{}]+)\}")


def _is_ability(action: dict[str, Any]) -> bool:
    """An activated ability of a permanent (`{T}: Add {G}.`, Forge's mana abilities cost `{0}`),
    rather than a land to play or a spell to cast from the hand."""
    if action.get("is_land"):
        return False
    description = str(action.get("description") or "")
    return action.get("mana_cost") == "{0}" or (description.startswith("{") and ":" in description)


def _unused_card(name: Any, places: tuple[list[dict], ...], used: set[Any]) -> Any:
    fallback = None
    for cards in places:
        for card in cards:
            if card.get("name") != name:
                continue
            if card.get("id") not in used:
                used.add(card.get("id"))
                return card.get("id")
            fallback = fallback if fallback is not None else card.get("id")
    # An ability of a card whose every copy is spoken for (two abilities of one permanent).
    return fallback


def _is_pass(action: dict[str, Any]) -> bool:
    try:
        return int(action.get("index", 0)) == -1
    except (TypeError, ValueError):
        return False


def _dicts(items: Any) -> list[dict[str, Any]]:
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


# ---------------------------------------------------------------------------------------
# Observe mode: the AI's choice as a reply


def ai_choice_reply(payload: dict[str, Any]) -> str | None:
    """The reply text (PROTOCOL.md's decision table) of the offered option that the payload's
    `ai_choice` names, or None when it names none. Reads Forge's shapes and ours (a string,
    returned as it is).

    choose_action: Forge names the chosen action by card, description and is_land, not by its
    index. It is mapped onto the first offered action with the same card and is_land whose
    description equals it, or is the longer one cut short (Forge cuts an action's description to
    100 characters and sometimes drops a spell's last sentence there), preferring the longest
    match; identical actions (two copies of Lightning Bolt) are the same choice, and the first
    is taken. Attacks and blocks are lists of the offered `index` values (blocks as
    `{blocker, attacker}`); one that names an index the decision did not offer, a blocker on an
    attacker outside its `can_block` or a lone blocker on a menace attacker maps to None."""
    choice = payload.get("forge_ai_choice", payload.get("ai_choice"))
    if choice is None or isinstance(choice, str):
        return choice
    kind = payload.get("decision_type")
    if kind == "choose_action":
        return _action_reply(choice, _dicts(payload.get("actions")))
    if kind == "declare_attackers" and isinstance(choice, list):
        offered = _indexes(payload.get("attackers"))
        picks = [_int(i) for i in choice]
        if any(i not in offered for i in picks) or len(set(picks)) != len(picks):
            return None
        return indices_reply(picks)  # type: ignore[arg-type]
    if kind == "declare_blockers" and isinstance(choice, list):
        blockers, attackers = _indexes(payload.get("blockers")), _indexes(payload.get("attackers"))
        pairs = [(_int(p.get("blocker")), _int(p.get("attacker"))) for p in _dicts(choice)]
        if len(pairs) != len(choice) or len({b for b, _ in pairs}) != len(pairs):
            return None
        if any(b not in blockers or a not in attackers for b, a in pairs):
            return None
        if not all(_legal_block(payload, b, a) for b, a in pairs) or _lone_menace_block(payload, pairs):
            return None
        return blocks_reply(pairs)  # type: ignore[arg-type]
    return None


def _legal_block(payload: dict[str, Any], blocker: int, attacker: int) -> bool:
    """Whether the offered blocker `blocker` may take the attacker `attacker` (its `can_block`;
    absent: any)."""
    entry = next((b for b in _dicts(payload.get("blockers")) if _int(b.get("index")) == blocker), {})
    allowed = entry.get("can_block")
    return allowed is None or attacker in {_int(a) for a in allowed}


def _lone_menace_block(payload: dict[str, Any], pairs: list[tuple[int, int]]) -> bool:
    """Whether an attacker with menace gets exactly one of the blockers in `pairs`."""
    counts = Counter(a for _, a in pairs)
    return any(
        counts[_int(a.get("index"))] == 1 and any(str(k).lower() == "menace" for k in a.get("keywords") or ())
        for a in _dicts(payload.get("attackers"))
    )


def _action_reply(choice: Any, actions: list[dict[str, Any]]) -> str | None:
    if not isinstance(choice, dict):
        return None
    if choice.get("action") == "pass":
        return PASS
    card, is_land = choice.get("card"), bool(choice.get("is_land"))
    wanted = str(choice.get("description") or "").strip()
    best, best_length = None, -1
    for action in actions:
        if _is_pass(action) or action.get("card") != card or bool(action.get("is_land")) != is_land:
            continue
        offered = str(action.get("description") or "").strip()
        if offered == wanted:
            return index_reply(_int(action.get("index")))
        shorter, longer = sorted((offered, wanted), key=len)
        if shorter and longer.startswith(shorter) and len(shorter) > best_length:
            best, best_length = action, len(shorter)
    return None if best is None else index_reply(_int(best.get("index")))


def _indexes(entries: Any) -> set[int]:
    return {_int(e.get("index")) for e in _dicts(entries)}


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -(2**62)  # matches no offered index
