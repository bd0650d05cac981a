"""Which decisions a trained policy makes better than the built-in AI: the policy against the AI,
then again with one kind of decision handed to the AI, on the same deals.

    python bench/decision_handoff.py file:///abs/run/checkpoints --reps 20
    python bench/decision_handoff.py file:///abs/run/checkpoints/league --versions 151,301,451 --handoffs none

Plays a checkpoint (greedy, as the evaluator plays) against the heuristic AI over every ordered
pairing of the seven-deck pool, in both seats, `--reps` times (98 games a rep), in process on the
rules engine: the policy answers the engine's DECISION payloads as it would over TCP. Each
`--handoffs` entry is a variant: `none` (the policy decides everything), a decision type
(`declare_blockers`) or a type and purpose (`choose_cards:tutor`), several joined by `+`, or
`all`. In a variant the heuristic AI answers those decisions in the policy's seat; with `all` it
answers every one, which is the AI against itself on the same deals, the mark a policy is
measured from. Every variant plays the same seeds, so a deal's luck is shared: the difference to
`none` is reported with the standard error of the per-deal differences. A handoff that lowers the
win rate is one where the policy beats the AI's own choice; one that raises it names where the
policy is still worse than the AI.

`--versions` picks snapshots of a league store (a run's `<checkpoints>/league`, one per evaluated
version) by policy version: a learning curve whose points have the precision of the games played (about
0.011 at 20 reps), where the run's own evaluations, at 98 games, have about 0.05.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from learning import SEVEN_DECKS  # noqa: E402  (bench/, the script's folder)

from tolaria.engine import CardPool, Game, HeuristicPlayer, find_deck, load_deck  # noqa: E402
from tolaria.engine.decision import Answer, Decision  # noqa: E402
from tolaria.evaluation.confidence import wilson_interval  # noqa: E402
from tolaria.inference.policy_player import PolicyPlayer  # noqa: E402
from tolaria.matchmaking.league import League  # noqa: E402
from tolaria.trainer.checkpoint import open_store  # noqa: E402
from tolaria.trainer.config import NetworkConfig  # noqa: E402
from tolaria.trainer.weights import PolicyWeights  # noqa: E402


class HandoffPlayer:
    """The policy, except for the decisions `handed` names, which the heuristic AI answers."""

    def __init__(self, policy: PolicyPlayer, ai: HeuristicPlayer, handed: frozenset[str]):
        self.policy, self.ai, self.handed = policy, ai, handed

    def choose(self, decision: Decision) -> Answer:
        handed = self.handed
        if "all" in handed or decision.type in handed or f"{decision.type}:{decision.purpose}" in handed:
            return self.ai.choose(decision)
        return self.policy.choose(decision)


def policies(uri: str, versions: list[int]) -> list[PolicyWeights]:
    """The store's newest checkpoint, or, with `versions`, those snapshots of a league store."""
    store = open_store(uri)
    if versions:
        league = League(store)
        try:
            return [league.load(version) for version in versions]
        except KeyError as e:
            raise SystemExit(e.args[0]) from None
    latest = store.latest()
    if latest is None:
        raise SystemExit(f"no checkpoint in {uri}")
    return [
        PolicyWeights(latest.policy_version, NetworkConfig(**latest.config["network"]), latest.model_state)
    ]


def play(player: HandoffPlayer, opponent: HeuristicPlayer, decks: dict, reps: int, seed: int) -> list[float]:
    """One score per deal (1 a win, 0.5 a draw), deals in a fixed order: each rep plays every
    ordered pairing in both seats."""
    scores, deal = [], 0
    for _ in range(reps):
        for mine in SEVEN_DECKS:
            for theirs in SEVEN_DECKS:
                for seat in (0, 1):
                    seated, players = [decks[theirs]] * 2, [opponent] * 2
                    seated[seat], players[seat] = decks[mine], player
                    game = Game(seated, seed=seed + deal)
                    deal += 1
                    decision = game.start()
                    while decision is not None:
                        answer = players[decision.seat].choose(decision) if decision.expects_reply else None
                        decision = game.submit(answer)
                    winner = game.result.winner
                    scores.append(1.0 if winner == seat else 0.5 if winner is None else 0.0)
    return scores


def by_deck(scores: list[float]) -> str:
    """The win rate of each agent deck, in SEVEN_DECKS' order (a rep's deals go deck by deck)."""
    per_deck = len(SEVEN_DECKS) * 2
    per_rep = len(SEVEN_DECKS) * per_deck
    rates = []
    for i in range(len(SEVEN_DECKS)):
        own = [s for k, s in enumerate(scores) if k % per_rep // per_deck == i]
        rates.append(f"{sum(own) / len(own):.3f}")
    return " | ".join(rates)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("uri", help="checkpoint store (file://... or s3://...)")
    ap.add_argument(
        "--versions", default="", help="policy versions to play, comma-separated (default: the newest)"
    )
    ap.add_argument(
        "--handoffs",
        default="none,choose_action,declare_attackers,declare_blockers,choose_entity,confirm_action,choose_cards,all",
        help="variants, comma-separated: none, all, a decision type or type:purpose, several joined by +",
    )
    ap.add_argument(
        "--reps", type=int, default=20, help="rounds of the 98 deals (every ordered pairing, both seats)"
    )
    ap.add_argument("--seed", type=int, default=1000)
    args = ap.parse_args()
    versions = [int(v) for v in args.versions.split(",") if v]
    variants = [v for v in args.handoffs.split(",") if v]
    if not variants or args.reps < 1:
        ap.error("give at least one variant and one rep")

    import torch

    torch.set_num_threads(1)
    chosen = policies(args.uri, versions)
    pool = CardPool.default()
    decks = {name: load_deck(find_deck(name, [REPO / "decks"]), pool) for name in SEVEN_DECKS}
    print(
        "| version | handed to the AI | win rate [95%] | vs none (paired se) | seconds | "
        + " | ".join(SEVEN_DECKS)
        + " |"
    )
    print("|---" * (5 + len(SEVEN_DECKS)) + "|")
    for weights in chosen:
        policy = PolicyPlayer(weights)
        baseline: list[float] | None = None
        for variant in variants:
            handed = frozenset() if variant == "none" else frozenset(variant.split("+"))
            player = HandoffPlayer(policy, HeuristicPlayer(args.seed + 1), handed)
            started = time.monotonic()
            scores = play(player, HeuristicPlayer(args.seed + 3), decks, args.reps, args.seed)
            seconds = time.monotonic() - started
            rate = sum(scores) / len(scores)
            low, high = wilson_interval(sum(scores), len(scores))
            if variant == "none":
                baseline, paired = scores, "--"
            elif baseline is None:
                paired = "(no none variant before it)"
            else:
                diffs = [s - b for s, b in zip(scores, baseline, strict=True)]
                mean = sum(diffs) / len(diffs)
                sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (len(diffs) - 1))
                paired = f"{mean:+.3f} ({sd / math.sqrt(len(diffs)):.3f})"
            print(
                f"| v{policy.version} | {variant} | {rate:.3f} [{low:.3f}, {high:.3f}] | {paired} "
                f"| {seconds:.0f} | {by_deck(scores)} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
