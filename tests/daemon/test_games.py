"""NEWGAME and every flag, over real TCP against the daemon subprocess."""

from __future__ import annotations

import asyncio
import json
import re
import time

import pytest

from daemon.conftest import wait_until
from daemon.wire import Wire
from tolaria.protocol import (
    AsyncDaemonClient,
    CompactExpander,
    DaemonBusy,
    GameOptions,
    first_option_reply,
    parse_line,
)

pytestmark = pytest.mark.integration

DECKS = ("red_aggro", "white_weenie")
TOP_LEVEL = {"decision_type", "decision_id", "player", "turn", "phase", "message", "game_state"}


def first_option(decision) -> str:
    return first_option_reply(decision.payload)


def play(client, options: GameOptions, decks=DECKS, choose=first_option):
    game = client.start_game(*decks, options)
    decisions = []
    while (decision := game.next_decision()) is not None:
        decisions.append(decision)
        if decision.expects_reply:
            game.reply(choose(decision))
    return game, decisions


def without_ms(lines: list[str]) -> list[str]:
    return [re.sub(r" in \d+ms", " in _ms", line) for line in lines]


def test_interactive_game_to_the_end(shared_daemon):
    with shared_daemon.client() as client:
        game, decisions = play(client, GameOptions(interactive=True, seed=11))
    assert game.names == ("Agent(1)-red_aggro", "Agent(2)-white_weenie") and game.seed == 11
    assert game.lines[:2] == ["GAME_START: Agent(1)-red_aggro vs Agent(2)-white_weenie", "SEED: 11"]
    assert decisions and {d.player for d in decisions} == set(game.names)
    for decision in decisions:
        assert decision.payload.keys() >= TOP_LEVEL
        assert decision.payload["game_state"]["players"][0]["name"] == game.names[0]
    for name in game.names:
        ids = [d.decision_id for d in decisions if d.player == name]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
    result = game.result
    assert result.winner in (*game.names, None)
    assert result.turns is not None and result.turns >= 1 and result.reason
    assert game.lines[-1].startswith("GAME_RESULT: ") and not game.progress.inline_errors


def test_the_same_seed_gives_the_same_lines(shared_daemon):
    with shared_daemon.client() as client:
        for options in (GameOptions(interactive=True, seed=5), GameOptions(interactive=True, seed=5, compact=True),
                        GameOptions(observe=True, seed=8), GameOptions(p1="random", p2="agent", seed=9)):  # fmt: skip
            first, _ = play(client, options)
            second, _ = play(client, options)
            assert len(first.lines) > 3
            assert without_ms(first.lines) == without_ms(second.lines)
        other, _ = play(client, GameOptions(interactive=True, seed=6))
        assert without_ms(other.lines) != without_ms(first.lines)


def test_quiet_leaves_out_start_and_seed(shared_daemon):
    with shared_daemon.client() as client:
        game, _ = play(client, GameOptions(interactive=True, quiet=True, seed=3))
    assert game.names is None and game.seed is None
    assert not any(line.startswith(("GAME_START", "SEED")) for line in game.lines)


def test_games_have_no_turn_limit_unless_newgame_sets_one(shared_daemon):
    with shared_daemon.client() as client:
        hello = client.hello()
        assert "turn-limit" in hello.capabilities
        limited, _ = play(client, GameOptions(seed=4, max_turns=3), decks=("blue_control", "blue_control"))
        assert limited.result.is_draw and limited.result.reason == "turn_limit" and limited.result.turns == 3
        free, _ = play(client, GameOptions(seed=4), decks=("blue_control", "blue_control"))
        assert free.result.reason != "turn_limit" and free.result.turns > 3


def test_ai_vs_ai_is_silent(shared_daemon):
    with shared_daemon.client() as client:
        game, decisions = play(client, GameOptions(seed=4))
        assert decisions == [] and len(game.lines) == 3
        assert game.names == ("Ai(1)-red_aggro", "Ai(2)-white_weenie")
        random_game, decisions = play(client, GameOptions(seed=4, p1="random"))
        assert decisions == [] and random_game.names == ("Random(1)-red_aggro", "Ai(2)-white_weenie")


def test_observe_streams_ai_choices_that_replay_the_same_game(shared_daemon):
    with shared_daemon.client() as client:
        observed, decisions = play(client, GameOptions(observe=True, seed=21), choose=None)
        assert observed.names == ("AiObs(1)-red_aggro", "AiObs(2)-white_weenie")
        assert decisions and all(d.ai_choice is not None for d in decisions if d.type != "reveal")
        assert not any(d.expects_reply for d in decisions)
        # Answering an interactive game with the AI's choices replays the observed game exactly.
        choices = iter(d.ai_choice for d in decisions if d.type != "reveal")
        replay, replayed = play(
            client, GameOptions(interactive=True, seed=21), choose=lambda d: next(choices)
        )

    def comparable(payload: dict) -> str:
        return json.dumps(payload | {"ai_choice": None}).replace("AiObs(", "Agent(")

    assert [comparable(d.payload) for d in decisions] == [comparable(d.payload) for d in replayed]
    assert replay.result.turns == observed.result.turns and replay.result.reason == observed.result.reason
    assert (replay.result.winner_seat, replay.result.is_draw) == (
        observed.result.winner_seat,
        observed.result.is_draw,
    )


def test_agent_against_the_builtin_ai(shared_daemon):
    with shared_daemon.client() as client:
        game, decisions = play(client, GameOptions(p1="agent", p2="ai", seed=2))
        assert game.names == ("Agent(1)-red_aggro", "Ai(2)-white_weenie")
        assert decisions and {d.player for d in decisions} == {"Agent(1)-red_aggro"}
        game, decisions = play(client, GameOptions(interactive=True, p2="ai", seed=2, ai_timeout=5))
        assert {d.player for d in decisions} == {"Agent(1)-red_aggro"}


def test_compact_omits_oracle_text_after_the_first_appearance(shared_daemon):
    def cards(payload):
        for player in payload["game_state"]["players"]:
            for zone in ("hand", "graveyard", "battlefield", "exile"):
                yield from player[zone]

    with shared_daemon.client() as client:
        full, full_decisions = play(client, GameOptions(interactive=True, seed=13))
        compact, compact_decisions = play(client, GameOptions(interactive=True, seed=13, compact=True))
    assert len(full_decisions) == len(compact_decisions)
    assert all("oracle_text" in card for d in full_decisions for card in cards(d.payload))
    described: set[str] = set()
    for decision in compact_decisions:
        for card in cards(decision.payload):
            first = card["name"] not in described
            assert ("oracle_text" in card) == first and ("types" in card) == first, card["name"]
            described.add(card["name"])
    assert sum(map(len, compact.lines)) < 0.8 * sum(map(len, full.lines))


@pytest.mark.parametrize("decks", [("red_aggro", "white_weenie"), ("green_midrange", "blue_control"),
                                   ("blue_control", "red_aggro"), ("white_weenie", "green_midrange")])  # fmt: skip
def test_compact_payloads_expand_to_the_full_ones(shared_daemon, decks):
    with shared_daemon.client() as client:
        for seed in range(3):
            _, full = play(client, GameOptions(observe=True, seed=seed), decks=decks)
            _, compact = play(client, GameOptions(observe=True, seed=seed, compact=True), decks=decks)
            expander = CompactExpander()
            assert [expander.expand(d.payload) for d in compact] == [d.payload for d in full]


GARBAGE = [
    "abc",
    "999",
    "-5",
    "1:2:3",
    ",,,",
    "0,0",
    "y" * 2000,
    "\x00\x01",
    "9:9",
    "n,o",
    "1.5",
    "true false",
]


def test_unusable_replies_get_an_inline_error_and_the_default(shared_daemon):
    garbage = iter(GARBAGE * 500)
    with shared_daemon.client() as client:
        game, decisions = play(client, GameOptions(interactive=True, seed=17), choose=lambda d: next(garbage))
        assert game.result is not None and decisions
        errors = game.progress.inline_errors
        assert errors and all(error for error in errors)
        # Every reply was garbage, so the game was played by the defaults: the same as passing.
        assert client.status().active_games == 0


def test_a_game_over_its_time_limit_ends_as_a_draw(start_daemon):
    daemon = start_daemon()
    with Wire(daemon.port) as wire:
        wire.send("HELLO test\nNEWGAME red_aggro white_weenie -i -c 1 -s 1\n")
        lines = wire.lines(4)
        assert lines[1:3] == ["GAME_START: Agent(1)-red_aggro vs Agent(2)-white_weenie", "SEED: 1"]
        assert lines[3].startswith("DECISION:")
        time.sleep(1.3)  # think too long
        rest = wire.until_closed()  # the daemon closes: a late reply could not be told from a command
    assert rest[0] == "GAME_TIMEOUT: Game exceeded 1 seconds"
    result = parse_line(rest[1])
    assert result.is_draw and result.reason == "timeout" and len(rest) == 2
    with daemon.client() as client:
        status = client.status()
        assert status.extras["games_timed_out"] == "1" and status.active_games == 0
        # The client library starts the next game on a fresh connection.
        game, _ = play(client, GameOptions(interactive=True, seed=2))
        assert game.result is not None


def test_a_client_that_never_answers_loses_its_game_to_the_reply_timeout(start_daemon):
    daemon = start_daemon("--reply-timeout", "0.5")
    with daemon.client() as client:
        game = client.start_game(*DECKS, GameOptions(interactive=True, seed=1))
        assert game.next_decision() is not None
        with Wire(daemon.port) as wire:
            wire.send("STATUS\n")
            assert wire.lines(2)[1] == "Active games: 1"
        time.sleep(0.8)
        game.progress.check_reply()  # we chose not to reply
        assert game.next_decision() is None
        assert game.progress.game_error == "No reply within 0.5 seconds"
        assert game.result.is_draw and game.result.reason == "reply_timeout"
        assert client.status().active_games == 0


def test_a_client_that_disconnects_mid_game_frees_its_slot(start_daemon):
    daemon = start_daemon("--max-games", "1")
    with daemon.client() as client:
        for _ in range(3):
            game = client.start_game(*DECKS, GameOptions(interactive=True))
            assert game.next_decision() is not None
            game.abort()
            assert wait_until(lambda: client.status().active_games == 0)
        assert client.status().extras["games_dropped"] == "3"


def test_busy_limit_refuses_games_but_status_answers(start_daemon):
    daemon = start_daemon("--max-games", "2")
    with daemon.client() as first, daemon.client() as second, daemon.client() as third:
        held = [c.start_game(*DECKS, GameOptions(interactive=True, seed=1)) for c in (first, second)]
        for game in held:
            assert game.next_decision() is not None
        refused = third.start_game(*DECKS, GameOptions(interactive=True))
        with pytest.raises(DaemonBusy, match=r"busy \(2/2 games running\)"):
            refused.next_decision()
        status = third.status()
        assert status.active_games == 2 and status.max_concurrent == 2
        for game in held:
            game.abort()
        assert wait_until(lambda: third.status().active_games == 0)
        game, _ = play(third, GameOptions(interactive=True, seed=1))
        assert game.result is not None


def test_one_persistent_connection_plays_many_games(shared_daemon):
    with shared_daemon.client() as client:
        assert client.hello() is not None and client.persistent
        connection = client._idle
        for seed in range(30):
            game, _ = play(client, GameOptions(interactive=True, seed=seed, quiet=True, compact=True))
            assert game.result is not None
        assert client._idle is connection  # the same socket all along


def test_async_client_runs_many_concurrent_games_over_pooled_connections(shared_daemon):
    async def scenario() -> tuple[list, int]:
        async with AsyncDaemonClient("127.0.0.1", shared_daemon.port, read_timeout=60) as client:

            async def one(seed: int):
                game = await client.play(*DECKS, first_option, GameOptions(interactive=True, seed=seed))
                return game.result

            results = []
            for wave in range(3):
                results += await asyncio.gather(*(one(wave * 100 + i) for i in range(40)))
            return results, len(client._open)

    results, connections = asyncio.run(asyncio.wait_for(scenario(), 120))
    assert len(results) == 120 and all(r is not None for r in results)
    assert connections <= 41  # reused wave after wave (one probe connection at most extra)


def test_a_daemon_killed_mid_game_raises_disconnected(start_daemon):
    from tolaria.protocol import DaemonDisconnected

    daemon = start_daemon()

    async def scenario() -> None:
        async with AsyncDaemonClient("127.0.0.1", daemon.port, read_timeout=30) as client:
            game = await client.start_game(*DECKS, GameOptions(interactive=True, seed=1))
            decision = await game.next_decision()
            daemon.proc.kill()
            daemon.proc.wait()
            with pytest.raises(DaemonDisconnected):
                await game.reply(first_option(decision))
                await game.next_decision()

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_decision_lines_are_single_line_json(shared_daemon):
    with Wire(shared_daemon.port) as wire:
        wire.send("NEWGAME red_aggro white_weenie -i -q -s 3\n")
        line = wire.line()
        assert line.startswith("DECISION:{") and json.loads(line[len("DECISION:") :])["decision_id"] == 1


def test_async_client_survives_a_daemon_restart(start_daemon):
    first = start_daemon()

    async def scenario() -> None:
        async with AsyncDaemonClient("127.0.0.1", first.port, read_timeout=30) as client:
            await client.play(*DECKS, first_option, GameOptions(interactive=True, seed=1))
            assert (await client.status()).games_played == 1
            assert first.terminate() == 0
            second = start_daemon(port=first.port)  # a new daemon on the same port
            # The pooled connections are dead; the client notices and reconnects by itself.
            assert (await client.status()).games_played == 0
            game = await client.play(*DECKS, first_option, GameOptions(interactive=True, seed=1))
            assert game.result is not None
            assert second.proc.poll() is None

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_two_daemon_processes_play_the_same_seed_identically(start_daemon):
    # Separate processes have different string hash seeds: nothing may depend on them.
    first, second = start_daemon(), start_daemon()
    with first.client() as one, second.client() as other:
        for seed in (1, 2, 3):
            for options in (
                GameOptions(interactive=True, seed=seed, compact=True),
                GameOptions(observe=True, seed=seed),
            ):
                a, _ = play(one, options, decks=("green_midrange", "blue_control"))
                b, _ = play(other, options, decks=("green_midrange", "blue_control"))
                assert without_ms(a.lines) == without_ms(b.lines)


def test_opponent_hand_is_hidden_unless_full_observability(shared_daemon, start_daemon):
    def opponent_hands(daemon) -> list[tuple[int, int]]:
        """(cards shown, hand_size) of the opponent's hand at each decision."""
        with daemon.client() as client:
            _, decisions = play(client, GameOptions(interactive=True, seed=3))
        hands = []
        for decision in decisions:
            players = decision.payload["game_state"]["players"]
            opponent = next(p for p in players if p["name"] != decision.player)
            hands.append((len(opponent["hand"]), opponent["hand_size"]))
        return hands

    hidden = opponent_hands(shared_daemon)
    assert all(shown == 0 for shown, _ in hidden) and any(size > 0 for _, size in hidden)
    assert all(shown == size for shown, size in opponent_hands(start_daemon("--full-observability")))
