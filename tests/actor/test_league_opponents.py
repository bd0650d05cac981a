"""The actor's league snapshots: loaded on first draw, released when they leave the league."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest
import torch

from tolaria.actor.league_opponents import LeagueOpponents
from tolaria.inference.backend import PolicyBackend
from tolaria.matchmaking.league import League
from tolaria.trainer.config import NetworkConfig
from tolaria.trainer.policy import PolicyNetwork
from tolaria.trainer.weights import encode_weights

NETWORK = NetworkConfig.from_preset("small", d_model=16, ff_dim=32)
LEAGUE_SIZE = 3


def snapshot(version: int) -> bytes:
    torch.manual_seed(version)
    return encode_weights(PolicyNetwork(NETWORK), NETWORK, version)


def test_memory_stays_bounded_as_versions_pass_through_the_league(tmp_path):
    league = League.open(f"file://{tmp_path}/checkpoints", size=LEAGUE_SIZE)
    loaded: list[weakref.ref[PolicyBackend]] = []
    loads: list[int] = []

    def load(version: int) -> PolicyBackend:
        loads.append(version)
        backend = PolicyBackend(league.load(version))
        loaded.append(weakref.ref(backend))
        return backend

    async def scenario() -> None:
        opponents = LeagueOpponents(load, max_batch=8, max_wait=0.0)
        try:
            for version in range(1, 13):  # a long run: twelve versions, the league keeps three
                league.add(snapshot(version))
                members = league.versions()
                await opponents.retain(members)
                for member in members:  # every member is drawn by some game
                    async with opponents.playing(member) as player:
                        assert player is not None and player.version == member
                assert opponents.versions == members
                assert len(opponents.versions) <= LEAGUE_SIZE
            # each version was loaded once while it was a member, however often it was drawn
            assert sorted(loads) == list(range(1, 13))
        finally:
            await opponents.close()
        assert opponents.versions == []

    asyncio.run(scenario())
    gc.collect()
    assert [ref for ref in loaded if ref() is not None] == []  # the networks are really freed


def test_a_snapshot_that_leaves_mid_game_goes_when_its_last_game_ends(tmp_path):
    league = League.open(f"file://{tmp_path}/checkpoints", size=2)

    async def scenario() -> None:
        opponents = LeagueOpponents(lambda v: PolicyBackend(league.load(v)), max_batch=8, max_wait=0.0)
        league.add(snapshot(1))
        league.add(snapshot(2))
        await opponents.retain(league.versions())
        async with opponents.playing(1) as first_game, opponents.playing(1) as second_game:
            assert first_game is second_game  # one batcher for every game against v1
            league.add(snapshot(3))  # v1 leaves the league while two games against it go on
            await opponents.retain(league.versions())
            assert opponents.versions == [1]
            async with opponents.playing(3):
                pass
            assert opponents.versions == [1, 3]
        # both games over: v1 is released, v3 (a member) is kept
        assert opponents.versions == [3]
        assert first_game._task is not None and first_game._task.done()  # its batcher stopped
        await opponents.close()

    asyncio.run(scenario())


def test_an_unavailable_snapshot_is_none_and_held_by_nobody(tmp_path):
    league = League.open(f"file://{tmp_path}/checkpoints", size=2)

    async def scenario() -> None:
        opponents = LeagueOpponents(lambda v: PolicyBackend(league.load(v)), max_batch=8, max_wait=0.0)
        async with opponents.playing(7) as player:
            assert player is None  # not in the league: KeyError, the game plays self-play
        assert opponents.versions == []

    asyncio.run(scenario())


@pytest.mark.parametrize("drawn", [[4], [4, 4, 5]])
def test_before_the_league_is_read_nothing_is_released(tmp_path, drawn):
    league = League.open(f"file://{tmp_path}/checkpoints", size=5)
    for version in (4, 5):
        league.add(snapshot(version))

    async def scenario() -> list[int]:
        opponents = LeagueOpponents(lambda v: PolicyBackend(league.load(v)), max_batch=8, max_wait=0.0)
        for version in drawn:
            async with opponents.playing(version):
                pass
        held = opponents.versions
        await opponents.close()
        return held

    assert asyncio.run(scenario()) == sorted(set(drawn))
