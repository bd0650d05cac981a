"""Helpers for engine tests: the repository decks, exact board set-ups, a scripted driver and
the invariants every game must keep after every action."""

from __future__ import annotations

from pathlib import Path

from tolaria.engine import CardPool, Decision, Deck, Game, load_deck
from tolaria.engine.answer_text import answer_text
from tolaria.engine.objects import BATTLEFIELD, EXILE, GRAVEYARD, HAND, LIBRARY, STACK, Card, Player

DECK_DIR = Path(__file__).resolve().parents[2] / "decks"
DECK_NAMES = (
    "red_aggro",
    "white_weenie",
    "green_midrange",
    "blue_control",
    "gruul_midrange",
    "azorius_control",
    "orzhov_sanguine",
)
POOL = CardPool.default()


def deck(name: str) -> Deck:
    return load_deck(DECK_DIR / f"{name}.dck", POOL)


class Table:
    """A game with hand-placed cards, started at turn 1 of seat 0 without mulligans.

    Libraries hold `library` basic lands (so nobody decks), everything else starts empty.
    """

    def __init__(
        self,
        library: str = "Plains",
        library_size: int = 20,
        seed: int = 1,
        max_turns: int | None = None,
        pool: CardPool = POOL,
        forge_priority: bool = False,
    ):
        self.pool = pool
        empty = Deck("empty", [], pool)
        self.game = Game(
            (empty, empty),
            seed=seed,
            names=("Alice", "Bob"),
            max_turns=max_turns,
            forge_priority=forge_priority,
        )
        for p in self.game.players:
            for _ in range(library_size):
                self._add(p, library, LIBRARY)
        self.decision: Decision | None = None

    @property
    def me(self) -> Player:
        return self.game.players[0]

    @property
    def opp(self) -> Player:
        return self.game.players[1]

    def _add(self, p: Player, name: str, zone: str) -> Card:
        card = self.game._new_card(self.pool[name], p)
        card.zone = zone
        p.zone(zone).append(card)
        return card

    def hand(self, seat: int, *names: str) -> list[Card]:
        return [self._add(self.game.players[seat], n, HAND) for n in names]

    def battlefield(self, seat: int, *names: str, sick: bool = False, tapped: bool = False) -> list[Card]:
        out = []
        for n in names:
            c = self._add(self.game.players[seat], n, BATTLEFIELD)
            c.sick = sick
            c.tapped = tapped
            out.append(c)
        self.game._refresh_statics()
        return out

    def library_top(self, seat: int, *names: str) -> list[Card]:
        p = self.game.players[seat]
        cards = [self._add(p, n, LIBRARY) for n in names]
        for c in cards:
            p.library.remove(c)
        p.library[:0] = cards
        return cards

    def start(self, active: int = 0) -> Decision | None:
        self.game.active = self.game.players[active]
        self.decision = self.game.start(skip_mulligans=True)
        return self.decision

    # -- scripted answers ------------------------------------------------------------------
    def answer(self, reply: str) -> Decision | None:
        """Answer the pending decision with a wire reply."""
        d = self.decision
        assert d is not None, "the game is over"
        self.decision = self.game.submit(d.parse(reply))
        return self.decision

    def expect(self, type: str, seat: int | None = None) -> Decision:
        d = self.decision
        assert d is not None, f"expected {type}, the game is over: {self.game.result}"
        assert d.type == type, f"expected {type}, got {d.type}: {d.message} in {self.game.phase}"
        if seat is not None:
            assert d.seat == seat, f"expected seat {seat} to decide {type}, got seat {d.seat}"
        return d

    def act(self, description: str, seat: int | None = None) -> Decision | None:
        """Choose the action whose description contains `description`."""
        d = self.expect("choose_action", seat)
        for i, a in enumerate(d.options):
            if description in a.description:
                return self.answer(str(i))
        raise AssertionError(f"no action {description!r} among {[a.description for a in d.options]}")

    def target(self, what: Card | Player | str) -> Decision | None:
        """Choose `what` as the target; with a single legal target the engine already chose it."""
        d = self.decision
        if d is None or d.type != "choose_entity":
            return d  # the outcome checks of the test tell whether it hit `what`
        for i, o in enumerate(d.options):
            if o is what or getattr(o, "name", None) == what:
                return self.answer(str(i))
        raise AssertionError(f"{what!r} is not a legal target among {d.options}")

    def pass_until(
        self, phase: str, seat: int | None = None, type: str = "choose_action", turn: int | None = None
    ) -> Decision:
        """Pass priority (and declare nothing) until a decision of `type` arrives in `phase`
        (of turn `turn` when given)."""
        for _ in range(500):
            d = self.decision
            assert d is not None, f"game ended before {phase}: {self.game.result}"
            if (
                d.type == type
                and self.game.phase == phase
                and (seat is None or d.seat == seat)
                and (turn is None or self.game.turn == turn)
            ):
                return d
            if d.type == "assign_combat_damage":  # the default division, as a passing player gets
                self.answer(answer_text(d, d.default()))
            else:
                self.answer("n" if d.type == "confirm_action" else "")
        raise AssertionError(f"never reached {phase}")

    def resolve(self) -> Decision | None:
        """Pass priority while something is on the stack (no-op when it already resolved)."""
        while self.decision is not None and self.decision.type == "choose_action" and self.game.stack:
            self.answer("")
        return self.decision

    def pass_all(self) -> Decision | None:
        """Pass priority until some decision other than choose_action arrives, or the game ends."""
        while self.decision is not None and self.decision.type == "choose_action":
            self.answer("")
        return self.decision

    def has_action(self, description: str) -> bool:
        d = self.decision
        return (
            d is not None
            and d.type == "choose_action"
            and any(description in a.description for a in d.options)
        )


def check_invariants(game: Game, decks: tuple[Deck, Deck], decision: Decision | None) -> None:
    """Everything that must hold whenever the engine hands control back."""
    stack_cards = {it.card.id for it in game.stack if it.is_spell}
    for p, dk in zip(game.players, decks, strict=True):
        owned = []
        for zone in (LIBRARY, HAND, GRAVEYARD, EXILE):
            for c in p.zone(zone):
                assert c.zone == zone, f"{c} is listed in {zone} but says {c.zone}"
                assert c.owner is p, f"{c} in {p.name}'s {zone} belongs to {c.owner.name}"
                owned.append(c)
        for q in game.players:
            for c in q.battlefield:
                assert c.zone == BATTLEFIELD and c.controller is q
                assert c.damage >= 0
                if c.owner is p and not c.cdef.token:
                    owned.append(c)
        for it in game.stack:
            if it.is_spell and it.card.owner is p:
                assert it.card.zone == STACK
                owned.append(it.card)
        ids = [c.id for c in owned]
        assert len(ids) == len(set(ids)), f"a card of {p.name} is in two places"
        assert len(owned) == len(dk.cards), f"{p.name} has {len(owned)} cards, deck has {len(dk.cards)}"
        assert sorted(c.name for c in owned) == sorted(c.name for c in dk.cards)
        assert -1000 < p.life < 1000, f"insane life total {p.life}"
        assert p.lands_played in (0, 1)
        assert len(set(stack_cards)) == len(stack_cards)
    if decision is None:
        assert game.result is not None
        assert game.result.turns > 0
        assert game.max_turns is None or game.result.turns <= game.max_turns
        assert game.result.reason != "turn_limit" or game.max_turns is not None
        return
    assert game.result is None
    t = decision.type
    if t == "choose_action":
        assert decision.options, "a choose_action with nothing but pass"
        for a in decision.options:
            if a.cost is not None:
                _, avail = game.mana_available(a.card.owner)
                from tolaria.engine.mana import can_pay

                assert can_pay(a.cost, avail), f"{a.description} offered but unaffordable"
    elif t == "declare_attackers":
        assert decision.options
        assert all(game.can_attack(c) for c in decision.options)
    elif t == "declare_blockers":
        assert decision.options and decision.attackers
        assert all(decision.context[i] for i in range(len(decision.options)))
        assert all(game.can_block_at_all(b) for b in decision.options)
    elif t == "announce_value":
        assert 0 == decision.min < decision.max  # X = 0 as the only choice is never asked
    elif t == "choose_entity":
        assert len(decision.options) >= 2
    elif t == "choose_cards":
        assert decision.max >= 1 and decision.min <= decision.max <= len(decision.options)
    elif t == "assign_combat_damage":
        attacker = decision.context.attacker
        assert decision.seat == game.active.seat and attacker in game.attackers
        assert decision.min == decision.max == game.power(attacker) > 0
        assert len(decision.options) >= 2 or decision.context.defender is not None
        assert all(b.blocking is attacker for b in decision.options)
