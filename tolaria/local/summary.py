"""The end of a local run: summary.json, its human text, the learning-curve plot and the plot of
the final evaluation by deck and by pairing."""

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
    history: list[dict[str, Any]],
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
        **({"curriculum_stage": last.stage_label} if last and last.stage_label else {}),
        "evaluation": evaluation,
        "evaluations": history,  # every evaluated version: the learning curve
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
    if summary.get("curriculum_stage"):
        lines.append(f"  stage     {summary['curriculum_stage']}")
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
        for baseline, r in sorted(evaluation["baselines"].items()):
            lines.extend(_split_lines(baseline, r))
    else:
        lines.append("  no evaluation finished")
    crashed = {k: v for k, v in summary["restarts"].items() if v}
    if crashed:
        lines.append("  restarts  " + ", ".join(f"{k} {v}" for k, v in sorted(crashed.items())))
    lines.append(f"  checkpoints {summary['checkpoints']}")
    return "\n".join(lines) + "\n"


def _split_lines(baseline: str, result: dict[str, Any]) -> list[str]:
    """The win rates of one baseline's games by the agent's deck and by pairing (a pairing's
    results count both seats)."""
    lines = []
    for split, title in (("by_deck", "by the agent's deck"), ("by_pairing", "by pairing")):
        groups = {k: r for k, r in (result.get(split) or {}).items() if r.get("win_rate") is not None}
        if len(groups) < 2:
            continue  # one deck or one pairing: the line above says it all
        lines.append(f"    vs {baseline}, {title}:")
        width = max(len(name) for name in groups)
        for name, r in sorted(groups.items()):
            lines.append(
                f"      {name:<{width}}  {r['win_rate']:.3f}  [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
                f"  over {r['games']} games"
            )
    return lines


def write_summary(directory: RunDirectory, summary: dict[str, Any]) -> str:
    text = summary_text(summary)
    atomic_write(directory.summary_json, json.dumps(summary, indent=2) + "\n")
    atomic_write(directory.summary_text, text)
    return text


def games_at_versions(records: list[dict[str, Any]], versions: list[int]) -> list[float]:
    """Games played when each policy version was current, interpolated from the snapshots."""
    import numpy as np

    points = sorted({(r["policy_version"], r["counters"].get("games", 0)) for r in records})
    if not points:
        return [0.0 for _ in versions]
    known_versions, known_games = zip(*points, strict=True)
    return [float(g) for g in np.interp(versions, known_versions, known_games)]


def plot_learning_curve(records: list[dict[str, Any]], history: list[dict[str, Any]], path: Path) -> None:
    """Win rate (with its 95% interval) against each baseline for every evaluated version, and the
    policy version, over games played."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, rates_axis = plt.subplots(figsize=(8, 4.5))
    games = games_at_versions(records, [e["policy_version"] for e in history])
    for baseline in sorted({b for e in history for b in e["baselines"]}):
        rows = [
            (g, e["baselines"][baseline])
            for g, e in zip(games, history, strict=True)
            if baseline in e["baselines"]
        ]
        x = [g for g, _ in rows]
        line = rates_axis.plot(
            x, [r["win_rate"] for _, r in rows], marker=".", label=f"win rate vs {baseline}"
        )
        rates_axis.fill_between(
            x,
            [r["ci_low"] for _, r in rows],
            [r["ci_high"] for _, r in rows],
            color=line[0].get_color(),
            alpha=0.2,
        )
    rates_axis.set_xlabel("games played")
    rates_axis.set_ylabel("evaluated win rate (95% interval)")
    rates_axis.set_ylim(0, 1)
    rates_axis.axhline(0.5, color="grey", linewidth=0.5, linestyle=":")
    version_axis = rates_axis.twinx()
    if records:
        version_axis.plot(
            [r["counters"].get("games", 0) for r in records],
            [r["policy_version"] for r in records],
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


def pairing_table(
    by_pairing: dict[str, dict[str, Any]],
) -> tuple[list[str], list[str], list[list[float | None]]]:
    """(agent decks, opponent decks, win rate of each agent deck (row) against each opponent
    deck (column), None where the pairing was not played) from a result's `by_pairing`."""
    rates: dict[tuple[str, str], float] = {}
    for name, r in by_pairing.items():
        agent, _, opponent = name.partition(" vs ")
        if r.get("win_rate") is not None:
            rates[agent, opponent] = r["win_rate"]
    agents = sorted({a for a, _ in rates})
    opponents = sorted({o for _, o in rates})
    return agents, opponents, [[rates.get((a, o)) for o in opponents] for a in agents]


def plot_pairings(evaluation: dict[str, Any], path: Path) -> bool:
    """The final evaluation's win rate of every pairing, one heat map per baseline (agent's
    deck by row, opponent's by column); False, and no file, when it has no split by pairing."""
    baselines = {
        b: r["by_pairing"]
        for b, r in sorted((evaluation.get("baselines") or {}).items())
        if r.get("by_pairing")
    }
    if not baselines:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, len(baselines), figsize=(5.5 * len(baselines), 5), squeeze=False)
    for axis, (baseline, by_pairing) in zip(axes[0], baselines.items(), strict=True):
        agents, opponents, table = pairing_table(by_pairing)
        values = np.array([[np.nan if v is None else v for v in row] for row in table], dtype=float)
        image = axis.imshow(values, vmin=0, vmax=1, cmap="RdYlGn")
        for i, row in enumerate(table):
            for j, value in enumerate(row):
                if value is not None:
                    axis.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8)
        axis.set_xticks(range(len(opponents)), opponents, rotation=45, ha="right", fontsize=8)
        axis.set_yticks(range(len(agents)), agents, fontsize=8)
        axis.set_xlabel("opponent's deck")
        axis.set_ylabel("agent's deck")
        axis.set_title(f"win rate vs {baseline}, policy v{evaluation.get('policy_version')}")
        fig.colorbar(image, ax=axis, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True
