"""The seeded match schedule: pairings and seat orders, seeds common to every policy version."""

from __future__ import annotations

from collections import Counter

import pytest

from tolaria.matchmaking.schedule import Match, schedule

PAIRINGS = (("red_aggro", "white_weenie"), ("white_weenie", "red_aggro"))


def test_schedule_covers_every_pairing_in_both_seat_orders_evenly():
    matches = schedule(16, PAIRINGS, "heuristic")
    settings = Counter((m.agent_deck, m.opponent_deck, m.agent_seat) for m in matches)
    assert len(settings) == 4 and set(settings.values()) == {4}
    assert [m.index for m in matches] == list(range(16))
    assert len({m.seed for m in matches}) == 16


def test_schedule_seeds_are_common_to_every_policy_version():
    assert schedule(8, PAIRINGS, "random") == schedule(8, PAIRINGS, "random")
    assert schedule(8, PAIRINGS, "random")[0].seed != schedule(8, PAIRINGS, "heuristic")[0].seed
    assert schedule(8, PAIRINGS, "random", base_seed=1)[0].seed != schedule(8, PAIRINGS, "random")[0].seed


def test_match_decks_follow_the_agent_seat():
    assert Match(0, "red", "white", 1, 1).decks == ("red", "white")
    assert Match(1, "red", "white", 2, 1).decks == ("white", "red")


def test_schedule_needs_a_pairing():
    with pytest.raises(ValueError, match="deck pairing"):
        schedule(4, (), "random")
