"""A pending decision of one seat: its legal options, reply parsing and the safe default.

Answers are plain Python values, by decision type:
  choose_action      Action | None (pass)
  declare_attackers  tuple[Card, ...]
  declare_blockers   tuple[tuple[Card, Card], ...]  (blocker, attacker) pairs
  choose_cards       tuple[int, ...]  indices into `options`, in the order given
  choose_entity      int | None  index into `options`, None = no choice (optional only)
  confirm_action, play_trigger   bool
  announce_value     int in [min, max]
  assign_combat_damage  tuple[int, ...]  damage per blocker (options), then the defending
                     player's share when the attacker has trample (context.defender)
  reveal             None (never answered)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from tolaria.protocol.replies import lethal_in_order

if TYPE_CHECKING:
    from tolaria.engine.objects import Card

Answer = Any

YES = {"y", "yes", "1", "true"}
NO = {"n", "no", "0", "false", ""}


class ReplyError(ValueError):
    """A reply text that is not a legal answer to the decision."""


class Action:
    """One entry of a choose_action list: play a land, cast a spell or suspend a card."""

    __slots__ = ("card", "cost", "description", "kind")

    def __init__(self, kind: str, card: Card, cost, description: str):
        self.kind = kind  # "land" | "cast" | "suspend"
        self.card = card
        self.cost = cost  # ManaCost paid on choosing it (None for lands)
        self.description = description

    def __repr__(self) -> str:
        return f"<Action {self.description}>"


class DamageAssignment(NamedTuple):
    """What an assign_combat_damage decision is about: the attacker, the lethal damage of each
    blocker (in the order of the decision's options), and the defending player when the
    attacker has trample (None otherwise)."""

    attacker: Card
    lethal: tuple[int, ...]
    defender: Any = None

    def default(self, total: int) -> tuple[int, ...]:
        """Lethal damage to each blocker in turn, the rest to the player (trample) or the last
        blocker."""
        return tuple(lethal_in_order(total, self.lethal, self.defender is not None))

    def check(self, amounts: tuple[int, ...], total: int) -> None:
        """ReplyError unless `amounts` is a legal division of `total` (510.1c-d, 702.19b)."""
        parts = len(self.lethal) + (self.defender is not None)
        if len(amounts) != parts:
            who = "each blocker" + (" and the defending player" if self.defender is not None else "")
            raise ReplyError(f"expected {parts} amounts (one for {who}), got {len(amounts)}")
        if any(n < 0 for n in amounts):
            raise ReplyError("a damage amount is negative")
        if sum(amounts) != total:
            raise ReplyError(f"the amounts add up to {sum(amounts)}, not the {total} damage to assign")
        if self.defender is not None and amounts[-1] > 0:
            for i, need in enumerate(self.lethal):
                if amounts[i] < need:
                    raise ReplyError(
                        f"trample: blocker {i} needs {need} (lethal) before damage goes to the player"
                    )


class Decision:
    """What the engine asks of `seat`; answered through Game.submit().

    `game` is the Game that asks: players read its state through it, and so does
    `tolaria.engine.payload`, which writes the decision's DECISION JSON. The game module builds
    decisions and this one never imports it back, so `game` is typed `Any`."""

    __slots__ = (
        "attackers",
        "context",
        "decision_id",
        "game",
        "max",
        "message",
        "min",
        "optional",
        "options",
        "purpose",
        "seat",
        "type",
    )

    def __init__(
        self,
        game: Any,
        seat: int,
        type: str,
        message: str,
        options: list | None = None,
        *,
        purpose: str = "",
        min: int = 0,
        max: int = 0,
        optional: bool = False,
        attackers: list | None = None,
        context: Any = None,
    ):
        self.game = game
        self.seat = seat
        self.type = type
        self.message = message
        self.options = options if options is not None else []
        self.purpose = purpose
        self.min = min
        self.max = max
        self.optional = optional
        self.attackers = attackers  # declare_blockers: the attacking creatures
        # what the decision is about: (stack item, target index) for targets, the legal attacker
        # indices of each blocker for declare_blockers, a DamageAssignment for combat damage, ...
        self.context = context
        self.decision_id = 0

    @property
    def expects_reply(self) -> bool:
        return self.type != "reveal"

    # -- replies -----------------------------------------------------------------------
    def default(self) -> Answer:
        t = self.type
        if t == "choose_action":
            return None
        if t in ("declare_attackers", "declare_blockers"):
            return ()
        if t == "choose_cards":
            return tuple(range(self.min))
        if t == "choose_entity":
            return 0
        if t in ("confirm_action", "play_trigger", "play_from_effect"):
            return False
        if t == "announce_value":
            return self.min
        if t == "assign_combat_damage":
            return self.context.default(self.min)
        return None

    def parse(self, text: str | None) -> Answer:
        """Parse a wire reply into a legal Answer, or raise ReplyError saying what is wrong."""
        t = self.type
        if t == "reveal":
            return None
        s = (text or "").strip()
        if t == "choose_action":
            if s.lower() in ("", "-1", "pass"):
                return None
            i = _int(s, "an action index")
            if not 0 <= i < len(self.options):
                raise ReplyError(f"action index {i} out of range 0..{len(self.options) - 1} (or -1 to pass)")
            return self.options[i]
        if t in ("confirm_action", "play_trigger", "play_from_effect"):
            low = s.lower()
            if low in YES:
                return True
            if low in NO:
                return False
            raise ReplyError(f"expected y or n, got {s[:40]!r}")
        if t == "choose_entity":
            if s in ("-1", "") and self.optional:
                return None
            i = _int(s, "an entity index")
            if not 0 <= i < len(self.options):
                raise ReplyError(f"entity index {i} out of range 0..{len(self.options) - 1}")
            return i
        if t == "choose_cards":
            picks = _int_list(s)
            if len(picks) < self.min or len(picks) > self.max:
                raise ReplyError(f"choose between {self.min} and {self.max} cards, got {len(picks)}")
            for i in picks:
                if not 0 <= i < len(self.options):
                    raise ReplyError(f"card index {i} out of range 0..{len(self.options) - 1}")
            return tuple(picks)
        if t == "declare_attackers":
            picks = _int_list(s)
            for i in picks:
                if not 0 <= i < len(self.options):
                    raise ReplyError(f"attacker index {i} out of range 0..{len(self.options) - 1}")
            return tuple(self.options[i] for i in picks)
        if t == "declare_blockers":
            return self._parse_blocks(s)
        if t == "announce_value":
            v = _int(s, "an integer")
            if not self.min <= v <= self.max:
                raise ReplyError(f"value {v} out of range {self.min}..{self.max}")
            return v
        if t == "assign_combat_damage":
            if not s:
                raise ReplyError("expected comma-separated damage amounts")
            amounts = tuple(_int(p, "comma-separated damage amounts") for p in s.split(","))
            self.context.check(amounts, self.min)
            return amounts
        raise ReplyError(f"decision type {t} takes no reply")

    def _parse_blocks(self, s: str) -> tuple:
        if not s:
            return ()
        pairs = []
        used = set()
        legal = self.context
        for part in s.split(","):
            b_a = part.strip().split(":")
            if len(b_a) != 2:
                raise ReplyError(f"block {part.strip()[:20]!r} is not 'blocker:attacker'")
            b, a = _int(b_a[0], "a blocker index"), _int(b_a[1], "an attacker index")
            if not 0 <= b < len(self.options):
                raise ReplyError(f"blocker index {b} out of range 0..{len(self.options) - 1}")
            if not 0 <= a < len(self.attackers):
                raise ReplyError(f"attacker index {a} out of range 0..{len(self.attackers) - 1}")
            if b in used:
                raise ReplyError(f"blocker {b} is assigned twice")
            if a not in legal[b]:
                raise ReplyError(f"{self.options[b].name} cannot block {self.attackers[a].name}")
            used.add(b)
            pairs.append((b, a))
        counts: dict[int, int] = {}
        for _, a in pairs:
            counts[a] = counts.get(a, 0) + 1
        for a, n in counts.items():
            if n == 1 and self.attackers[a].has("menace"):
                raise ReplyError(f"{self.attackers[a].name} has menace: block it with two or more creatures")
        return tuple((self.options[b], self.attackers[a]) for b, a in pairs)

    def __repr__(self) -> str:
        return f"<Decision {self.type} seat={self.seat} {self.message!r}>"


def _int(s: str, what: str) -> int:
    try:
        return int(s.strip())
    except ValueError:
        raise ReplyError(f"expected {what}, got {s.strip()[:40]!r}") from None


def _int_list(s: str) -> list[int]:
    if not s:
        return []
    out = [_int(p, "a comma-separated list of indices") for p in s.split(",")]
    if len(set(out)) != len(out):
        raise ReplyError("an index is repeated")
    return out
