"""DECISION payloads (PROTOCOL.md) -> fixed-shape numpy arrays, batched.

One decision becomes:
- up to `max_cards` card slots: a name id (stable blake2b hash of the card name into
  `name_buckets` buckets; 0 is padding) and `CARD_FEATURES` numbers (types, keywords,
  power/toughness, mana cost, zone, owner, tapped/sick, damage, top of the stack, ...);
- `GLOBAL_FEATURES` numbers (life, hand/library sizes, each side's creature count, total power
  and toughness, turn, phase, mana pool, lands played, decision type, ...);
- up to `max_options` option slots (the offered choices of the decision), each with a name id,
  the card slot it refers to (-1: none), `OPTION_FEATURES` numbers and a mask; for
  declare_blockers also up to `max_block_targets` targets per blocker (slot 0 = no block), with
  each (blocker, attacker) pair's combat outcome (`PAIR_FEATURES`: who dies if they fight alone).
  Attackers, blockers and block targets also count, over the creatures they may meet in this
  combat, how many kill them, kill them and survive, and die to them: the combat arithmetic the
  heuristic AI does, which pooled card vectors can only approximate.

Nothing reads `oracle_text`, and the encoder remembers each card name's static fields (types,
cost, keywords), so full and compact (`-x compact`) payloads encode identically. Players are
never identified by name (which varies with the seat, the deck, the controller and the daemon):
a player target is "player", mine or not.

Truncation (the same function, `offered_options`, decides it for the encoder and for the
reply, so the network is never offered a slot the reply cannot name):
- cards: zones in the order my battlefield, opponent's battlefield, my hand, stack,
  graveyards, exiles, a visible opponent hand; cards past `max_cards` are left out;
- choose_action: pass is always kept; other actions in offered order up to the slot count;
- choose_entity: "none" (-1) is kept when optional; entities in offered order;
- announce_value: the values min, min+1, ... up to the slot count (the range is clipped above);
- choose_cards: the first cards; `min` is clipped to the offered count and `reply_text` fills
  up a reply that would be short of the real minimum with the first cards not offered;
- declare_attackers / declare_blockers: the first attackers / blockers; blockers choose among
  the first `max_block_targets - 1` attackers or no block.
- assign_combat_damage: one option per distinct division that gives lethal damage to the
  blockers in some order (the rest to the player with trample, else to the last blocker): every
  set of blockers the damage can kill is on offer, first the offered order's; an option refers
  to the card of the first blocker of its order.
Every decision keeps at least one legal reply (pass, no attack, no block, min cards, ...).
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from tolaria.protocol.replies import amounts_reply, lethal_in_order
from tolaria.trainer.config import NetworkConfig

DECISION_TYPES: tuple[str, ...] = (
    "choose_action",
    "declare_attackers",
    "declare_blockers",
    "choose_ability",
    "play_trigger",
    "play_from_effect",
    "confirm_action",
    "choose_cards",
    "choose_entity",
    "announce_value",
    "assign_combat_damage",
)
YES_NO_TYPES = frozenset({"play_trigger", "play_from_effect", "confirm_action"})
DECISION_INDEX = {name: i for i, name in enumerate(DECISION_TYPES)}

# How the policy answers: one option (categorical), a subset of options (independent yes/no per
# option, conditioned on min <= count <= max), or per option a choice among targets (blockers).
KIND_ONE = 0
KIND_SUBSET = 1
KIND_PAIRS = 2
KIND_NAMES: tuple[str, ...] = ("one", "subset", "pairs")  # by kind number, for metrics and logs

PHASES: tuple[str, ...] = (
    "UNTAP",
    "UPKEEP",
    "DRAW",
    "MAIN1",
    "COMBAT_BEGIN",
    "COMBAT_DECLARE_ATTACKERS",
    "COMBAT_DECLARE_BLOCKERS",
    "COMBAT_FIRST_STRIKE_DAMAGE",
    "COMBAT_DAMAGE",
    "COMBAT_END",
    "MAIN2",
    "END_OF_TURN",
    "CLEANUP",
)
PHASE_INDEX = {name: i for i, name in enumerate(PHASES)}

CARD_TYPES: tuple[str, ...] = (
    "creature",
    "land",
    "artifact",
    "enchantment",
    "planeswalker",
    "instant",
    "sorcery",
    "legendary",
    "basic",
    "token",
)
KEYWORDS: tuple[str, ...] = (
    "flying",
    "reach",
    "trample",
    "haste",
    "vigilance",
    "first strike",
    "double strike",
    "deathtouch",
    "lifelink",
    "menace",
    "defender",
    "hexproof",
    "indestructible",
    "flash",
    "prowess",
    "ward",
)
MANA_SYMBOLS: tuple[str, ...] = ("W", "U", "B", "R", "G", "C", "generic", "X")
ZONES: tuple[str, ...] = ("hand", "battlefield", "graveyard", "exile", "stack")

_STATIC_FEATURES = len(CARD_TYPES) + len(KEYWORDS) + 4 + len(MANA_SYMBOLS)
_ZONE_ONE_HOT = {zone: tuple(float(z == zone) for z in ZONES) for zone in ZONES}
CARD_FEATURES = _STATIC_FEATURES + len(ZONES) + 9
OPTION_FEATURES = 17 + len(MANA_SYMBOLS)
PAIR_FEATURES = 2  # of a (blocker, attacker) pair: the blocker dies, the attacker dies
_PLAYER_FEATURES = 23
GLOBAL_FEATURES = 2 * _PLAYER_FEATURES + 1 + len(PHASES) + 1 + 10 + len(DECISION_TYPES)

_MANA_TOKEN = re.compile(r"\{([^}]*)\}")


PLAYER_OPTION_NAME = "player"  # the name id of every player an entity choice offers


class EncodingError(ValueError):
    """A payload the encoder cannot turn into a decision for the network."""


def name_id(name: str, buckets: int) -> int:
    """Stable id of a card or option name in 1..buckets-1 (0 is padding)."""
    return _name_hash(name) % (buckets - 1) + 1


@lru_cache(maxsize=65536)
def _name_hash(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest(), "little")


def _number(value: Any, default: float = 0.0) -> float:
    """Numbers in payloads are ints, but power can be "*" or a string: those count as default."""
    if type(value) is int:  # the common case first: this runs for every card and player field
        return float(value)
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return default
    return default


@lru_cache(maxsize=16384)
def _mana_symbols(cost: str) -> tuple[float, ...]:
    counts = dict.fromkeys(MANA_SYMBOLS, 0.0)
    tokens = _MANA_TOKEN.findall(cost) if "{" in cost else list(re.findall(r"\d+|[A-Za-z]", cost))
    for token in tokens:
        token = token.upper()
        if token.isdigit():
            counts["generic"] += int(token)
            continue
        parts = [p for p in token.split("/") if p in counts]
        for part in parts:
            counts[part] += 1.0 / len(parts)
    return tuple(counts[s] / 5.0 for s in MANA_SYMBOLS)


def _as_words(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(w.lower() for w in re.split(r"[\s,;\u2014-]+", value) if w)
    if isinstance(value, list | tuple):
        return tuple(str(v).lower() for v in value)
    return ()


@lru_cache(maxsize=65536)
def _static_card_features(
    types: tuple[str, ...],
    keywords: tuple[str, ...],
    power: float,
    toughness: float,
    has_pt: bool,
    cmc: float,
    cost: str,
) -> np.ndarray:
    row = np.zeros(_STATIC_FEATURES, dtype=np.float32)
    for i, t in enumerate(CARD_TYPES):
        row[i] = t in types
    base = len(CARD_TYPES)
    for i, k in enumerate(KEYWORDS):
        row[base + i] = k in keywords
    base += len(KEYWORDS)
    row[base : base + 4] = (power / 10.0, toughness / 10.0, float(has_pt), cmc / 10.0)
    row[base + 4 :] = _mana_symbols(cost)
    row.flags.writeable = False
    return row


def _card_dict(card: Any) -> dict[str, Any]:
    return card if isinstance(card, dict) else {"name": str(card)}


_ROW_CACHE: dict[tuple, np.ndarray] = {}
_ROW_CACHE_LIMIT = 1 << 16


def _static_row(card: dict[str, Any]) -> np.ndarray:
    """The static features of a card, cached on the raw fields they come from."""
    types, keywords = card.get("types"), card.get("keywords")
    key = (
        card.get("name"),
        tuple(types) if isinstance(types, list) else types,
        tuple(keywords) if isinstance(keywords, list) else keywords,
        card.get("power"),
        card.get("toughness"),
        card.get("cmc"),
        card.get("mana_cost"),
        card.get("is_creature"),
        card.get("is_land"),
    )
    try:
        return _ROW_CACHE[key]
    except KeyError:
        pass
    except TypeError:  # unhashable odd values: compute without caching
        return _compute_static_row(card)
    if len(_ROW_CACHE) >= _ROW_CACHE_LIMIT:
        _ROW_CACHE.clear()
    row = _ROW_CACHE[key] = _compute_static_row(card)
    return row


def _compute_static_row(card: dict[str, Any]) -> np.ndarray:
    keywords = tuple(sorted(str(k).lower() for k in card.get("keywords") or ()))
    types = _as_words(card.get("types"))
    if card.get("is_creature"):
        types = (*types, "creature")
    if card.get("is_land"):
        types = (*types, "land")
    has_pt = card.get("power") is not None or card.get("toughness") is not None
    return _static_card_features(
        tuple(sorted(set(types))),
        keywords,
        _number(card.get("power")),
        _number(card.get("toughness")),
        has_pt,
        _number(card.get("cmc")),
        str(card.get("mana_cost") or ""),
    )


@dataclass
class _Option:
    token: str
    name: str
    card_id: Any = None
    features: dict[int, float] = field(default_factory=dict)
    cost: str = ""


@dataclass
class OfferedOptions:
    """The decision's choices after truncation, in slot order, with their reply tokens."""

    kind: int
    options: list[_Option]
    targets: list[_Option] = field(default_factory=list)  # declare_blockers: slot 0 is "no block"
    select_min: int = 0
    select_max: int = 0
    required_min: int = 0  # choose_cards: the real minimum, may exceed what fits in the slots
    unoffered: list[str] = field(default_factory=list)  # choose_cards: tokens that did not fit
    block_targets: list[list[int]] = field(default_factory=list)  # per blocker: the target slots it may take
    block_outcomes: list[list[tuple[bool, bool]]] = field(
        default_factory=list
    )  # [blocker][attacker]: (blocker dies, attacker dies)

    @property
    def tokens(self) -> list[str]:
        return [o.token for o in self.options]


# option feature columns
_OPT_PASS, _OPT_LAND, _OPT_CMC, _OPT_POWER, _OPT_TOUGH, _OPT_VALUE_FRAC, _OPT_VALUE = range(7)
_OPT_PLAYER, _OPT_MINE, _OPT_YES, _OPT_HAS_CARD, _OPT_POSITION = range(7, 12)
OPTION_MENACE = 12  # of a block target: needs two or more blockers (read by the policy's sampler)
# of an attacker or blocker, over the creatures it may meet in this combat (a potential blocker of
# an attacker, an attacker a blocker can block): how many, how many kill it, how many kill it and
# survive, how many it kills (each / 5)
OPTION_COMBAT = 13
_OPT_MANA = 17


def _index_token(entry: Any, position: int) -> str:
    if isinstance(entry, dict) and "index" in entry:
        return str(int(entry["index"]))
    return str(position)


def _card_option(entry: Any, position: int, me: str | None, memory: StaticMemory | None = None) -> _Option:
    entry = _card_dict(entry)
    if memory is not None:
        entry = memory.complete(entry)
    name = str(entry.get("name") or entry.get("card") or entry.get("description") or "")
    option = _Option(
        token=_index_token(entry, position),
        name=name,
        card_id=entry.get("card_id", entry.get("id")),
        cost=str(entry.get("mana_cost") or ""),
    )
    option.features[_OPT_CMC] = _number(entry.get("cmc")) / 10.0
    option.features[_OPT_POWER] = _number(entry.get("power")) / 10.0
    option.features[_OPT_TOUGH] = _number(entry.get("toughness")) / 10.0
    controller = entry.get("controller", entry.get("owner"))
    if controller is not None and me is not None:
        option.features[_OPT_MINE] = float(str(controller) == me)
    return option


def offered_options(
    payload: dict[str, Any],
    max_options: int,
    max_block_targets: int,
    me: str | None = None,
    memory: StaticMemory | None = None,
) -> OfferedOptions:
    """The options of `payload` that the network sees, with the reply token of each slot."""
    dtype = payload.get("decision_type")
    if dtype not in DECISION_INDEX:
        raise EncodingError(
            f"decision_type {dtype!r} is not answered by the policy "
            f"(decision_id {payload.get('decision_id')!r})"
        )
    if dtype == "choose_action":
        actions = list(payload.get("actions") or [])
        passes = [a for a in actions if isinstance(a, dict) and int(a.get("index", 0)) == -1]
        others = [a for a in actions if not (isinstance(a, dict) and int(a.get("index", 0)) == -1)]
        kept = others[: max_options - 1] + passes[:1] if passes else others[:max_options]
        if not kept:
            kept = [{"index": -1, "description": "pass"}]
        options = []
        for a in kept:
            option = _Option(
                token=str(int(a["index"])) if "index" in a else "-1",
                name=str(a.get("card") or a.get("description") or ""),
                card_id=a.get("card_id"),
                cost=str(a.get("mana_cost") or ""),
            )
            option.features[_OPT_PASS] = float(int(a.get("index", -1)) == -1)
            option.features[_OPT_LAND] = float(bool(a.get("is_land")))
            options.append(option)
        return OfferedOptions(KIND_ONE, options)
    if dtype in YES_NO_TYPES:
        yes = _Option("y", "yes", features={_OPT_YES: 1.0, _OPT_VALUE_FRAC: 1.0})
        no = _Option("n", "no", features={_OPT_PASS: 1.0})
        return OfferedOptions(KIND_ONE, [yes, no])
    if dtype == "choose_ability":
        abilities = list(payload.get("abilities") or [])[:max_options] or ["ability"]
        options = []
        for i, ability in enumerate(abilities):
            text = ability.get("description", "") if isinstance(ability, dict) else str(ability)
            options.append(_Option(token=_index_token(ability, i), name=str(text)))
        return OfferedOptions(KIND_ONE, options)
    if dtype == "choose_entity":
        optional = bool(payload.get("optional"))
        entities = list(payload.get("entities") or [])
        kept = entities[: max_options - 1] if optional else entities[:max_options]
        options = []
        for i, entity in enumerate(kept):
            option = _card_option(entity, i, me, memory)
            entity = _card_dict(entity)
            is_player = entity.get("type") == "player" or (
                entity.get("card_id") is None and entity.get("life") is not None
            )
            option.features[_OPT_PLAYER] = float(is_player)
            if is_player:
                # A player's name says which seat, deck and controller the daemon gave it (and a
                # Forge daemon names players its own way): the policy must not depend on it.
                option.name = PLAYER_OPTION_NAME
                if me is not None:
                    option.features[_OPT_MINE] = float(str(entity.get("name")) == me)
            options.append(option)
        if optional or not options:
            options.append(_Option("-1", "none", features={_OPT_PASS: 1.0}))
        return OfferedOptions(KIND_ONE, options)
    if dtype == "announce_value":
        low = int(_number(payload.get("min"), 0))
        high = max(low, int(_number(payload.get("max"), low)))
        values = range(low, min(high, low + max_options - 1) + 1)
        span = max(1, high - low)
        options = [
            _Option(str(v), "value", features={_OPT_VALUE_FRAC: (v - low) / span, _OPT_VALUE: v / 10.0})
            for v in values
        ]
        return OfferedOptions(KIND_ONE, options)
    if dtype == "assign_combat_damage":
        return OfferedOptions(KIND_ONE, _damage_divisions(payload, max_options))
    if dtype == "declare_attackers":
        attackers = list(payload.get("attackers") or [])[:max_options]
        options = [_card_option(a, i, me) for i, a in enumerate(attackers)]
        board = _Board(payload, me, memory)
        blockers = board.their_untapped()
        for option, attacker in zip(options, attackers, strict=True):
            fighter = board.fighter(_card_dict(attacker))
            _set_combat(option, [fight(b, fighter)[::-1] for b in blockers if b.can_block(fighter)])
        return OfferedOptions(KIND_SUBSET, options, select_min=0, select_max=len(options))
    if dtype == "choose_cards":
        cards = list(payload.get("cards") or [])
        options = [_card_option(c, i, me, memory) for i, c in enumerate(cards[:max_options])]
        unoffered = [_card_option(c, i, me).token for i, c in enumerate(cards) if i >= max_options]
        required_min = max(0, min(int(_number(payload.get("min"), 0)), len(cards)))
        maximum = int(_number(payload.get("max"), len(cards)))
        select_max = max(0, min(maximum, len(options)))
        select_min = min(required_min, select_max)
        return OfferedOptions(
            KIND_SUBSET,
            options,
            select_min=select_min,
            select_max=select_max,
            required_min=required_min,
            unoffered=unoffered,
        )
    # declare_blockers
    blockers = list(payload.get("blockers") or [])[:max_options]
    attackers = list(payload.get("attackers") or [])[: max_block_targets - 1]
    options = [_card_option(b, i, me) for i, b in enumerate(blockers)]
    targets = [_Option("", "no block", features={_OPT_PASS: 1.0})]
    for i, attacker in enumerate(attackers):
        target = _card_option(attacker, i, me)
        keywords = _card_dict(attacker).get("keywords") or ()
        target.features[OPTION_MENACE] = float(any(str(k).lower() == "menace" for k in keywords))
        targets.append(target)
    slot_of_attacker = {t.token: j for j, t in enumerate(targets) if j}
    block_targets = []
    for blocker in blockers:
        allowed = _card_dict(blocker).get("can_block")  # attacker indices; absent: any attacker
        if allowed is None:
            block_targets.append(list(range(1, len(targets))))
        else:
            block_targets.append(
                sorted({slot_of_attacker[str(int(a))] for a in allowed if str(int(a)) in slot_of_attacker})
            )
    board = _Board(payload, me, memory)
    fighters = [board.fighter(_card_dict(b)) for b in blockers]
    attacking = [board.fighter(_card_dict(a)) for a in attackers]
    outcomes = [[fight(b, a) for a in attacking] for b in fighters]  # (blocker dies, attacker dies)
    for i, option in enumerate(options):
        _set_combat(option, [outcomes[i][j - 1] for j in block_targets[i]])
    for j, target in enumerate(targets[1:], start=1):
        met = [i for i in range(len(options)) if j in block_targets[i]]
        _set_combat(target, [outcomes[i][j - 1][::-1] for i in met])
    return OfferedOptions(
        KIND_PAIRS, options, targets=targets, block_targets=block_targets, block_outcomes=outcomes
    )


@dataclass(frozen=True)
class Fighter:
    """What combat arithmetic needs of a creature: power, toughness left, keywords."""

    power: float
    toughness: float
    keywords: frozenset[str]

    def has(self, keyword: str) -> bool:
        return keyword in self.keywords

    def can_block(self, attacker: Fighter) -> bool:
        return not attacker.has("flying") or self.has("flying") or self.has("reach")

    def strikes_in(self, first_step: bool) -> bool:
        """Whether it deals combat damage in the first-strike damage step or the regular one."""
        if self.has("double strike"):
            return True
        return self.has("first strike") == first_step


def fight(a: Fighter, b: Fighter) -> tuple[bool, bool]:
    """(a dies, b dies) when a and b deal combat damage to each other alone: the first-strike
    damage step, then the regular one (rule 510.4), in which a creature dealt lethal damage in the
    first no longer strikes and a double striker strikes again."""
    a_taken = b_taken = 0.0
    a_dies = b_dies = False
    for first_step in (True, False):
        a_strikes = not a_dies and a.strikes_in(first_step)
        b_strikes = not b_dies and b.strikes_in(first_step)
        if a_strikes and a.power > 0:
            b_taken += a.power
            b_dies = b_dies or a.has("deathtouch")
        if b_strikes and b.power > 0:
            a_taken += b.power
            a_dies = a_dies or b.has("deathtouch")
        a_dies = a_dies or a_taken >= a.toughness
        b_dies = b_dies or b_taken >= b.toughness
    return a_dies, b_dies


class _Board:
    """Both sides' creatures, by card id (for the combatants a decision names)."""

    def __init__(self, payload: dict[str, Any], me: str | None, memory: StaticMemory | None):
        self.memory = memory
        self.by_id: dict[Any, dict[str, Any]] = {}
        self._theirs: list[dict[str, Any]] = []
        for player in (payload.get("game_state") or {}).get("players") or ():
            if not isinstance(player, dict):
                continue
            for card in player.get("battlefield") or ():
                if type(card) is not dict or card.get("power") is None:
                    continue
                self.by_id[card.get("id", card.get("card_id"))] = card
                if player.get("name") != me:
                    self._theirs.append(card)

    def their_untapped(self) -> list[Fighter]:
        """The other side's untapped creatures: those that may block."""
        return [self._fighter(card) for card in self._theirs if not card.get("tapped")]

    def fighter(self, entry: dict[str, Any]) -> Fighter:
        """A decision's attacker or blocker entry, with damage and keywords from its permanent."""
        card = self.by_id.get(entry.get("card_id", entry.get("id")))
        return self._fighter({**card, **entry} if card is not None else entry)

    def _fighter(self, card: dict[str, Any]) -> Fighter:
        if self.memory is not None:
            card = self.memory.complete(card)
        keywords = frozenset(str(k).lower().replace("_", " ") for k in card.get("keywords") or ())
        toughness = _number(card.get("toughness")) - _number(card.get("damage"))
        return Fighter(_number(card.get("power")), toughness, keywords)


def _set_combat(option: _Option, meetings: list[tuple[bool, bool]]) -> None:
    """The combat columns of `option` from the (it dies, the other dies) outcome of each creature
    it may meet."""
    f = option.features
    f[OPTION_COMBAT] = len(meetings) / 5.0
    f[OPTION_COMBAT + 1] = sum(dies for dies, _ in meetings) / 5.0
    f[OPTION_COMBAT + 2] = sum(dies and not kills for dies, kills in meetings) / 5.0
    f[OPTION_COMBAT + 3] = sum(kills for _, kills in meetings) / 5.0


MAX_ORDERED_BLOCKERS = 6  # beyond, one order only (by lethal damage): 7! divisions is too many


def _damage_divisions(payload: dict[str, Any], max_options: int) -> list[_Option]:
    blockers = [_card_dict(b) for b in payload.get("blockers") or []]
    damage = int(_number(payload.get("damage")))
    trample = bool(payload.get("trample"))
    lethal = [int(_number(b.get("lethal"))) for b in blockers]
    n = len(blockers)
    if n <= MAX_ORDERED_BLOCKERS:
        orders: Iterable[Sequence[int]] = itertools.permutations(range(n))
    else:
        orders = [sorted(range(n), key=lambda i: lethal[i])]
    options: list[_Option] = []
    seen: set[str] = set()
    for order in orders:
        split = lethal_in_order(damage, [lethal[i] for i in order], trample)
        amounts = [0] * n + split[n:]
        for i, give in zip(order, split, strict=False):
            amounts[i] = give
        token = amounts_reply(amounts)
        if token in seen:
            continue
        seen.add(token)
        first = blockers[order[0]] if n else {}
        option = _card_option(first, 0, None)
        option.token = token
        killed = sum(1 for i in range(n) if amounts[i] >= lethal[i])
        option.features[_OPT_VALUE_FRAC] = killed / max(1, n)
        option.features[_OPT_VALUE] = (amounts[n] if trample else 0) / 10.0
        options.append(option)
        if len(options) >= max_options:
            break
    return options or [_Option(amounts_reply([damage]), "damage")]


def _players(payload: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    state = payload.get("game_state") or {}
    players = [p for p in state.get("players") or [] if isinstance(p, dict)]
    who = payload.get("player")
    me = 0
    if isinstance(who, int) and not isinstance(who, bool) and 0 <= who < len(players):
        me = who
    else:
        for i, p in enumerate(players):
            if p.get("name") == who:
                me = i
                break
    return me, players


def _player_features(player: dict[str, Any]) -> list[float]:
    pool = player.get("mana_pool") or {}
    battlefield = player.get("battlefield") or []
    return [
        *_board_summary(battlefield),
        _number(player.get("life"), 20) / 20.0,
        _number(player.get("poison")) / 10.0,
        _number(player.get("hand_size"), len(player.get("hand") or [])) / 10.0,
        _number(player.get("library_size")) / 60.0,
        len(player.get("graveyard") or []) / 20.0,
        len(battlefield) / 20.0,
        len(player.get("exile") or []) / 20.0,
        _number(player.get("lands_played_this_turn")),
        _number(player.get("max_land_plays"), 1),
        _number(pool.get("total")) / 10.0,
        *(_number(pool.get(c)) / 10.0 for c in ("white", "blue", "black", "red", "green", "colorless")),
    ]


def _board_summary(battlefield: list[Any]) -> tuple[float, ...]:
    """A side's creatures in numbers: how many, their total power and toughness, how many are
    untapped, and how many have at most 1, 2 and 3 toughness left (what 1, 2 and 3 damage kill).
    Pooled card vectors can only approximate counts and sums, and combat and removal decisions
    turn on them: whether casting a burn spell now kills something is a question of its damage
    (the card's name) against these. A creature is a permanent with power (compact payloads leave
    out the type flags of names already sent, never power)."""
    count = untapped = 0
    power = toughness = 0.0
    fragile = [0, 0, 0]
    for card in battlefield:
        if type(card) is not dict or card.get("power") is None:
            continue
        count += 1
        power += _number(card.get("power"))
        printed = _number(card.get("toughness"))
        toughness += printed
        left = printed - _number(card.get("damage"))
        for damage in range(3):
            fragile[damage] += left <= damage + 1
        untapped += not card.get("tapped")
    return (
        count / 10.0,
        power / 20.0,
        toughness / 20.0,
        untapped / 10.0,
        fragile[0] / 5.0,
        fragile[1] / 5.0,
        fragile[2] / 5.0,
    )


STATIC_FIELDS = ("mana_cost", "cmc", "types", "keywords")


class StaticMemory:
    """Static card data by card name, so that compact payloads (`-x compact`: a name's static
    fields only at its first appearance) encode like full ones. Static data is a function of the
    name alone, so one memory serves every game; `learn` must see each payload before `complete`."""

    def __init__(self) -> None:
        self.by_name: dict[str, dict[str, Any]] = {}

    def learn(self, payload: dict[str, Any]) -> None:
        for player in (payload.get("game_state") or {}).get("players") or ():
            if isinstance(player, dict):
                for zone in ("hand", "battlefield", "graveyard", "exile"):
                    self._learn_cards(player.get(zone))
        self._learn_cards(payload.get("cards"))
        self._learn_cards(payload.get("entities"))

    def _learn_cards(self, cards: Any) -> None:
        if not cards:
            return
        known = self.by_name
        for card in cards:
            if type(card) is dict and "types" in card:
                name = str(card.get("name"))
                if name not in known:  # static data is the name's: the first sighting says it all
                    known[name] = {f: card[f] for f in STATIC_FIELDS if f in card}

    def complete(self, card: dict[str, Any]) -> dict[str, Any]:
        if "types" in card:
            return card
        known = self.by_name.get(str(card.get("name")))
        return card if known is None else {**known, **card}


class Encoder:
    """Encodes batches of DECISION payloads with the slot counts of a NetworkConfig."""

    def __init__(self, network: NetworkConfig):
        self.max_cards = network.max_cards
        self.max_options = network.max_options
        self.max_targets = network.max_block_targets
        self.buckets = network.name_buckets
        self.shape = network.encoder_shape()  # recorded in rollout segments
        self.memory = StaticMemory()
        self._card_statics: dict[tuple, tuple[int, np.ndarray]] = {}

    def empty(self, batch: int) -> dict[str, np.ndarray]:
        c, o, t = self.max_cards, self.max_options, self.max_targets
        return {
            "decision_type": np.zeros(batch, np.int32),
            "kind": np.zeros(batch, np.int32),
            "card_name": np.zeros((batch, c), np.int32),
            "card_feat": np.zeros((batch, c, CARD_FEATURES), np.float32),
            "card_mask": np.zeros((batch, c), np.bool_),
            "global_feat": np.zeros((batch, GLOBAL_FEATURES), np.float32),
            "option_name": np.zeros((batch, o), np.int32),
            "option_card": np.full((batch, o), -1, np.int32),
            "option_feat": np.zeros((batch, o, OPTION_FEATURES), np.float32),
            "option_mask": np.zeros((batch, o), np.bool_),
            "target_card": np.full((batch, t), -1, np.int32),
            "target_feat": np.zeros((batch, t, OPTION_FEATURES), np.float32),
            "block_mask": np.zeros((batch, o, t), np.bool_),
            "pair_feat": np.zeros((batch, o, t, PAIR_FEATURES), np.float32),
            "select_min": np.zeros(batch, np.int32),
            "select_max": np.zeros(batch, np.int32),
        }

    def dtypes(self) -> dict[str, np.dtype]:
        return {name: array.dtype for name, array in self.empty(0).items()}

    def validate(self, arrays: dict[str, np.ndarray]) -> None:
        """Raise EncodingError unless `arrays` (leading dimension: steps) could have come from this
        encoder: shapes, index ranges, masks, and at least one offered option per decision."""
        template = self.empty(1)
        for name, like in template.items():
            array = arrays.get(name)
            if array is None or array.shape[1:] != like.shape[1:] or array.dtype != like.dtype:
                got = None if array is None else (array.shape, array.dtype)
                raise EncodingError(
                    f"array {name!r} is {got}, expected (steps, *{like.shape[1:]}) {like.dtype}"
                )
        ranges = {
            "decision_type": (0, len(DECISION_TYPES) - 1),
            "kind": (KIND_ONE, KIND_PAIRS),
            "card_name": (0, self.buckets - 1),
            "option_name": (0, self.buckets - 1),
            "option_card": (-1, self.max_cards - 1),
            "target_card": (-1, self.max_cards - 1),
            "select_min": (0, self.max_options),
            "select_max": (0, self.max_options),
        }
        for name, (low, high) in ranges.items():
            array = arrays[name]
            if array.size and (array.min() < low or array.max() > high):
                raise EncodingError(f"array {name!r} holds values outside [{low}, {high}]")
        for name in ("card_feat", "global_feat", "option_feat", "target_feat", "pair_feat"):
            if not np.isfinite(arrays[name]).all():
                raise EncodingError(f"array {name!r} holds non-finite values")
        offered = arrays["option_mask"].sum(1)
        if (arrays["select_min"] > arrays["select_max"]).any() or (arrays["select_max"] > offered).any():
            raise EncodingError("select_min/select_max do not fit the offered options")
        one = arrays["kind"] == KIND_ONE
        if (offered[one] < 1).any():
            raise EncodingError("a one-of-N decision offers no option")
        pairs = arrays["kind"] == KIND_PAIRS
        no_block = arrays["block_mask"][:, :, 0]
        if (no_block[pairs] != arrays["option_mask"][pairs]).any():
            raise EncodingError("a declare_blockers decision lacks the no-block target of an offered blocker")

    def encode(self, payloads: Sequence[dict[str, Any]]) -> dict[str, np.ndarray]:
        """Batch of payloads -> dict of arrays with a leading batch dimension."""
        return self.encode_offered(payloads)[0]

    def encode_offered(
        self, payloads: Sequence[dict[str, Any]]
    ) -> tuple[dict[str, np.ndarray], list[OfferedOptions]]:
        """`encode`, plus each payload's offered options, which `reply` turns into protocol text
        without reading the payload again."""
        out = self.empty(len(payloads))
        offered = []
        for row, payload in enumerate(payloads):
            try:
                offered.append(self._encode_one(payload, out, row))
            except EncodingError:
                raise
            except (TypeError, ValueError, KeyError, AttributeError) as e:
                raise EncodingError(
                    f"malformed {payload.get('decision_type')!r} payload "
                    f"(decision_id {payload.get('decision_id')!r}): {e!r}"
                ) from e
        return out, offered

    def options(self, payload: dict[str, Any]) -> OfferedOptions:
        me, players = _players(payload)
        my_name = players[me].get("name") if players else None
        self.memory.learn(payload)
        return offered_options(payload, self.max_options, self.max_targets, my_name, self.memory)

    def reply_text(self, payload: dict[str, Any], action: Sequence[int] | np.ndarray) -> str:
        """The protocol reply for `action` (a row of the policy's actions) to `payload`."""
        return self.reply(self.options(payload), action)

    def reply(self, offered: OfferedOptions, action: Sequence[int] | np.ndarray) -> str:
        """The protocol reply for `action` (a row of the policy's actions) to a decision that
        offered `offered`.

        Raises ValueError for an action that names a slot the payload did not offer (a bug in
        the caller, never a reply the daemon would have to refuse).
        """
        action = [int(a) for a in action]
        n = len(offered.options)
        if offered.kind == KIND_ONE:
            if not 0 <= action[0] < n:
                raise ValueError(f"action slot {action[0]} not offered ({n} options)")
            return offered.options[action[0]].token
        if offered.kind == KIND_SUBSET:
            if any(a not in (0, 1) for a in action) or any(action[n:]):
                raise ValueError(f"subset action {action} is not 0/1 over the {n} offered options")
            chosen = [o.token for o, a in zip(offered.options, action, strict=False) if a]
            if not offered.select_min <= len(chosen) <= offered.select_max:
                raise ValueError(
                    f"subset action chooses {len(chosen)}, outside "
                    f"[{offered.select_min}, {offered.select_max}]"
                )
            chosen += offered.unoffered[: max(0, offered.required_min - len(chosen))]
            return ",".join(chosen)
        pairs, blockers_of = [], dict.fromkeys(range(1, len(offered.targets)), 0)
        for i, (blocker, target) in enumerate(zip(offered.options, action, strict=False)):
            if target and target not in offered.block_targets[i]:
                raise ValueError(f"blocker slot {i} may not take block target slot {target}")
            if target:
                pairs.append(f"{blocker.token}:{offered.targets[target].token}")
                blockers_of[target] += 1
        for target, count in blockers_of.items():
            if count == 1 and offered.targets[target].features.get(OPTION_MENACE):
                raise ValueError(f"block target slot {target} has menace and only one blocker")
        if any(action[n:]):
            raise ValueError(f"block action {action} names blockers beyond the {n} offered")
        return ",".join(pairs)

    def action_of_reply(self, offered: OfferedOptions, text: str) -> np.ndarray | None:
        """The action row whose `reply` is `text` (the inverse of `reply`), or None when `text`
        names something the offered slots do not hold (an option cut by truncation, a count
        outside the subset's bounds) or is not a reply to this decision at all. It turns another
        player's replies (the heuristic AI's, in `bench/imitation.py`) into the policy's actions."""
        action = np.zeros(self.max_options, np.int32)
        if offered.kind == KIND_ONE:
            slot = _slot_of_token(offered.options, text.strip() or "-1")
            if slot is None:
                return None
            action[0] = slot
            return action
        words = [w.strip() for w in text.split(",") if w.strip()]
        if offered.kind == KIND_SUBSET:
            slots = [_slot_of_token(offered.options, w) for w in words]
            if None in slots or len(set(slots)) != len(slots):
                return None
            if not offered.select_min <= len(slots) <= offered.select_max:
                return None
            action[slots] = 1
            return action
        taken = set()
        for word in words:
            blocker, _, attacker = word.partition(":")
            i = _slot_of_token(offered.options, blocker.strip())
            j = _slot_of_token(offered.targets[1:], attacker.strip())
            if i is None or j is None or i in taken or j + 1 not in offered.block_targets[i]:
                return None
            taken.add(i)
            action[i] = j + 1
        return action

    def _cards(self, payload: dict[str, Any], me: int, players: list[dict[str, Any]]) -> Iterable[tuple]:
        """(card, zone, mine) in truncation priority order."""
        opp = [i for i in range(len(players)) if i != me]
        mine = players[me] if players else {}
        theirs = [players[i] for i in opp]
        for card in mine.get("battlefield") or []:
            yield card, "battlefield", True
        for p in theirs:
            for card in p.get("battlefield") or []:
                yield card, "battlefield", False
        for card in mine.get("hand") or []:
            yield card, "hand", True
        my_name = mine.get("name")
        for item in (payload.get("game_state") or {}).get("stack") or []:
            if isinstance(item, dict):
                card = {
                    "name": item.get("source_card") or item.get("description") or "",
                    "id": item.get("source_card_id", item.get("id")),
                }
                yield card, "stack", item.get("controller") == my_name
        for zone in ("graveyard", "exile"):
            for card in mine.get(zone) or []:
                yield card, zone, True
            for p in theirs:
                for card in p.get(zone) or []:
                    yield card, zone, False
        for p in theirs:
            for card in p.get("hand") or []:
                yield card, "hand", False

    def _encode_one(self, payload: dict[str, Any], out: dict[str, np.ndarray], row: int) -> OfferedOptions:
        dtype = payload.get("decision_type")
        me, players = _players(payload)
        my_name = players[me].get("name") if players else None
        self.memory.learn(payload)
        offered = offered_options(payload, self.max_options, self.max_targets, my_name, self.memory)
        state = payload.get("game_state") or {}
        combat = state.get("combat") or {}
        attacking, blocking = set(), set()
        for attacker in combat.get("attackers") or []:
            if isinstance(attacker, dict):
                attacking.add(attacker.get("card_id"))
                for b in attacker.get("blocked_by") or []:
                    blocking.add(b.get("card_id", b.get("id")) if isinstance(b, dict) else b)

        slot_of: dict[Any, int] = {}
        names, statics, dynamics = [], [], []
        top_of_stack = True  # the stack is listed top first; its top is what a target is chosen for
        known, limit = self._card_statics, self.max_cards
        for card, zone, mine in self._cards(payload, me, players):
            if len(names) >= limit:
                break
            if type(card) is not dict:
                card = _card_dict(card)
            card_id = card["id"] if "id" in card else card.get("card_id")
            if card_id is not None and card_id not in slot_of:
                slot_of[card_id] = len(names)
            key = (
                card.get("name"),
                card.get("power"),
                card.get("toughness"),
                card.get("is_creature"),
                card.get("is_land"),
            )
            try:
                name, static = known[key]
            except KeyError:
                name, static = self._card_static(card, key)
            except TypeError:  # unhashable odd values: computed, not remembered
                name, static = self._card_static(card, None)
            names.append(name)
            statics.append(static)
            damage, loyalty, counters = card.get("damage"), card.get("loyalty"), card.get("counters")
            on_top = zone == "stack" and top_of_stack
            if zone == "stack":
                top_of_stack = False
            dynamics.append(
                (
                    *_ZONE_ONE_HOT[zone],
                    1.0 if mine else 0.0,
                    1.0 if card.get("tapped") else 0.0,
                    1.0 if card.get("summoning_sick") else 0.0,
                    (damage if type(damage) is int else _number(damage)) / 10.0,
                    (loyalty if type(loyalty) is int else _number(loyalty)) / 10.0,
                    _counter_total(counters) / 10.0 if counters else 0.0,
                    1.0 if card_id is not None and card_id in attacking else 0.0,
                    1.0 if card_id is not None and card_id in blocking else 0.0,
                    1.0 if on_top else 0.0,
                )
            )
        slot = len(names)
        if slot:
            out["card_name"][row, :slot] = names
            out["card_feat"][row, :slot, :_STATIC_FEATURES] = statics
            out["card_feat"][row, :slot, _STATIC_FEATURES:] = dynamics
        out["card_mask"][row, :slot] = True

        opt_names, opt_cards, opt_feats = (
            out["option_name"][row],
            out["option_card"][row],
            out["option_feat"][row],
        )
        for i, option in enumerate(offered.options):
            self._fill_option(option, i, slot_of, opt_names, opt_cards, opt_feats)
        out["option_mask"][row, : len(offered.options)] = True
        if offered.kind == KIND_PAIRS:
            for j, target in enumerate(offered.targets):
                self._fill_option(target, j, slot_of, None, out["target_card"][row], out["target_feat"][row])
            for i, allowed in enumerate(offered.block_targets):
                out["block_mask"][row, i, 0] = True
                out["block_mask"][row, i, allowed] = True
                for j in allowed:
                    out["pair_feat"][row, i, j] = offered.block_outcomes[i][j - 1]
        out["decision_type"][row] = DECISION_INDEX[dtype]
        out["kind"][row] = offered.kind
        out["select_min"][row] = offered.select_min
        out["select_max"][row] = offered.select_max

        g = out["global_feat"][row]
        mine_p = players[me] if players else {}
        theirs_p = next((p for i, p in enumerate(players) if i != me), {})
        values = _player_features(mine_p) + _player_features(theirs_p)
        values.append(_number(payload.get("turn"), _number(state.get("turn"))) / 20.0)
        phase = [0.0] * (len(PHASES) + 1)
        phase[PHASE_INDEX.get(str(payload.get("phase")), len(PHASES))] = 1.0
        values += phase
        n_attackers = len(combat.get("attackers") or [])
        values += [
            float(state.get("active_player") == my_name),
            float(state.get("priority_player") == my_name),
            len(state.get("stack") or []) / 5.0,
            float(bool(combat)),
            n_attackers / 10.0,
            offered.select_min / 10.0,
            offered.select_max / 10.0,
            float(bool(payload.get("optional"))),
            len(offered.options) / self.max_options,
            float(slot >= self.max_cards),
        ]
        decision = [0.0] * len(DECISION_TYPES)
        decision[DECISION_INDEX[dtype]] = 1.0
        values += decision
        g[:] = values
        return offered

    def _card_static(self, card: dict[str, Any], key: tuple | None) -> tuple[int, np.ndarray]:
        """A card's name id and static features. Static data is the name's, so they are kept by
        name and the few fields that vary between cards of one name (power, toughness and the
        type flags of an animated card), once the card's static fields are known."""
        full = card if "types" in card else self.memory.complete(card)
        entry = (name_id(str(card.get("name") or ""), self.buckets), _static_row(full))
        if key is not None and "types" in full:
            if len(self._card_statics) >= _ROW_CACHE_LIMIT:
                self._card_statics.clear()
            self._card_statics[key] = entry
        return entry

    def _fill_option(
        self,
        option: _Option,
        i: int,
        slot_of: dict[Any, int],
        names: np.ndarray | None,
        cards: np.ndarray,
        feats: np.ndarray,
    ) -> None:
        if names is not None:
            names[i] = name_id(option.name, self.buckets)
        f = feats[i]
        for column, value in option.features.items():
            f[column] = value
        if option.cost:
            f[_OPT_MANA : _OPT_MANA + len(MANA_SYMBOLS)] = _mana_symbols(option.cost)
        card_slot = slot_of.get(option.card_id, -1) if option.card_id is not None else -1
        cards[i] = card_slot
        f[_OPT_HAS_CARD] = float(card_slot >= 0)
        f[_OPT_POSITION] = i / max(1, len(feats))


def _slot_of_token(options: Sequence[_Option], token: str) -> int | None:
    for slot, option in enumerate(options):
        if option.token == token:
            return slot
    return None


def _counter_total(counters: Any) -> float:
    if isinstance(counters, dict):
        return float(sum(_number(v) for v in counters.values()))
    if isinstance(counters, list):
        return float(len(counters))
    return _number(counters)
