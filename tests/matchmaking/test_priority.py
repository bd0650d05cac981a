"""Prioritised pairings: the draw leans to the pairings the agent loses against the built-in AI."""

from __future__ import annotations

import pytest

from tolaria.matchmaking.priority import PRIOR_GAMES, PairingScores, priority_factor
from tolaria.spec import PairingPriority

PAIRINGS = [
    ("blue_control", "red_aggro", 4.0),
    ("blue_control", "white_weenie", 4.0),
    ("red_aggro", "blue_control", 1.0),
]


def ratios(weighted: list[tuple[str, str, float]]) -> list[float]:
    total = sum(w for _, _, w in weighted)
    return [w / total for _, _, w in weighted]


def test_until_games_against_the_ai_come_in_the_draw_keeps_the_specs_odds():
    scores = PairingScores(PairingPriority(window=50))
    assert ratios(scores.prioritised(PAIRINGS)) == pytest.approx(ratios(PAIRINGS))


def test_a_pairing_the_agent_loses_is_drawn_more_than_one_it_wins():
    scores = PairingScores(PairingPriority(exponent=2.0, window=50, min_factor=0.05))
    for _ in range(20):
        scores.record("blue_control", "red_aggro", 0.0)
        scores.record("blue_control", "white_weenie", 1.0)
    lost = (0 + 0.5 * PRIOR_GAMES) / (20 + PRIOR_GAMES)
    assert scores.win_rate("blue_control", "red_aggro") == pytest.approx(lost)
    weighted = scores.prioritised(PAIRINGS)
    assert [w for _, _, w in weighted] == pytest.approx([4.0 * (1 - lost) ** 2, 4.0 * 0.05, 1.0 * 0.5**2])


def test_the_factor_is_hard_weighting_with_a_floor():
    priority = PairingPriority(exponent=1.5, min_factor=0.1)
    assert priority_factor(0.2, priority) == pytest.approx(0.8**1.5)
    assert priority_factor(0.99, priority) == 0.1
    assert priority_factor(0.0, priority) == 1.0


def test_only_the_window_of_latest_games_counts_and_a_draw_is_half_a_win():
    scores = PairingScores(PairingPriority(window=4))
    for score in (0.0, 0.0, 0.0, 1.0, 1.0, 0.5, 1.0):
        scores.record("a", "b", score)
    assert scores.games("a", "b") == 4
    assert scores.win_rate("a", "b") == pytest.approx(
        (1.0 + 1.0 + 0.5 + 1.0 + 0.5 * PRIOR_GAMES) / (4 + PRIOR_GAMES)
    )
    assert scores.games("b", "a") == 0  # a pairing is ordered: the agent's deck first
    assert scores.win_rate("b", "a") == 0.5


def test_the_log_line_gives_each_decks_share_and_the_most_drawn_pairings():
    scores = PairingScores(PairingPriority(window=50))
    for _ in range(8):
        scores.record("blue_control", "red_aggro", 0.0)
    line = scores.describe(PAIRINGS)
    weighted = scores.prioritised(PAIRINGS)
    blue_share = sum(ratios(weighted)[:2])
    assert f"blue_control {blue_share:.2f}, red_aggro {1 - blue_share:.2f}" in line
    assert "most drawn, with win rate against the AI: blue_control v red_aggro 0.10 (8 games)" in line
