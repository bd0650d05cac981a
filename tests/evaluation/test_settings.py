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
