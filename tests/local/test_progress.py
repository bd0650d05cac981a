"""Stop criteria, estimates and rendering of progress (pure functions), and reading a real Redis."""

from __future__ import annotations

import json

import redis

from tolaria.keys import LEARNER_GROUP, EvalField, RunKeys, StatsField
from tolaria.local.progress import (
    Snapshot,
    StopCriteria,
    evaluation_history,
    final_evaluation,
    format_duration,
    read_snapshot,
    render_bar,
    render_line,
)
from tolaria.spec import StopSpec


def snap(games=0, elapsed=0.0, win_rates=None, **kw) -> Snapshot:
    return Snapshot(time=1000.0, elapsed=elapsed, counters={"games": games}, win_rates=win_rates or {}, **kw)


def test_stop_criteria_from_the_spec():
    criteria = StopCriteria.from_spec(
        StopSpec(max_games=100, max_wall_clock="1h", target_win_rate=0.6, target_baseline="random")
    )
    assert criteria.met(snap(99, 10)) is None
    assert criteria.met(snap(100, 10)) == "maxGames reached (100 games)"
    assert criteria.met(snap(5, 3600)) == "maxWallClock reached (1:00:00)"
    assert criteria.met(snap(5, 10, {"random": 0.59, "heuristic": 0.9})) is None
    assert criteria.met(snap(5, 10, {"random": 0.6})) == "targetWinRate reached (0.600 against random)"


def test_no_criteria_never_stops_and_has_no_fraction():
    criteria = StopCriteria.from_spec(StopSpec())
    assert criteria.met(snap(10**9, 10**9)) is None
    assert criteria.fraction(snap(10)) is None
    assert criteria.remaining_seconds(snap(10), 5.0) is None


def test_fraction_and_remaining_take_the_nearest_criterion():
    criteria = StopCriteria(
        max_games=1000, max_seconds=600, target_win_rate=None, target_baseline="heuristic"
    )
    assert criteria.fraction(snap(250, 300)) == 0.5
    assert criteria.fraction(snap(900, 60)) == 0.9
    # 750 games left at 5 games/s: 150 s, sooner than the 300 s the clock leaves
    assert criteria.remaining_seconds(snap(250, 300), 5.0) == 150.0
    assert criteria.remaining_seconds(snap(250, 300), None) == 300.0
    assert criteria.fraction(snap(5000, 0)) == 1.0


def test_format_duration():
    assert format_duration(None) == "?"
    assert format_duration(59.9) == "00:59"
    assert format_duration(3725) == "1:02:05"


def test_rendering_shows_every_number():
    criteria = StopCriteria(max_games=1000, max_seconds=None, target_win_rate=None, target_baseline="random")
    s = snap(
        250, 65, {"random": 0.912, "heuristic": 0.4}, eval_policy_version=7, policy_version=9, queue_depth=42
    )
    s.decisions_per_second = 812.4
    line = render_line(s, criteria, 5.0)
    assert line == (
        "elapsed 01:05 | eta 02:30 | games 250/1000 | policy v9 | win[v7] heuristic 0.40 random 0.91"
        " | dec/s 812 | queue 42"
    )
    bar = render_bar(s, criteria, 5.0, width=200)
    assert bar.startswith("[") and " 25% | elapsed 01:05 | eta 02:30 | games 250/1000" in bar
    assert len(render_bar(s, criteria, 5.0, width=60)) == 60
    empty = render_line(snap(), StopCriteria(None, None, None, "random"), None)
    assert "dec/s -" in empty and "queue -" in empty and "win -" in empty and "eta ?" in empty


def test_the_warm_start_stands_in_for_the_policy_until_version_one():
    criteria = StopCriteria(None, None, None, "random")
    assert "| warm start: 37 games watched |" in render_line(snap(warm_start_games=37), criteria, None)
    cloning = snap(warm_start_games=400, warm_start_epochs=3)
    assert "| warm start: cloning, epoch 3 done |" in render_line(cloning, criteria, None)
    done = snap(warm_start_games=400, warm_start_epochs=20, policy_version=1)
    assert "| policy v1 |" in render_line(done, criteria, None)


def test_snapshot_records_round_trip():
    s = snap(3, 4.0, {"random": 0.5}, policy_version=2)
    assert Snapshot.from_record({**s.to_record(), "unknown": 1}) == s


def test_read_snapshot_and_final_evaluation_from_a_real_redis(redis_server):
    client = redis.Redis.from_url(redis_server.url)
    keys = RunKeys("default", "t")
    assert read_snapshot(client, keys, 0.0, None).queue_depth is None
    client.hset(
        keys.stats,
        mapping={
            StatsField.GAMES: 10,
            StatsField.DECISIONS: 100,
            StatsField.win_rate("random"): 0.75,
            StatsField.EVAL_POLICY_VERSION: 3,
            StatsField.LEARNER_STEP: 4,
        },
    )
    client.set(keys.policy_version, 5)
    client.xgroup_create(keys.rollouts, LEARNER_GROUP, id="0", mkstream=True)
    for _ in range(3):
        client.xadd(keys.rollouts, {"d": b"x"})
    first = read_snapshot(client, keys, 1.0, None)
    assert (first.games, first.policy_version, first.learner_step, first.queue_depth) == (10, 5, 4, 3)
    assert first.win_rates == {"random": 0.75} and first.eval_policy_version == 3
    client.hincrby(keys.stats, StatsField.DECISIONS, 50)
    first.time -= 2.0
    second = read_snapshot(client, keys, 3.0, first)
    assert 20 < second.decisions_per_second <= 25
    assert final_evaluation(client, keys) == {}
    client.hset(
        keys.eval,
        mapping={
            EvalField.POLICY_VERSION: 3,
            EvalField.ELO: 1250.5,
            EvalField.winrate_vs("random"): 0.75,
            EvalField.winrate_ci_low_vs("random"): 0.6,
            EvalField.winrate_ci_high_vs("random"): 0.85,
            EvalField.games_vs("random"): 40,
        },
    )
    assert final_evaluation(client, keys) == {
        "policy_version": 3,
        "elo": 1250.5,
        "baselines": {"random": {"win_rate": 0.75, "ci_low": 0.6, "ci_high": 0.85, "games": 40}},
    }
    for version, rate in ((3, 0.75), (1, 0.5)):
        report = {
            "policy_version": version,
            "evaluated_at": 5.0,
            "seconds": 1.0,
            "baselines": {
                "random": {"win_rate": rate, "ci_low": 0.4, "ci_high": 0.9, "games": 40, "errors": 0},
                "league": {"win_rate": None, "games": 0},
            },
        }
        client.hset(keys.eval, EvalField.report(version), json.dumps(report))
    client.hset(keys.eval, EvalField.LATEST, json.dumps(report))
    assert evaluation_history(client, keys) == [
        {
            "policy_version": v,
            "evaluated_at": 5.0,
            "baselines": {"random": {"win_rate": r, "ci_low": 0.4, "ci_high": 0.9, "games": 40}},
        }
        for v, r in ((1, 0.5), (3, 0.75))
    ]
    client.close()


def test_the_curriculum_stage_shows_after_the_games():
    criteria = StopCriteria(None, None, None, "random")
    line = render_line(snap(10, stage=1, stage_label="all-aggro(2/3)"), criteria, None)
    assert "| games 10 | stage all-aggro(2/3) | policy v0 |" in line
    assert "stage" not in render_line(snap(10), criteria, None)


def test_the_summary_shows_win_rates_by_deck_and_by_pairing(tmp_path):
    from tolaria.local.summary import build_summary, pairing_table, plot_pairings, summary_text

    def rate(win_rate, games):
        return {"win_rate": win_rate, "ci_low": win_rate - 0.1, "ci_high": win_rate + 0.1, "games": games}

    evaluation = {
        "policy_version": 12,
        "elo": 1300.0,
        "baselines": {
            "heuristic": {
                **rate(0.55, 40),
                "by_deck": {"red": rate(0.6, 20), "white": rate(0.5, 20)},
                "by_pairing": {
                    "red vs red": rate(0.7, 10),
                    "red vs white": rate(0.5, 10),
                    "white vs red": rate(0.4, 10),
                    "white vs white": rate(0.6, 10),
                },
            }
        },
    }
    summary = build_summary(
        name="r",
        outcome="succeeded",
        reason="maxGames reached",
        last=snap(100, stage=2, stage_label="whole-pool(3/3)"),
        evaluation=evaluation,
        history=[],
        restarts={},
        checkpoint_uri="file://c",
    )
    text = summary_text(summary)
    assert "  stage     whole-pool(3/3)" in text
    assert (
        "vs heuristic, by the agent's deck:" in text and "      red    0.600  [0.500, 0.700]  over 20" in text
    )
    assert "vs heuristic, by pairing:" in text and "      white vs red    0.400" in text
    assert pairing_table(evaluation["baselines"]["heuristic"]["by_pairing"]) == (
        ["red", "white"],
        ["red", "white"],
        [[0.7, 0.5], [0.4, 0.6]],
    )
    assert (
        plot_pairings(evaluation, tmp_path / "pairings.png")
        and (tmp_path / "pairings.png").stat().st_size > 0
    )
    assert not plot_pairings({"baselines": {"random": rate(0.9, 10)}}, tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()
