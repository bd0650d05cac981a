"""A player that answers every decision uniformly at random among its legal replies."""

from __future__ import annotations

import random

from tolaria.engine.decision import Answer, Decision


class RandomPlayer:
    def __init__(self, seed: int | None = None):
        self.rng = random.Random(seed)

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
            if d.purpose == "damage_order":
                order = list(range(n))
                rng.shuffle(order)
                return tuple(order)
            k = rng.randint(d.min, d.max)
            return tuple(rng.sample(range(n), k))
        if t == "choose_entity":
            i = rng.randrange(len(d.options) + (1 if d.optional else 0))
            return i if i < len(d.options) else None
        if t in ("confirm_action", "play_trigger", "play_from_effect"):
            return rng.random() < 0.5
        if t == "announce_value":
            return rng.randint(d.min, d.max)
        return None


def random_blocks(d: Decision, rng: random.Random) -> tuple:
    """Each blocker picks one of its attackers or none; lone blockers of a menace attacker step back."""
    pairs = []
    for b, opts in zip(d.options, d.context, strict=True):
        i = rng.randrange(len(opts) + 1)
        if i < len(opts):
            pairs.append((b, d.attackers[opts[i]]))
    counts: dict[int, int] = {}
    for _, a in pairs:
        counts[a.id] = counts.get(a.id, 0) + 1
    return tuple((b, a) for b, a in pairs if not (a.has("menace") and counts[a.id] == 1))
