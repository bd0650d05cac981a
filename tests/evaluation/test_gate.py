"""The promotion gate decides on the confidence interval of the candidate's win rate."""

from __future__ import annotations

import random

import pytest

from tolaria.evaluation.confidence import WinRate
from tolaria.evaluation.gate import promotes, promotion_threshold


def test_an_even_result_is_not_enough_without_a_margin():
    assert not promotes(WinRate(100, 0, 100), 0.0)  # the point estimate, 0.5, would promote it
    assert not promotes(WinRate(110, 0, 90), 0.0)  # 0.55: lower bound 0.481
    assert promotes(WinRate(115, 0, 85), 0.0)  # 0.575: lower bound 0.506


def test_the_margin_says_how_much_worse_than_even_may_pass():
    # 200 games, margin 0.05: the lower bound must reach 0.45
    assert WinRate(104, 0, 96).interval[0] == pytest.approx(0.451, abs=1e-3)
    assert promotes(WinRate(104, 0, 96), 0.05)
    assert not promotes(WinRate(100, 0, 100), 0.05)  # lower bound 0.431
    assert not promotes(WinRate(90, 0, 110), 0.05)


def test_more_games_let_a_smaller_improvement_through():
    # 52% of the games, margin 0: not shown better than even over 200 games, shown over 5000
    assert not promotes(WinRate(104, 0, 96), 0.0)
    assert WinRate(2600, 0, 2400).interval[0] == pytest.approx(0.506, abs=1e-3)
    assert promotes(WinRate(2600, 0, 2400), 0.0)


def test_draws_count_half_a_win():
    assert promotes(WinRate(100, 30, 70), 0.0) == promotes(WinRate(115, 0, 85), 0.0)


def test_margins_of_half_and_more_pass_anything_that_played():
    assert promotes(WinRate(0, 0, 4), 0.5)
    assert promotes(WinRate(0, 0, 1), 1.0)
    assert not promotes(WinRate(), 1.0)  # no finished game, no promotion


def test_synthetic_candidates_rarely_promote_a_worse_policy():
    # Candidates that are in truth 5 points worse than even, 200 games each: the point
    # estimate at margin 0.05 lets about half through, the interval almost none.
    rng = random.Random(11)
    trials = 2000
    worse = [WinRate(w := sum(rng.random() < 0.45 for _ in range(200)), 0, 200 - w) for _ in range(trials)]
    by_interval = sum(promotes(r, 0.05) for r in worse) / trials
    by_point = sum(r.rate >= 0.45 for r in worse) / trials
    assert by_point > 0.4
    assert by_interval < 0.05
    # ...while a clearly better one (0.6) passes nearly always
    better = [WinRate(w := sum(rng.random() < 0.6 for _ in range(200)), 0, 200 - w) for _ in range(500)]
    assert sum(promotes(r, 0.05) for r in better) / 500 > 0.97


@pytest.mark.parametrize("margin", [-0.1, 1.5])
def test_a_margin_outside_zero_to_one_is_refused(margin):
    with pytest.raises(ValueError, match="promotion margin"):
        promotion_threshold(margin)
