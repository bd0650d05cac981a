"""Blocking client for scripts and tests: one connection at a time, same rules as the
asyncio client (HELLO probe, persistent connection or Forge's dialect with one connection per
command, timeouts on every read, `DaemonError` subclasses for every failure). It plays one game
at a time, so Forge's cap on games in flight never binds it."""

from __future__ import annotations

import socket
from collections.abc import Callable

from tolaria.protocol.aio_client import DEFAULT_GAME_TIMEOUT, MAX_LINE_BYTES
from tolaria.protocol.commands import GameOptions, Hello, NewGame, Shutdown, Status
from tolaria.protocol.errors import (
    CommandRefused,
    DaemonDisconnected,
    DaemonTimeout,
    DaemonUnavailable,
    NoReply,
    ProtocolError,
    refusal,
)
from tolaria.protocol.forge import Dialect, forge_options
from tolaria.protocol.game_progress import GameProgress
from tolaria.protocol.messages import DecisionMessage, ErrorLine, GameResult, HelloAnswer, OkLine, parse_line
from tolaria.protocol.status import DaemonStatus, parse_status


class _Connection:
    def __init__(self, sock: socket.socket, address: str):
        self.sock = sock
        self.file = sock.makefile("rb")
        self.address = address
        self.closed = False

    def read_line(self, timeout: float) -> str | None:
        self.sock.settimeout(timeout)
        try:
            data = self.file.readline(MAX_LINE_BYTES + 1)
        except TimeoutError:
            raise DaemonTimeout(f"{self.address}: no line from the daemon within {timeout:g}s") from None
        except OSError as e:
            raise DaemonDisconnected(f"{self.address}: {e}") from None
        if not data:
            return None
        if not data.endswith(b"\n"):
            if len(data) > MAX_LINE_BYTES:
                raise ProtocolError(f"{self.address}: line longer than {MAX_LINE_BYTES} bytes")
            raise DaemonDisconnected(f"{self.address}: connection closed in the middle of a line")
        return data.decode("utf-8", "replace").rstrip("\r\n")

    def write_lines(self, *lines: str, timeout: float) -> None:
        self.sock.settimeout(timeout)
        try:
            self.sock.sendall("".join(line + "\n" for line in lines).encode())
        except TimeoutError:
            raise DaemonTimeout(f"{self.address}: the daemon does not read (send timeout)") from None
        except OSError as e:
            raise DaemonDisconnected(f"{self.address}: {e}") from None

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.file.close()
            self.sock.close()


class DaemonClient:
    """Blocking client of one daemon endpoint (not thread-safe; one game at a time)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        client_name: str = "tolaria-sync",
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
    ):
        self.host = host
        self.port = port
        self.client_name = client_name
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.hello_answer: HelloAnswer | None = None
        self._probed = False
        self._idle: _Connection | None = None
        self._game: Game | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def persistent(self) -> bool:
        return self.hello_answer is not None

    @property
    def dialect(self) -> Dialect:
        return Dialect.FORGE if self._probed and self.hello_answer is None else Dialect.TOLARIA

    def hello(self) -> HelloAnswer | None:
        if not self._probed:
            conn = self._connect()
            try:
                self.hello_answer = self._handshake(conn)
            except BaseException:
                conn.close()
                raise
            self._probed = True
            if self.hello_answer is None:
                conn.close()
            else:
                self._idle = conn
        return self.hello_answer

    def status(self) -> DaemonStatus:
        conn = self._acquire()
        lines: list[str] = []
        try:
            conn.write_lines(Status().line(), timeout=self.read_timeout)
            while (line := conn.read_line(self.read_timeout)) is not None and line != "END":
                message = parse_line(line) if not lines else None
                if isinstance(message, ErrorLine):
                    raise refusal(message.message, Status().line(), self.address)
                lines.append(line)
            if line is None and not lines:
                raise NoReply(f"{self.address}: the daemon closed the connection without answering 'STATUS'")
            if line is None and self.persistent:
                raise DaemonDisconnected(f"{self.address}: connection closed during STATUS")
            status = parse_status(lines)
        except BaseException:
            conn.close()
            raise
        self._release(conn)
        return status

    def shutdown(self) -> str:
        conn = self._acquire()
        try:
            conn.write_lines(Shutdown().line(), timeout=self.read_timeout)
            line = conn.read_line(self.read_timeout)
        finally:
            conn.close()
        if line is None:
            return ""
        message = parse_line(line)
        if isinstance(message, ErrorLine):
            raise refusal(message.message, Shutdown().line(), self.address)
        return message.message if isinstance(message, OkLine) else line

    def start_game(self, deck1: str, deck2: str, options: GameOptions | None = None) -> Game:
        options = options or GameOptions()
        self.hello()
        options.check_supported(self.hello_answer and self.hello_answer.capabilities, self.address)
        if self.dialect is Dialect.FORGE:
            options = forge_options(options)
        command = NewGame(deck1, deck2, options)
        conn = self._acquire()
        try:
            conn.write_lines(command.line(), timeout=self.read_timeout)
        except BaseException:
            conn.close()
            raise
        game_timeout = command.options.game_timeout or DEFAULT_GAME_TIMEOUT
        self._game = Game(self, conn, command, line_timeout=game_timeout + self.read_timeout)
        return self._game

    def play(
        self,
        deck1: str,
        deck2: str,
        choose: Callable[[DecisionMessage], str],
        options: GameOptions | None = None,
    ) -> Game:
        game = self.start_game(deck1, deck2, options)
        game.play(choose)
        return game

    def close(self) -> None:
        """Close the idle connection and the connection of an unfinished game."""
        if self._idle is not None:
            self._idle.close()
            self._idle = None
        if self._game is not None:
            self._game.abort()
            self._game = None

    def __enter__(self) -> DaemonClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connect(self) -> _Connection:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except TimeoutError:
            raise DaemonUnavailable(
                f"{self.address}: connect timed out after {self.connect_timeout:g}s"
            ) from None
        except OSError as e:
            raise DaemonUnavailable(f"{self.address}: {e}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return _Connection(sock, self.address)

    def _handshake(self, conn: _Connection) -> HelloAnswer | None:
        conn.write_lines(Hello(self.client_name).line(), timeout=self.read_timeout)
        line = conn.read_line(self.read_timeout)
        if line is None:
            raise DaemonDisconnected(f"{self.address}: connection closed before the HELLO answer")
        answer = parse_line(line)
        if isinstance(answer, HelloAnswer):
            return answer
        if isinstance(answer, ErrorLine):
            return None
        raise ProtocolError(f"{self.address}: unexpected answer to HELLO: {line[:200]!r}")

    def _acquire(self) -> _Connection:
        self.hello()
        conn, self._idle = self._idle, None
        if conn is not None and not conn.closed:
            return conn
        conn = self._connect()
        if self.persistent:
            try:
                if self._handshake(conn) is None:
                    raise ProtocolError(f"{self.address}: the daemon stopped accepting HELLO")
            except BaseException:
                conn.close()
                raise
        return conn

    def _release(self, conn: _Connection) -> None:
        if self.persistent and not conn.closed and self._idle is None:
            self._idle = conn
        else:
            conn.close()


class Game:
    """One game: `next_decision()` / `reply()` until `next_decision()` returns None."""

    def __init__(self, client: DaemonClient, conn: _Connection, command: NewGame, *, line_timeout: float):
        self.client = client
        self.command = command
        self.progress = GameProgress(command, client.dialect, client.address)
        self.lines: list[str] = []  # every line the daemon sent for this game, in order
        self._conn: _Connection | None = conn
        self._line_timeout = line_timeout

    @property
    def result(self) -> GameResult | None:
        return self.progress.result

    @property
    def names(self) -> tuple[str, str] | None:
        return self.progress.names

    @property
    def seed(self) -> int | None:
        return self.progress.seed

    @property
    def finished(self) -> bool:
        return self.progress.finished

    def next_decision(self) -> DecisionMessage | None:
        if self.progress.finished:
            return None
        self.progress.check_next()
        conn = self._live_connection()
        try:
            while True:
                line = conn.read_line(self._line_timeout)
                if line is None:
                    raise self.progress.closed()
                self.lines.append(line)
                event = self.progress.feed(line)
                if isinstance(event, DecisionMessage):
                    return event
                if isinstance(event, GameResult):
                    self._finish(reusable=not self.progress.ended_abnormally)
                    return None
        except CommandRefused:
            self._finish(reusable=True)
            raise
        except BaseException:
            self._finish(reusable=False)
            raise

    def reply(self, text: str) -> None:
        if "\n" in text or "\r" in text:
            raise ValueError(f"a reply is one line, got {text!r}")
        self.progress.check_reply()
        try:
            self._live_connection().write_lines(text, timeout=self._line_timeout)
        except BaseException:
            self._finish(reusable=False)
            raise

    def play(self, choose: Callable[[DecisionMessage], str]) -> GameResult:
        while (decision := self.next_decision()) is not None:
            if decision.expects_reply:
                self.reply(choose(decision))
        assert self.progress.result is not None
        return self.progress.result

    def abort(self) -> None:
        self._finish(reusable=False)

    def _live_connection(self) -> _Connection:
        if self._conn is None:
            raise DaemonDisconnected(f"{self.client.address}: the game's connection is closed")
        return self._conn

    def _finish(self, *, reusable: bool) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if reusable:
            self.client._release(conn)
        else:
            conn.close()
