"""In-process engine throughput on one core: games/s and decisions/s per deck pairing.

    python bench/engine_games.py --games 200

Plays heuristic vs heuristic and random vs random for every ordered deck pairing of the pool
(`--pool`, all seven decks by default), with no turn limit, in this one process (one core), and
prints a table plus the totals.
"""

from __future__ import annotations

import argparse
import itertools
import platform
import time
from pathlib import Path

from tolaria.engine import CardPool, Game, HeuristicPlayer, RandomPlayer, load_deck

DECKS = (
    "red_aggro",
    "white_weenie",
    "green_midrange",
    "blue_control",
    "gruul_midrange",
    "azorius_control",
    "orzhov_sanguine",
)
PLAYERS = {"heuristic": HeuristicPlayer, "random": RandomPlayer}


def run_pairing(decks, player_cls, games: int, seed0: int) -> tuple[float, int, int, list[int]]:
    """Seconds, decisions, turns and wins [seat0, seat1, draws] over `games` games."""
    decisions = turns = 0
    wins = [0, 0, 0]
    start = time.perf_counter()
    for i in range(games):
        seed = seed0 + i
        game = Game(decks, seed=seed)
        players = (player_cls(seed), player_cls(seed + 1))
        d = game.start()
        while d is not None:
            decisions += 1
            d = game.submit(players[d.seat].choose(d) if d.expects_reply else None)
        turns += game.result.turns
        wins[2 if game.result.winner is None else game.result.winner] += 1
    return time.perf_counter() - start, decisions, turns, wins


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--games", type=int, default=100, help="games per pairing and player kind")
    ap.add_argument("--decks", default=str(Path(__file__).resolve().parents[1] / "decks"))
    ap.add_argument("--players", default="heuristic,random", help="comma-separated: heuristic, random")
    ap.add_argument("--pool", default=",".join(DECKS), help="comma-separated deck names (default: all seven)")
    args = ap.parse_args()
    pool = CardPool.default()
    names = args.pool.split(",")
    decks = {n: load_deck(Path(args.decks) / f"{n}.dck", pool) for n in names}
    print(
        f"# {platform.processor() or platform.machine()}, Python {platform.python_version()}, 1 core, {args.games} games per row"
    )
    print(
        f"{'players':<10} {'deck 1':<15} {'deck 2':<15} {'games/s':>8} {'decisions/s':>12} {'dec/game':>9} {'turns':>6} {'W1-W2-D':>10}"
    )
    for kind in args.players.split(","):
        total_s = total_games = total_dec = 0
        for a, b in itertools.product(names, repeat=2):
            secs, dec, turns, wins = run_pairing((decks[a], decks[b]), PLAYERS[kind], args.games, seed0=1000)
            total_s += secs
            total_games += args.games
            total_dec += dec
            print(
                f"{kind:<10} {a:<15} {b:<15} {args.games / secs:8.1f} {dec / secs:12.0f} "
                f"{dec / args.games:9.1f} {turns / args.games:6.1f} {'-'.join(map(str, wins)):>10}"
            )
        print(
            f"{kind:<10} {'ALL':<15} {'':<15} {total_games / total_s:8.1f} {total_dec / total_s:12.0f} {total_dec / total_games:9.1f}"
        )


if __name__ == "__main__":
    main()
