"""Hypothesis drives the daemon with random bytes, random command lines and random replies;
afterwards the daemon must still answer STATUS correctly with no game left running, and every
line it ever sent must parse."""

from __future__ import annotations

import socket

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.conftest import wait_until
from daemon.wire import exchange
from tolaria.protocol import DecisionMessage, first_option_reply, parse_line, parse_status

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WORDS = ["STATUS", "HELLO", "NEWGAME", "red_aggro", "white_weenie", "../red_aggro", "/etc/passwd", "-i", "-o",
         "-q", "-c", "-t", "-s", "-p1", "-p2", "agent", "ai", "random", "-x", "compact", "1", "-1", "0", "y", "n",
         "0:0", "", "pass", "99999999999999999999999", "nan"]  # fmt: skip
FUZZ_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

word_lines = st.lists(st.sampled_from(WORDS), max_size=8).map(" ".join)
any_text = st.text(max_size=40).map(lambda s: s.replace("\n", " ").replace("\r", " "))
raw_lines = st.binary(max_size=300).filter(lambda b: b"\n" not in b)
fuzz_line = st.one_of(
    word_lines, any_text.map(str.encode).map(bytes.decode), raw_lines.map(lambda b: b.decode("latin-1"))
)


def converse(port: int, payload: bytes, read_for: float = 0.15) -> list[str]:
    """Send bytes, collect what comes back for a moment (a persistent connection stays open)."""
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=read_for) as sock:
        sock.sendall(payload)
        try:
            while chunk := sock.recv(1 << 20):
                received += chunk
        except TimeoutError:
            pass
        except ConnectionResetError:
            pass
    return received.decode("utf-8", "replace").splitlines()


def check_healthy(daemon) -> None:
    assert daemon.proc.poll() is None, daemon.log()
    status = wait_until(
        lambda: (s := parse_status(exchange(daemon.port, "STATUS\n"))).active_games == 0 and s
    )
    assert status, "games left running: " + " | ".join(exchange(daemon.port, "STATUS\n"))
    assert status.extras["accepting"] == "yes"


def check_lines_parse(lines: list[str]) -> None:
    for line in lines:
        parse_line(line)  # raises ProtocolError on a malformed DECISION/GAME_RESULT/SEED/...


@FUZZ_SETTINGS
@given(data=st.binary(max_size=4000))
def test_random_bytes(shared_daemon, data):
    lines = converse(shared_daemon.port, data.replace(b"SHUTDOWN", b"SHUTUP"))
    check_lines_parse(lines)
    check_healthy(shared_daemon)


@FUZZ_SETTINGS
@given(lines=st.lists(fuzz_line, min_size=1, max_size=30))
def test_random_command_lines(shared_daemon, lines):
    text = "".join(line.replace("SHUTDOWN", "SHUTUP") + "\n" for line in lines)
    received = converse(shared_daemon.port, text.encode("utf-8", "surrogateescape"))
    check_lines_parse(received)
    check_healthy(shared_daemon)


@FUZZ_SETTINGS
@given(
    seed=st.integers(min_value=0, max_value=2**63 - 1),
    flags=st.sampled_from(["-i", "-i -x compact", "-p1 agent", "-p2 agent -o", "-i -q"]),
    replies=st.lists(st.one_of(st.none(), fuzz_line), min_size=0, max_size=60),
    leave_early=st.booleans(),
)
def test_random_replies_in_games(shared_daemon, seed, flags, replies, leave_early):
    """None in `replies` means: answer correctly; a string is sent as the reply as it is."""
    with (
        socket.create_connection(("127.0.0.1", shared_daemon.port), timeout=20) as sock,
        sock.makefile("rb") as f,
    ):
        sock.sendall(f"HELLO fuzz\nNEWGAME red_aggro white_weenie {flags} -s {seed}\n".encode())
        assert f.readline().startswith(b"HELLO tolaria")
        pending = iter(replies)
        while True:
            line = f.readline().decode()
            assert line.endswith("\n"), "connection closed mid-game"
            message = parse_line(line)
            if isinstance(message, DecisionMessage) and message.expects_reply:
                reply = next(pending, None)
                if reply is None and leave_early and replies:
                    break  # walk away mid-game
                text = (
                    first_option_reply(message.payload) if reply is None else reply.replace("SHUTDOWN", "x")
                )
                sock.sendall(text.encode("utf-8", "surrogateescape") + b"\n")
            elif line.startswith("GAME_RESULT"):
                assert message.reason in ("life", "decking", "turn_limit", "concede", "draw")
                break
    check_healthy(shared_daemon)
