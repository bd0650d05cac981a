"""The numbers of a running run, read from its Redis, and how they are shown.

`read_snapshot` takes one consistent-enough look at the run's keys (`tolaria.keys`);
`Snapshot` derives rates from the previous one; `StopCriteria` says whether the spec's stop
criteria are met and how far along the run is; `render_line` and `render_bar` format it for a
log file and for a terminal.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import redis

from tolaria.keys import LEARNER_GROUP, EvalField, RunKeys, StatsField
from tolaria.spec import StopSpec

COUNTERS = (
    StatsField.GAMES,
    StatsField.WINS,
    StatsField.LOSSES,
    StatsField.DRAWS,
    StatsField.DECISIONS,
    StatsField.ERRORS,
)


@dataclass
class Snapshot:
    time: float  # unix seconds
    elapsed: float  # run time over all sessions
    counters: dict[str, int] = field(default_factory=dict)
    decisions_per_second: float | None = None
    games_per_second: float | None = None
    queue_depth: int | None = None
    policy_version: int = 0
    learner_step: int = 0
    eval_policy_version: int | None = None
    win_rates: dict[str, float] = field(default_factory=dict)  # evaluated, by baseline
    warm_start_games: int | None = None  # observed so far, while the learner warm-starts
    warm_start_epochs: int | None = None  # then the epochs of cloning done
    evaluated_stage: int | None = None  # the curriculum stage `win_rates` were measured on
    stage: int | None = None  # the curriculum stage (`tolaria.matchmaking.curriculum`)
    stage_start_games: int | None = None  # games when it began
    stage_label: str | None = None  # as shown: name(number/stages)

    @property
    def games(self) -> int:
        return self.counters.get(StatsField.GAMES, 0)

    def to_record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Snapshot:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in record.items() if k in names})


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def read_snapshot(client: redis.Redis, keys: RunKeys, elapsed: float, previous: Snapshot | None) -> Snapshot:
    stats = {_text(k): _text(v) for k, v in client.hgetall(keys.stats).items()}
    counters = {name: int(float(stats.get(name, 0))) for name in COUNTERS}
    win_rates = {
        name.removeprefix(StatsField.WIN_RATE_PREFIX): float(value)
        for name, value in stats.items()
        if name.startswith(StatsField.WIN_RATE_PREFIX)
    }
    eval_version = stats.get(StatsField.EVAL_POLICY_VERSION)
    evaluated_stage, stage = stats.get(StatsField.EVAL_STAGE), stats.get(StatsField.CURRICULUM_STAGE)
    stage_games = stats.get(StatsField.CURRICULUM_STAGE_GAMES)
    warm_games, warm_epochs = stats.get(StatsField.WARM_START_GAMES), stats.get(StatsField.WARM_START_EPOCHS)
    snapshot = Snapshot(
        time=time.time(),
        elapsed=elapsed,
        counters=counters,
        queue_depth=queue_depth(client, keys),
        policy_version=int(client.get(keys.policy_version) or 0),
        learner_step=int(float(stats.get(StatsField.LEARNER_STEP, 0))),
        eval_policy_version=None if eval_version is None else int(float(eval_version)),
        win_rates=win_rates,
        warm_start_games=None if warm_games is None else int(float(warm_games)),
        warm_start_epochs=None if warm_epochs is None else int(float(warm_epochs)),
        evaluated_stage=None if evaluated_stage is None else int(evaluated_stage),
        stage=None if stage is None else int(stage),
        stage_start_games=None if stage_games is None else int(stage_games),
    )
    if previous is not None and snapshot.time > previous.time:
        span = snapshot.time - previous.time
        snapshot.decisions_per_second = (
            max(0, counters[StatsField.DECISIONS] - previous.counters.get(StatsField.DECISIONS, 0)) / span
        )
        snapshot.games_per_second = max(0, snapshot.games - previous.games) / span
    return snapshot


def queue_depth(client: redis.Redis, keys: RunKeys) -> int | None:
    """Rollout entries the learners have not finished with (as the operator measures it)."""
    try:
        groups = client.xinfo_groups(keys.rollouts)
    except redis.ResponseError:  # no stream yet
        return None
    for group in groups:
        if _text(group["name"]) == LEARNER_GROUP:
            lag = group.get("lag")
            return int((lag if lag is not None else client.xlen(keys.rollouts)) + group["pending"])
    return int(client.xlen(keys.rollouts))


# The evaluator's splits of a baseline's games that the summary keeps.
SPLITS = ("by_deck", "by_pairing")


def final_evaluation(client: redis.Redis, keys: RunKeys) -> dict[str, Any]:
    """The evaluator's latest results: version, Elo, the curriculum stage measured, and per
    baseline win rate with its interval, and the same by the agent's deck and by pairing."""
    fields = {_text(k): _text(v) for k, v in client.hgetall(keys.eval).items()}
    if EvalField.POLICY_VERSION not in fields:
        return {}
    baselines: dict[str, dict[str, float]] = {}
    prefix = EvalField.winrate_vs("")
    for name, value in fields.items():
        if name.startswith(prefix):
            baseline = name.removeprefix(prefix)
            baselines[baseline] = {
                "win_rate": float(value),
                "ci_low": float(fields[EvalField.winrate_ci_low_vs(baseline)]),
                "ci_high": float(fields[EvalField.winrate_ci_high_vs(baseline)]),
                "games": int(float(fields[EvalField.games_vs(baseline)])),
            }
    latest = json.loads(fields[EvalField.LATEST]) if EvalField.LATEST in fields else {}
    for baseline, result in latest.get("baselines", {}).items():
        if baseline in baselines:
            baselines[baseline].update({k: result[k] for k in SPLITS if k in result})
    return {
        "policy_version": int(float(fields[EvalField.POLICY_VERSION])),
        "elo": float(fields[EvalField.ELO]) if EvalField.ELO in fields else None,
        **({"stage": latest["stage"]} if "stage" in latest else {}),
        "baselines": baselines,
    }


def evaluation_history(client: redis.Redis, keys: RunKeys) -> list[dict[str, Any]]:
    """Every evaluated version, oldest first: policy_version, evaluated_at and per baseline
    win_rate, ci_low, ci_high, games and their splits by deck and by pairing (the evaluator's
    `v<version>` reports)."""
    history = []
    for name, value in client.hgetall(keys.eval).items():
        name = _text(name)
        if not (name.startswith("v") and name[1:].isdigit()):
            continue
        report = json.loads(value)
        history.append(
            {
                "policy_version": int(report["policy_version"]),
                "evaluated_at": report.get("evaluated_at"),
                "baselines": {
                    b: {k: r[k] for k in ("win_rate", "ci_low", "ci_high", "games", *SPLITS) if k in r}
                    for b, r in report.get("baselines", {}).items()
                    if r.get("win_rate") is not None
                },
            }
        )
    return sorted(history, key=lambda e: e["policy_version"])


@dataclass(frozen=True)
class StopCriteria:
    max_games: int | None
    max_seconds: float | None
    target_win_rate: float | None
    target_baseline: str

    @classmethod
    def from_spec(cls, stop: StopSpec) -> StopCriteria:
        return cls(stop.max_games, stop.max_wall_clock_seconds, stop.target_win_rate, stop.target_baseline)

    def met(self, snapshot: Snapshot) -> str | None:
        """Why the run is done, or None."""
        if self.max_games is not None and snapshot.games >= self.max_games:
            return f"maxGames reached ({snapshot.games} games)"
        if self.max_seconds is not None and snapshot.elapsed >= self.max_seconds:
            return f"maxWallClock reached ({format_duration(snapshot.elapsed)})"
        rate = snapshot.win_rates.get(self.target_baseline)
        if self.target_win_rate is not None and rate is not None and rate >= self.target_win_rate:
            return f"targetWinRate reached ({rate:.3f} against {self.target_baseline})"
        return None

    def fraction(self, snapshot: Snapshot) -> float | None:
        """How far along the run is by its nearest criterion (0..1); None without a bound."""
        parts = []
        if self.max_games is not None:
            parts.append(snapshot.games / self.max_games)
        if self.max_seconds is not None:
            parts.append(snapshot.elapsed / self.max_seconds)
        return min(1.0, max(parts)) if parts else None

    def remaining_seconds(self, snapshot: Snapshot, games_per_second: float | None) -> float | None:
        """Estimated time left: the sooner of the games budget at the current rate and the clock."""
        estimates = []
        if self.max_seconds is not None:
            estimates.append(max(0.0, self.max_seconds - snapshot.elapsed))
        if self.max_games is not None and games_per_second:
            estimates.append(max(0, self.max_games - snapshot.games) / games_per_second)
        return min(estimates) if estimates else None


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _fields(snapshot: Snapshot, criteria: StopCriteria, games_per_second: float | None) -> list[str]:
    """The numbers, most important first (a narrow terminal cuts the end)."""
    games = f"games {snapshot.games}" + (f"/{criteria.max_games}" if criteria.max_games else "")
    rate = snapshot.decisions_per_second
    remaining = criteria.remaining_seconds(snapshot, games_per_second)
    if snapshot.win_rates:
        rates = " ".join(f"{b} {r:.2f}" for b, r in sorted(snapshot.win_rates.items()))
        win = f"win[v{snapshot.eval_policy_version}] {rates}"
    else:
        win = "win -"
    if snapshot.policy_version == 0 and snapshot.warm_start_epochs is not None:
        policy = f"warm start: cloning, epoch {snapshot.warm_start_epochs} done"
    elif snapshot.policy_version == 0 and snapshot.warm_start_games is not None:
        policy = f"warm start: {snapshot.warm_start_games} games watched"
    else:
        policy = f"policy v{snapshot.policy_version}"
    return [
        f"elapsed {format_duration(snapshot.elapsed)}",
        f"eta {format_duration(remaining)}",
        games,
        *([f"stage {snapshot.stage_label}"] if snapshot.stage_label else []),
        policy,
        win,
        f"dec/s {rate:.0f}" if rate is not None else "dec/s -",
        f"queue {snapshot.queue_depth}" if snapshot.queue_depth is not None else "queue -",
    ]


def render_line(snapshot: Snapshot, criteria: StopCriteria, games_per_second: float | None) -> str:
    """A plain progress line for logs and pipes."""
    return " | ".join(_fields(snapshot, criteria, games_per_second))


def render_bar(
    snapshot: Snapshot, criteria: StopCriteria, games_per_second: float | None, width: int = 100
) -> str:
    """A one-line bar for a terminal, at most `width` characters."""
    text = " | ".join(_fields(snapshot, criteria, games_per_second))
    fraction = criteria.fraction(snapshot)
    if fraction is None:
        return text[:width]
    bar_width = max(10, min(30, width - len(text) - 8))
    filled = round(fraction * bar_width)
    bar = f"[{'#' * filled}{'.' * (bar_width - filled)}] {fraction * 100:3.0f}% | "
    return (bar + text)[:width]
