"""Card definitions as data: the TOML vocabulary of costs, targets, effects, triggers and statics.

Each file under tolaria/engine/cards/ holds `[[card]]` tables. Adding a card whose mechanics
exist is a data change. Every key is checked: an unknown key, effect, trigger or static is a
CardDataError naming the file, the card and the key.

A card: name, cost ("{1}{W}", hybrid "{G/W}", "{X}" announced on casting: amount = "X"), types (with "Legendary"/"Basic"), subtypes,
power/toughness, keywords (KEYWORDS), protection (PROTECTIONS), text (the oracle text), mana
(the colours a "{T}: Add" ability makes: "G", or "RG" for "{R} or {G}"), enters_tapped (true, or
the land subtypes of "unless you control a Mountain or a Forest"), targets (TARGET_KINDS, in order) and effects (a list of
{op = ..., params} from EFFECT_KEYS, `target = i` naming a target, `player = ...` a PLAYER_REFS
player), [[card.trigger]] (on = TRIGGER_EVENTS, by, spell filters, targets, effects, optional),
[[card.static]] (kind = STATIC_KEYS), suspend = {time, cost}, spectacle = "{R}", token = true.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Any

from tolaria.engine.mana import COLOR_NAMES, ManaCost

CARD_DIR = Path(__file__).with_name("cards")


class CardDataError(ValueError):
    """A card definition file is malformed."""


# Each keyword the engine implements, and its name in payloads.
KEYWORDS = {
    "flying": "Flying",
    "reach": "Reach",
    "first_strike": "First Strike",
    "double_strike": "Double Strike",
    "trample": "Trample",
    "deathtouch": "Deathtouch",
    "lifelink": "Lifelink",
    "vigilance": "Vigilance",
    "haste": "Haste",
    "menace": "Menace",
    "defender": "Defender",
    "prowess": "Prowess",
}
PROTECTIONS = {"red", "white", "green", "blue", "black", "multicolored"}

# target kinds: what a spell or triggered ability may target
TARGET_KINDS = {
    "any",  # creature or player
    "creature",
    "player",
    "creature_of_target_player",  # "target creature that player controls" (the previous target)
    "creature_an_opponent_controls",
    "opponent",  # "target opponent"
    "spell",
    "creature_spell",
    "noncreature_spell",
}

# effect op -> allowed parameter keys (besides "op")
EFFECT_KEYS: dict[str, set[str]] = {
    "damage": {"amount", "target", "player", "landfall_amount"},
    "gain_life": {"amount", "target", "player"},
    "lose_life": {"amount", "player", "target"},
    "draw": {"amount", "player", "target"},
    "scry": {"amount"},
    "pump": {"target", "power", "toughness"},
    "counter": {"target"},
    "exile": {"target"},
    "destroy": {"target"},
    "destroy_all_creatures": set(),
    # search your library for any card, put it into your hand, then shuffle
    "search_card": set(),
    "bounce": {"target"},
    "search_basic_land": {"player", "target", "tapped"},
    "create_token": {"token", "count", "attacking", "blocking"},
    "reveal_top_land_to_hand": {"player"},
    "exile_top_playable": {"amount"},
    "turn_rule": {"rule"},
    # until the controller's next turn: can't attack or block, activated abilities can't be activated
    "detain": {"target"},
}
PLAYER_REFS = {"you", "caster", "defending", "target_controller", "target"}
TURN_RULES = {"no_lifegain", "no_damage_prevention"}
# upkeep: at the beginning of the upkeep of `by` (you: your upkeep; opponent; any: each upkeep)
# life_gained / life_lost: whenever `by` gains / loses life; amount = "event" is "that much"
TRIGGER_EVENTS = {"etb", "attacks", "blocks", "spell_cast", "landfall", "upkeep", "life_gained", "life_lost"}
LIFE_EVENTS = {"life_gained", "life_lost"}
TRIGGER_KEYS = {
    "on",
    "by",
    "optional",
    "spell_max_mv",
    "spell_multicolored",
    "spell_noncreature",
    "targets",
    "effects",
    "text",
}
STATIC_KEYS: dict[str, set[str]] = {
    "anthem": {"affects", "power", "toughness"},
    "spell_cost_increase": {"spells", "amount"},
    "graveyard_to_exile": {"cards"},
}
ANTHEM_SCOPES = {"other_creatures_you_control", "white_creatures_you_control"}
CARD_KEYS = {
    "name",
    "cost",
    "types",
    "subtypes",
    "colors",
    "power",
    "toughness",
    "keywords",
    "protection",
    "text",
    "targets",
    "effects",
    "trigger",
    "static",
    "mana",
    "enters_tapped",
    "suspend",
    "spectacle",
    "token",
}
TYPES = {"Land", "Creature", "Instant", "Sorcery", "Enchantment", "Artifact", "Planeswalker"}
SUPERTYPES = {"Basic", "Legendary"}


class Effect:
    """One step of a spell's or ability's resolution."""

    __slots__ = ("op", "params")

    def __init__(self, op: str, params: dict[str, Any]):
        self.op = op
        self.params = params

    def get(self, key: str, default: Any = None) -> Any:
        return self.params.get(key, default)

    def __repr__(self) -> str:
        return f"Effect({self.op}, {self.params})"


class TriggerDef:
    """A triggered ability: the event it waits for, its filters, targets and effects."""

    __slots__ = (
        "by",
        "effects",
        "on",
        "optional",
        "spell_max_mv",
        "spell_multicolored",
        "spell_noncreature",
        "targets",
        "text",
    )

    def __init__(
        self,
        on,
        by,
        spell_max_mv,
        spell_multicolored,
        spell_noncreature,
        targets,
        effects,
        text,
        optional=False,
    ):
        self.on = on
        self.optional = optional
        self.by = by
        self.spell_max_mv = spell_max_mv
        self.spell_multicolored = spell_multicolored
        self.spell_noncreature = spell_noncreature
        self.targets = targets
        self.effects = effects
        self.text = text


class StaticDef:
    """A static ability: anthem, spell cost increase or graveyard replacement."""

    __slots__ = ("kind", "params")

    def __init__(self, kind: str, params: dict[str, Any]):
        self.kind = kind
        self.params = params


class CardDef:
    """The printed card: immutable, shared by every game."""

    __slots__ = (
        "colors",
        "cost",
        "effects",
        "enters_tapped",
        "is_creature",
        "is_instant",
        "is_instant_or_sorcery",
        "is_land",
        "is_legendary",
        "is_permanent",
        "keywords",
        "mana",
        "mana_value",
        "name",
        "oracle_text",
        "power",
        "protection",
        "spectacle",
        "statics",
        "subtypes",
        "supertypes",
        "suspend",
        "targets",
        "token",
        "toughness",
        "triggers",
        "type_line",
        "types",
    )

    def __init__(self, **kw: Any):
        for k, v in kw.items():
            setattr(self, k, v)
        self.mana_value = self.cost.mana_value
        self.is_creature = "Creature" in self.types
        self.is_land = "Land" in self.types
        self.is_instant = "Instant" in self.types
        self.is_instant_or_sorcery = self.is_instant or "Sorcery" in self.types
        self.is_permanent = not self.is_instant_or_sorcery
        self.is_legendary = "Legendary" in self.supertypes
        line = " ".join([*self.supertypes, *self.types])
        self.type_line = f"{line} \u2014 {' '.join(self.subtypes)}" if self.subtypes else line

    @property
    def is_multicolored(self) -> bool:
        return len(self.colors) >= 2

    def __repr__(self) -> str:
        return f"CardDef({self.name!r})"


def _fail(where: str, msg: str) -> CardDataError:
    return CardDataError(f"{where}: {msg}")


def _check_keys(where: str, table: dict, allowed: set[str]) -> None:
    for key in table:
        if key not in allowed:
            raise _fail(where, f"unknown key {key!r}")


def _parse_targets(where: str, raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
        raise _fail(where, "'targets' must be a list of strings")
    for i, kind in enumerate(raw):
        if kind not in TARGET_KINDS:
            raise _fail(where, f"unknown target kind {kind!r}")
        if kind == "creature_of_target_player" and (i == 0 or raw[i - 1] != "player"):
            raise _fail(where, "'creature_of_target_player' must follow a 'player' target")
    return tuple(raw)


def _parse_effects(where: str, raw: Any, n_targets: int, event_amount: bool = False) -> tuple[Effect, ...]:
    if not isinstance(raw, list):
        raise _fail(where, "'effects' must be a list of tables")
    out = []
    for item in raw:
        if not isinstance(item, dict) or "op" not in item:
            raise _fail(where, "each effect needs an 'op'")
        op = item["op"]
        if op not in EFFECT_KEYS:
            raise _fail(where, f"unknown effect op {op!r}")
        params = {k: v for k, v in item.items() if k != "op"}
        _check_keys(f"{where} effect {op!r}", params, EFFECT_KEYS[op])
        target = params.get("target")
        if (
            target is not None
            and target != "self"
            and not (isinstance(target, int) and 0 <= target < n_targets)
        ):
            raise _fail(where, f"effect {op!r} refers to target {target!r} but there are {n_targets} targets")
        player = params.get("player")
        if player is not None and player not in PLAYER_REFS:
            raise _fail(where, f"effect {op!r} has unknown player reference {player!r}")
        if op == "turn_rule" and params.get("rule") not in TURN_RULES:
            raise _fail(where, f"unknown turn rule {params.get('rule')!r}")
        if params.get("amount") == "event" and not event_amount:
            raise _fail(
                where, f"effect {op!r} amount 'event' (that much) needs a life_gained or life_lost trigger"
            )
        out.append(Effect(op, params))
    return tuple(out)


def _parse_card(where: str, raw: dict) -> CardDef:
    _check_keys(where, raw, CARD_KEYS)
    if "name" not in raw:
        raise _fail(where, "card without a 'name'")
    where = f"{where} ({raw['name']})"
    try:
        cost = ManaCost.parse(raw.get("cost", ""))
        spectacle = ManaCost.parse(raw["spectacle"]) if "spectacle" in raw else None
    except ValueError as e:
        raise _fail(where, str(e)) from None
    types = raw.get("types", [])
    supertypes = tuple(t for t in types if t in SUPERTYPES)
    card_types = tuple(t for t in types if t not in SUPERTYPES)
    for t in card_types:
        if t not in TYPES:
            raise _fail(where, f"unknown card type {t!r}")
    if not card_types:
        raise _fail(where, "card without a type")
    keywords = tuple(raw.get("keywords", []))
    for k in keywords:
        if k not in KEYWORDS:
            raise _fail(where, f"unknown keyword {k!r}")
    protection = frozenset(raw.get("protection", []))
    for p in protection:
        if p not in PROTECTIONS:
            raise _fail(where, f"unknown protection quality {p!r}")
    if "colors" in raw:
        colors = frozenset(raw["colors"])
        if not colors <= set(COLOR_NAMES):
            raise _fail(where, f"bad colors {raw['colors']!r}")
    else:
        colors = cost.colors
    targets = _parse_targets(where, raw.get("targets", []))
    effects = _parse_effects(where, raw.get("effects", []), len(targets))
    for e in effects:
        amount = e.get("amount")
        if (
            isinstance(amount, str)
            and amount not in ("target_power", "event")
            and (amount != "X" or not cost.x)
        ):
            raise _fail(where, f"effect {e.op!r} amount {amount!r} needs an {{X}} in the cost")
    triggers = []
    for t in raw.get("trigger", []):
        _check_keys(f"{where} trigger", t, TRIGGER_KEYS)
        if t.get("on") not in TRIGGER_EVENTS:
            raise _fail(where, f"unknown trigger event {t.get('on')!r}")
        if t.get("by", "you") not in ("you", "opponent", "any"):
            raise _fail(where, f"unknown trigger 'by' {t.get('by')!r}")
        t_targets = _parse_targets(where, t.get("targets", []))
        triggers.append(
            TriggerDef(
                on=t["on"],
                by=t.get("by", "you"),
                spell_max_mv=t.get("spell_max_mv"),
                spell_multicolored=bool(t.get("spell_multicolored", False)),
                spell_noncreature=bool(t.get("spell_noncreature", False)),
                targets=t_targets,
                effects=_parse_effects(
                    f"{where} trigger", t.get("effects", []), len(t_targets), t["on"] in LIFE_EVENTS
                ),
                text=t.get("text", ""),
                optional=bool(t.get("optional", False)),
            )
        )
    if "prowess" in keywords:
        triggers.append(
            TriggerDef(
                "spell_cast",
                "you",
                None,
                False,
                True,
                (),
                (Effect("pump", {"target": "self", "power": 1, "toughness": 1}),),
                "Prowess",
            )
        )
    statics = []
    for s in raw.get("static", []):
        kind = s.get("kind")
        if kind not in STATIC_KEYS:
            raise _fail(where, f"unknown static kind {kind!r}")
        params = {k: v for k, v in s.items() if k != "kind"}
        _check_keys(f"{where} static {kind!r}", params, STATIC_KEYS[kind])
        if kind == "anthem" and params.get("affects") not in ANTHEM_SCOPES:
            raise _fail(where, f"unknown anthem scope {params.get('affects')!r}")
        statics.append(StaticDef(kind, params))
    suspend = None
    if "suspend" in raw:
        sus = raw["suspend"]
        _check_keys(f"{where} suspend", sus, {"time", "cost"})
        suspend = (int(sus["time"]), ManaCost.parse(sus["cost"]))
    is_creature = "Creature" in card_types
    if is_creature and ("power" not in raw or "toughness" not in raw):
        raise _fail(where, "creature without power/toughness")
    mana = raw.get("mana")
    if mana is not None and (
        not isinstance(mana, str)
        or not mana
        or any(c not in COLOR_NAMES for c in mana)
        or len(set(mana)) != len(mana)
    ):
        raise _fail(where, f"bad mana colours {mana!r} (one to five of W, U, B, R, G)")
    enters_tapped = raw.get("enters_tapped", False)
    if isinstance(enters_tapped, list):
        if not enters_tapped or not all(isinstance(t, str) for t in enters_tapped):
            raise _fail(where, "'enters_tapped' must be true or a list of land subtypes")
        enters_tapped = tuple(enters_tapped)
    elif not isinstance(enters_tapped, bool):
        raise _fail(where, "'enters_tapped' must be true or a list of land subtypes")
    return CardDef(
        name=raw["name"],
        cost=cost,
        types=card_types,
        supertypes=supertypes,
        subtypes=tuple(raw.get("subtypes", [])),
        colors=colors,
        power=raw.get("power"),
        toughness=raw.get("toughness"),
        keywords=frozenset(keywords),
        protection=protection,
        oracle_text=raw.get("text", ""),
        targets=targets,
        effects=effects,
        triggers=tuple(triggers),
        statics=tuple(statics),
        mana=mana,
        enters_tapped=enters_tapped,
        suspend=suspend,
        spectacle=spectacle,
        token=bool(raw.get("token", False)),
    )


def parse_card_file(path: Path) -> list[CardDef]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise CardDataError(f"{path}: {e}") from None
    _check_keys(str(path), data, {"card"})
    return [_parse_card(f"{path} card #{i + 1}", raw) for i, raw in enumerate(data.get("card", []))]


class CardPool:
    """All card definitions by name."""

    def __init__(self, cards: list[CardDef]):
        self.cards: dict[str, CardDef] = {}
        for c in cards:
            if c.name in self.cards:
                raise CardDataError(f"card {c.name!r} is defined twice")
            self.cards[c.name] = c
        for c in cards:
            for e in (*c.effects, *(e for t in c.triggers for e in t.effects)):
                if e.op == "create_token" and e.get("token") not in self.cards:
                    raise CardDataError(f"card {c.name!r} creates unknown token {e.get('token')!r}")

    @classmethod
    def from_dir(cls, directory: Path) -> CardPool:
        cards: list[CardDef] = []
        for path in sorted(directory.glob("*.toml")):
            cards.extend(parse_card_file(path))
        return cls(cards)

    @classmethod
    def default(cls) -> CardPool:
        return _default_pool()

    def get(self, name: str) -> CardDef | None:
        return self.cards.get(name)

    def __getitem__(self, name: str) -> CardDef:
        return self.cards[name]

    def __contains__(self, name: str) -> bool:
        return name in self.cards


@cache
def _default_pool() -> CardPool:
    return CardPool.from_dir(CARD_DIR)
