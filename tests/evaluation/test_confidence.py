"""Wilson score intervals against published values (Newcombe, Statistics in Medicine 1998,
Table I, method 3) and the draws-count-half convention of WinRate."""

from __future__ import annotations

import pytest

from tolaria.evaluation.confidence import WinRate, wilson_interval


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0000, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_matches_newcombe(successes, n, low, high):
    got_low, got_high = wilson_interval(successes, n)
    assert got_low == pytest.approx(low, abs=5e-5)
    assert got_high == pytest.approx(high, abs=5e-5)


def test_wilson_is_symmetric_and_stays_inside_unit_interval():
    low, high = wilson_interval(8, 10)
    mirrored = wilson_interval(2, 10)
    assert (low, high) == pytest.approx((1 - mirrored[1], 1 - mirrored[0]))
    assert wilson_interval(29, 29)[1] == 1.0
    assert 0.88 < wilson_interval(29, 29)[0] < 0.89  # far from the normal approximation's zero width


def test_wilson_without_games_is_uninformative():
    assert wilson_interval(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize(("successes", "n"), [(-1, 10), (11, 10), (0, -1)])
def test_wilson_refuses_impossible_counts(successes, n):
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(successes, n)


def test_draws_count_half_a_win():
    rate = WinRate(wins=6, draws=2, losses=2)
    assert rate.games == 10
    assert rate.score == 7.0
    assert rate.rate == pytest.approx(0.7)
    assert rate.interval == pytest.approx(wilson_interval(7.0, 10))


def test_win_rate_accumulates_scores():
    rate = WinRate()
    for score in (1.0, 0.5, 0.0, 1.0):
        rate = rate.with_score(score)
    assert rate == WinRate(2, 1, 1)
    assert rate + WinRate(1, 0, 0) == WinRate(3, 1, 1)
    assert WinRate().rate is None
    with pytest.raises(ValueError, match=r"scores 1, 0\.5 or 0"):
        rate.with_score(0.7)


def test_to_dict_reports_the_interval():
    summary = WinRate(8, 0, 2).to_dict()
    assert summary["win_rate"] == pytest.approx(0.8)
    assert (summary["ci_low"], summary["ci_high"]) == pytest.approx((0.4902, 0.9433), abs=5e-5)
