"""A policy as an engine player: legal answers to every decision of whole games, in process."""

from __future__ import annotations

from typing import Any

import torch
from engine.helpers import deck

from tolaria.engine import Decision, RandomPlayer, play_game
from tolaria.inference.policy_player import PolicyPlayer
from tolaria.trainer.config import NetworkConfig
from tolaria.trainer.policy import PolicyNetwork
from tolaria.trainer.weights import PolicyWeights

NETWORK = NetworkConfig.from_preset("small", d_model=32, ff_dim=64)


class Counting:
    """Counts the decisions `player` answers."""

    def __init__(self, player: Any):
        self.player, self.decisions = player, 0

    def choose(self, decision: Decision) -> Any:
        self.decisions += 1
        return self.player.choose(decision)


def test_a_policy_plays_whole_engine_games_as_a_seat():
    torch.manual_seed(0)
    policy = PolicyPlayer(PolicyWeights(7, NETWORK, PolicyNetwork(NETWORK).state_dict()))
    assert policy.version == 7 and policy.backend.greedy
    for seat in (0, 1):
        players: list[Any] = [RandomPlayer(seat), RandomPlayer(seat)]
        players[seat] = counting = Counting(policy)
        result = play_game((deck("red_aggro"), deck("white_weenie")), players, seed=seat)
        assert result is not None and counting.decisions > 10
