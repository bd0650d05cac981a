"""The curriculum: which stage a run is in, and when it moves to the next.

The stage is one value every component agrees on: its index, with the `games` counter at the
moment it began, in the run's `...:stats` hash (`StatsField.CURRICULUM_STAGE` and
`CURRICULUM_STAGE_GAMES`, written together). One keeper writes them, the operator in a cluster
and the runner in local mode, from `advance`, a pure decision over what both read already (the
games counter, the evaluator's win rates and the stage it measured them on); actors draw each
game's pairing from the stage they read, and the evaluator measures the stage's pairings. A
stage ends on its `until`: `games` played since it began, or an evaluated `winRate` against
`baseline` on the stage's own pairings (an evaluation of an earlier stage never counts); the
last stage lasts until the run stops. Stages only move forward.

An index beyond the spec's stages (a curriculum shortened mid-run) means the last stage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tolaria.spec import Curriculum


@dataclass(frozen=True)
class StageState:
    """The stage a run is in: its index and the games counter when it began."""

    index: int = 0
    start_games: int = 0


@dataclass(frozen=True)
class Advance:
    """A move to the next stage, and why."""

    state: StageState
    reason: str


def current_index(curriculum: Curriculum | None, index: int | None) -> int:
    """The stage index to play, from the raw one read (None: not written yet)."""
    if curriculum is None or index is None or index < 0:
        return 0
    return min(index, len(curriculum.stages) - 1)


def advance(
    curriculum: Curriculum | None,
    state: StageState,
    games: int | None,
    evaluated_stage: int | None,
    win_rates: Mapping[str, float],
) -> Advance | None:
    """The next stage when the current one's `until` is met; None while it goes on.

    `win_rates` are the evaluator's latest, by baseline, measured on stage `evaluated_stage`.
    """
    if curriculum is None:
        return None
    index = current_index(curriculum, state.index)
    until = curriculum.stages[index].until
    if until is None or index + 1 >= len(curriculum.stages):
        return None
    reason = None
    played = None if games is None else games - state.start_games
    if until.games is not None and played is not None and played >= until.games:
        reason = f"{played} games played in the stage (until.games {until.games})"
    rate = win_rates.get(until.baseline) if evaluated_stage == index else None
    if reason is None and until.win_rate is not None and rate is not None and rate >= until.win_rate:
        reason = f"win rate {rate:.3f} against {until.baseline} (until.winRate {until.win_rate})"
    if reason is None:
        return None
    following = curriculum.stages[index + 1].name
    return Advance(
        StageState(index + 1, games or 0),
        f"stage {curriculum.stages[index].name} ended: {reason}; stage {following} begins",
    )


def stage_label(curriculum: Curriculum | None, index: int) -> str | None:
    """`name(number/stages)`, numbered from 1 and without spaces (a column of `kubectl get`), as
    status and progress show it; None without a curriculum."""
    if curriculum is None:
        return None
    index = current_index(curriculum, index)
    return f"{curriculum.stages[index].name}({index + 1}/{len(curriculum.stages)})"
