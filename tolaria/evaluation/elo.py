"""Elo ratings of policy versions and baselines.

Every player starts at 1200 (`INITIAL_RATING`); after each game both players move by
K * (actual score - expected score), the score being 1 for a win, 1/2 for a draw and 0 for a
loss. Games are applied one at a time, in the order the evaluator lists them, so a long
evaluation converges instead of jumping by K times the number of games at once.

A new policy version enters at the rating of the newest earlier version that has one (1200
for the first): it is the same network a few updates later, and starting it at 1200 would
only make its first evaluation spend games on catching up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from tolaria.keys import EloField

INITIAL_RATING = 1200.0


def expected_score(rating: float, opponent: float) -> float:
    """Expected score of a player rated `rating` against one rated `opponent`."""
    return 1.0 / (1.0 + 10.0 ** ((opponent - rating) / 400.0))


def updated_ratings(rating_a: float, rating_b: float, score_a: float, k: float) -> tuple[float, float]:
    """Ratings of A and B after one game in which A scored `score_a` (1, 0.5 or 0)."""
    if not 0.0 <= score_a <= 1.0:
        raise ValueError(f"a game scores between 0 and 1, not {score_a!r}")
    if k <= 0:
        raise ValueError(f"the K-factor must be positive, not {k!r}")
    delta = k * (score_a - expected_score(rating_a, rating_b))
    return rating_a + delta, rating_b - delta


def policy_player(version: int) -> str:
    """The name of a policy version in the ratings (and the `...:elo` hash field)."""
    return EloField.policy(version)


def policy_version_of(player: str) -> int | None:
    """The version of a `v<version>` player name, None for a baseline."""
    return EloField.version_of(player)


class EloTable:
    """Ratings by player name: `v<version>` for policy versions, baseline names as they are."""

    def __init__(self, k: float, ratings: Mapping[str, float] | None = None):
        if k <= 0:
            raise ValueError(f"the K-factor must be positive, not {k!r}")
        self.k = k
        self.ratings: dict[str, float] = dict(ratings or {})

    def rating(self, player: str) -> float:
        """The player's rating, entering it first if it has none (see the module's rules)."""
        if player not in self.ratings:
            self.ratings[player] = self._entry_rating(player)
        return self.ratings[player]

    def _entry_rating(self, player: str) -> float:
        version = policy_version_of(player)
        if version is None:
            return INITIAL_RATING
        earlier = [
            (v, rating)
            for name, rating in self.ratings.items()
            if (v := policy_version_of(name)) is not None and v < version
        ]
        return max(earlier)[1] if earlier else INITIAL_RATING

    def record(self, player: str, opponent: str, score: float) -> None:
        """Apply one game in which `player` scored `score` against `opponent`."""
        if player == opponent:
            raise ValueError(f"{player} cannot be rated against itself")
        a, b = self.rating(player), self.rating(opponent)
        self.ratings[player], self.ratings[opponent] = updated_ratings(a, b, score, self.k)

    def record_all(self, games: Iterable[tuple[str, str, float]]) -> None:
        for player, opponent, score in games:
            self.record(player, opponent, score)
