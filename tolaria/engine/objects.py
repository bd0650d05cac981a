"""The objects of one game: cards in zones, players and stack items."""

from __future__ import annotations

from tolaria.engine.cards import CardDef, TriggerDef

LIBRARY, HAND, BATTLEFIELD, GRAVEYARD, EXILE, STACK = (
    "library",
    "hand",
    "battlefield",
    "graveyard",
    "exile",
    "stack",
)


class Card:
    """A card (or token) in a game. `zcc` counts zone changes: a moved card is a new object."""

    __slots__ = (
        "attacking",
        "blocking",
        "cdef",
        "controller",
        "damage",
        "deathtouched",
        "detained_by",
        "id",
        "owner",
        "playable_until",
        "pump_power",
        "pump_toughness",
        "sick",
        "tapped",
        "time_counters",
        "x_value",
        "zcc",
        "zone",
    )

    def __init__(self, cid: int, cdef: CardDef, owner: Player):
        self.id = cid
        self.cdef = cdef
        self.owner = owner
        self.controller = owner
        self.zone = LIBRARY
        self.zcc = 0
        self.playable_until = -1  # turn number until whose end the owner may play it from exile
        self.time_counters = 0
        self.reset()

    def reset(self) -> None:
        """Forget everything a zone change wipes (rule 400.7)."""
        self.tapped = False
        self.sick = True
        self.damage = 0
        self.deathtouched = False
        self.pump_power = 0
        self.pump_toughness = 0
        self.attacking = False
        self.blocking = None  # the attacker this creature blocks
        self.x_value = 0  # the X announced while this card is a spell on the stack
        # detain: can't attack or block, no activated abilities, until this player's next turn
        self.detained_by = None

    @property
    def name(self) -> str:
        return self.cdef.name

    @property
    def produces(self) -> str | None:
        return self.cdef.mana

    def has(self, keyword: str) -> bool:
        return keyword in self.cdef.keywords

    def __repr__(self) -> str:
        return f"<{self.cdef.name}#{self.id}>"


class Player:
    """One seat: life, zones and per-turn bookkeeping."""

    __slots__ = (
        "battlefield",
        "drew_from_empty",
        "exile",
        "graveyard",
        "hand",
        "landfall_this_turn",
        "lands_played",
        "library",
        "life",
        "lost",
        "lost_life_this_turn",
        "mulligans",
        "name",
        "opponent",
        "seat",
    )

    def __init__(self, seat: int, name: str):
        self.seat = seat
        self.name = name
        self.life = 20
        self.library: list[Card] = []  # index 0 is the top
        self.hand: list[Card] = []
        self.battlefield: list[Card] = []
        self.graveyard: list[Card] = []
        self.exile: list[Card] = []
        self.lands_played = 0
        self.landfall_this_turn = False
        self.lost_life_this_turn = False
        self.drew_from_empty = False
        self.lost = False
        self.mulligans = 0
        self.opponent: Player = self

    def zone(self, name: str) -> list[Card]:
        return getattr(self, name)

    def creatures(self) -> list[Card]:
        return [c for c in self.battlefield if c.cdef.is_creature]

    def __repr__(self) -> str:
        return f"<Player {self.seat} {self.name}>"


class StackItem:
    """A spell or an ability on the stack, with its chosen targets as (object, zcc) pairs."""

    __slots__ = (
        "card",
        "controller",
        "effects",
        "event",
        "id",
        "is_spell",
        "source_zcc",
        "targets",
        "text",
        "trigger",
    )

    def __init__(
        self,
        sid: int,
        card: Card,
        controller: Player,
        is_spell: bool,
        text: str,
        effects,
        trigger: TriggerDef | None = None,
        event=None,
    ):
        self.id = sid
        self.card = card
        self.source_zcc = card.zcc
        self.controller = controller
        self.is_spell = is_spell
        self.text = text
        self.effects = effects
        self.trigger = trigger
        self.event = event  # trigger context: caster, blocked attacker, defending player
        self.targets: list[tuple[object, int]] = []

    def __repr__(self) -> str:
        return f"<Stack {self.text}>"
