"""The curriculum's stage decision and labels (pure)."""

from __future__ import annotations

import pytest

from tolaria.matchmaking.curriculum import StageState, advance, current_index, stage_label
from tolaria.spec import Curriculum

CURRICULUM = Curriculum.model_validate(
    {
        "stages": [
            {"name": "aggro-mirrors", "until": {"games": 100}},
            {"name": "all-aggro", "until": {"winRate": 0.6, "baseline": "heuristic"}},
            {"name": "both", "until": {"winRate": 0.7, "baseline": "random", "games": 50}},
            {"name": "whole-pool"},
        ]
    }
)


def test_a_game_count_ends_a_stage_counting_from_its_start():
    assert advance(CURRICULUM, StageState(0, 0), 99, None, {}) is None
    moved = advance(CURRICULUM, StageState(0, 0), 100, None, {})
    assert moved is not None and moved.state == StageState(1, 100)
    assert "aggro-mirrors ended: 100 games played" in moved.reason and "all-aggro begins" in moved.reason
    # stage 2 began at 1000 games: its 50 are counted from there
    assert advance(CURRICULUM, StageState(2, 1000), 1049, None, {}) is None
    assert advance(CURRICULUM, StageState(2, 1000), 1050, None, {}).state == StageState(3, 1050)


def test_a_win_rate_ends_a_stage_only_when_measured_on_that_stage():
    state = StageState(1, 100)
    assert advance(CURRICULUM, state, 500, 1, {"heuristic": 0.59}) is None
    assert advance(CURRICULUM, state, 500, 0, {"heuristic": 0.9}) is None  # an earlier stage's rate
    assert advance(CURRICULUM, state, 500, None, {"heuristic": 0.9}) is None
    assert advance(CURRICULUM, state, 500, 1, {"random": 0.9}) is None  # another baseline
    moved = advance(CURRICULUM, state, 500, 1, {"heuristic": 0.6})
    assert moved is not None and moved.state == StageState(2, 500)
    assert "win rate 0.600 against heuristic (until.winRate 0.6)" in moved.reason


def test_either_end_of_a_stage_ends_it():
    assert advance(CURRICULUM, StageState(2, 0), 10, 2, {"random": 0.71}).state.index == 3
    assert advance(CURRICULUM, StageState(2, 0), 60, 2, {"random": 0.1}).state.index == 3


def test_the_last_stage_and_a_run_without_curriculum_never_move():
    assert advance(CURRICULUM, StageState(3, 0), 10**9, 3, {"heuristic": 1.0, "random": 1.0}) is None
    assert advance(CURRICULUM, StageState(7, 0), 10**9, 7, {"heuristic": 1.0}) is None  # clamped to last
    assert advance(None, StageState(0, 0), 10**9, 0, {"heuristic": 1.0}) is None


@pytest.mark.parametrize(("raw", "index"), [(None, 0), (-1, 0), (0, 0), (2, 2), (3, 3), (9, 3)])
def test_an_index_read_is_clamped_to_the_stages(raw, index):
    assert current_index(CURRICULUM, raw) == index


def test_stage_label_has_no_spaces_for_the_printer_column():
    assert stage_label(CURRICULUM, 1) == "all-aggro(2/4)"
    assert stage_label(CURRICULUM, 12) == "whole-pool(4/4)"
    assert stage_label(None, 0) is None
