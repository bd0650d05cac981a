"""Matches and the seeded match schedule: which games a measurement (or a warm start) plays.

A `Match` is one game's deck pairing, the agent's seat and the seed (an actor's games are
matches too, drawn one at a time). `schedule` spreads a number of games evenly over the deck pairings and both seat orders, with
seeds that depend only on the schedule's name (the opponent's, for the evaluator) and the
game's index, so successive policy versions meet the same deals (common random numbers: less
noise between their win rates). A game that fails is tried again with the same seed, on
another daemon, up to `ATTEMPTS` times in all.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

ATTEMPTS = 3


@dataclass(frozen=True)
class Match:
    index: int
    agent_deck: str
    opponent_deck: str
    agent_seat: int  # 1 or 2
    seed: int

    @property
    def decks(self) -> tuple[str, str]:
        """(deck of seat 1, deck of seat 2)."""
        if self.agent_seat == 1:
            return self.agent_deck, self.opponent_deck
        return self.opponent_deck, self.agent_deck


def game_seed(opponent: str, index: int, base_seed: int = 0) -> int:
    return random.Random(f"{base_seed}:{opponent}:{index}").getrandbits(62)


def schedule(
    games: int, pairings: Sequence[tuple[str, str]], opponent: str, base_seed: int = 0
) -> list[Match]:
    """`games` matches: game i plays pairing (i // 2) mod len(pairings), the agent in seat 1
    for even i and seat 2 for odd i."""
    if not pairings:
        raise ValueError("evaluation needs at least one deck pairing")
    matches = []
    for i in range(games):
        agent_deck, opponent_deck = pairings[(i // 2) % len(pairings)]
        matches.append(Match(i, agent_deck, opponent_deck, 1 + i % 2, game_seed(opponent, i, base_seed)))
    return matches
