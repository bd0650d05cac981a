"""A player that answers every decision uniformly at random among its legal replies."""

from __future__ import annotations

import math
import random

from tolaria.engine.decision import Answer, Decision, ReplyError


class RandomPlayer:
    def __init__(self, seed: int | None = None, rng: random.Random | None = None):
        """`rng`: a generator to draw from (shared with others) instead of one seeded with `seed`."""
        self.rng = rng if rng is not None else random.Random(seed)

    def choose(self, d: Decision) -> Answer:
        rng = self.rng
        t = d.type
        if t == "choose_action":
            i = rng.randrange(len(d.options) + 1)
            return d.options[i] if i < len(d.options) else None
        if t == "declare_attackers":
            return tuple(c for c in d.options if rng.random() < 0.5)
        if t == "declare_blockers":
            return random_blocks(d, rng)
        if t == "choose_cards":
            n = len(d.options)
            # Uniform over the legal subsets: a size in proportion to how many subsets it has.
            sizes = range(d.min, d.max + 1)
            k = rng.choices(sizes, weights=[math.comb(n, size) for size in sizes])[0]
            return tuple(rng.sample(range(n), k))
        if t == "choose_entity":
            i = rng.randrange(len(d.options) + (1 if d.optional else 0))
            return i if i < len(d.options) else None
        if t in ("confirm_action", "play_trigger", "play_from_effect"):
            return rng.random() < 0.5
        if t == "announce_value":
            return rng.randint(d.min, d.max)
        if t == "assign_combat_damage":
            return random_division(d, rng)
        return None


MAX_BLOCK_DRAWS = 1000
MAX_DIVISION_DRAWS = 100


def random_division(d: Decision, rng: random.Random) -> tuple[int, ...]:
    """A damage division drawn uniformly over all ways to split the damage among the blockers
    (and the player, with trample), drawn again while trample would reach the player before
    every blocker has lethal damage (after MAX_DIVISION_DRAWS tries: the default division)."""
    parts = len(d.options) + (d.context.defender is not None)
    for _ in range(MAX_DIVISION_DRAWS):
        bars = sorted(rng.sample(range(d.min + parts - 1), parts - 1))
        edges = [-1, *bars, d.min + parts - 1]
        amounts = tuple(edges[i + 1] - edges[i] - 1 for i in range(parts))
        try:
            d.context.check(amounts, d.min)
        except ReplyError:
            continue
        return amounts
    return d.default()


def random_blocks(d: Decision, rng: random.Random) -> tuple:
    """Uniform over the legal block assignments: each blocker picks one of its attackers or none,
    drawn again while a menace attacker would have a lone blocker (after MAX_BLOCK_DRAWS tries,
    such lone blockers step back instead)."""
    for _ in range(MAX_BLOCK_DRAWS):
        pairs = _draw_blocks(d, rng)
        lone = _lone_menace_blocks(pairs)
        if not lone:
            return tuple(pairs)
    return tuple(pair for pair in pairs if pair not in lone)


def _draw_blocks(d: Decision, rng: random.Random) -> list:
    pairs = []
    for b, opts in zip(d.options, d.context, strict=True):
        i = rng.randrange(len(opts) + 1)
        if i < len(opts):
            pairs.append((b, d.attackers[opts[i]]))
    return pairs


def _lone_menace_blocks(pairs: list) -> list:
    counts: dict[int, int] = {}
    for _, a in pairs:
        counts[a.id] = counts.get(a.id, 0) + 1
    return [(b, a) for b, a in pairs if a.has("menace") and counts[a.id] == 1]
