"""Pure parts of the evaluator: cadence, settings from a spec."""

from __future__ import annotations

import pytest

from tolaria.evaluation.evaluator import EvaluationSettings, is_due
from tolaria.spec import TrainingRunSpec

PAIRINGS = (("red_aggro", "white_weenie"), ("white_weenie", "red_aggro"))


def settings(**overrides) -> EvaluationSettings:
    values = {"games": 4, "baselines": ("random",), "pairings": PAIRINGS, **overrides}
    return EvaluationSettings(**values)


def test_cadence_by_versions():
    s = settings(every_updates=10, every_minutes=0.0)
    assert not is_due(s, None, None, None, 0.0)  # nothing published
    assert is_due(s, 1, None, None, 0.0)  # the first version seen
    assert not is_due(s, 9, 1, 0.0, 1e9)
    assert is_due(s, 11, 1, 0.0, 0.0)
    assert not is_due(s, 11, 11, 0.0, 1e9)


def test_cadence_by_minutes_needs_a_new_version():
    s = settings(every_updates=0, every_minutes=5.0)
    assert not is_due(s, 2, 1, 1000.0, 1000.0 + 299)
    assert is_due(s, 2, 1, 1000.0, 1000.0 + 300)
    assert not is_due(s, 1, 1, 1000.0, 1e9)


def test_settings_from_spec():
    spec = TrainingRunSpec.model_validate(
        {
            "decks": ["red_aggro", "white_weenie"],
            "evaluation": {
                "games": 10,
                "baselines": ["league", "random"],
                "eloK": 16,  # deprecated: still accepted, ignored
                "promotionMargin": 0.05,
            },
            "stop": {"targetBaseline": "random"},
            "seed": 9,
        }
    )
    s = EvaluationSettings.from_spec(spec, games_in_flight=8, games=None)
    assert s.baselines == ("random", "league")
    assert s.games == 10 and s.promotion_margin == 0.05 and s.seed == 9
    assert not hasattr(s, "elo_k")
    assert s.headline == "random" and s.games_in_flight == 8
    # no matchups: every ordered pair of decks, mirrors included
    assert set(s.pairings) == {(a, b) for a in spec.decks for b in spec.decks}


def test_league_size_and_action_selection_come_from_the_spec_unless_flags_override():
    import argparse

    from tolaria.evaluation.cli import configure_parser, evaluation_settings

    parser = argparse.ArgumentParser()
    configure_parser(parser)
    default = TrainingRunSpec.model_validate({"decks": ["red_aggro"]})
    s = evaluation_settings(default, parser.parse_args([]))
    assert (s.league_size, s.greedy, s.games) == (20, True, 200)  # the behaviour before the fields
    spec = TrainingRunSpec.model_validate(
        {"decks": ["red_aggro"], "evaluation": {"leagueSize": 7, "actionSelection": "sampled", "games": 6}}
    )
    s = evaluation_settings(spec, parser.parse_args([]))
    assert (s.league_size, s.greedy, s.games) == (7, False, 6)
    flags = parser.parse_args(["--league-size", "3", "--action-selection", "greedy", "--games", "4"])
    s = evaluation_settings(spec, flags)
    assert (s.league_size, s.greedy, s.games) == (3, True, 4)


def test_settings_refuse_nonsense():
    with pytest.raises(ValueError, match="baselines"):
        settings(baselines=("chess",))
    with pytest.raises(ValueError, match="at least 2 games"):
        settings(games=1)


def test_results_split_by_pairing_and_by_the_agents_deck():
    from tolaria.evaluation.evaluator import summarise
    from tolaria.evaluation.matches import MatchOutcome
    from tolaria.matchmaking.schedule import Match

    games = [
        ("red", "white", 1, 1.0),
        ("red", "white", 2, 0.0),
        ("red", "red", 1, 1.0),
        ("white", "red", 2, 0.5),
        ("white", "red", 1, None),  # failed: no score
    ]
    outcomes = [MatchOutcome(Match(i, a, o, seat, i), score) for i, (a, o, seat, score) in enumerate(games)]
    summary = summarise(outcomes)
    assert summary["games"] == 4 and summary["errors"] == 1
    assert {k: v["win_rate"] for k, v in summary["by_pairing"].items()} == {
        "red vs red": 1.0,
        "red vs white": 0.5,
        "white vs red": 0.5,
    }
    assert {k: (v["win_rate"], v["games"]) for k, v in summary["by_deck"].items()} == {
        "red": (2 / 3, 3),
        "white": (0.5, 1),
    }
    assert set(summary["by_setting"]) == {
        "red vs red, agent seat 1",
        "red vs white, agent seat 1",
        "red vs white, agent seat 2",
        "white vs red, agent seat 2",
        "white vs red, agent seat 1",
    }


def test_with_a_curriculum_each_stage_is_evaluated_on_its_pairings():
    spec = TrainingRunSpec(
        decks=["a", "b"],
        curriculum={
            "stages": [
                {
                    "name": "mirror",
                    "matchups": [{"agentDeck": "a", "opponentDeck": "a"}],
                    "until": {"games": 9},
                },
                {"name": "all"},
            ]
        },
    )
    settings = EvaluationSettings.from_spec(spec)
    assert settings.pairings_for(0) == (("a", "a"),)
    assert settings.pairings_for(1) == settings.pairings == (("a", "a"), ("a", "b"), ("b", "a"), ("b", "b"))
    assert settings.pairings_for(5) == settings.pairings_for(1)
    assert EvaluationSettings.from_spec(TrainingRunSpec(decks=["a"])).pairings_for(3) == (("a", "a"),)
