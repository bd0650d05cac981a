"""STATUS, HELLO, unknown and malformed commands, oversized lines, over real TCP."""

from __future__ import annotations

import pytest

from daemon.wire import Wire, exchange
from tolaria.protocol import PROTOCOL_VERSION, parse_line, parse_status

pytestmark = pytest.mark.integration

STATUS_LINES = 5 + 11  # Forge's five and our extras


def test_status_one_shot_is_forge_five_lines_then_extras_and_close(shared_daemon):
    lines = exchange(shared_daemon.port, "STATUS\n")
    assert lines[0] == "FORGE DAEMON STATUS"
    assert lines[1].startswith("Active games: ") and lines[2].startswith("Games played: ")
    assert lines[3].startswith("Memory: ") and lines[3].endswith(" MB")
    assert lines[4] == "Max concurrent: 64"
    assert "END" not in lines and len(lines) == STATUS_LINES
    status = parse_status(lines)
    assert status.extras["protocol"] == str(PROTOCOL_VERSION)
    assert status.extras["worker"] == "1/1" and status.extras["accepting"] == "yes"
    assert 0 < status.memory_used_mb < status.memory_max_mb


def test_hello_makes_the_connection_persistent(shared_daemon):
    with Wire(shared_daemon.port) as wire:
        wire.send("HELLO test-suite\n")
        hello = parse_line(wire.line())
        assert hello.server == "tolaria" and hello.version == PROTOCOL_VERSION
        assert {"persistent", "seats", "compact"} <= hello.capabilities
        for _ in range(3):
            wire.send("STATUS\n")
            lines = wire.lines(STATUS_LINES + 1)
            assert lines[0] == "FORGE DAEMON STATUS" and lines[-1] == "END"
        wire.send("BOGUS\nNEWGAME nowhere white_weenie\nHELLO twice\n")
        assert wire.line() == "ERROR: Unknown command: BOGUS"
        assert wire.line() == "ERROR: Could not load deck: nowhere"
        assert wire.line().startswith("HELLO tolaria ")
        wire.send("STATUS\n")
        assert wire.lines(STATUS_LINES + 1)[-1] == "END"


def test_without_hello_one_command_per_connection(shared_daemon):
    # Forge behaviour: the answer, then the connection closes; later lines are not read.
    assert exchange(shared_daemon.port, "FOO\nSTATUS\n") == ["ERROR: Unknown command: FOO"]


@pytest.mark.parametrize(
    ("sent", "answer"),
    [
        (b"FOO bar\n", "ERROR: Unknown command: FOO bar"),
        (b"\n", "ERROR: Empty command"),
        (b"   \t \r\n", "ERROR: Empty command"),
        (b"status\n", "ERROR: Unknown command: status"),
        (b"NEWGAME red_aggro\n", "ERROR: Usage: NEWGAME <deck1> <deck2> [flags]"),
        (b"NEWGAME red_aggro white_weenie -s x\n", "ERROR: flag -s needs an integer seed, not 'x'"),
        (b"NEWGAME red_aggro white_weenie -c\n", "ERROR: flag -c needs a value"),
        (
            b"NEWGAME red_aggro white_weenie -p2 human\n",
            "ERROR: -p2 must be one of agent, ai, random, not 'human'",
        ),
        (b"NEWGAME red_aggro white_weenie -x full\n", "ERROR: flag -x knows only compact, not 'full'"),
        (b"NEWGAME red_aggro white_weenie --bogus\n", "ERROR: Unknown flag: --bogus"),
    ],
)
def test_bad_commands_get_a_clear_error(shared_daemon, sent, answer):
    assert exchange(shared_daemon.port, sent) == [answer]


def test_binary_garbage_is_an_unknown_command(shared_daemon):
    lines = exchange(shared_daemon.port, b"\xff\xfe\x00garbage\r\n")
    assert len(lines) == 1 and lines[0].startswith("ERROR: Unknown command: ")


@pytest.mark.parametrize(
    "deck",
    [
        "../red_aggro",
        "../../etc/passwd",
        "/etc/passwd",
        "nonexistent",
        "red_aggro/../../pyproject.toml",
        "..",
    ],
)
def test_decks_outside_the_deck_directories_are_refused(shared_daemon, deck):
    assert exchange(shared_daemon.port, f"NEWGAME {deck} white_weenie -i\n") == [
        f"ERROR: Could not load deck: {deck}"
    ]


def test_a_line_over_the_cap_is_refused_and_the_connection_closed(shared_daemon):
    lines = exchange(shared_daemon.port, b"STATUS" + b"x" * 200_000 + b"\n")
    assert lines == ["ERROR: Line too long (limit 65536 bytes)"]
    # The daemon is unharmed.
    assert exchange(shared_daemon.port, "STATUS\n")[0] == "FORGE DAEMON STATUS"


def test_an_oversized_reply_ends_the_game_with_its_result_then_the_connection(shared_daemon):
    with Wire(shared_daemon.port) as player:
        player.send("NEWGAME red_aggro white_weenie -i -q -s 3\n")
        assert player.line().startswith("DECISION:")
        player.send(b"y" * 200_000 + b"\n")
        rest = player.until_closed()
    assert rest[:2] == ["ERROR: Line too long (limit 65536 bytes)", "GAME_ERROR: reply line too long"]
    assert parse_line(rest[2]).reason == "line_too_long" and len(rest) == 3


def test_a_connection_that_closes_without_a_line_costs_nothing(shared_daemon):
    for _ in range(20):
        Wire(shared_daemon.port).close()
    with Wire(shared_daemon.port) as wire:
        wire.send("STAT")  # half a line, then gone
    status = parse_status(exchange(shared_daemon.port, "STATUS\n"))
    assert status.active_games == 0
