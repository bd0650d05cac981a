"""The clients against the recorded answers of a real Forge RL daemon, replayed over real TCP
(`forge_replay.RecordedForge`): HELLO refused -> Forge's dialect, STATUS parsed, the cap on
games in flight, refusals naming the deck, a silent close, a stalled interactive game."""

from __future__ import annotations

import asyncio

import pytest
from forge_recordings import OBSERVED_GAMES, recorded_decisions

from protocol.forge_replay import RecordedForge
from tolaria.protocol import AsyncDaemonClient, DaemonClient, DaemonTimeout, GameOptions
from tolaria.protocol.errors import DeckRefused, NoReply
from tolaria.protocol.forge import Dialect

pytestmark = pytest.mark.integration


def test_sync_client_speaks_forges_dialect_to_the_recordings():
    with RecordedForge() as forge, DaemonClient("127.0.0.1", forge.port, read_timeout=5) as client:
        assert client.hello() is None and client.dialect is Dialect.FORGE
        assert client.status().games_played == 0
        game = client.start_game("red_aggro", "white_weenie", GameOptions(seed=5))
        assert game.next_decision() is None
        assert game.names == ("red_aggro", "white_weenie") and game.seed == 5 and game.result.winner_seat == 1
        with pytest.raises(DeckRefused) as refused:
            client.start_game("nosuchdeck", "red_aggro", GameOptions(observe=True)).next_decision()
        assert refused.value.deck == "nosuchdeck" and f"127.0.0.1:{forge.port}" in str(refused.value)
    assert forge.commands == [
        "HELLO tolaria-sync",
        "STATUS",
        "NEWGAME red_aggro white_weenie -s 5",
        "NEWGAME nosuchdeck red_aggro -o",
    ]


def test_async_client_learns_forges_cap_and_plays_a_recorded_observed_game():
    async def scenario(port: int) -> list:
        async with AsyncDaemonClient("127.0.0.1", port, read_timeout=5) as client:
            assert await client.hello() is None
            assert client.dialect is Dialect.FORGE and client.max_games == 10
            game = await client.start_game("red_aggro", "white_weenie", GameOptions(observe=True, seed=7))
            choices = []
            while (decision := await game.next_decision()) is not None:
                assert not decision.expects_reply
                choices.append(decision.ai_choice)
            assert game.result.winner_seat == 2
            return choices

    with RecordedForge() as forge:
        choices = asyncio.run(scenario(forge.port))
    assert len(choices) == len(recorded_decisions(OBSERVED_GAMES[0]))
    assert None not in choices and choices.count("-1") == 183
    assert forge.commands == ["HELLO tolaria", "STATUS", "NEWGAME red_aggro white_weenie -o -s 7"]


def test_games_in_flight_are_capped_at_forges_max_concurrent():
    status = b"FORGE DAEMON STATUS\n  Active games: 0\n  Total games played: 0\n  Memory: 1MB / 2MB\n  Max concurrent: 2\n"

    async def scenario(port: int) -> None:
        async with AsyncDaemonClient("127.0.0.1", port, read_timeout=5) as client:
            options = GameOptions(seed=5)
            games = await asyncio.gather(
                *(client.play("red_aggro", "white_weenie", lambda d: "-1", options) for _ in range(6))
            )
            assert all(g.result.winner_seat == 1 for g in games)

    with RecordedForge({"STATUS": status}, hold=0.2) as forge:
        asyncio.run(scenario(forge.port))
    assert forge.commands.count("NEWGAME red_aggro white_weenie -s 5") == 6
    assert forge.most_games_waiting == 2


def test_a_connection_closed_without_a_reply_is_reported_with_the_command():
    async def scenario(port: int) -> None:
        async with AsyncDaemonClient("127.0.0.1", port, read_timeout=5) as client:
            game = await client.start_game("red_aggro", "white_weenie", GameOptions(seed=5, game_timeout=0.5))
            await game.next_decision()

    silent = RecordedForge({"NEWGAME red_aggro white_weenie -c 1 -s 5": None})
    expected = r"without answering 'NEWGAME red_aggro white_weenie -c 1 -s 5'"
    with silent as forge, pytest.raises(NoReply, match=expected):
        asyncio.run(scenario(forge.port))


def test_an_interactive_game_that_stalls_after_a_reply_is_abandoned():
    """Forge drops a reply it cannot use without a word: silence after a reply is a stall."""
    decision = (
        b'DECISION:{"decision_type":"choose_action","decision_id":0,"player":"Agent(1)-a","actions":[]}\n'
    )

    async def scenario(port: int) -> None:
        async with AsyncDaemonClient("127.0.0.1", port, read_timeout=5, stall_timeout=0.3) as client:
            game = await client.start_game("a", "b", GameOptions(interactive=True))
            assert (await game.next_decision()).expects_reply
            await game.reply("-1")
            await game.next_decision()

    stalling = RecordedForge({"NEWGAME a b -i": decision}, stall_after_first_reply=True)
    expected = r"nothing for 0.3s after our reply '-1'.*drops a reply"
    with stalling as forge, pytest.raises(DaemonTimeout, match=expected):
        asyncio.run(scenario(forge.port))
    assert forge.replies == ["-1"]
