"""A tiny real TCP server that behaves like the Forge RL daemon as the clients see it: it
refuses HELLO with Forge's recorded refusal, answers STATUS in Forge's recorded format, one
command per connection, and closes. Its interactive game is made up (no Forge interactive game
was recorded); `forge_replay.RecordedForge` replays what was."""

from __future__ import annotations

import contextlib
import json
import socket
import threading

DECISION = {
    "decision_type": "choose_action",
    "decision_id": 1,
    "player": "Agent(1)-red",
    "actions": [{"index": 0, "description": "Play Mountain"}, {"index": -1, "description": "Pass"}],
}
REVEAL = {"decision_type": "reveal", "decision_id": 2, "player": "Agent(1)-red", "cards": []}


class ForgeLikeServer:
    def __init__(self, *, die_mid_game: bool = False, silent: bool = False):
        self.die_mid_game = die_mid_game  # close the socket after the first DECISION
        self.silent = silent  # accept and never answer anything
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.commands: list[str] = []
        self.replies: list[str] = []
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> ForgeLikeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(10)
            self.connections += 1
            with conn, conn.makefile("rwb") as stream, contextlib.suppress(OSError):
                self._answer(stream)

    def _answer(self, stream) -> None:
        line = stream.readline().decode().rstrip("\n")
        self.commands.append(line)
        if self.silent:
            self._stop.wait(10)
            return

        def send(text: str) -> None:
            stream.write(text.encode() + b"\n")
            stream.flush()

        words = line.split()
        if words[:1] == ["STATUS"]:
            for text in ("FORGE DAEMON STATUS", "  Active games: 0", "  Total games played: 7",
                         "  Memory: 300MB / 2048MB", "  Max concurrent: 10"):  # fmt: skip
                send(text)
        elif words[:1] == ["NEWGAME"] and "-i" in words:
            send(f"GAME_START: Agent(1)-{words[1]} vs Agent(2)-{words[2]}")
            send("SEED: 99")
            send("DECISION:" + json.dumps(DECISION))
            if self.die_mid_game:
                return
            self.replies.append(stream.readline().decode().rstrip("\n"))
            send("DECISION:" + json.dumps(REVEAL))
            send(f"GAME_RESULT: Agent(1)-{words[1]} won in 12ms")
        elif words[:1] == ["NEWGAME"]:
            send("GAME_RESULT: Draw in 5ms")
        else:
            send("ERROR: Unknown command. Use NEWGAME, STATUS, or SHUTDOWN")
