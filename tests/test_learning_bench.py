"""bench/learning.py's pieces that run before and after an hour of training: the spec it writes
(valid, with the pool's pairings), the even spread of its measurement, and its summary, checked
here in seconds rather than at the end of a 60-minute run."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections import Counter
from pathlib import Path

import pytest

from tolaria.matchmaking.schedule import schedule
from tolaria.spec import TrainingRun

BENCH = Path(__file__).resolve().parents[1] / "bench" / "learning.py"


@pytest.fixture(scope="module")
def learning():
    spec = importlib.util.spec_from_file_location("learning_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def bench_args(**values) -> argparse.Namespace:
    defaults = {
        "pool": "all",
        "agent_weights": "",
        "budget_minutes": 60,
        "seed": 1,
        "games": 1000,
        "cores": 2,
        "eval_games": 50,
        "ai_reference": True,
    }
    return argparse.Namespace(**{**defaults, **values})


def test_whole_pool_spec_is_valid_and_weights_only_the_agents_decks(learning):
    args = bench_args(agent_weights="blue_control=4,azorius_control=3")
    pool = learning.POOLS["all"]
    run = learning.with_settings(
        learning.benchmark_spec(args, pool, "/tmp/checkpoints", 50, pool.even(50)),
        ["spec.learner.warmStart.games=2000"],
    )
    spec = TrainingRun.model_validate(run).spec
    pairings = spec.pairings()
    assert [(a, b) for a, b, _ in pairings] == list(pool.pairings)  # all 49, mirrors included
    weights = {(a, b): w for a, b, w in pairings}
    assert weights[("blue_control", "red_aggro")] == 4.0
    assert weights[("red_aggro", "blue_control")] == 1.0  # the opponent's pool stays uniform
    assert spec.learner.warm_start.games == 2000
    assert spec.evaluation.games == 98


def test_two_deck_pool_keeps_the_quickstart_matchups(learning):
    pool = learning.POOLS["quickstart"]
    spec = TrainingRun.model_validate(
        learning.benchmark_spec(bench_args(pool="quickstart"), pool, "/tmp/checkpoints", 100, 52)
    ).spec
    assert [(m.agent_deck, m.opponent_deck) for m in spec.matchups] == list(pool.pairings)
    with pytest.raises(SystemExit, match="needs --pool all"):
        learning.pairings_spec(bench_args(pool="quickstart", agent_weights="red_aggro=2"), pool)


def test_unknown_deck_weight_is_refused(learning):
    with pytest.raises(SystemExit, match="expected DECK=WEIGHT"):
        learning.agent_weights("blue=3", learning.POOLS["all"])


@pytest.mark.parametrize(("pool", "asked", "played"), [("all", 1000, 1078), ("quickstart", 1000, 1000)])
def test_measurement_gives_every_pairing_and_seat_the_same_games(learning, pool, asked, played):
    pool = learning.POOLS[pool]
    games = pool.even(asked)
    assert games == played
    settings = Counter(
        (m.agent_deck, m.opponent_deck, m.agent_seat) for m in schedule(games, pool.pairings, "x")
    )
    assert len(settings) == 2 * len(pool.pairings)
    assert set(settings.values()) == {games // (2 * len(pool.pairings))}


def test_ai_reference_summary_checks_every_target(learning):
    """The AI in the agent's seat on two games per pairing and seat: the summary's tables and
    target checks, on a report of the evaluator's shape."""
    args = bench_args(games=98)
    pool = learning.POOLS["all"]
    report = learning.ai_reference(args, pool)
    assert report["baselines"]["heuristic"]["games"] == 98
    checks = learning.verdicts(pool, report)
    assert [c["target"].split(" (")[0] for c in checks] == [
        "vs random >= 0.90",
        "vs heuristic >= 0.60",
        "every agent deck vs heuristic >= 0.45",
    ]
    text = learning.summary(args, pool, report, [], None)
    assert "| blue_control |" in text
    assert "agent's deck \\ opponent's deck" in text
