"""How well the policy network can imitate the built-in heuristic AI, and how strong the copy plays.

    python bench/imitation.py --games 1000 --epochs 10 --eval-games 200

Offline, in process, no daemon: the question is what the network and encoder can express, apart
from everything else a training run does.

1. Plays `--games` heuristic-vs-heuristic engine games of red_aggro vs white_weenie (both seat
   orders) and keeps every decision's payload with the AI's reply to it (the wire text observe
   mode would stream as `ai_choice`), turned into the policy's action by `Encoder.action_of_reply`.
2. Trains a fresh network (`--preset`, `--network FIELD=INT`) on 90% of the decisions by
   cross-entropy towards the AI's actions (behaviour cloning: Adam, minibatches of
   `--minibatch`) and its value head towards each decision's discounted outcome, and reports
   per decision type on the other 10%: negative log-likelihood and how often the greedy action
   is the AI's (and the value's explained variance).
   `--checkpoint URI` also writes the copy to a checkpoint store as a learner checkpoint (step
   0, version 1), with its value head fitted to the games' outcomes: a run whose store it is
   starts from the copy (`bench/learning.py --warm-start-games`).
3. Plays the trained network (greedy) against the random player and the heuristic AI,
   `--eval-games` per deck and opponent, seats alternating, and prints the win rates next to the
   heuristic AI's own on the same seeds.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from policy_habits import DECKS, PolicyPlayer, play  # noqa: E402  (bench/, the script's folder)

from tolaria.actor.trajectory import outcome_reward  # noqa: E402
from tolaria.daemon.answer_text import answer_text  # noqa: E402
from tolaria.engine import CardPool, Game, HeuristicPlayer, RandomPlayer, find_deck, load_deck  # noqa: E402
from tolaria.trainer.checkpoint import Checkpoint, open_store  # noqa: E402
from tolaria.trainer.config import NetworkConfig  # noqa: E402
from tolaria.trainer.encoding import DECISION_TYPES, KIND_ONE, KIND_SUBSET, Encoder  # noqa: E402
from tolaria.trainer.policy import PolicyNetwork, action_log_probs, to_tensors, trim_padding  # noqa: E402
from tolaria.trainer.weights import PolicyWeights  # noqa: E402


def demonstrations(
    games: int, decks: dict[str, Any], encoder: Encoder, seed: int, gamma: float
) -> tuple[dict, np.ndarray, np.ndarray]:
    """Encoded decisions of heuristic-vs-heuristic games, the AI's action for each and the value
    target of each (the deciding seat's outcome, +1 / -1 / 0, discounted by gamma per later
    decision of that seat, as the learner's returns are); decisions whose reply the offered slots
    cannot express are left out."""
    payloads, replies, values = [], [], []
    for index in range(games):
        order = DECKS if index % 2 == 0 else DECKS[::-1]
        game = Game((decks[order[0]], decks[order[1]]), seed=seed + index)
        players = (HeuristicPlayer(seed + 2 * index), HeuristicPlayer(seed + 2 * index + 1))
        seats: list[int] = []
        decision = game.start()
        while decision is not None:
            answer = None
            if decision.expects_reply:
                answer = players[decision.seat].choose(decision)
                payloads.append(decision.payload(None))
                replies.append(answer_text(decision, answer))
                seats.append(decision.seat)
            decision = game.submit(answer)
        later = {0: 0, 1: 0}
        returns = []
        for seat in reversed(seats):
            returns.append(outcome_reward(game.result.winner, seat) * gamma ** later[seat])
            later[seat] += 1
        values.extend(reversed(returns))
    arrays, offered = encoder.encode_offered(payloads)
    actions = [encoder.action_of_reply(o, reply) for o, reply in zip(offered, replies, strict=True)]
    kept = np.array([a is not None for a in actions])
    return (
        {k: v[kept] for k, v in arrays.items()},
        np.stack([a for a in actions if a is not None]).astype(np.int64),
        np.asarray(values, dtype=np.float32)[kept],
    )


def train(
    model: PolicyNetwork,
    arrays: dict,
    actions: np.ndarray,
    values: np.ndarray,
    epochs: int,
    minibatch: int,
    lr: float,
) -> None:
    """Cross-entropy towards the AI's actions plus, as in the learner's loss, 0.5 x the value
    head's squared error (so a run started from the copy starts with a value that knows the game)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    tensors = to_tensors(arrays)
    targets = torch.from_numpy(actions)
    value_targets = torch.from_numpy(values)
    n = len(actions)
    generator = torch.Generator().manual_seed(0)
    for epoch in range(epochs):
        started, total = time.perf_counter(), 0.0
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, minibatch):
            idx = order[start : start + minibatch]
            mb = trim_padding({k: v[idx] for k, v in tensors.items()})
            logits, predicted = model(mb)
            log_probs, _ = action_log_probs(logits, mb, targets[idx][:, : mb["option_mask"].shape[1]])
            loss = -log_probs.mean() + 0.5 * ((predicted - value_targets[idx]) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            optimizer.step()
            total += float(loss.detach()) * len(idx)
        print(
            f"epoch {epoch + 1}: training NLL {total / n:.3f} ({time.perf_counter() - started:.0f}s)",
            flush=True,
        )


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
def held_out_report(model: PolicyNetwork, arrays: dict, actions: np.ndarray, values: np.ndarray) -> None:
    tensors = to_tensors(arrays)
    targets = torch.from_numpy(actions)
    logits, predicted = model(tensors)
    returns = torch.from_numpy(values)
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
    ap.add_argument(
        "--checkpoint",
        metavar="URI",
        help="write the copy as a learner checkpoint (step 0, version 1) to this store, to start a run from",
    )
    ap.add_argument("--eval-games", type=int, default=200, help="games per deck and opponent; 0: none")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    pool = CardPool.default()
    decks = {name: load_deck(find_deck(name, [REPO / "decks"]), pool) for name in DECKS}
    overrides = dict(setting.split("=", 1) for setting in args.network)
    network = NetworkConfig.from_preset(args.preset, **{k: int(v) for k, v in overrides.items()})
    encoder = Encoder(network)
    started = time.perf_counter()
    arrays, actions, values = demonstrations(args.games, decks, encoder, args.seed, args.gamma)
    n = len(actions)
    cut = math.floor(n * 0.9)
    print(f"{n} decisions from {args.games} games ({time.perf_counter() - started:.0f}s)", flush=True)
    model = PolicyNetwork(network)
    train(
        model,
        {k: v[:cut] for k, v in arrays.items()},
        actions[:cut],
        values[:cut],
        args.epochs,
        args.minibatch,
        args.lr,
    )
    model.eval()
    held_out_report(model, {k: v[cut:] for k, v in arrays.items()}, actions[cut:], values[cut:])
    if args.checkpoint:
        store = open_store(args.checkpoint)
        name = store.save(
            Checkpoint(
                step=0,
                policy_version=1,
                counters={},
                config={"network": dataclasses.asdict(network)},
                model_state=model.state_dict(),
            )
        )
        print(f"\nthe copy is version 1 of {store.object_uri(name)}: a run with this store starts from it")
    if not args.eval_games:
        return 0
    copy = PolicyPlayer(PolicyWeights(1, network, model.state_dict()))
    print("\n| agent's deck | opponent | imitation | heuristic AI |\n|---|---|---:|---:|")
    seed = 10_000 + args.seed
    for deck in DECKS:
        for opponent_name, make in (("random", RandomPlayer), ("heuristic", HeuristicPlayer)):
            ours = play(copy, make(seed), deck, args.eval_games, decks, seed)["wins"] / args.eval_games
            theirs = play(HeuristicPlayer(seed + 1), make(seed), deck, args.eval_games, decks, seed)["wins"]
            print(f"| {deck} | {opponent_name} | {ours:.3f} | {theirs / args.eval_games:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
