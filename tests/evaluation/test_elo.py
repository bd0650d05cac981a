"""Elo arithmetic against textbook values."""

from __future__ import annotations

import pytest

from tolaria.evaluation.elo import (
    INITIAL_RATING,
    EloTable,
    expected_score,
    policy_player,
    policy_version_of,
    updated_ratings,
)


def test_expected_scores_of_the_wikipedia_example():
    # Wikipedia, "Elo rating system": a player rated 1613 meets players rated 1609, 1477, 1388,
    # 1586 and 1720; the expected scores are 0.51, 0.69, 0.79, 0.54 and 0.35, 2.867 in all.
    opponents = (1609, 1477, 1388, 1586, 1720)
    expected = [expected_score(1613, r) for r in opponents]
    assert expected == pytest.approx([0.506, 0.686, 0.785, 0.539, 0.351], abs=5e-4)
    assert sum(expected) == pytest.approx(2.867, abs=5e-4)
    # with K = 32 and 2.5 points scored, the rating after the period is 1601
    assert 1613 + 32 * (2.5 - sum(expected)) == pytest.approx(1601, abs=0.5)


def test_expected_score_known_gaps():
    assert expected_score(1200, 1200) == 0.5
    assert expected_score(1600, 1200) == pytest.approx(10 / 11)  # 400 points: odds 10 to 1
    assert expected_score(1200, 1600) == pytest.approx(1 / 11)
    assert expected_score(1500, 1300) + expected_score(1300, 1500) == pytest.approx(1.0)


def test_updates_between_equals():
    assert updated_ratings(1200, 1200, 1.0, 32) == (1216.0, 1184.0)
    assert updated_ratings(1200, 1200, 0.0, 32) == (1184.0, 1216.0)
    assert updated_ratings(1200, 1200, 0.5, 32) == (1200.0, 1200.0)


def test_update_of_an_upset_and_k_factor():
    # 1613 loses to 1609: 1613 - 32 * 0.506 = 1596.8
    a, b = updated_ratings(1613, 1609, 0.0, 32)
    assert a == pytest.approx(1596.8, abs=0.05)
    assert a + b == pytest.approx(1613 + 1609)  # rating points are conserved
    a16, _ = updated_ratings(1613, 1609, 0.0, 16)
    assert 1613 - a16 == pytest.approx((1613 - a) / 2)


@pytest.mark.parametrize(("score", "k"), [(1.5, 32), (-0.1, 32), (1.0, 0), (1.0, -5)])
def test_update_refuses_bad_input(score, k):
    with pytest.raises(ValueError):
        updated_ratings(1200, 1200, score, k)


def test_table_starts_everyone_at_1200_and_applies_games_in_order():
    table = EloTable(32)
    assert table.rating("random") == INITIAL_RATING
    table.record("v1", "random", 1.0)
    assert table.ratings == {"random": 1184.0, "v1": 1216.0}
    table.record("v1", "random", 1.0)
    # second game: v1 expected 1 / (1 + 10 ** (-32 / 400)) = 0.5460
    assert table.ratings["v1"] == pytest.approx(1216 + 32 * (1 - 0.54592), abs=1e-3)


def test_new_policy_version_enters_at_its_predecessors_rating():
    table = EloTable(32, {"v3": 1400.0, "v7": 1500.0, "heuristic": 1300.0, "v12": 900.0})
    assert table.rating("v10") == 1500.0  # newest earlier version: v7
    assert table.rating("v1") == INITIAL_RATING  # nothing earlier
    assert table.rating("random") == INITIAL_RATING  # baselines start at 1200


def test_player_names():
    assert policy_player(42) == "v42"
    assert policy_version_of("v42") == 42
    assert policy_version_of("heuristic") is None
    assert policy_version_of("v") is None


def test_table_refuses_self_play_and_bad_k():
    with pytest.raises(ValueError, match="against itself"):
        EloTable(32).record("v1", "v1", 1.0)
    with pytest.raises(ValueError, match="K-factor"):
        EloTable(0)
