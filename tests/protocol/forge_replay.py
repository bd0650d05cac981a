"""A real TCP server that answers each connection's single command with what a real Forge RL
daemon printed for it (`tests/forge_recordings.py`), byte for byte, and then closes, as Forge
does. What it does beyond the recordings is said where it is done."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

from forge_recordings import COMMANDS, recording_bytes


class RecordedForge:
    def __init__(
        self,
        answers: dict[str, bytes | None] | None = None,
        *,
        hold: float = 0.0,
        stall_after_first_reply: bool = False,
    ):
        # command -> the bytes to send; None: close without a word (Forge, on a flag value that
        # is not a number). A command it has no answer for gets Forge's refusal of HELLO.
        self.answers = {command: recording_bytes(name) for command, name in COMMANDS.items()}
        self.answers.update(answers or {})
        self.hold = hold  # seconds a NEWGAME connection is held open before its answer
        self.stall_after_first_reply = stall_after_first_reply
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.commands: list[str] = []
        self.replies: list[str] = []
        self.games_waiting = 0
        # The most NEWGAMEs held at once before their answers. Counted down before the answer is
        # written: a client may start its next game as soon as it reads one's end, and that one
        # must not find the last still counted while its thread waits for its turn to run.
        self.most_games_waiting = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> RecordedForge:
        self._acceptor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._acceptor.join(timeout=5)
        for thread in self._threads:
            thread.join(timeout=5)
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._answer, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _answer(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        with conn, conn.makefile("rwb") as stream, contextlib.suppress(OSError):
            command = stream.readline().decode().rstrip("\n")
            with self._lock:
                self.commands.append(command)
            answer = self.answers.get(command, recording_bytes("hello.txt"))
            if command.startswith("NEWGAME"):
                self._hold()
            if answer is None:
                return
            if self.stall_after_first_reply and command.startswith("NEWGAME"):
                first, _, _ = answer.partition(b"\n")
                stream.write(first + b"\n")
                stream.flush()
                self.replies.append(stream.readline().decode().rstrip("\n"))
                self._stop.wait(10)  # the reply was "dropped": nothing more
                return
            stream.write(answer)
            stream.flush()

    def _hold(self) -> None:
        with self._lock:
            self.games_waiting += 1
            self.most_games_waiting = max(self.most_games_waiting, self.games_waiting)
        time.sleep(self.hold)
        with self._lock:
            self.games_waiting -= 1
