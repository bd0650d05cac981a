"""Opponent sampling: proportions of the mix, past snapshots, determinism."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from tolaria.matchmaking.opponents import OpponentChoice, OpponentSampler
from tolaria.spec import OpponentMix

DRAWS = 20_000


def within_binomial_bounds(count: int, n: int, p: float, sigmas: float = 5.0) -> bool:
    return abs(count - n * p) <= sigmas * math.sqrt(n * p * (1 - p))


def test_kinds_follow_the_mix():
    sampler = OpponentSampler(
        OpponentMix(self_play=0.5, builtin_ai=0.2, random_player=0.1, league=0.2), seed=7
    )
    counts = Counter(sampler.sample(10, [2, 4, 6, 8]).kind for _ in range(DRAWS))
    for kind, p in (("self_play", 0.5), ("builtin_ai", 0.2), ("random_player", 0.1), ("league", 0.2)):
        assert within_binomial_bounds(counts[kind], DRAWS, p), (kind, counts)


def test_weights_are_normalised_by_their_sum():
    sampler = OpponentSampler(OpponentMix(self_play=0.8, builtin_ai=0.0, league=0.4), seed=1)
    counts = Counter(sampler.sample(5, [1, 2]).kind for _ in range(DRAWS))
    assert counts["builtin_ai"] == 0
    assert within_binomial_bounds(counts["league"], DRAWS, 0.4 / 1.2), counts


def test_past_snapshots_uniform():
    sampler = OpponentSampler(OpponentMix(self_play=0.0, builtin_ai=0.0, league=1.0, league_series=1), seed=3)
    counts = Counter(sampler.sample(10, [2, 4, 6, 8]).version for _ in range(DRAWS))
    for version in (2, 4, 6, 8):
        assert within_binomial_bounds(counts[version], DRAWS, 0.25), counts


def test_past_snapshots_recency_weighted():
    only_league = OpponentMix(self_play=0.0, builtin_ai=0.0, league=1.0, league_series=1)
    sampler = OpponentSampler(only_league, seed=3, past="recency")
    counts = Counter(sampler.sample(10, [8, 2, 6, 4]).version for _ in range(DRAWS))
    for version, weight in ((2, 1), (4, 2), (6, 3), (8, 4)):
        assert within_binomial_bounds(counts[version], DRAWS, weight / 10), counts


def test_past_weighting_comes_from_the_spec_unless_overridden():
    recency = OpponentMix(
        self_play=0.0, builtin_ai=0.0, league=1.0, past_weighting="recency", league_series=1
    )
    assert OpponentSampler(recency, seed=0).past == "recency"
    assert OpponentSampler(recency, seed=0, past="uniform").past == "uniform"
    assert OpponentSampler(OpponentMix(), seed=0).past == "uniform"  # the default, as before the field
    sampler = OpponentSampler(recency, seed=3)
    drawn = Counter(sampler.sample(10, [2, 8]).version for _ in range(DRAWS))
    assert within_binomial_bounds(drawn[8], DRAWS, 2 / 3), drawn


def test_a_snapshot_plays_a_series_of_league_games_and_each_series_is_drawn_by_weight():
    sampler = OpponentSampler(OpponentMix(self_play=0.5, builtin_ai=0.0, league=0.5, league_series=4), seed=5)
    league_games = [
        c.version for c in (sampler.sample(10, [2, 4, 6, 8]) for _ in range(DRAWS)) if c.kind == "league"
    ]
    assert within_binomial_bounds(len(league_games), DRAWS, 0.5)  # other kinds do not use the series up
    series = [league_games[i : i + 4] for i in range(0, len(league_games) - len(league_games) % 4, 4)]
    assert all(len(set(s)) == 1 for s in series), series[:10]
    counts = Counter(s[0] for s in series)
    for version in (2, 4, 6, 8):
        assert within_binomial_bounds(counts[version], len(series), 0.25), counts


def test_a_series_ends_when_its_snapshot_leaves_the_league():
    sampler = OpponentSampler(
        OpponentMix(self_play=0.0, builtin_ai=0.0, league=1.0, league_series=100), seed=2
    )
    first = sampler.sample(10, [3, 7]).version
    assert {sampler.sample(10, [3, 7]).version for _ in range(20)} == {first}
    remaining = 7 if first == 3 else 3
    assert {sampler.sample(11, [remaining, 9]).version for _ in range(20)} in ({remaining}, {9})
    assert sampler.sample(1, [3, 7]) == OpponentChoice("self_play")  # no past snapshot: no series either


def test_latest_and_newer_versions_are_not_past():
    sampler = OpponentSampler(OpponentMix(self_play=0.0, builtin_ai=0.0, league=1.0), seed=0)
    assert {sampler.sample(6, [4, 6, 9]).version for _ in range(200)} == {4}


def test_empty_league_gives_its_share_to_self_play():
    sampler = OpponentSampler(OpponentMix(self_play=0.5, builtin_ai=0.3, league=0.2), seed=11)
    counts = Counter(sampler.sample(1, []).kind for _ in range(DRAWS))
    assert counts["league"] == 0
    assert within_binomial_bounds(counts["self_play"], DRAWS, 0.7), counts
    only_league = OpponentSampler(OpponentMix(self_play=0.0, builtin_ai=0.0, league=1.0), seed=0)
    assert only_league.sample(1, [1]) == OpponentChoice("self_play")


def test_sampling_is_deterministic_given_the_seed():
    def draws(seed: int) -> list[OpponentChoice]:
        sampler = OpponentSampler(OpponentMix(), seed=seed, past="recency")
        return [sampler.sample(20, [3, 9, 15]) for _ in range(500)]

    assert draws(5) == draws(5)
    assert draws(5) != draws(6)


def test_choice_metadata_for_rollouts():
    assert OpponentChoice("league", 12).meta() == {"opponent_kind": "league", "opponent_version": 12}
    assert OpponentChoice("builtin_ai").meta() == {"opponent_kind": "builtin_ai", "opponent_version": None}


def test_unknown_past_weighting_is_refused():
    with pytest.raises(ValueError, match="uniform or recency"):
        OpponentSampler(OpponentMix(), seed=0, past="newest")  # type: ignore[arg-type]
