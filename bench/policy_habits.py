"""What a trained policy does with each card, next to the built-in heuristic AI on the same games.

    python bench/policy_habits.py file:///abs/run/checkpoints --games 200
    python bench/policy_habits.py URI --decks blue_control --against all --opponents heuristic

Plays the newest checkpoint in `URI` (greedy, as the evaluator plays) and the heuristic AI, each
with each of `--decks` (by default red_aggro and white_weenie, each against the other), against
the random player and the heuristic AI playing the `--against` decks in turn, seats alternating,
on the same seeds. Games run in process on the rules engine: the policy plays as a
`tolaria.inference.policy_player.PolicyPlayer`, answering the engine's DECISION payloads exactly
as it would over TCP.

For each player and deck it counts, per game: the spells cast, by card; how often the player
passed in a main phase while a spell was castable; where targeted spells went (the opponent, an
opposing creature, its own creature or itself); and which share of the possible attackers and
blockers it declared. Win rates alone say how strong a policy is; these say what it has (not)
learned, e.g. a card it never casts, removal aimed at its own creatures, or attacking with
everything every turn.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from learning import SEVEN_DECKS  # noqa: E402  (bench/, the script's folder)

from tolaria.engine import (  # noqa: E402
    CardPool,
    DeckError,
    Game,
    HeuristicPlayer,
    RandomPlayer,
    find_deck,
    load_deck,
)
from tolaria.engine.decision import Decision  # noqa: E402
from tolaria.engine.objects import Card, Player  # noqa: E402
from tolaria.inference.policy_player import PolicyPlayer  # noqa: E402
from tolaria.trainer.checkpoint import open_store  # noqa: E402
from tolaria.trainer.config import NetworkConfig  # noqa: E402
from tolaria.trainer.weights import PolicyWeights  # noqa: E402

DECKS = ("red_aggro", "white_weenie")
OPPONENTS = ("random", "heuristic")
MAIN_PHASES = ("MAIN1", "MAIN2")


def newest_policy(uri: str) -> PolicyPlayer:
    """The newest checkpoint in the store at `uri`, as a greedy player."""
    checkpoint = open_store(uri).latest()
    if checkpoint is None:
        raise SystemExit(f"no checkpoint in {uri}")
    network = NetworkConfig(**checkpoint.config["network"])
    return PolicyPlayer(PolicyWeights(checkpoint.policy_version, network, checkpoint.model_state))


def tally(habits: Counter, decision: Decision, answer: Any) -> None:
    """Adds what `answer` to `decision` says about the player's habits."""
    kind, game = decision.type, decision.game
    if kind == "choose_action":
        if answer is not None and answer.kind != "land":
            habits[f"cast {answer.card.name}"] += 1
        elif answer is None and game.phase in MAIN_PHASES and any(a.kind != "land" for a in decision.options):
            habits["main-phase passes with a castable spell"] += 1
    elif kind == "declare_attackers":
        habits["attackers possible"] += len(decision.options)
        habits["attackers declared"] += len(answer)
    elif kind == "declare_blockers":
        habits["blockers possible"] += len(decision.options)
        habits["blocks declared"] += len(answer)


class TargetLog(Game):
    """A game that counts, as each spell resolves, where the watched seat's spells were aimed:
    forced targets (a single legal one, which the engine picks without asking) included."""

    def __init__(self, *args: Any, seat: int, habits: Counter, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.watched, self.habits = seat, habits

    def _resolve_top(self):
        item = self.stack[-1]
        me = self.players[self.watched]
        if item.is_spell and item.controller is me:
            for chosen, _ in item.targets:
                if isinstance(chosen, Player):
                    where = "itself" if chosen is me else "the opponent"
                elif isinstance(chosen, Card) and chosen.cdef.is_creature:
                    where = "own creature" if chosen.controller is me else "opposing creature"
                else:
                    where = "other"
                self.habits[f"target {item.card.name} -> {where}"] += 1
        return (yield from super()._resolve_top())


def play(
    player: Any, opponent: Any, deck: str, against: list[str], games: int, decks: dict[str, Any], seed: int
) -> Counter:
    """`games` games of `player` with `deck` against `opponent` with each deck of `against` in turn,
    each deal in both seats."""
    habits: Counter = Counter()
    for game_index in range(games):
        seat = game_index % 2
        other = against[game_index // 2 % len(against)]
        seated = [decks[other], decks[other]]
        seated[seat] = decks[deck]
        players = [opponent, opponent]
        players[seat] = player
        game = TargetLog(seated, seed=seed + game_index, seat=seat, habits=habits)
        decision = game.start()
        while decision is not None:
            answer = players[decision.seat].choose(decision) if decision.expects_reply else None
            if decision.seat == seat and decision.expects_reply:
                tally(habits, decision, answer)
            decision = game.submit(answer)
        winner = game.result.winner
        habits["wins"] += 1.0 if winner == seat else 0.5 if winner is None else 0.0
    return habits


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("uri", help="checkpoint store of a run (file://... or s3://...)")
    ap.add_argument("--games", type=int, default=200, help="games per player, deck and opponent")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--decks", default=",".join(DECKS), help="the players' decks, comma-separated")
    ap.add_argument(
        "--against",
        default="",
        help="the opponent's decks, comma-separated, or 'all' (the seven of the pool; default: the other decks"
        " of --decks)",
    )
    ap.add_argument("--opponents", default=",".join(OPPONENTS), help="random and/or heuristic")
    args = ap.parse_args()
    chosen = [d for d in args.decks.split(",") if d]
    against = list(SEVEN_DECKS) if args.against == "all" else [d for d in args.against.split(",") if d]
    opponent_kinds = [o for o in args.opponents.split(",") if o]
    unknown = [o for o in opponent_kinds if o not in OPPONENTS]
    if unknown or not chosen or not opponent_kinds:
        ap.error(f"unknown or missing deck or opponent: {', '.join(unknown) or 'none given'}")

    import torch

    torch.set_num_threads(1)
    pool = CardPool.default()
    try:
        decks = {name: load_deck(find_deck(name, [REPO / "decks"]), pool) for name in set(chosen + against)}
    except DeckError as error:
        ap.error(str(error))
    policy = newest_policy(args.uri)
    players = {f"policy v{policy.version}": policy, "heuristic AI": HeuristicPlayer(args.seed + 1)}
    opponents = {
        "random": ("the random player", RandomPlayer(args.seed + 2)),
        "heuristic": ("the heuristic AI", HeuristicPlayer(args.seed + 3)),
    }
    for deck in chosen:
        their_decks = against or [d for d in chosen if d != deck] or [deck]
        for kind in opponent_kinds:
            opponent_name, opponent = opponents[kind]
            results = {
                name: play(player, opponent, deck, their_decks, args.games, decks, args.seed)
                for name, player in players.items()
            }
            names = list(results)
            print(
                f"\n### {deck} against {opponent_name} with {', '.join(their_decks)}"
                f" ({args.games} games each; counts per game)\n"
            )
            print("| | " + " | ".join(names) + " |")
            print("|---|" + "---:|" * len(names))
            rows = sorted(set().union(*results.values()) - {"wins"})
            print(
                "| win rate | " + " | ".join(f"{r['wins'] / args.games:.3f}" for r in results.values()) + " |"
            )
            for row in rows:
                print(
                    f"| {row} | " + " | ".join(f"{r[row] / args.games:.2f}" for r in results.values()) + " |"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
