"""Prioritised pairings: more games where the agent loses to the built-in AI.

AlphaStar's prioritised fictitious self-play draws each opponent with weight f(p), p the learner's
win rate against it and f_hard(p) = (1 - p)^2, so that the games go where the agent is weakest.
Here the draw is over deck pairings. With `actors.pairingPriority` set, each pairing's weight (the
spec's) is multiplied by max((1 - p)^exponent, minFactor). p is the agent's score in the actor's
latest `window` games of that pairing against the built-in AI (a draw is half a win), shrunk
towards 0.5 by `PRIOR_GAMES` pseudo-games. A pairing not played yet has p = 0.5, like any other,
so until games against the AI come in the draw keeps the spec's odds. `minFactor` keeps every
pairing in play, so one the agent has mastered is still played enough to notice a relapse.

Each actor measures its own games; in a cluster every actor reaches its own, similar, estimates.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from tolaria.spec import PairingPriority

PRIOR_GAMES = 2


class PairingScores:
    """The agent's latest scores (1, 0.5, 0) against the built-in AI, by (agent deck, opponent
    deck), and the draw they weigh by `priority`."""

    def __init__(self, priority: PairingPriority):
        self.priority = priority
        self._scores: dict[tuple[str, str], deque[float]] = {}

    def record(self, agent_deck: str, opponent_deck: str, score: float) -> None:
        pairing = (agent_deck, opponent_deck)
        if pairing not in self._scores:
            self._scores[pairing] = deque(maxlen=self.priority.window)
        self._scores[pairing].append(score)

    def games(self, agent_deck: str, opponent_deck: str) -> int:
        return len(self._scores.get((agent_deck, opponent_deck), ()))

    def win_rate(self, agent_deck: str, opponent_deck: str) -> float:
        """The window's mean score, shrunk towards 0.5 by `PRIOR_GAMES` pseudo-games."""
        scores = self._scores.get((agent_deck, opponent_deck), ())
        return (sum(scores) + 0.5 * PRIOR_GAMES) / (len(scores) + PRIOR_GAMES)

    def prioritised(self, pairings: Sequence[tuple[str, str, float]]) -> list[tuple[str, str, float]]:
        """The pairings with each weight multiplied by its priority factor."""
        return [
            (agent, opponent, weight * priority_factor(self.win_rate(agent, opponent), self.priority))
            for agent, opponent, weight in pairings
        ]

    def describe(self, pairings: Sequence[tuple[str, str, float]]) -> str:
        """One log line: each agent deck's share of the draw, and the pairings drawn most often."""
        weighted = self.prioritised(pairings)
        total = sum(weight for _, _, weight in weighted)
        by_deck: dict[str, float] = {}
        for agent, _, weight in weighted:
            by_deck[agent] = by_deck.get(agent, 0.0) + weight / total
        shares = ", ".join(f"{deck} {share:.2f}" for deck, share in by_deck.items())
        likeliest = sorted(weighted, key=lambda p: -p[2])[:5]
        drawn = ", ".join(
            f"{agent} v {opponent} {self.win_rate(agent, opponent):.2f} ({self.games(agent, opponent)} games)"
            for agent, opponent, _ in likeliest
        )
        return f"pairing priority: draw share by agent deck: {shares}; most drawn, with win rate against the AI: {drawn}"


def priority_factor(win_rate: float, priority: PairingPriority) -> float:
    return max((1.0 - win_rate) ** priority.exponent, priority.min_factor)
