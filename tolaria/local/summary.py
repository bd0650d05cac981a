"""The end of a local run: summary.json, its human text and the learning-curve plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tolaria.local.progress import Snapshot, format_duration
from tolaria.local.rundir import RunDirectory, atomic_write


def build_summary(
    *,
    name: str,
    outcome: str,
    reason: str,
    last: Snapshot | None,
    evaluation: dict[str, Any],
    restarts: dict[str, int],
    checkpoint_uri: str,
) -> dict[str, Any]:
    counters = last.counters if last else {}
    games = counters.get("games", 0)
    return {
        "run": name,
        "outcome": outcome,  # succeeded, interrupted, failed
        "reason": reason,
        "elapsed_seconds": round(last.elapsed, 1) if last else 0.0,
        "games": games,
        "decisions": counters.get("decisions", 0),
        "training_results": {k: counters.get(k, 0) for k in ("wins", "losses", "draws", "errors")},
        "policy_version": last.policy_version if last else 0,
        "learner_step": last.learner_step if last else 0,
        "evaluation": evaluation,
        "restarts": restarts,
        "checkpoints": checkpoint_uri,
    }


def summary_text(summary: dict[str, Any]) -> str:
    lines = [
        f"run {summary['run']}: {summary['outcome']} ({summary['reason']})",
        f"  time      {format_duration(summary['elapsed_seconds'])}",
        f"  games     {summary['games']} ({summary['decisions']} decisions)",
        f"  policy    version {summary['policy_version']} after {summary['learner_step']} PPO updates",
    ]
    evaluation = summary["evaluation"]
    if evaluation.get("baselines"):
        elo = evaluation.get("elo")
        lines.append(
            f"  evaluated policy version {evaluation['policy_version']}"
            + (f" (Elo {elo:.0f})" if elo is not None else "")
            + ": win rate, 95% interval"
        )
        for baseline, r in sorted(evaluation["baselines"].items()):
            lines.append(
                f"    vs {baseline:<10} {r['win_rate']:.3f}  [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
                f"  over {r['games']} games"
            )
    else:
        lines.append("  no evaluation finished")
    crashed = {k: v for k, v in summary["restarts"].items() if v}
    if crashed:
        lines.append("  restarts  " + ", ".join(f"{k} {v}" for k, v in sorted(crashed.items())))
    lines.append(f"  checkpoints {summary['checkpoints']}")
    return "\n".join(lines) + "\n"


def write_summary(directory: RunDirectory, summary: dict[str, Any]) -> str:
    text = summary_text(summary)
    atomic_write(directory.summary_json, json.dumps(summary, indent=2) + "\n")
    atomic_write(directory.summary_text, text)
    return text


def plot_learning_curve(records: list[dict[str, Any]], path: Path) -> None:
    """Win rate against each baseline and the policy version, both over games played."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    snapshots = [Snapshot.from_record(r) for r in records]
    fig, rates_axis = plt.subplots(figsize=(8, 4.5))
    # one point per evaluated version, at the games played when its result first appeared
    evaluated = [
        s
        for i, s in enumerate(snapshots)
        if s.win_rates and (i == 0 or s.eval_policy_version != snapshots[i - 1].eval_policy_version)
    ]
    for baseline in sorted({b for s in evaluated for b in s.win_rates}):
        points = [(s.games, s.win_rates[baseline]) for s in evaluated if baseline in s.win_rates]
        rates_axis.plot(*zip(*points, strict=True), marker="o", label=f"win rate vs {baseline}")
    rates_axis.set_xlabel("games played")
    rates_axis.set_ylabel("win rate (evaluated)")
    rates_axis.set_ylim(0, 1)
    rates_axis.axhline(0.5, color="grey", linewidth=0.5, linestyle=":")
    version_axis = rates_axis.twinx()
    if snapshots:
        version_axis.plot(
            [s.games for s in snapshots],
            [s.policy_version for s in snapshots],
            color="black",
            linewidth=1,
            alpha=0.6,
            label="policy version",
        )
    version_axis.set_ylabel("policy version")
    handles = rates_axis.get_legend_handles_labels()
    more = version_axis.get_legend_handles_labels()
    rates_axis.legend(handles[0] + more[0], handles[1] + more[1], loc="upper left")
    rates_axis.set_title("learning curve")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
