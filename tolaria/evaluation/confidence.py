"""Win rates with 95% confidence intervals (Wilson score interval).

A game scores 1 for a win, 1/2 for a draw and 0 for a loss, so a draw counts as half a win
and the win rate is the mean score. Games that ended in a draw have less spread than a
coin flip between win and loss, so treating the mean score as a binomial proportion gives an
interval that is, if anything, slightly wide: conservative, never optimistic.

Wilson's interval (Wilson 1927; Newcombe 1998, method 3) keeps its coverage near 0 and 1,
where the normal approximation collapses to a zero-width interval; win rates of 0.95 and
above against the random player are exactly that case.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z_95 = 1.959963984540054  # two-sided 95% quantile of the standard normal


def wilson_interval(successes: float, n: int, z: float = Z_95) -> tuple[float, float]:
    """(low, high) of the Wilson score interval of `successes` out of `n` trials.

    `successes` may be fractional (draws count half). n = 0 gives the uninformative (0, 1).
    """
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    center = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    return max(0.0, center - half), min(1.0, center + half)


@dataclass(frozen=True)
class WinRate:
    """Outcomes of one player over a set of games, from its own point of view."""

    wins: int = 0
    draws: int = 0
    losses: int = 0

    @property
    def games(self) -> int:
        return self.wins + self.draws + self.losses

    @property
    def score(self) -> float:
        """Wins plus half the draws."""
        return self.wins + 0.5 * self.draws

    @property
    def rate(self) -> float | None:
        """Mean score per game (draws half), None without games."""
        return self.score / self.games if self.games else None

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.score, self.games)

    def __add__(self, other: WinRate) -> WinRate:
        return WinRate(self.wins + other.wins, self.draws + other.draws, self.losses + other.losses)

    def with_score(self, score: float) -> WinRate:
        """These outcomes plus one game that scored `score` (1, 0.5 or 0)."""
        if score == 1:
            return WinRate(self.wins + 1, self.draws, self.losses)
        if score == 0.5:
            return WinRate(self.wins, self.draws + 1, self.losses)
        if score == 0:
            return WinRate(self.wins, self.draws, self.losses + 1)
        raise ValueError(f"a game scores 1, 0.5 or 0, not {score!r}")

    def to_dict(self) -> dict[str, float | int | None]:
        low, high = self.interval
        return {
            "games": self.games,
            "wins": self.wins,
            "draws": self.draws,
            "losses": self.losses,
            "win_rate": self.rate,
            "ci_low": low,
            "ci_high": high,
        }
