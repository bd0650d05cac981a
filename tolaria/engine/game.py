"""One game of Magic as a state machine: Game.start()/submit() drive a generator of Decisions.

The rules code reads top to bottom: every place a player must choose is `answer = yield
from self._ask(decision)`, and Game.submit() sends the answer in. Players who could only
pass are passed for silently, so every Decision offered has a real choice.
"""

from __future__ import annotations

import random
from collections.abc import Generator, Sequence
from dataclasses import dataclass

from tolaria.engine.cards import CardDef
from tolaria.engine.decision import Action, DamageAssignment, Decision
from tolaria.engine.deck import Deck
from tolaria.engine.mana import ManaCost, can_pay, choose_sources, max_x
from tolaria.engine.objects import (
    BATTLEFIELD,
    EXILE,
    GRAVEYARD,
    HAND,
    LIBRARY,
    STACK,
    Card,
    Player,
    StackItem,
)

MAIN1, MAIN2 = "MAIN1", "MAIN2"
HAND_SIZE = 7
Flow = Generator[Decision, object, None]


@dataclass(frozen=True, slots=True)
class GameResult:
    winner: int | None  # seat, None for a draw
    turns: int
    reason: str  # "life", "decking", "draw" (both lost at once), "concede", "turn_limit" (opt-in)


class GameOver(Exception):
    """Raised inside the flow when the game ends."""


class Game:
    """A two-player game between two decks, deterministic for a given seed and answers."""

    def __init__(
        self,
        decks: Sequence[Deck],
        seed: int = 0,
        names: Sequence[str] | None = None,
        max_turns: int | None = None,
        full_observability: bool = False,
        forge_priority: bool = False,
        rng: random.Random | None = None,
    ):
        """`max_turns` is an optional length limit: a game still going after that many turns is a
        draw with reason "turn_limit". Magic has none (None, the default): every game ends by the
        rules, at the latest when a library runs out.

        `forge_priority`: priority as a Forge daemon gives it (for the emulation of its dialect,
        `tolaria.daemon.forge_dialect`): a choose_action at every priority, pass alone included,
        and none in the steps Forge skips (the first turn's draw step, a declare attackers step
        without attackers). Otherwise a seat that could only pass is passed for.
        `rng`: a random generator to draw from instead of one seeded with `seed` (Forge's daemon
        shares one among its games)."""
        if len(decks) != 2:
            raise ValueError("a game needs exactly two decks")
        if max_turns is not None and max_turns < 1:
            raise ValueError(f"max_turns must be a positive number of turns or None, not {max_turns!r}")
        names = names or (f"Player(1)-{decks[0].name}", f"Player(2)-{decks[1].name}")
        self.rng = rng if rng is not None else random.Random(seed)
        self.seed = seed
        self.forge_priority = forge_priority
        self.max_turns = max_turns
        self.full_observability = full_observability
        self.players = [Player(0, names[0]), Player(1, names[1])]
        self.players[0].opponent, self.players[1].opponent = self.players[1], self.players[0]
        self._next_id = 1
        self._pool = decks[0].pool
        for player, deck in zip(self.players, decks, strict=True):
            for cdef in deck.cards:
                player.library.append(self._new_card(cdef, player))
        self.turn = 0
        self.active = self.players[0]
        self.priority: Player | None = None
        self.phase = "UNTAP"
        self.stack: list[StackItem] = []
        self.pending_triggers: list[tuple] = []
        self.attackers: list[Card] = []
        self.blockers_of: dict[int, list[Card]] = {}
        self.blocked: set[int] = set()
        self.no_lifegain = False
        self.no_damage_prevention = False
        self.anthems: list[tuple[Card, object]] = []
        self.cost_increases: list[tuple[Card, object]] = []
        self.graveyard_exilers: list[Card] = []
        self.decision_ids = [0, 0]
        self.result: GameResult | None = None
        self.pending: Decision | None = None
        self._flow: Flow | None = None

    # -- driving the game ----------------------------------------------------------------
    def start(self, skip_mulligans: bool = False) -> Decision | None:
        """Begin the game. `skip_mulligans` starts turn 1 of `self.active` with the zones as they
        are, for setting up exact positions."""
        if self._flow is not None:
            raise RuntimeError("game already started")
        self._flow = self._game(skip_mulligans)
        return self._advance(None)

    def submit(self, answer: object) -> Decision | None:
        if self.pending is None:
            raise RuntimeError("no decision is pending")
        return self._advance(answer)

    def concede(self, seat: int) -> None:
        if self.result is not None:
            return
        self.result = GameResult(1 - seat, self.turn, "concede")
        self.players[seat].lost = True
        self.pending = None
        if self._flow is not None:
            self._flow.close()

    def _advance(self, answer: object) -> Decision | None:
        try:
            self.pending = self._flow.send(answer)
        except GameOver:
            self.pending = None
        except StopIteration:
            self.pending = None
            if self.result is None:
                raise RuntimeError("game flow ended without a result") from None
        return self.pending

    def _ask(self, decision: Decision) -> Generator[Decision, object, object]:
        self.decision_ids[decision.seat] += 1
        decision.decision_id = self.decision_ids[decision.seat]
        answer = yield decision
        return answer

    def _end(self, winner: Player | None, reason: str) -> None:
        self.result = GameResult(None if winner is None else winner.seat, self.turn, reason)
        for p in self.players:
            p.lost = winner is not None and p is not winner
        raise GameOver

    def _new_card(self, cdef: CardDef, owner: Player) -> Card:
        card = Card(self._next_id, cdef, owner)
        self._next_id += 1
        return card

    # -- game flow -------------------------------------------------------------------------
    def _game(self, skip_mulligans: bool) -> Flow:
        if not skip_mulligans:
            self.active = self.players[self.rng.randrange(2)]
            yield from self._mulligans()
        while True:
            self.turn += 1
            if self.max_turns is not None and self.turn > self.max_turns:
                self.turn = self.max_turns
                self._end(None, "turn_limit")
            yield from self._take_turn()
            self.active = self.active.opponent

    def _mulligans(self) -> Flow:
        """Rule 103.4 (London mulligan): both players draw seven; then, round by round, each
        player still deciding declares keep or mulligan in turn order, and the mulligans declared
        in a round are taken at the same time: shuffle the hand away, draw seven, put one card
        per mulligan taken so far on the bottom. A hand of zero cards is kept without asking."""
        order = (self.active, self.active.opponent)
        for p in order:
            self.rng.shuffle(p.library)
            self._draw(p, HAND_SIZE)
        deciding = list(order)
        while deciding:
            mulligans = []
            for p in deciding:
                if p.mulligans >= HAND_SIZE:
                    continue
                keep = yield from self._ask(
                    Decision(
                        self,
                        p.seat,
                        "confirm_action",
                        f"Keep this hand of {len(p.hand)} cards?",
                        purpose="mulligan",
                    )
                )
                if not keep:
                    mulligans.append(p)
            for p in mulligans:  # taken at the same time: every new hand is drawn ...
                p.mulligans += 1
                for c in list(p.hand):
                    self._move(c, LIBRARY)
                self.rng.shuffle(p.library)
                self._draw(p, HAND_SIZE)
            for p in mulligans:  # ... before anyone chooses what goes to the bottom
                yield from self._bottom_after_mulligan(p)
            deciding = mulligans

    def _bottom_after_mulligan(self, p: Player) -> Flow:
        n = min(p.mulligans, HAND_SIZE)
        if n == HAND_SIZE:
            bottom = list(p.hand)
        else:
            picks = yield from self._ask(
                Decision(
                    self,
                    p.seat,
                    "choose_cards",
                    f"Mulligan {p.mulligans}: choose {n} card(s) to put on the bottom of your library",
                    list(p.hand),
                    purpose="mulligan_bottom",
                    min=n,
                    max=n,
                )
            )
            bottom = [p.hand[i] for i in picks]
        for c in bottom:
            self._move(c, LIBRARY, top=False)

    def _take_turn(self) -> Flow:
        ap = self.active
        self.phase = "UNTAP"
        for p in self.players:  # "this turn" counts start over for both players
            p.lands_played = 0
            p.landfall_this_turn = False
            p.lost_life_this_turn = False
        for p in self.players:  # "until your next turn" ends as that turn begins
            for c in p.battlefield:
                if c.detained_by is ap:
                    c.detained_by = None
        for c in ap.battlefield:
            c.tapped = False
            c.sick = False
        self.phase = "UPKEEP"
        for c in ap.exile:
            if c.time_counters > 0:
                self.pending_triggers.append((c, None, "suspend"))
        for side in self.players:
            for src in side.battlefield:
                for t in src.cdef.triggers:
                    if t.on == "upkeep" and not (
                        (t.by == "you" and side is not ap) or (t.by == "opponent" and side is ap)
                    ):
                        self.pending_triggers.append((src, t, ap))
        yield from self._priority()
        self.phase = "DRAW"
        if self.turn > 1:
            self._draw(ap, 1)
        if self.turn > 1 or not self.forge_priority:
            yield from self._priority()
        self.phase = MAIN1
        yield from self._priority()
        yield from self._combat()
        self.phase = MAIN2
        yield from self._priority()
        self.phase = "END_OF_TURN"
        yield from self._priority()
        self.phase = "CLEANUP"
        excess = len(ap.hand) - HAND_SIZE
        if excess > 0:
            picks = yield from self._ask(
                Decision(
                    self,
                    ap.seat,
                    "choose_cards",
                    f"Discard {excess} card(s) down to {HAND_SIZE}",
                    list(ap.hand),
                    purpose="discard",
                    min=excess,
                    max=excess,
                )
            )
            for c in [ap.hand[i] for i in picks]:
                self._move(c, GRAVEYARD)
        for p in self.players:
            for c in p.battlefield:
                c.damage = 0
                c.deathtouched = False
                c.pump_power = 0
                c.pump_toughness = 0
        self.no_lifegain = False
        self.no_damage_prevention = False

    # -- priority and the stack ------------------------------------------------------------
    def _priority(self) -> Flow:
        p = self.active
        passes = 0
        changed = True  # a pass changes nothing, so only actions and resolutions need a settle
        while True:
            if changed:
                yield from self._settle()
                changed = False
            self.priority = p
            actions = self.legal_actions(p)
            action = None
            if actions or self.forge_priority:
                action = yield from self._ask(
                    Decision(self, p.seat, "choose_action", "Choose an action", actions, purpose="priority")
                )
            if action is None:
                passes += 1
                if passes < 2:
                    p = p.opponent
                    continue
                if not self.stack:
                    self.priority = None
                    return
                yield from self._resolve_top()
                p = self.active
                passes = 0
            else:
                yield from self._perform(p, action)
                passes = 0
            changed = True

    def _settle(self) -> Flow:
        """State-based actions, then pending triggers onto the stack, until nothing changes."""
        while True:
            yield from self._state_based_actions()
            if not self.pending_triggers:
                return
            triggers = self.pending_triggers
            self.pending_triggers = []
            ap = self.active
            ordered = [t for t in triggers if self._trigger_controller(t) is ap]
            ordered += [t for t in triggers if self._trigger_controller(t) is not ap]
            for source, tdef, event in ordered:
                yield from self._put_trigger_on_stack(source, tdef, event)

    @staticmethod
    def _trigger_controller(trigger: tuple) -> Player:
        source, tdef, _ = trigger
        return source.owner if tdef is None else source.controller

    def _put_trigger_on_stack(self, source: Card, tdef, event) -> Flow:
        if tdef is None:  # suspend: remove a time counter
            item = StackItem(
                self._take_id(),
                source,
                source.owner,
                False,
                f"Suspend: remove a time counter from {source.name}",
                (),
                event="suspend",
            )
            self.stack.append(item)
            return
        controller = source.controller
        item = StackItem(
            self._take_id(),
            source,
            controller,
            False,
            f"{source.name}: {tdef.text}",
            tdef.effects,
            tdef,
            event,
        )
        ok = yield from self._choose_targets(item, tdef.targets, controller)
        if ok:
            self.stack.append(item)

    def _take_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def _perform(self, p: Player, action: Action) -> Flow:
        card = action.card
        if action.kind == "land":
            p.lands_played += 1
            self._move(card, BATTLEFIELD, controller=p)
            return
        if action.kind == "suspend":
            self._pay(p, action.cost)
            self._move(card, EXILE)
            card.time_counters = card.cdef.suspend[0]
            return
        yield from self._cast(p, card, action.cost)

    def _cast(self, p: Player, card: Card, cost: ManaCost | None) -> Flow:
        """Cast `card` (601.2): to the stack, announce X, targets, pay, then cast triggers."""
        most = max_x(cost, self.mana_available(p)[1]) if cost is not None and cost.x else 0
        self._move(card, STACK, controller=p)
        item = StackItem(card.id, card, p, True, card.name, card.cdef.effects)
        self.stack.append(item)
        if most > 0:
            card.x_value = yield from self._ask(
                Decision(
                    self,
                    p.seat,
                    "announce_value",
                    f"Choose the value of X for {card.name} (0 to {most})",
                    purpose="x_cost",
                    min=0,
                    max=most,
                    context=card,
                )
            )
        ok = yield from self._choose_targets(item, card.cdef.targets, p)
        if not ok:
            raise RuntimeError(f"{card.name} was offered for casting without legal targets")
        if cost is not None:
            self._pay(p, cost.with_x(card.x_value) if cost.x else cost)
        cdef = card.cdef
        for side in (p, p.opponent):
            for src in side.battlefield:
                for t in src.cdef.triggers:
                    if t.on != "spell_cast":
                        continue
                    if (t.by == "you" and side is not p) or (t.by == "opponent" and side is p):
                        continue
                    if t.spell_max_mv is not None and self.mana_value(card) > t.spell_max_mv:
                        continue
                    if t.spell_multicolored and not cdef.is_multicolored:
                        continue
                    if t.spell_noncreature and cdef.is_creature:
                        continue
                    self.pending_triggers.append((src, t, p))

    def _choose_targets(self, item: StackItem, kinds: tuple[str, ...], chooser: Player) -> Flow:
        """Choose targets for `item`; False when some target has no legal choice."""
        for i, kind in enumerate(kinds):
            prev = item.targets[i - 1][0] if i else None
            cands = self.target_candidates(kind, item.card, prev, i + 1 < len(kinds) and kinds[i + 1])
            if not cands:
                return False
            if len(cands) == 1:
                pick = 0
            else:
                pick = yield from self._ask(
                    Decision(
                        self,
                        chooser.seat,
                        "choose_entity",
                        f"Choose a target ({kind.replace('_', ' ')}) for {item.text}",
                        cands,
                        purpose="target",
                        context=(item, i),
                    )
                )
            obj = cands[pick]
            item.targets.append((obj, getattr(obj, "zcc", 0)))
        return True

    def target_candidates(
        self, kind: str, source: Card, prev: object = None, next_kind: str | bool = False
    ) -> list:
        """Legal targets of `kind` for a spell or ability of `source`."""
        if kind in ("spell", "creature_spell", "noncreature_spell"):
            out = []
            for it in self.stack:
                if not it.is_spell or it.card is source:
                    continue
                if kind == "creature_spell" and not it.card.cdef.is_creature:
                    continue
                if kind == "noncreature_spell" and it.card.cdef.is_creature:
                    continue
                out.append(it)
            return out
        creatures: list = []
        if kind in ("any", "creature"):
            for p in self.players:
                creatures.extend(
                    c for c in p.battlefield if c.cdef.is_creature and self.can_target(source, c)
                )
        if kind == "creature_an_opponent_controls":
            return [
                c
                for c in source.controller.opponent.battlefield
                if c.cdef.is_creature and self.can_target(source, c)
            ]
        if kind == "creature_of_target_player":
            return [c for c in prev.battlefield if c.cdef.is_creature and self.can_target(source, c)]
        if kind == "opponent":
            return [source.controller.opponent]
        if kind == "player":
            players = list(self.players)
            if next_kind == "creature_of_target_player":
                players = [
                    p
                    for p in players
                    if any(c.cdef.is_creature and self.can_target(source, c) for c in p.battlefield)
                ]
            return players
        if kind == "any":
            return [*self.players, *creatures]
        return creatures

    def can_target(self, source: Card, card: Card) -> bool:
        return not self.protected_from(card, source)

    def _target_legal(self, item: StackItem, i: int) -> bool:
        obj, zcc = item.targets[i]
        if isinstance(obj, Player):
            return not obj.lost
        if isinstance(obj, StackItem):
            return obj in self.stack
        return obj.zone == BATTLEFIELD and obj.zcc == zcc and self.can_target(item.card, obj)

    def _resolve_top(self) -> Flow:
        """Resolve the top of the stack; it stays there until done (its card is on the stack)."""
        item = self.stack[-1]
        resolved = yield from self._resolve(item)
        self.stack.remove(item)
        card = item.card
        if item.is_spell and card.zone == STACK:
            if card.cdef.is_permanent and resolved:
                self._move(card, BATTLEFIELD, controller=item.controller)
            else:
                self._move(card, GRAVEYARD)

    def _resolve(self, item: StackItem) -> Generator[Decision, object, bool]:
        """Carry out `item`; False when it is countered on resolution (every target gone)."""
        if item.event == "suspend" and item.trigger is None:
            yield from self._suspend_tick(item.card, item)
            return True
        legal = [self._target_legal(item, i) for i in range(len(item.targets))]
        if item.targets and not any(legal):
            return False
        if item.trigger is not None and item.trigger.optional:
            use = yield from self._ask(
                Decision(
                    self,
                    item.controller.seat,
                    "play_trigger",
                    f"Use {item.text}?",
                    purpose="optional_trigger",
                    context=item,
                )
            )
            if not use:
                return True
        # last known information of the targets, for "its controller" and "its power"
        lki = [(o.controller, self.power(o)) if isinstance(o, Card) else None for o, _ in item.targets]
        for eff in item.effects:
            yield from self._apply(item, eff, legal, lki)
        return True

    def _suspend_tick(self, card: Card, item: StackItem) -> Flow:
        if card.zone != EXILE or card.zcc != item.source_zcc or card.time_counters <= 0:
            return
        card.time_counters -= 1
        if card.time_counters:
            return
        owner = card.owner
        cost = self.spell_cost(card, owner, free=True)
        if not can_pay(cost, self.mana_available(owner)[1]):
            return
        if not self._has_targets(card):
            return
        cast = yield from self._ask(
            Decision(
                self,
                owner.seat,
                "play_trigger",
                f"Cast {card.name} without paying its mana cost?",
                purpose="suspend_cast",
                context=card,
            )
        )
        if cast:
            yield from self._cast(owner, card, cost)

    # -- effects ---------------------------------------------------------------------------
    def _apply(self, item: StackItem, eff, legal: list[bool], lki: list) -> Flow:
        op = eff.op
        you = item.controller
        target = eff.get("target")
        obj = None
        if isinstance(target, int):
            if not legal[target]:
                return
            obj = item.targets[target][0]
        elif target == "self":
            obj = item.card if item.card.zone == BATTLEFIELD and item.card.zcc == item.source_zcc else None
            if obj is None:
                return
        who = self._player_ref(eff.get("player"), item, target, lki)
        amount = eff.get("amount")
        if amount == "X":
            amount = item.card.x_value
        elif amount == "event":  # "that much": the life a life_gained / life_lost trigger saw
            amount = item.event
        if op == "damage":
            if eff.get("landfall_amount") is not None and you.landfall_this_turn:
                amount = eff.get("landfall_amount")
            self._deal_damage(item.card, obj if obj is not None else who, amount)
        elif op == "gain_life":
            if amount == "target_power":
                amount = max(0, lki[target][1])
            self.gain_life(who or you, amount)
        elif op == "lose_life":
            self.lose_life(obj if isinstance(obj, Player) else who or you, amount)
        elif op == "draw":
            self._draw(obj or who or you, 1 if amount is None else amount)
        elif op == "scry":
            yield from self._scry(you, eff.get("amount", 1))
        elif op == "pump":
            obj.pump_power += eff.get("power", 0)
            obj.pump_toughness += eff.get("toughness", 0)
        elif op == "counter":
            self.stack.remove(obj)
            if obj.is_spell:
                self._move(obj.card, GRAVEYARD)
        elif op == "exile":
            self._move(obj, EXILE)
        elif op == "destroy":
            self._move(obj, GRAVEYARD)
        elif op == "destroy_all_creatures":
            for c in [c for p in self.players for c in p.battlefield if c.cdef.is_creature]:
                self._move(c, GRAVEYARD)
        elif op == "search_card":
            yield from self._search_card(you)
        elif op == "bounce":
            self._move(obj, HAND)
        elif op == "search_basic_land":
            yield from self._search_basic_land(who or you, eff.get("tapped", False))
        elif op == "create_token":
            self._create_tokens(item, eff)
        elif op == "reveal_top_land_to_hand":
            yield from self._reveal_top_land(who, you)
        elif op == "exile_top_playable":
            until = self.turn + (2 if self.active is you else 1)
            for _ in range(eff.get("amount", 1)):
                if not you.library:
                    break
                c = you.library[0]
                self._move(c, EXILE)
                c.playable_until = until
        elif op == "detain":
            obj.detained_by = you
        elif op == "turn_rule":
            if eff.get("rule") == "no_lifegain":
                self.no_lifegain = True
            else:
                self.no_damage_prevention = True

    def _player_ref(self, ref: str | None, item: StackItem, target, lki: list) -> Player | None:
        if ref is None or ref == "you":
            return item.controller if ref else None
        if ref == "caster":
            return item.event
        if ref == "defending":
            return item.controller.opponent
        if ref == "target_controller":
            return lki[target][0] if lki[target] else None
        return None

    def _scry(self, p: Player, n: int) -> Flow:
        top = p.library[:n]
        if not top:
            return
        picks = yield from self._ask(
            Decision(
                self,
                p.seat,
                "choose_cards",
                f"Scry {len(top)}: choose cards to put on the bottom",
                top,
                purpose="scry",
                min=0,
                max=len(top),
            )
        )
        for c in [top[i] for i in picks]:
            p.library.remove(c)
            p.library.append(c)

    def _search_basic_land(self, p: Player, tapped: bool) -> Flow:
        """In "may search ..., then shuffle" the shuffle belongs to the optional search: a player
        who picks nothing declines it and keeps the library's order (a known top card stays)."""
        by_name: dict[str, Card] = {}
        for c in p.library:
            if c.cdef.is_land and "Basic" in c.cdef.supertypes:
                by_name.setdefault(c.name, c)
        if by_name:
            options = list(by_name.values())
            picks = yield from self._ask(
                Decision(
                    self,
                    p.seat,
                    "choose_cards",
                    "You may search your library for a basic land card",
                    options,
                    purpose="search",
                    min=0,
                    max=1,
                    optional=True,
                )
            )
            if not picks:
                return
            land = options[picks[0]]
            self._move(land, BATTLEFIELD, controller=p)
            land.tapped = tapped
        self.rng.shuffle(p.library)

    def _search_card(self, p: Player) -> Flow:
        """Search your library for a card (one option per name: copies are alike), put it into
        your hand, then shuffle. A player may fail to find (701.19b), and still shuffles."""
        by_name: dict[str, Card] = {}
        for c in p.library:
            by_name.setdefault(c.name, c)
        if by_name:
            options = sorted(by_name.values(), key=lambda c: c.name)
            picks = yield from self._ask(
                Decision(
                    self,
                    p.seat,
                    "choose_cards",
                    "Search your library for a card to put into your hand",
                    options,
                    purpose="tutor",
                    min=0,
                    max=1,
                    optional=True,
                )
            )
            if picks:
                self._move(options[picks[0]], HAND)
        self.rng.shuffle(p.library)

    def _reveal_top_land(self, defender: Player, attacker: Player) -> Flow:
        if not defender.library:
            return
        top = defender.library[0]
        for seat in (attacker.seat, defender.seat):  # a revealed card is seen by both players
            yield from self._ask(
                Decision(
                    self,
                    seat,
                    "reveal",
                    f"{defender.name} reveals {top.name}",
                    [top],
                    purpose="reveal",
                    context=(LIBRARY, defender),
                )
            )
        if top.cdef.is_land:
            self._move(top, HAND)

    def _create_tokens(self, item: StackItem, eff) -> None:
        cdef = self._pool[eff.get("token")]
        you = item.controller
        for _ in range(eff.get("count", 1)):
            token = self._new_card(cdef, you)
            token.zone = BATTLEFIELD
            you.battlefield.append(token)
            if eff.get("attacking") and self.phase.startswith("COMBAT"):
                token.attacking = True
                self.attackers.append(token)
                self.blockers_of[token.id] = []
            if eff.get("blocking"):
                attacker = item.event
                if attacker is not None and attacker.attacking and attacker in self.attackers:
                    self._add_blocker(token, attacker)
            self._entered(token)

    def _add_blocker(self, blocker: Card, attacker: Card) -> None:
        """A creature put onto the battlefield blocking (509.1h-like, by an effect)."""
        blocker.blocking = attacker
        self.blocked.add(attacker.id)
        self.blockers_of[attacker.id].append(blocker)

    # -- zones -----------------------------------------------------------------------------
    def _draw(self, p: Player, n: int) -> None:
        for _ in range(n):
            if not p.library:
                p.drew_from_empty = True
                return
            c = p.library.pop(0)
            c.zone = HAND
            p.hand.append(c)

    def _move(self, card: Card, dest: str, controller: Player | None = None, top: bool = True) -> None:
        """Move a card between zones; a moved card is a new object (fresh state, new zcc)."""
        src = card.zone
        if src == BATTLEFIELD:
            card.controller.battlefield.remove(card)
            self._left_battlefield(card)
        elif src != STACK:
            card.owner.zone(src).remove(card)
        if card.cdef.token and src == BATTLEFIELD:
            card.zone = "none"  # a token that leaves the battlefield ceases to exist
            card.zcc += 1
            return
        if dest == GRAVEYARD and card.cdef.is_instant_or_sorcery and self.graveyard_exilers:
            dest = EXILE
        card.reset()
        card.zcc += 1
        card.zone = dest
        card.time_counters = 0
        card.playable_until = -1
        if dest == BATTLEFIELD:
            card.controller = controller or card.owner
            if card.cdef.enters_tapped:
                card.tapped = self._enters_tapped(card)
            card.controller.battlefield.append(card)
            self._entered(card)
            return
        card.controller = card.owner
        if dest == STACK:
            card.controller = controller or card.owner
            return
        zone = card.owner.zone(dest)
        if dest == LIBRARY and top:
            zone.insert(0, card)
        else:
            zone.append(card)

    @staticmethod
    def _enters_tapped(card: Card) -> bool:
        """True, or "unless you control a <subtype> or a <subtype>" (checked before it enters)."""
        rule = card.cdef.enters_tapped
        if rule is True:
            return True
        return not any(s in rule for c in card.controller.battlefield for s in c.cdef.subtypes)

    def _entered(self, card: Card) -> None:
        cdef = card.cdef
        if cdef.statics:
            self._refresh_statics()
        for t in cdef.triggers:
            if t.on == "etb":
                self.pending_triggers.append((card, t, None))
        if cdef.is_land:
            you = card.controller
            you.landfall_this_turn = True
            for src in you.battlefield:
                for t in src.cdef.triggers:
                    if t.on == "landfall":
                        self.pending_triggers.append((src, t, None))

    def _left_battlefield(self, card: Card) -> None:
        if card.cdef.statics:
            self._refresh_statics(excluding=card)
        if card.attacking and card in self.attackers:
            self.attackers.remove(card)
        if card.blocking is not None:
            blockers = self.blockers_of.get(card.blocking.id)
            if blockers and card in blockers:
                blockers.remove(card)

    def _refresh_statics(self, excluding: Card | None = None) -> None:
        self.anthems, self.cost_increases, self.graveyard_exilers = [], [], []
        for p in self.players:
            for c in p.battlefield:
                if c is excluding:
                    continue
                for s in c.cdef.statics:
                    if s.kind == "anthem":
                        self.anthems.append((c, s))
                    elif s.kind == "spell_cost_increase":
                        self.cost_increases.append((c, s))
                    else:
                        self.graveyard_exilers.append(c)

    # -- characteristics -------------------------------------------------------------------
    def power(self, c: Card) -> int:
        p = (c.cdef.power or 0) + c.pump_power
        for src, s in self.anthems:
            if src.controller is c.controller and self._anthem_applies(src, s, c):
                p += s.params.get("power", 0)
        return p

    def toughness(self, c: Card) -> int:
        t = (c.cdef.toughness or 0) + c.pump_toughness
        for src, s in self.anthems:
            if src.controller is c.controller and self._anthem_applies(src, s, c):
                t += s.params.get("toughness", 0)
        return t

    @staticmethod
    def _anthem_applies(src: Card, s, c: Card) -> bool:
        if not c.cdef.is_creature or c.zone != BATTLEFIELD:
            return False
        if s.params["affects"] == "other_creatures_you_control":
            return c is not src
        return "W" in c.cdef.colors

    def protected_from(self, card: Card, source: Card) -> bool:
        prot = card.cdef.protection
        if not prot:
            return False
        colors = source.cdef.colors
        if "multicolored" in prot and len(colors) >= 2:
            return True
        return any(COLOR_WORD[c] in prot for c in colors)

    # -- mana and costs --------------------------------------------------------------------
    def mana_sources(self, p: Player) -> list[Card]:
        lands = [c for c in p.battlefield if not c.tapped and c.cdef.mana and c.cdef.is_land]
        dorks = [
            c
            for c in p.battlefield
            if not c.tapped and c.cdef.mana and not c.cdef.is_land and not c.sick and c.detained_by is None
        ]
        return lands + dorks

    def mana_available(self, p: Player) -> tuple[list[Card], dict[str, int]]:
        sources = self.mana_sources(p)
        counts: dict[str, int] = {}
        for s in sources:
            counts[s.cdef.mana] = counts.get(s.cdef.mana, 0) + 1
        return sources, counts

    def mana_value(self, card: Card) -> int:
        """X counts as announced on the stack and as 0 elsewhere (202.3e)."""
        return card.cdef.mana_value + card.cdef.cost.x * card.x_value

    def spell_cost(self, card: Card, p: Player, free: bool = False) -> ManaCost:
        cdef = card.cdef
        if free:
            cost = ManaCost()
        elif cdef.spectacle is not None and p.opponent.lost_life_this_turn:
            cost = cdef.spectacle
        else:
            cost = cdef.cost
        if not cdef.is_creature:
            for _, s in self.cost_increases:
                cost = cost.plus_generic(s.params.get("amount", 1))
        return cost

    def _pay(self, p: Player, cost: ManaCost) -> None:
        sources = choose_sources(cost, self.mana_sources(p))
        if sources is None:
            raise RuntimeError(
                f"{p.name} cannot pay {cost.text}: the legal-action check let an unpayable action through"
            )
        for s in sources:
            s.tapped = True

    # -- legal actions ---------------------------------------------------------------------
    def legal_actions(self, p: Player) -> list[Action]:
        """The non-pass actions `p` could take with priority now (one per distinct card): of the
        timely ones, those `p` can pay for, spells only with their targets there."""
        actions = self.timely_actions(p)
        if not actions:
            return actions
        _, avail = self.mana_available(p)
        return [
            a
            for a in actions
            if a.kind == "land"
            or (can_pay(a.cost, avail) and (a.kind == "suspend" or self._has_targets(a.card)))
        ]

    def timely_actions(self, p: Player, distinct: bool = True) -> list[Action]:
        """The non-pass actions the timing allows `p` now (sorcery speed: `p` active, a main phase,
        the stack empty), payable or not and whatever their targets: a land while `p` has a land
        play left, each spell (instants at any time), suspending a card in hand; in the order of
        the hand, then the cards playable from exile. `distinct`: one card of each name and zone
        (identical cards are one choice); otherwise every card, as Forge lists them."""
        sorcery_ok = p is self.active and not self.stack and self.phase in (MAIN1, MAIN2)
        playable = [c for c in p.exile if c.playable_until >= self.turn] if p.exile else []
        if not sorcery_ok:
            candidates = [c for c in p.hand if c.cdef.is_instant]
            if playable:
                candidates += [c for c in playable if c.cdef.is_instant]
            if not candidates:
                return []
        else:
            candidates = p.hand + playable
        actions: list[Action] = []
        done: set[tuple[str, str]] = set()
        for card in candidates:
            if distinct:
                key = (card.name, card.zone)
                if key in done:
                    continue
                done.add(key)
            cdef = card.cdef
            where = "" if card.zone == HAND else " from exile"
            if cdef.is_land:
                if sorcery_ok and p.lands_played < 1:
                    actions.append(Action("land", card, None, f"Play {card.name}{where}"))
                continue
            spectacle = cdef.spectacle is not None and p.opponent.lost_life_this_turn
            description = f"Cast {card.name}{where}{' (spectacle)' if spectacle else ''}"
            actions.append(Action("cast", card, self.spell_cost(card, p), description))
            if cdef.suspend and card.zone == HAND and sorcery_ok:
                actions.append(Action("suspend", card, cdef.suspend[1], f"Suspend {card.name}"))
        return actions

    def _has_targets(self, card: Card) -> bool:
        kinds = card.cdef.targets
        if not kinds:
            return True
        if kinds[0] == "any":  # a player is always there to target
            return True
        if kinds[0] == "creature":  # checked for every priority: stop at the first candidate
            return any(
                c.cdef.is_creature and self.can_target(card, c) for p in self.players for c in p.battlefield
            )
        return bool(self.target_candidates(kinds[0], card, None, len(kinds) > 1 and kinds[1]))

    # -- damage and life -------------------------------------------------------------------
    def lose_life(self, p: Player, amount: int) -> None:
        if amount > 0:
            p.life -= amount
            p.lost_life_this_turn = True
            self._life_changed("life_lost", p, amount)

    def _life_changed(self, event: str, p: Player, amount: int) -> None:
        """Trigger "whenever you / an opponent gain(s) / lose(s) life"; the event is the amount."""
        for side in self.players:
            for src in side.battlefield:
                for t in src.cdef.triggers:
                    if t.on == event and (t.by == "any" or (t.by == "you") == (side is p)):
                        self.pending_triggers.append((src, t, amount))

    def _deal_damage(self, source: Card, to: Card | Player | None, amount: int) -> int:
        if to is None or amount <= 0:
            return 0
        if isinstance(to, Player):
            self.lose_life(to, amount)
        else:
            if to.zone != BATTLEFIELD:
                return 0
            if self.protected_from(to, source) and not self.no_damage_prevention:
                return 0
            to.damage += amount
            if source.has("deathtouch"):
                to.deathtouched = True
        if source.has("lifelink"):
            self.gain_life(source.controller, amount)
        return amount

    def gain_life(self, p: Player, amount: int) -> None:
        if amount > 0 and not self.no_lifegain:
            p.life += amount
            self._life_changed("life_gained", p, amount)

    # -- state-based actions ---------------------------------------------------------------
    def _state_based_actions(self) -> Flow:
        while True:
            losers = [p for p in self.players if p.life <= 0 or p.drew_from_empty]
            if losers:
                reason = "life" if all(p.life <= 0 for p in losers) else "decking"
                if len(losers) == 2:
                    self._end(None, "draw")
                self._end(losers[0].opponent, reason)
            dead = []
            for p in self.players:
                for c in p.battlefield:
                    if c.cdef.is_creature:
                        t = self.toughness(c)
                        if t <= 0 or c.damage >= t or (c.deathtouched and c.damage > 0):
                            dead.append(c)
            for c in dead:
                self._move(c, GRAVEYARD)
            legend_choice = False
            for p in self.players:
                legends = [c for c in p.battlefield if c.cdef.is_legendary]
                if len(legends) < 2:
                    continue
                names: dict[str, list[Card]] = {}
                for c in legends:
                    names.setdefault(c.name, []).append(c)
                for name, group in names.items():
                    if len(group) > 1:
                        legend_choice = True
                        pick = yield from self._ask(
                            Decision(
                                self,
                                p.seat,
                                "choose_cards",
                                f"Legend rule: choose the {name} to keep",
                                group,
                                purpose="legend",
                                min=1,
                                max=1,
                            )
                        )
                        for i, c in enumerate(group):
                            if i != pick[0]:
                                self._move(c, GRAVEYARD)
            if not dead and not legend_choice:
                return

    # -- combat ----------------------------------------------------------------------------
    def can_attack(self, c: Card) -> bool:
        return (
            c.cdef.is_creature
            and not c.tapped
            and (not c.sick or c.has("haste"))
            and not c.has("defender")
            and c.detained_by is None
        )

    @staticmethod
    def can_block_at_all(b: Card) -> bool:
        return b.cdef.is_creature and not b.tapped and b.detained_by is None

    def can_block(self, b: Card, a: Card) -> bool:
        if a.has("flying") and not (b.has("flying") or b.has("reach")):
            return False
        return not self.protected_from(a, b)

    def _combat(self) -> Flow:
        """The combat phase (506-511): every step gives both players priority; without attackers
        the declare blockers and combat damage steps are skipped (508.8)."""
        ap, dp = self.active, self.active.opponent
        self.phase = "COMBAT_BEGIN"
        yield from self._priority()
        self.phase = "COMBAT_DECLARE_ATTACKERS"
        candidates = [c for c in ap.battlefield if self.can_attack(c)]
        chosen = ()
        if candidates:
            chosen = yield from self._ask(
                Decision(
                    self,
                    ap.seat,
                    "declare_attackers",
                    "Declare attackers",
                    candidates,
                    purpose="attack",
                    context=[dp],
                )
            )
        self.attackers = list(chosen)
        self.blockers_of = {c.id: [] for c in chosen}
        self.blocked = set()
        for c in chosen:
            c.attacking = True
            if not c.has("vigilance"):
                c.tapped = True
        for c in chosen:
            for t in c.cdef.triggers:
                if t.on == "attacks":
                    self.pending_triggers.append((c, t, dp))
        if chosen or not self.forge_priority:
            yield from self._priority()
        if chosen:
            self.phase = "COMBAT_DECLARE_BLOCKERS"
            if self.attackers:
                yield from self._declare_blockers(dp)
            yield from self._priority()
            fighters = self.attackers + [b for bl in self.blockers_of.values() for b in bl]
            if any(c.has("first_strike") or c.has("double_strike") for c in fighters):
                self.phase = "COMBAT_FIRST_STRIKE_DAMAGE"
                yield from self._combat_damage(first=True, split=True)
                yield from self._priority()
                self.phase = "COMBAT_DAMAGE"
                yield from self._combat_damage(first=False, split=True)
            else:
                self.phase = "COMBAT_DAMAGE"
                yield from self._combat_damage(first=False, split=False)
            yield from self._priority()
        self.phase = "COMBAT_END"
        yield from self._priority()
        for c in self.attackers:
            c.attacking = False
        for bl in self.blockers_of.values():
            for b in bl:
                b.blocking = None
        self.attackers = []
        self.blockers_of = {}
        self.blocked = set()

    def _declare_blockers(self, dp: Player) -> Flow:
        blockers = [b for b in dp.battlefield if self.can_block_at_all(b)]
        legal = [[i for i, a in enumerate(self.attackers) if self.can_block(b, a)] for b in blockers]
        keep = [i for i, opts in enumerate(legal) if opts]
        if not keep:
            return
        blockers = [blockers[i] for i in keep]
        legal = [legal[i] for i in keep]
        attackers = list(self.attackers)
        able = [sum(1 for opts in legal if i in opts) for i in range(len(attackers))]
        if not any(n >= (2 if a.has("menace") else 1) for a, n in zip(attackers, able, strict=True)):
            return
        pairs = yield from self._ask(
            Decision(
                self,
                dp.seat,
                "declare_blockers",
                "Declare blockers",
                blockers,
                purpose="block",
                attackers=attackers,
                context=legal,
            )
        )
        for b, a in pairs:
            b.blocking = a
            self.blockers_of[a.id].append(b)
            self.blocked.add(a.id)
        for b, a in pairs:
            for t in b.cdef.triggers:
                if t.on == "blocks":
                    self.pending_triggers.append((b, t, a))

    def _deals_damage_now(self, c: Card, first: bool, split: bool) -> bool:
        if not split:
            return True
        strikes_first = c.has("first_strike") or c.has("double_strike")
        if first:
            return strikes_first
        return not c.has("first_strike") or c.has("double_strike")

    def _combat_damage(self, first: bool, split: bool) -> Flow:
        """510.1-2: the attacking player announces how each attacker assigns its damage, then
        the blockers assign theirs (each blocks one attacker: all to it), and all is dealt at once."""
        dp = self.active.opponent
        hits: list[tuple[Card, Card | Player, int]] = []
        for a in list(self.attackers):
            if not self._deals_damage_now(a, first, split):
                continue
            power = self.power(a)
            if power <= 0:
                continue
            blockers = [b for b in self.blockers_of.get(a.id, ()) if b.zone == BATTLEFIELD]
            if a.id not in self.blocked or (not blockers and a.has("trample")):
                hits.append((a, dp, power))  # 702.19e: a trampler whose blockers are gone hits the player
                continue
            if not blockers:
                continue
            amounts = yield from self._assign_damage(a, blockers, power, dp)
            hits.extend((a, b, n) for b, n in zip(blockers, amounts, strict=False) if n > 0)
            if len(amounts) > len(blockers) and amounts[-1] > 0:
                hits.append((a, dp, amounts[-1]))
        for bl in self.blockers_of.values():
            for b in bl:
                if b.zone != BATTLEFIELD or not self._deals_damage_now(b, first, split):
                    continue
                a = b.blocking
                power = self.power(b)
                if power > 0 and a is not None and a.zone == BATTLEFIELD:
                    hits.append((b, a, power))
        for source, to, amount in hits:
            self._deal_damage(source, to, amount)

    def lethal_damage(self, attacker: Card, blocker: Card) -> int:
        """702.2c, 510.1c: the damage that counts as lethal to `blocker` (marked damage counted)."""
        if attacker.has("deathtouch"):
            return 1
        return max(0, self.toughness(blocker) - blocker.damage)

    def _assign_damage(
        self, attacker: Card, blockers: list[Card], power: int, defender: Player
    ) -> Generator[Decision, object, tuple[int, ...]]:
        """510.1c-d (since Magic Foundations, 2024: no damage assignment order): the attacking
        player divides a blocked creature's damage among its blockers as they choose; with trample
        (702.19b) the rest may go to the player once every blocker is assigned lethal damage.
        Asked only when there is more than one way to do it."""
        lethal = tuple(self.lethal_damage(attacker, b) for b in blockers)
        trample = attacker.has("trample")
        if len(blockers) == 1 and not (trample and power > lethal[0]):
            return (power,)
        return (
            yield from self._ask(
                Decision(
                    self,
                    attacker.controller.seat,
                    "assign_combat_damage",
                    f"Assign {power} combat damage of {attacker.name} among its blockers"
                    + (f" and {defender.name}" if trample else ""),
                    list(blockers),
                    purpose="combat_damage",
                    min=power,
                    max=power,
                    context=DamageAssignment(attacker, lethal, defender if trample else None),
                )
            )
        )


COLOR_WORD = {"W": "white", "U": "blue", "B": "black", "R": "red", "G": "green"}
