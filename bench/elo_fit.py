"""Time the Bradley-Terry fit of the evaluator's ratings (`tolaria.evaluation.elo.fit_ratings`).

A run's history, synthesised: every evaluated version played `--games` games against random and
heuristic and a share of them against each of the 4 league snapshots before it, with outcomes
drawn from a known strength per version. Reports the seconds per fit (median of `--repeats`)
for each number of versions, and the largest error of the fitted ratings against the strengths
the games were drawn from, in Elo points.

    python bench/elo_fit.py --versions 100 500 1000 2000
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time

from tolaria.evaluation.confidence import WinRate
from tolaria.evaluation.elo import ELO_PER_UNIT, GameCounts, fit_ratings, policy_player


def history(versions: int, games: int, seed: int) -> tuple[GameCounts, dict[str, float]]:
    rng = random.Random(seed)
    strength = {"random": 0.0, "heuristic": 2.0}
    counts: dict[tuple[str, str], WinRate] = {}

    def play(a: str, b: str, n: int) -> None:
        p = 1 / (1 + math.exp(strength[b] - strength[a]))
        wins = sum(rng.random() < p for _ in range(n))
        counts[(a, b)] = WinRate(wins, 0, n - wins)

    for v in range(1, versions + 1):
        me = policy_player(v)
        strength[me] = 3.0 * v / versions  # learning: from random's level to well above heuristic
        play(me, "random", games)
        play(me, "heuristic", games)
        past = [policy_player(u) for u in range(max(1, v - 4), v)]
        for opponent in past:
            play(me, opponent, max(2, games // len(past)))
    return GameCounts(counts), strength


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--versions", type=int, nargs="+", default=[100, 500, 1000, 2000])
    parser.add_argument("--games", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print("| versions | games | seconds per fit (median) | largest error, Elo |")
    print("|---:|---:|---:|---:|")
    for versions in args.versions:
        counts, strength = history(versions, args.games, args.seed)
        seconds = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            ratings = fit_ratings(counts)
            seconds.append(time.perf_counter() - started)
        error = max(abs(ratings[p] - 1000 - ELO_PER_UNIT * s) for p, s in strength.items())
        print(f"| {versions} | {counts.games} | {statistics.median(seconds):.3f} | {error:.0f} |")


if __name__ == "__main__":
    main()
