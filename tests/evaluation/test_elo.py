"""The Bradley-Terry ratings: hand-checkable fits, order independence, anchor, prior, the hash format."""

from __future__ import annotations

import math
import random
import time

import pytest

from tolaria.evaluation.confidence import WinRate
from tolaria.evaluation.elo import (
    ANCHOR,
    ANCHOR_RATING,
    GameCounts,
    expected_score,
    fit_ratings,
    policy_player,
    policy_version_of,
)

NO_PRIOR = 1e-9  # a vanishing prior: the pure maximum-likelihood fit where it exists


def elo_gap(wins: float, losses: float) -> float:
    """Elo difference at which `wins` to `losses` is the expected score ratio."""
    return 400 * math.log10(wins / losses)


def counts(*games: tuple[str, str, int, int, int]) -> GameCounts:
    """(player, opponent, wins, draws, losses) from the player's side."""
    return GameCounts({(p, o): WinRate(*outcomes) for p, o, *outcomes in games})


def test_expected_score_known_gaps():
    assert expected_score(1200, 1200) == 0.5
    assert expected_score(1600, 1200) == pytest.approx(10 / 11)  # 400 points: odds 10 to 1
    assert expected_score(1500, 1300) + expected_score(1300, 1500) == pytest.approx(1.0)


def test_one_opponent_of_the_anchor_with_the_prior_by_hand():
    # 3 wins and 1 loss against random, plus the prior's virtual draw: 3.5 to 1.5
    ratings = fit_ratings(counts(("v1", "random", 3, 0, 1)))
    assert ratings == {"random": ANCHOR_RATING, "v1": pytest.approx(1000 + elo_gap(3.5, 1.5), abs=1e-6)}
    assert ratings["v1"] == pytest.approx(1147.19, abs=0.01)


def test_a_chain_of_games_by_hand():
    # random - v1 - v2, a tree: each edge's own log odds, added up. v1 beats random 3 to 1,
    # v2 loses to v1 1 to 3, so v2 is back at random's level.
    ratings = fit_ratings(counts(("v1", "random", 3, 0, 1), ("v2", "v1", 1, 0, 3)), NO_PRIOR)
    assert ratings["v1"] == pytest.approx(1000 + elo_gap(3, 1), abs=1e-3)  # 1190.85
    assert ratings["v2"] == pytest.approx(1000.0, abs=1e-3)


def test_consistent_results_of_a_triangle_are_reproduced_exactly():
    # v1 beats random at odds 3, v2 beats v1 at odds 3, so v2 beats random at odds 9: the
    # likelihood's maximum puts every pair at its observed odds.
    ratings = fit_ratings(
        counts(("v1", "random", 6, 0, 2), ("v2", "v1", 3, 0, 1), ("v2", "random", 9, 0, 1)), NO_PRIOR
    )
    assert ratings["v1"] == pytest.approx(1000 + elo_gap(3, 1), abs=1e-3)
    assert ratings["v2"] == pytest.approx(1000 + elo_gap(9, 1), abs=1e-3)  # 1381.70


def test_draws_count_half_a_win():
    even = fit_ratings(counts(("heuristic", "random", 2, 0, 2)))
    drawn = fit_ratings(counts(("heuristic", "random", 1, 2, 1)))
    assert even["heuristic"] == pytest.approx(1000.0, abs=1e-9)
    assert drawn == pytest.approx(even, abs=1e-9)


def test_maximum_likelihood_equations_hold():
    # At the fit, every player's expected score equals its actual score (prior included).
    games = counts(
        ("heuristic", "random", 150, 10, 40),
        ("v1", "random", 170, 5, 25),
        ("v1", "heuristic", 60, 20, 120),
        ("v2", "v1", 90, 10, 100),
        ("v2", "heuristic", 80, 15, 105),
        ("v2", "random", 180, 4, 16),
    )
    ratings = fit_ratings(games)
    for player in ("heuristic", "v1", "v2"):
        actual, expected = 0.5, expected_score(ratings[player], ratings[ANCHOR])  # the virtual draw
        for opponent in ratings:
            if opponent != player:
                outcomes = games.between(player, opponent)
                actual += outcomes.score
                expected += outcomes.games * expected_score(ratings[player], ratings[opponent])
        assert actual == pytest.approx(expected, abs=1e-6)


def test_the_anchor_stays_fixed_and_only_differences_move():
    games = counts(("heuristic", "random", 150, 10, 40), ("v1", "heuristic", 120, 0, 80))
    ratings = fit_ratings(games)
    assert ratings[ANCHOR] == ANCHOR_RATING
    assert ratings["heuristic"] > 1000 and ratings["v1"] > ratings["heuristic"]
    # The anchor is always rated, even when nobody played it (only the prior links it).
    unanchored = fit_ratings(counts(("v2", "v1", 5, 0, 5)))
    assert unanchored == {"random": 1000.0, "v1": pytest.approx(1000.0), "v2": pytest.approx(1000.0)}


def test_a_perfect_record_gets_a_finite_rating_from_the_prior():
    # 10 wins and the virtual draw: 10.5 to 0.5, 400 log10(21) = 528.9 points above random
    ratings = fit_ratings(counts(("v1", "random", 10, 0, 0)))
    assert ratings["v1"] == pytest.approx(1000 + elo_gap(10.5, 0.5), abs=1e-6)
    assert ratings["v1"] == pytest.approx(1528.88, abs=0.01)
    lost_all = fit_ratings(counts(("v1", "random", 0, 0, 10)))
    assert lost_all["v1"] == pytest.approx(1000 - elo_gap(10.5, 0.5), abs=1e-6)
    # a perfect record against a player who is not the anchor: finite too
    chain = fit_ratings(counts(("heuristic", "random", 100, 0, 100), ("v1", "heuristic", 50, 0, 0)))
    assert math.isfinite(chain["v1"]) and chain["v1"] > chain["heuristic"] + 400


def test_order_of_the_games_does_not_matter():
    rng = random.Random(7)
    strength = {"random": 0.0, "heuristic": 1.2, **{f"v{i}": 0.1 * i for i in range(1, 30)}}
    players = list(strength)
    games = []
    for _ in range(20_000):
        a, b = rng.sample(players, 2)
        p = 1 / (1 + math.exp(strength[b] - strength[a]))
        games.append((a, b, 1.0 if rng.random() < p else 0.0))
    games += [("v3", "v4", 0.5)] * 50
    fits = []
    for _ in range(3):
        rng.shuffle(games)
        # recorded in several evaluations, in another order and grouping each time
        cut = rng.randrange(len(games))
        first, second = GameCounts(), GameCounts()
        first.add_all(games[:cut])
        second.add_all(games[cut:])
        recorded = second + first
        fits.append(fit_ratings(recorded))
    assert fits[0] == fits[1] == fits[2]  # bit for bit
    # and the fit recovers the strengths it was drawn from (within sampling error)
    for player, theta in strength.items():
        assert fits[0][player] - 1000 == pytest.approx(
            theta * 400 / math.log(10), abs=60
        )  # 5 standard errors


def test_hundreds_of_players_fit_fast():
    rng = random.Random(3)
    games = GameCounts()
    for v in range(1, 501):  # an evaluation's games: both baselines, four league opponents
        me = policy_player(v)
        games._add(me, "random", WinRate(rng.randrange(150, 200), 0, rng.randrange(0, 50)))
        games._add(me, "heuristic", WinRate(rng.randrange(50, 150), 5, rng.randrange(50, 150)))
        for past in range(max(1, v - 4), v):
            games._add(me, policy_player(past), WinRate(rng.randrange(20, 30), 2, rng.randrange(20, 30)))
    started = time.perf_counter()
    ratings = fit_ratings(games)
    assert len(ratings) == 502
    assert time.perf_counter() - started < 10  # about 0.2 s on the 2-core development machine


def test_counts_are_kept_once_per_pair_whatever_the_side():
    games = GameCounts()
    games.add("v2", "random", 1.0)
    games.add("random", "v2", 1.0)
    games.add("v2", "random", 0.5)
    assert games.between("v2", "random") == WinRate(1, 1, 1)
    assert games.between("random", "v2") == WinRate(1, 1, 1)
    assert games.pairs() == {("random", "v2"): WinRate(1, 1, 1)} and games.games == 3
    assert games.between("v2", "heuristic") == WinRate()


def test_counts_round_trip_through_the_hash_fields():
    games = counts(("v10", "v9", 3, 1, 0), ("heuristic", "random", 7, 0, 2))
    fields = games.to_fields()
    assert fields == {
        "heuristic:random:wins": 7,
        "heuristic:random:losses": 2,
        "v10:v9:wins": 3,
        "v10:v9:draws": 1,
    }
    as_redis_returns_them = {k.encode(): str(v).encode() for k, v in fields.items()}
    assert GameCounts.from_fields(as_redis_returns_them) == games


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("v1:random", "3", "not of the form"),
        ("v1:random:won", "3", "not of the form"),
        ("v1:random:wins", "-3", "'-3' is not a count"),
        ("v1:random:wins", "2.5", "'2.5' is not a count"),
        ("v1:v1:wins", "2", "against itself"),
    ],
)
def test_bad_hash_fields_are_refused_by_name(field, value, message):
    with pytest.raises(ValueError, match=message) as refused:
        GameCounts.from_fields({field: value})
    assert repr(field) in str(refused.value)
    invalid: list[str] = []
    kept = GameCounts.from_fields({field: value, "heuristic:random:wins": "4"}, invalid)
    assert len(invalid) == 1 and repr(field) in invalid[0]
    assert kept.pairs() == {("heuristic", "random"): WinRate(4, 0, 0)}  # the rest is kept


def test_bad_players_and_scores_are_refused():
    with pytest.raises(ValueError, match="against itself"):
        GameCounts().add("v1", "v1", 1.0)
    with pytest.raises(ValueError, match="':'"):
        GameCounts().add("v1:x", "random", 1.0)
    with pytest.raises(ValueError, match=r"scores 1, 0\.5 or 0"):
        GameCounts().add("v1", "random", 0.7)
    with pytest.raises(ValueError, match="virtual draws"):
        fit_ratings(GameCounts(), prior_draws=0)


def test_player_names():
    assert policy_player(42) == "v42"
    assert policy_version_of("v42") == 42
    assert policy_version_of("heuristic") is None
    assert policy_version_of("v") is None
