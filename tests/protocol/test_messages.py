"""Unit tests of the pure protocol code: line parser, STATUS, commands, replies, progress."""

from __future__ import annotations

import pytest

from tolaria.protocol import (
    CommandError,
    CommandRefused,
    DaemonBusy,
    DaemonStatus,
    DecisionMessage,
    ErrorLine,
    GameError,
    GameOptions,
    GameProgress,
    GameResult,
    GameStart,
    GameTimeout,
    Hello,
    HelloAnswer,
    NewGame,
    OkLine,
    OtherLine,
    ProtocolError,
    SeedLine,
    Shutdown,
    Status,
    StatusEnd,
    blocks_reply,
    format_result,
    index_reply,
    indices_reply,
    parse_command,
    parse_endpoints,
    parse_line,
    parse_status,
    seat_of,
    value_reply,
    yes_no_reply,
)


def test_forge_result_lines_parse():
    win = parse_line("GAME_RESULT: Ai(1)-red_aggro won in 7812ms\n")
    assert win == GameResult(winner="Ai(1)-red_aggro", ms=7812, fields={})
    assert win.winner_seat == 1 and not win.is_draw and win.turns is None
    draw = parse_line("GAME_RESULT: Draw in 120000ms")
    assert draw.is_draw and draw.ms == 120000 and draw.winner_seat is None


def test_result_extension_fields_and_names_with_spaces():
    line = "GAME_RESULT: Agent(2)-White Weenie won in 31ms turns=9 reason=life"
    result = parse_line(line)
    assert result.winner == "Agent(2)-White Weenie"
    assert result.fields == {"turns": "9", "reason": "life"}
    assert result.turns == 9 and result.reason == "life" and result.winner_seat == 2
    assert format_result("Agent(2)-White Weenie", 31, {"turns": 9, "reason": "life"}) == line


@pytest.mark.parametrize(
    "line", ["GAME_RESULT: nobody", "GAME_RESULT: X won in ms", "GAME_RESULT: Draw in 5s"]
)
def test_malformed_result_raises(line):
    with pytest.raises(ProtocolError):
        parse_line(line)


def test_game_lines_parse():
    assert parse_line("GAME_START: Agent(1)-a vs b vs Ai(2)-c") == GameStart(("Agent(1)-a vs b", "Ai(2)-c"))
    assert parse_line("GAME_START: one vs two") == GameStart(("one", "two"))
    assert parse_line("SEED: -42") == SeedLine(-42)
    assert parse_line("GAME_TIMEOUT: Game exceeded 5 seconds") == GameTimeout("Game exceeded 5 seconds")
    assert parse_line("GAME_ERROR: boom") == GameError("boom")
    assert parse_line("ERROR: busy (4/4 games)").is_busy
    assert parse_line("ERROR: Unknown command: FOO") == ErrorLine("Unknown command: FOO")
    assert parse_line("OK: shutting down") == OkLine("shutting down")
    assert parse_line("END") == StatusEnd()
    assert parse_line("something else") == OtherLine("something else")
    with pytest.raises(ProtocolError):
        parse_line("SEED: x")
    with pytest.raises(ProtocolError):
        parse_line("GAME_START: lonely")


def test_decision_lines():
    d = parse_line('DECISION:{"decision_type":"choose_action","decision_id":3,"player":"Agent(1)-x"}')
    assert isinstance(d, DecisionMessage)
    assert (d.type, d.decision_id, d.player, d.seat, d.expects_reply, d.ai_choice) == (
        "choose_action",
        3,
        "Agent(1)-x",
        1,
        True,
        None,
    )
    assert not parse_line('DECISION:{"decision_type":"reveal"}').expects_reply
    observed = parse_line('DECISION:{"decision_type":"choose_action","ai_choice":"-1"}')
    assert not observed.expects_reply and observed.ai_choice == "-1"
    for bad in ("DECISION:{", "DECISION:[1]", "DECISION:"):
        with pytest.raises(ProtocolError):
            parse_line(bad)


def test_seat_of_player_names():
    assert seat_of("Agent(1)-red_aggro") == 1
    assert seat_of("Agent(2)-white_weenie") == 2
    assert seat_of("Ai(2)-x") == 2
    assert seat_of("Agent(3)-x") is None
    assert seat_of("somebody") is None
    assert seat_of(None) is None


def test_parse_endpoints():
    assert parse_endpoints("a:1, b ,[::1]:17172") == [("a", 1), ("b", 17171), ("::1", 17172)]
    for bad in ("", "a:x", "a:0", ":5", "a:99999"):
        with pytest.raises(ValueError):
            parse_endpoints(bad)


def test_hello_answer():
    assert parse_line("HELLO tolaria 1 persistent compact") == HelloAnswer(
        "tolaria", 1, frozenset({"persistent", "compact"})
    )
    with pytest.raises(ProtocolError):
        parse_line("HELLO tolaria x")


def test_status_round_trip_and_without_extras():
    """Forge's own format: test_forge_dialect.py, from the recordings."""
    status = DaemonStatus(2, 10, 120, 4096, 64, {"protocol": "1", "decisions": "77"})
    assert parse_status([*status.lines(), "END"]) == status
    forge = [
        "FORGE DAEMON STATUS",
        "Active games: 0",
        "Games played: 3",
        "Memory: 512/2048 MB",
        "Max concurrent: 10",
    ]
    assert parse_status(forge) == DaemonStatus(0, 3, 512, 2048, 10, {})
    with pytest.raises(ProtocolError):
        parse_status(forge[1:])
    with pytest.raises(ProtocolError):
        parse_status([*forge[:3], "Memory: lots", forge[4]])
    with pytest.raises(ProtocolError):
        parse_status([*forge, "no colon here"])


def test_newgame_format_parse_round_trip():
    options = GameOptions(
        interactive=True,
        quiet=True,
        game_timeout=30,
        ai_timeout=2.5,
        seed=-7,
        p1="agent",
        p2="ai",
        compact=True,
        max_turns=80,
    )
    command = NewGame("red_aggro", "sub/white.dck", options)
    assert (
        command.line()
        == "NEWGAME red_aggro sub/white.dck -i -q -c 30 -t 2.5 -s -7 -p1 agent -p2 ai -x compact -l 80"
    )
    assert options.required_capabilities() == {"seats", "compact", "turn-limit"}
    assert parse_command(command.line()) == command
    assert parse_command("NEWGAME a b") == NewGame("a", "b")
    assert parse_command("NEWGAME a b -o").options.observe


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("", "Empty command"),
        ("FOO bar", "Unknown command: FOO bar"),
        ("STATUS now", "Unknown command: STATUS now"),
        ("NEWGAME a", "Usage: NEWGAME <deck1> <deck2> [flags]"),
        ("NEWGAME a -i", "Usage: NEWGAME <deck1> <deck2> [flags]"),
        ("NEWGAME a b -c", "flag -c needs a value"),
        ("NEWGAME a b -c soon", "flag -c needs a number of seconds, not 'soon'"),
        ("NEWGAME a b -c -1", "game_timeout must be a positive number of seconds, not -1.0"),
        ("NEWGAME a b -c nan", "game_timeout must be a positive number of seconds, not nan"),
        ("NEWGAME a b -s 1.5", "flag -s needs an integer seed, not '1.5'"),
        (
            "NEWGAME a b -s 99999999999999999999",
            "seed 99999999999999999999 is outside the signed 64-bit range",
        ),
        ("NEWGAME a b -p1 human", "-p1 must be one of agent, ai, random, not 'human'"),
        ("NEWGAME a b -x fancy", "flag -x knows only compact, not 'fancy'"),
        ("NEWGAME a b -i -o", "-i and -o exclude each other"),
        ("NEWGAME a b -z", "Unknown flag: -z"),
        ("NEWGAME a b -l", "flag -l needs a value"),
        ("NEWGAME a b -l many", "flag -l needs a whole number of turns, not 'many'"),
        ("NEWGAME a b -l 0", "max_turns (-l) must be a positive number of turns, not 0"),
    ],
)
def test_bad_commands_name_the_culprit(line, message):
    with pytest.raises(CommandError) as info:
        parse_command(line)
    assert str(info.value) == message


def test_simple_commands():
    assert parse_command("STATUS") == Status()
    assert parse_command(" SHUTDOWN \r") == Shutdown()
    assert parse_command("HELLO actor 7") == Hello("actor 7")
    assert parse_command("HELLO") == Hello("unknown")
    with pytest.raises(CommandError) as info:
        parse_command("x" * 500)
    assert len(str(info.value)) < 120


def test_deck_names_with_whitespace_are_refused():
    with pytest.raises(CommandError):
        NewGame("red aggro", "b")
    with pytest.raises(CommandError):
        NewGame("", "b")


def test_reply_formatters():
    assert index_reply(3) == "3"
    assert indices_reply([0, 2]) == "0,2" and indices_reply([]) == ""
    assert blocks_reply([(0, 1), (2, 1)]) == "0:1,2:1" and blocks_reply([]) == ""
    assert yes_no_reply(True) == "y" and yes_no_reply(False) == "n"
    assert value_reply(4) == "4"


def _progress() -> GameProgress:
    return GameProgress(NewGame("a", "b", GameOptions(interactive=True)))


def test_progress_follows_a_game():
    progress = _progress()
    assert progress.feed("GAME_START: Agent(1)-a vs Agent(2)-b") is None
    assert progress.feed("SEED: 5") is None
    decision = progress.feed('DECISION:{"decision_type":"confirm_action","decision_id":1}')
    assert isinstance(decision, DecisionMessage)
    with pytest.raises(ProtocolError):
        progress.check_next()
    progress.check_reply()
    with pytest.raises(ProtocolError):
        progress.check_reply()
    assert progress.feed("ERROR: Bad reply 'zz'") is None
    progress.feed('DECISION:{"decision_type":"reveal"}')
    progress.check_next()  # a reveal is not answered
    result = progress.feed("GAME_RESULT: Draw in 3ms turns=1 reason=timeout")
    assert isinstance(result, GameResult) and progress.finished
    assert progress.names == ("Agent(1)-a", "Agent(2)-b") and progress.seed == 5
    assert progress.inline_errors == ["Bad reply 'zz'"] and progress.decisions == 2
    with pytest.raises(ProtocolError):
        progress.feed("SEED: 1")


def test_progress_refusals():
    with pytest.raises(DaemonBusy):
        _progress().feed("ERROR: busy (8/8 games running)")
    with pytest.raises(CommandRefused) as info:
        _progress().feed("ERROR: Could not load deck: ../x")
    assert info.value.message == "Could not load deck: ../x"
    assert not isinstance(info.value, DaemonBusy)


def test_progress_marks_abnormal_ends():
    progress = _progress()
    progress.feed("GAME_TIMEOUT: Game exceeded 1 seconds")
    progress.feed("GAME_RESULT: Draw in 1000ms")
    assert progress.ended_abnormally and progress.timeout == "Game exceeded 1 seconds"


def test_progress_counts_bytes():
    progress = _progress()
    progress.feed("SEED: 1")
    progress.feed('DECISION:{"decision_type":"reveal","name":"é"}')
    assert progress.decision_bytes == len('DECISION:{"decision_type":"reveal","name":"é"}'.encode()) + 1
    assert progress.bytes_received == progress.decision_bytes + len("SEED: 1\n")


def test_extension_flags_need_the_daemon_capabilities():
    GameOptions(interactive=True).check_supported(None, "forge:1")
    GameOptions(p1="agent", compact=True).check_supported(frozenset({"seats", "compact"}), "tolaria:1")
    with pytest.raises(CommandError, match="forge:1 does not support compact, seats"):
        GameOptions(p2="ai", compact=True).check_supported(None, "forge:1")
    with pytest.raises(CommandError, match="does not support compact"):
        GameOptions(compact=True).check_supported(frozenset({"persistent", "seats"}), "other:1")
