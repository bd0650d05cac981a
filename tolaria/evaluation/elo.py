"""Elo ratings of policy versions and baselines: a Bradley-Terry fit over every recorded game.

The evaluator records each game it plays as one more win, draw or loss between two players
(`GameCounts`: `v<version>` for policy versions, `random` and `heuristic` for the daemon's
baselines) and fits all the ratings afresh from those counts after each evaluation
(`fit_ratings`). The counts are sums, so the ratings do not depend on the order in which games
were played or recorded, nor on when a player entered; an online update (K-factor Elo) gives
each game's order a say and lets ratings drift with the evaluation schedule.

The model (Bradley and Terry 1952): player i scores against player j with probability
1 / (1 + exp(theta_j - theta_i)). A draw counts as half a win and half a loss, as in the win
rates (`tolaria.evaluation.confidence`). The ratings maximise the likelihood of the recorded
scores, found by Newton's method with a backtracking line search: the log-likelihood is concave,
its Hessian is minus a weighted graph Laplacian, and a handful of iterations reach machine
precision from zero. Deterministic: the same counts give the same ratings, bit for bit.

Scale and anchor: only differences are identified, so `random` (the daemon's random player, which
never changes) is fixed at `ANCHOR_RATING` = 1000 and theta is converted to the Elo scale,
400 / ln 10 points per unit, where 400 points are odds of 10 to 1.

Prior: a player who won (or lost) every game has no finite maximum-likelihood rating, and a
player connected to the anchor by no chain of games has no defined level. Every player is
therefore given `PRIOR_DRAWS` = 1 virtual draw against the anchor (as BayesElo's virtual draws):
the fit always exists and is unique, a perfect record against the random player over n games
rates at 400 log10(2n + 1) above it instead of infinity, and against the hundreds of real games
of an evaluation it moves a rating by a few points at most. When `random` is not among the
evaluated baselines, the anchor is only that virtual opponent: differences between players stay
meaningful, the absolute level does not.

Cost: one dense solve of (players - 1) unknowns per Newton step, a few milliseconds for a few
hundred players, seconds for two thousand (`bench/elo_fit.py`, BENCHMARKS.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np

from tolaria.evaluation.confidence import WinRate
from tolaria.keys import EloField, EloGamesField

ANCHOR = "random"
ANCHOR_RATING = 1000.0
ELO_PER_UNIT = 400.0 / math.log(10.0)  # Elo points per unit of theta (natural log odds)
PRIOR_DRAWS = 1.0

_TOLERANCE = 1e-10  # on the largest Newton step, in theta units (about 4e-8 Elo)
_MAX_ITERATIONS = 200


def expected_score(rating: float, opponent: float) -> float:
    """Expected score of a player rated `rating` against one rated `opponent`."""
    return 1.0 / (1.0 + 10.0 ** ((opponent - rating) / 400.0))


def policy_player(version: int) -> str:
    """The name of a policy version in the ratings (and the `...:elo` hash field)."""
    return EloField.policy(version)


def policy_version_of(player: str) -> int | None:
    """The version of a `v<version>` player name, None for a baseline."""
    return EloField.version_of(player)


class GameCounts:
    """Wins, draws and losses between pairs of players, kept once per pair (in name order)."""

    def __init__(self, pairs: Mapping[tuple[str, str], WinRate] | None = None):
        self._pairs: dict[tuple[str, str], WinRate] = {}
        for (player, opponent), outcomes in (pairs or {}).items():
            self._add(player, opponent, outcomes)

    def _add(self, player: str, opponent: str, outcomes: WinRate) -> None:
        EloGamesField.check_player(player)
        EloGamesField.check_player(opponent)
        if player == opponent:
            raise ValueError(f"{player} cannot be rated against itself")
        if player > opponent:
            player, opponent = opponent, player
            outcomes = WinRate(outcomes.losses, outcomes.draws, outcomes.wins)
        self._pairs[(player, opponent)] = self._pairs.get((player, opponent), WinRate()) + outcomes

    def add(self, player: str, opponent: str, score: float) -> None:
        """One game in which `player` scored `score` (1, 0.5 or 0) against `opponent`."""
        self._add(player, opponent, WinRate().with_score(score))

    def add_all(self, games: Iterable[tuple[str, str, float]]) -> None:
        for player, opponent, score in games:
            self.add(player, opponent, score)

    def between(self, player: str, opponent: str) -> WinRate:
        """The games between the two, from `player`'s side."""
        if player <= opponent:
            return self._pairs.get((player, opponent), WinRate())
        outcomes = self._pairs.get((opponent, player), WinRate())
        return WinRate(outcomes.losses, outcomes.draws, outcomes.wins)

    def pairs(self) -> dict[tuple[str, str], WinRate]:
        """Every pair that has played, (first, second) in name order, outcomes from first's side."""
        return dict(sorted(self._pairs.items()))

    def players(self) -> list[str]:
        return sorted({p for pair in self._pairs for p in pair})

    @property
    def games(self) -> int:
        return sum(outcomes.games for outcomes in self._pairs.values())

    def __add__(self, other: GameCounts) -> GameCounts:
        total = GameCounts(self._pairs)
        for (player, opponent), outcomes in other._pairs.items():
            total._add(player, opponent, outcomes)
        return total

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GameCounts) and self.pairs() == other.pairs()

    def __repr__(self) -> str:
        return f"GameCounts({self.pairs()!r})"

    # ---- the `...:elo:games` hash -------------------------------------------------------------
    def to_fields(self) -> dict[str, int]:
        """The counts as `...:elo:games` fields (nonzero counts only)."""
        fields: dict[str, int] = {}
        for (first, second), outcomes in self.pairs().items():
            for outcome, count in zip(
                EloGamesField.OUTCOMES, (outcomes.wins, outcomes.draws, outcomes.losses), strict=True
            ):
                if count:
                    fields[EloGamesField.pair(first, second, outcome)] = count
        return fields

    @classmethod
    def from_fields(
        cls, raw: Mapping[bytes | str, bytes | str | int], invalid: list[str] | None = None
    ) -> GameCounts:
        """Counts read back from the `...:elo:games` hash (or the evaluation record's copy).

        A field that is not a count of this format raises ValueError naming it, or, when
        `invalid` is given, is skipped and described there."""
        counts = cls()
        for key, value in raw.items():
            field = key.decode() if isinstance(key, bytes) else key
            text = value.decode() if isinstance(value, bytes) else str(value)
            try:
                first, second, outcome = EloGamesField.parse(field)
                if not text.isdigit():
                    raise ValueError(f"{text!r} is not a count of games")
                n = int(text)
                counts._add(
                    first, second, WinRate(*(n if outcome == o else 0 for o in EloGamesField.OUTCOMES))
                )
            except ValueError as e:
                problem = f"elo games field {field!r}: {e}"
                if invalid is None:
                    raise ValueError(problem) from e
                invalid.append(problem)
        return counts


def fit_ratings(counts: GameCounts, prior_draws: float = PRIOR_DRAWS) -> dict[str, float]:
    """Elo ratings of every player in `counts` and of the anchor (see the module)."""
    if not prior_draws > 0:
        raise ValueError(f"the prior needs a positive number of virtual draws, not {prior_draws!r}")
    others = [p for p in counts.players() if p != ANCHOR]
    index = {player: i for i, player in enumerate([ANCHOR, *others])}
    size = len(index)
    # Edges i-j (i < j by index): games, and the score of i. Virtual draws join every player to
    # the anchor (index 0).
    games: dict[tuple[int, int], list[float]] = {
        (0, j): [prior_draws, prior_draws / 2] for j in range(1, size)
    }
    for (first, second), outcomes in counts.pairs().items():
        i, j = index[first], index[second]
        score = outcomes.score
        if i > j:
            i, j, score = j, i, outcomes.games - score
        edge = games.setdefault((i, j), [0.0, 0.0])
        edge[0] += outcomes.games
        edge[1] += score
    left = np.array([i for i, _ in games], dtype=np.intp)
    right = np.array([j for _, j in games], dtype=np.intp)
    n = np.array([g for g, _ in games.values()])
    s = np.array([sc for _, sc in games.values()])

    def log_likelihood(theta: np.ndarray) -> float:
        d = theta[left] - theta[right]
        # log sigmoid(d) = -log(1 + exp(-d)), computed without overflow
        return float(np.sum(-s * np.logaddexp(0.0, -d) - (n - s) * np.logaddexp(0.0, d)))

    theta = np.zeros(size)
    for _ in range(_MAX_ITERATIONS):
        p = 1.0 / (1.0 + np.exp(theta[right] - theta[left]))  # P(i beats j) per edge
        residual = s - n * p
        gradient = np.bincount(left, residual, size) - np.bincount(right, residual, size)
        weight = n * p * (1.0 - p)
        laplacian = np.zeros((size, size))
        np.add.at(laplacian, (left, right), -weight)
        np.add.at(laplacian, (right, left), -weight)
        np.add.at(laplacian, (left, left), weight)
        np.add.at(laplacian, (right, right), weight)
        step = np.zeros(size)
        if size > 1:  # the anchor's row and column go: theta[0] stays 0
            step[1:] = np.linalg.solve(laplacian[1:, 1:], gradient[1:])
        current, t = log_likelihood(theta), 1.0
        while log_likelihood(theta + t * step) < current - 1e-12 * abs(current) and t > 1e-6:
            t /= 2
        theta = theta + t * step
        if np.max(np.abs(t * step), initial=0.0) < _TOLERANCE:
            break
    else:
        raise ArithmeticError(f"the Bradley-Terry fit of {size} players did not converge")
    return {player: ANCHOR_RATING + ELO_PER_UNIT * float(theta[i]) for player, i in index.items()}
