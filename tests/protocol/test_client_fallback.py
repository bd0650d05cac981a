"""The clients against a Forge-like server over real TCP: HELLO refused -> one connection per
command, no extensions; and the client's failure modes (refused, dies mid-game, silent)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from protocol.forge_like import ForgeLikeServer
from tolaria.protocol import (
    AsyncDaemonClient,
    CommandError,
    DaemonClient,
    DaemonDisconnected,
    DaemonTimeout,
    DaemonUnavailable,
    GameOptions,
)

pytestmark = pytest.mark.integration


def test_sync_client_falls_back_to_one_connection_per_command():
    with ForgeLikeServer() as server, DaemonClient("127.0.0.1", server.port, read_timeout=5) as client:
        assert client.hello() is None and not client.persistent
        assert client.status().games_played == 7
        assert client.status().max_concurrent == 10
        game = client.start_game("red", "white", GameOptions(interactive=True))
        decision = game.next_decision()
        assert decision.type == "choose_action" and decision.expects_reply
        game.reply("0")
        reveal = game.next_decision()
        assert reveal.type == "reveal" and not reveal.expects_reply
        assert game.next_decision() is None
        assert game.result.winner == "Agent(1)-red" and game.result.ms == 12
        assert game.names == ("Agent(1)-red", "Agent(2)-white") and game.seed == 99
        silent = client.start_game("red", "white")
        assert silent.next_decision() is None and silent.result.is_draw
        with pytest.raises(CommandError):
            client.start_game("red", "white", GameOptions(p1="agent"))
        with pytest.raises(CommandError):
            client.start_game("red", "white", GameOptions(compact=True))
    assert server.commands == [
        "HELLO tolaria-sync",
        "STATUS",
        "STATUS",
        "NEWGAME red white -i",
        "NEWGAME red white",
    ]
    assert server.replies == ["0"]
    assert server.connections == 5


def test_async_client_falls_back_and_runs_games_concurrently():
    async def scenario(port: int) -> list:
        async with AsyncDaemonClient("127.0.0.1", port, read_timeout=5) as client:
            assert await client.hello() is None and not client.persistent
            status = await client.status()
            assert status.memory_max_mb == 2048
            games = await asyncio.gather(
                *(
                    client.play("red", "white", lambda d: "-1", GameOptions(interactive=True))
                    for _ in range(3)
                )
            )
            return [g.result for g in games]

    with ForgeLikeServer() as server:
        results = asyncio.run(scenario(server.port))
    assert [r.winner for r in results] == ["Agent(1)-red"] * 3
    assert server.replies == ["-1"] * 3
    assert server.connections == 1 + 1 + 1 + 3  # HELLO, the probe's STATUS (its cap), STATUS, games


def test_daemon_dying_mid_game_is_a_disconnect_not_a_hang():
    async def scenario(port: int) -> None:
        async with AsyncDaemonClient("127.0.0.1", port, read_timeout=5) as client:
            game = await client.start_game("red", "white", GameOptions(interactive=True))
            decision = await game.next_decision()
            await game.reply("0")
            assert decision is not None
            with pytest.raises(DaemonDisconnected):
                await game.next_decision()

    with ForgeLikeServer(die_mid_game=True) as server:
        asyncio.run(asyncio.wait_for(scenario(server.port), 20))
    with ForgeLikeServer(die_mid_game=True) as server, DaemonClient("127.0.0.1", server.port) as client:
        game = client.start_game("red", "white", GameOptions(interactive=True))
        game.next_decision()
        game.reply("0")
        with pytest.raises(DaemonDisconnected):
            game.next_decision()


def test_silent_daemon_times_out():
    with ForgeLikeServer(silent=True) as server:
        with pytest.raises(DaemonTimeout):
            DaemonClient("127.0.0.1", server.port, read_timeout=0.5).hello()

        async def probe() -> None:
            await AsyncDaemonClient("127.0.0.1", server.port, read_timeout=0.5).hello()

        with pytest.raises(DaemonTimeout):
            asyncio.run(probe())


def test_nothing_listening_is_unavailable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DaemonUnavailable):
        DaemonClient("127.0.0.1", port).status()

    async def probe() -> None:
        await AsyncDaemonClient("127.0.0.1", port).status()

    with pytest.raises(DaemonUnavailable):
        asyncio.run(probe())
