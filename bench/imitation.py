"""How well the policy network can imitate the built-in heuristic AI, and how strong the copy plays.

    python bench/imitation.py --games 1000 --epochs 10 --eval-games 200
    python bench/imitation.py --pool all --games 1000 --epochs 12 --eval-games 0
    python bench/imitation.py --pool all --games 600 --epochs 3 --eval-games 0 --device cuda

Offline, in process, no daemon: the question is what the network and encoder can express, apart
from everything else a training run does.

1. Plays `--games` heuristic-vs-heuristic engine games over the pairings of `--pool` (as in
   `bench/learning.py`: quickstart, red_aggro vs white_weenie in both seat orders; all, the 49
   ordered pairings of the seven decks, in turn) and keeps every decision's payload with the
   AI's reply to it (the wire text observe mode would stream as `ai_choice`;
   `tolaria.trainer.imitation.engine_demonstrations`), turned into the policy's action by
   `Encoder.action_of_reply`.
2. Trains a fresh network (`--preset`, `--network FIELD=INT`) on 90% of the decisions by
   cross-entropy towards the AI's actions (behaviour cloning: Adam, minibatches of
   `--minibatch`) and its value head towards each decision's discounted outcome, and reports
   per decision type on the other 10%: negative log-likelihood and how often the greedy action
   is the AI's (and the value's explained variance). Each epoch prints its rate: the warm start's
   cloning runs this code, on the learner's device (`--device`).
   A training run does the same before its first PPO update when its spec asks for a warm
   start (`spec.learner.warmStart`, `tolaria.trainer.warm_start`), on games it watches on the
   daemons.
3. Quickstart pool only: plays the trained network (greedy) against the random player and the
   heuristic AI, `--eval-games` per deck and opponent, seats alternating, and prints the win rates
   next to the heuristic AI's own on the same seeds. On the whole pool the copy's play is the
   first evaluation of a `bench/learning.py --pool all` run.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from learning import POOLS  # noqa: E402  (bench/, the script's folder)
from policy_habits import DECKS, play  # noqa: E402

from tolaria.engine import CardPool, Game, HeuristicPlayer, RandomPlayer, find_deck, load_deck  # noqa: E402
from tolaria.inference.policy_player import PolicyPlayer  # noqa: E402
from tolaria.trainer.config import NetworkConfig  # noqa: E402
from tolaria.trainer.encoding import DECISION_TYPES, KIND_ONE, KIND_SUBSET, Encoder  # noqa: E402
from tolaria.trainer.imitation import Demonstrations, clone, engine_demonstrations  # noqa: E402
from tolaria.trainer.policy import PolicyNetwork, action_log_probs, to_tensors  # noqa: E402
from tolaria.trainer.weights import PolicyWeights  # noqa: E402


def heuristic_games(
    games: int, decks: dict[str, Any], pairings: tuple[tuple[str, str], ...], seed: int
) -> Iterator[tuple[Game, tuple[HeuristicPlayer, ...]]]:
    """`games` heuristic-vs-heuristic games, the ordered pairings in turn."""
    for index in range(games):
        first, second = pairings[index % len(pairings)]
        game = Game((decks[first], decks[second]), seed=seed + index)
        yield game, (HeuristicPlayer(seed + 2 * index), HeuristicPlayer(seed + 2 * index + 1))


class EpochClock:
    """Prints each cloning epoch's NLL and rate (decisions per second of the epoch's wall time)."""

    def __init__(self, decisions: int):
        self.decisions, self.last = decisions, time.perf_counter()

    def __call__(self, epoch: int, nll: float) -> None:
        now = time.perf_counter()
        rate = self.decisions / (now - self.last)
        print(
            f"epoch {epoch}: training NLL {nll:.3f}, {now - self.last:.1f}s, {rate:,.0f} decisions/s",
            flush=True,
        )
        self.last = now


def has_choice(arrays: dict) -> np.ndarray:
    """Decisions with more than one legal action (a lone option teaches nothing): two or more
    options to pick one of, a subset whose size may vary, a blocker that may block."""
    options = arrays["option_mask"].sum(1)
    kind = arrays["kind"]
    return np.where(
        kind == KIND_ONE,
        options > 1,
        np.where(
            kind == KIND_SUBSET,
            arrays["select_max"] > arrays["select_min"],
            arrays["block_mask"].sum((1, 2)) > options,
        ),
    )


@torch.no_grad()
def held_out_report(model: PolicyNetwork, held_out: Demonstrations) -> None:
    arrays = held_out.observations
    tensors = to_tensors(arrays)
    targets = torch.from_numpy(held_out.actions)
    logits, predicted = model(tensors)
    returns = torch.from_numpy(held_out.returns)
    unexplained = float(((returns - predicted) ** 2).mean() / returns.var())
    print(f"held-out value: explained variance {1 - unexplained:.3f}")
    log_probs, _ = action_log_probs(logits, tensors, targets)
    greedy, _, _ = model.act(tensors, greedy=True)
    same = (greedy == targets).all(1)
    kinds = arrays["decision_type"]
    choice = torch.from_numpy(has_choice(arrays))
    print(
        "\n| decision type | held-out decisions | with a choice | NLL | greedy = AI | greedy = AI, with a choice |"
        "\n|---|---:|---:|---:|---:|---:|"
    )
    for index, name in [*enumerate(DECISION_TYPES), (None, "all")]:
        rows = torch.ones_like(choice) if index is None else torch.from_numpy(kinds == index)
        if rows.any():
            chosen = rows & choice
            print(
                f"| {name} | {int(rows.sum())} | {int(chosen.sum())} | {float(-log_probs[rows].mean()):.3f} |"
                f" {float(same[rows].float().mean()):.3f} | {float(same[chosen].float().mean()):.3f} |"
            )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pool", choices=sorted(POOLS), default="quickstart", help="decks and pairings to learn")
    ap.add_argument("--games", type=int, default=1000, help="heuristic-vs-heuristic games to learn from")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--minibatch", type=int, default=512)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--preset", default="small")
    ap.add_argument(
        "--network",
        action="append",
        default=[],
        metavar="FIELD=INT",
        help="override a field of the preset's NetworkConfig, e.g. d_model=128 (repeatable)",
    )
    ap.add_argument(
        "--gamma", type=float, default=0.99, help="discount of the value targets (the spec's ppo.gamma)"
    )
    ap.add_argument("--eval-games", type=int, default=200, help="games per deck and opponent; 0: none")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="where the network trains: cpu, cuda, cuda:N")
    ap.add_argument("--compile", action="store_true", help="the fit's loss compiled, as with learner.compile")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    chosen = POOLS[args.pool]
    if args.eval_games and chosen.decks != DECKS:
        ap.error(
            f"--eval-games plays {' and '.join(DECKS)} only: pass --eval-games 0 with --pool {args.pool}"
        )

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    pool = CardPool.default()
    decks = {name: load_deck(find_deck(name, [REPO / "decks"]), pool) for name in chosen.decks}
    overrides = dict(setting.split("=", 1) for setting in args.network)
    network = NetworkConfig.from_preset(args.preset, **{k: int(v) for k, v in overrides.items()})
    encoder = Encoder(network)
    started = time.perf_counter()
    demos = engine_demonstrations(
        encoder, heuristic_games(args.games, decks, chosen.pairings, args.seed), args.gamma
    )
    print(
        f"{len(demos)} decisions from {args.games} games ({time.perf_counter() - started:.0f}s)", flush=True
    )
    training, held_out = demos.split(0.9)
    model = PolicyNetwork(network).to(args.device)
    clone(
        model,
        training,
        args.epochs,
        args.minibatch,
        args.lr,
        on_epoch=EpochClock(len(training)),
        compiled=args.compile,
    )
    held_out_report(model.cpu(), held_out)
    if not args.eval_games:
        return 0
    copy = PolicyPlayer(PolicyWeights(1, network, model.state_dict()))
    print("\n| agent's deck | opponent | imitation | heuristic AI |\n|---|---|---:|---:|")
    seed = 10_000 + args.seed
    for deck in DECKS:
        for opponent_name, make in (("random", RandomPlayer), ("heuristic", HeuristicPlayer)):
            against = [other for other in DECKS if other != deck]
            ours = (
                play(copy, make(seed), deck, against, args.eval_games, decks, seed)["wins"] / args.eval_games
            )
            theirs = play(HeuristicPlayer(seed + 1), make(seed), deck, against, args.eval_games, decks, seed)[
                "wins"
            ]
            print(f"| {deck} | {opponent_name} | {ours:.3f} | {theirs / args.eval_games:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
