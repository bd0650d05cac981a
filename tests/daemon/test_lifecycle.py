"""SHUTDOWN, SIGTERM, --workers with SO_REUSEPORT and the supervisor, metrics, bad options."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import urllib.request

import pytest
from conftest import free_port

from daemon.conftest import DECKS, alive, child_pids, wait_until
from daemon.wire import Wire, exchange
from tolaria.protocol import (
    AsyncDaemonClient,
    DaemonError,
    GameOptions,
    first_option_reply,
    parse_line,
    parse_status,
)

pytestmark = pytest.mark.integration


def test_shutdown_when_idle(start_daemon):
    daemon = start_daemon()
    with Wire(daemon.port) as idle:  # a persistent connection waiting for its next command
        idle.send("HELLO idle\n")
        assert idle.line().startswith("HELLO")
        assert exchange(daemon.port, "SHUTDOWN\n") == ["OK: shutting down"]
        assert daemon.wait(20) == 0
        assert idle.line() is None  # closed by the daemon, not left hanging


def test_shutdown_aborts_games_that_outlive_the_grace_period(start_daemon):
    daemon = start_daemon("--grace", "0.5")
    with Wire(daemon.port) as player:
        player.send("NEWGAME red_aggro white_weenie -i -s 1\n")
        assert player.lines(3)[2].startswith("DECISION:")
        assert exchange(daemon.port, "SHUTDOWN\n") == ["OK: shutting down"]
        rest = player.until_closed()  # the player never answers
    assert rest[0] == "GAME_ERROR: daemon shutting down"
    assert parse_line(rest[1]).reason == "shutdown" and len(rest) == 2
    assert daemon.wait(20) == 0


def test_shutdown_lets_running_games_finish_within_the_grace_period(start_daemon):
    daemon = start_daemon("--grace", "30")
    with daemon.client() as client:
        game = client.start_game("red_aggro", "white_weenie", GameOptions(interactive=True, seed=4))
        decision = game.next_decision()
        assert exchange(daemon.port, "SHUTDOWN\n") == ["OK: shutting down"]
        # The listener closes at once: refused, reset, or closed without an answer.
        with contextlib.suppress(ConnectionRefusedError, ConnectionResetError):
            assert exchange(daemon.port, "STATUS\n") == []
        game.reply(first_option_reply(decision.payload))
        while (decision := game.next_decision()) is not None:
            if decision.expects_reply:
                game.reply(first_option_reply(decision.payload))
        assert game.result.reason not in ("shutdown", "error")
    assert daemon.wait(20) == 0


def test_sigterm_exits_cleanly(start_daemon):
    daemon = start_daemon()
    assert parse_status(exchange(daemon.port, "STATUS\n")).active_games == 0
    assert daemon.terminate() == 0
    assert "stopped after" in daemon.log()


def test_workers_share_the_port_and_stop_together(start_daemon):
    daemon = start_daemon("--workers", "2")
    workers = wait_until(lambda: len(child_pids(daemon.proc.pid)) == 2 and child_pids(daemon.proc.pid))
    assert len(workers) == 2

    def seen_workers() -> set[str]:
        return {parse_status(exchange(daemon.port, "STATUS\n")).extras["worker"] for _ in range(40)}

    assert wait_until(lambda: seen_workers() == {"1/2", "2/2"}, timeout=30)
    with daemon.client() as client:
        for seed in range(4):
            game = client.play("red_aggro", "white_weenie", lambda d: first_option_reply(d.payload),
                               GameOptions(interactive=True, seed=seed))  # fmt: skip
            assert game.result is not None
    assert daemon.terminate() == 0
    assert not any(alive(pid) for pid in workers)


def test_status_and_the_busy_limit_describe_every_worker(start_daemon):
    daemon = start_daemon("--workers", "2", "--max-games", "1")
    wait_until(lambda: len(child_pids(daemon.proc.pid)) == 2)
    with Wire(daemon.port) as first, Wire(daemon.port) as second:
        for player in (first, second):
            player.send("NEWGAME red_aggro white_weenie -i -q -s 1\n")
            assert player.line().startswith("DECISION:")
        # Whichever worker answers (the kernel picks it), it answers for the whole daemon.
        answers: list = []

        def both_workers_answered() -> bool:
            answers.append(parse_status(exchange(daemon.port, "STATUS\n")))
            return {s.extras["worker"] for s in answers} == {"1/2", "2/2"}

        assert wait_until(both_workers_answered, timeout=30)
        assert {(s.active_games, s.max_concurrent) for s in answers} == {(2, 2)}
        assert exchange(daemon.port, "NEWGAME red_aggro white_weenie\n") == [
            "ERROR: busy (2/2 games running)"
        ]
    wait_until(lambda: parse_status(exchange(daemon.port, "STATUS\n")).active_games == 0, timeout=20)
    assert exchange(daemon.port, "NEWGAME red_aggro white_weenie -q -s 2\n")[-1].startswith("GAME_RESULT:")
    played = {parse_status(exchange(daemon.port, "STATUS\n")).games_played for _ in range(20)}
    assert played == {1}  # the two abandoned games were dropped, not played
    assert daemon.terminate() == 0


def test_shutdown_command_stops_every_worker(start_daemon):
    daemon = start_daemon("--workers", "2")
    workers = wait_until(lambda: len(child_pids(daemon.proc.pid)) == 2 and child_pids(daemon.proc.pid))
    assert exchange(daemon.port, "SHUTDOWN\n") == ["OK: shutting down"]
    assert daemon.wait(30) == 0
    assert not any(alive(pid) for pid in workers)


def test_supervisor_restarts_a_crashed_worker(start_daemon):
    import os

    daemon = start_daemon("--workers", "2")
    workers = wait_until(lambda: len(child_pids(daemon.proc.pid)) == 2 and child_pids(daemon.proc.pid))
    for seed in range(6):
        assert exchange(daemon.port, f"NEWGAME red_aggro white_weenie -q -s {seed}\n")[-1].startswith(
            "GAME_RESULT"
        )
    os.kill(workers[0], signal.SIGKILL)
    replaced = wait_until(
        lambda: (pids := child_pids(daemon.proc.pid)) and len(pids) == 2 and workers[0] not in pids and pids,
        timeout=20,
    )
    assert replaced and workers[1] in replaced
    # The games the crashed worker played are still counted.
    assert {parse_status(exchange(daemon.port, "STATUS\n")).games_played for _ in range(20)} == {6}
    assert daemon.terminate() == 0


@pytest.mark.parametrize("workers", [1, 2])
def test_metrics_count_games(start_daemon, workers):
    metrics_port = free_port()
    daemon = start_daemon("--metrics-port", str(metrics_port), "--workers", str(workers))
    with daemon.client() as client:
        for seed in range(3):
            client.play("red_aggro", "white_weenie", lambda d: first_option_reply(d.payload),
                        GameOptions(interactive=True, seed=seed))  # fmt: skip
        exchange(daemon.port, "BOGUS\n")

    def scrape() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as response:
            return response.read().decode()

    text = wait_until(lambda: "tolaria_daemon_games_started_total 3.0" in (t := scrape()) and t, timeout=20)
    assert text, scrape()
    assert "tolaria_daemon_decisions_total" in text and "tolaria_daemon_active_games" in text
    assert 'tolaria_daemon_errors_total{kind="bad_command"} 1.0' in text
    assert "tolaria_daemon_games_finished_total{reason=" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--decks", "/nonexistent/decks"], "--decks /nonexistent/decks: no such directory"),
        (["--workers", "0"], "--workers must be positive, not 0"),
        (["--workers", "2", "--port", "0"], "--workers > 1 needs a fixed --port"),
        (["--reply-timeout", "-1"], "--reply-timeout must be positive, not -1.0"),
    ],
)
def test_bad_options_exit_with_a_clear_message(args, message):
    command = [
        sys.executable,
        "-m",
        "tolaria.cli",
        "daemon",
        "--decks",
        str(DECKS),
        "--metrics-port",
        "0",
        *args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and message in done.stderr


def test_sigterm_under_load_ends_every_game_and_logs_no_error(start_daemon):
    daemon = start_daemon("--grace", "0.3", "--max-games", "30")
    outcomes: list[str] = []

    async def seat() -> None:
        client = AsyncDaemonClient("127.0.0.1", daemon.port, read_timeout=20)
        try:
            while True:
                game = await client.start_game("red_aggro", "blue_control", GameOptions(interactive=True))
                while (decision := await game.next_decision()) is not None:
                    if decision.expects_reply:
                        await asyncio.sleep(0.02)  # think: the daemon waits on replies when it stops
                        await game.reply(first_option_reply(decision.payload))
                if game.result.reason == "shutdown":
                    outcomes.append("shutdown")
        except DaemonError as e:
            outcomes.append(type(e).__name__)
        finally:
            await client.close()

    async def scenario() -> None:
        seats = [asyncio.create_task(seat()) for _ in range(20)]
        await asyncio.sleep(1.0)
        daemon.proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(asyncio.gather(*seats), 30)

    asyncio.run(scenario())
    assert daemon.wait(20) == 0
    assert len([o for o in outcomes if o != "shutdown"]) == 20  # every seat ended, none hung
    assert " ERROR " not in daemon.log() and "Traceback" not in daemon.log(), daemon.log()
