"""A warm start's watched games: joined once, saved, and read back game by game (a file store)."""

from __future__ import annotations

import numpy as np

from tolaria.trainer.checkpoint import open_store
from tolaria.trainer.config import NetworkConfig
from tolaria.trainer.encoding import Encoder
from tolaria.trainer.imitation import Demonstrations
from tolaria.trainer.warm_progress import GAMES_OBJECT, WarmStartProgress
from tolaria.trainer.warm_start import Observation

ENCODER = Encoder(NetworkConfig.from_preset("small", d_model=32, ff_dim=64))


def game(index: int, decisions: int) -> Demonstrations:
    """`decisions` decisions whose every number says which game they come from."""
    observations = ENCODER.empty(decisions)
    observations["global_feat"][:] = index
    observations["decision_type"][:] = index
    actions = np.full((decisions, ENCODER.max_options), index, np.int64)
    return Demonstrations(observations, actions, np.full(decisions, index / 10, np.float32))


def test_the_games_are_joined_in_the_schedules_order_saved_and_read_back_each_as_it_was(tmp_path):
    sizes = {7: 3, 2: 5, 4: 0, 9: 1}  # finished in this order; game 4 had no decision learnt from
    watched = {index: game(index, n) for index, n in sizes.items()}
    observation = Observation(watched, failed=0, seconds=1.0, complete=False)

    taken = observation.take_games(ENCODER.empty(0))
    assert observation.watched == {}  # the games' own arrays are released
    assert taken.games == [2, 4, 7, 9]
    assert taken.match.tolist() == [2] * 5 + [7] * 3 + [9]
    assert taken.demonstrations.observations["decision_type"].tolist() == taken.match.tolist()
    assert taken.demonstrations.actions[:, 0].tolist() == taken.match.tolist()

    progress = WarmStartProgress(open_store(f"file://{tmp_path}"), "fingerprint")
    progress.save_games(taken)
    loaded = progress.load_games()
    assert sorted(loaded) == [2, 4, 7, 9]
    for index, n in sizes.items():
        original, read = game(index, n), loaded[index]
        assert len(read) == n
        for key, value in original.observations.items():
            np.testing.assert_array_equal(read.observations[key], value, err_msg=key)
        np.testing.assert_array_equal(read.actions, original.actions)
        np.testing.assert_array_equal(read.returns, original.returns)
    # views of the arrays read, not copies: the decisions are held once
    assert loaded[2].observations["card_feat"].base is loaded[7].observations["card_feat"].base
    assert WarmStartProgress(progress.store, "another warm start").load_games() == {}


def test_saved_games_out_of_the_schedules_order_are_watched_again(tmp_path):
    observation = Observation({1: game(1, 2), 3: game(3, 2)}, failed=0, seconds=1.0, complete=False)
    taken = observation.take_games(ENCODER.empty(0))
    taken.match = taken.match[::-1].copy()
    progress = WarmStartProgress(open_store(f"file://{tmp_path}"), "fingerprint")
    progress.save_games(taken)
    assert progress.store.get_object(GAMES_OBJECT) is not None
    assert progress.load_games() == {}
