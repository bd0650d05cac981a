"""asyncio client for game daemons: the built-in one and Forge's.

One `AsyncDaemonClient` per daemon endpoint. It probes the daemon once with `HELLO`; the
built-in daemon answers and its connections become persistent (a pool of idle connections
is reused game after game), while a Forge daemon refuses HELLO and the client speaks Forge's
dialect (`tolaria.protocol.forge`): one connection per command, no extensions, whole-number
flag values, payloads normalized into Tolaria's shapes, and at most STATUS's `Max concurrent`
games in flight (a full Forge daemon queues connections instead of refusing them, STATUS
included). In Forge's interactive mode a reply the daemon cannot use is dropped without a
word, so a game that sends nothing for `stall_timeout` seconds after a reply is abandoned
with `DaemonTimeout`. Every wait has a timeout, and every failure is a `DaemonError`
subclass, so a daemon that dies mid-game surfaces as `DaemonDisconnected` (or
`DaemonTimeout`) in the game that was waiting, never as a hang.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

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
from tolaria.protocol.messages import (
    DecisionMessage,
    ErrorLine,
    GameResult,
    HelloAnswer,
    OkLine,
    parse_line,
)
from tolaria.protocol.status import DaemonStatus, parse_status

DEFAULT_GAME_TIMEOUT = 120.0  # the daemon's default for -c
DEFAULT_STALL_TIMEOUT = 30.0  # Forge, interactive: silence after a reply that means it was dropped
MAX_LINE_BYTES = 64 * 1024 * 1024
WRITE_BUFFER_HIGH = 256 * 1024

Chooser = Callable[[DecisionMessage], str | Awaitable[str]]


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, address: str):
        self.reader = reader
        self.writer = writer
        self.address = address

    async def read_line(self, timeout: float) -> str | None:
        """The next line without its newline, or None when the daemon closed the connection."""
        try:
            async with asyncio.timeout(timeout):
                data = await self.reader.readline()
        except TimeoutError:
            raise DaemonTimeout(f"{self.address}: no line from the daemon within {timeout:g}s") from None
        except ValueError:
            raise ProtocolError(f"{self.address}: line longer than {MAX_LINE_BYTES} bytes") from None
        except OSError as e:
            raise DaemonDisconnected(f"{self.address}: {e}") from None
        if not data:
            return None
        if not data.endswith(b"\n"):
            raise DaemonDisconnected(f"{self.address}: connection closed in the middle of a line")
        return data.decode("utf-8", "replace").rstrip("\r\n")

    async def write_lines(self, *lines: str, timeout: float) -> None:
        try:
            self.writer.write("".join(line + "\n" for line in lines).encode())
            if self.writer.transport.get_write_buffer_size() > WRITE_BUFFER_HIGH:
                await asyncio.wait_for(self.writer.drain(), timeout)
        except TimeoutError:
            raise DaemonTimeout(f"{self.address}: the daemon does not read (send timeout)") from None
        except OSError as e:
            raise DaemonDisconnected(f"{self.address}: {e}") from None

    @property
    def closed(self) -> bool:
        return self.writer.is_closing() or self.reader.at_eof()

    def close(self) -> None:
        self.writer.close()


class AsyncDaemonClient:
    """Client of one daemon endpoint; safe to share between many concurrent games."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        client_name: str = "tolaria",
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        stall_timeout: float = DEFAULT_STALL_TIMEOUT,
    ):
        self.host = host
        self.port = port
        self.client_name = client_name
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.stall_timeout = stall_timeout
        self.hello_answer: HelloAnswer | None = None
        self.max_games: int | None = None  # Forge: its STATUS "Max concurrent"; None: no cap
        self._probed = False
        self._probe_lock = asyncio.Lock()
        self._slots: asyncio.Semaphore | None = None
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def persistent(self) -> bool:
        """True once HELLO succeeded; False for a Forge daemon (or before `hello()`)."""
        return self.hello_answer is not None

    @property
    def dialect(self) -> Dialect:
        """Forge's once HELLO was refused; Tolaria's before the probe and after a HELLO answer."""
        return Dialect.FORGE if self._probed and self.hello_answer is None else Dialect.TOLARIA

    async def hello(self) -> HelloAnswer | None:
        """Probe the daemon once; the answer, or None for a daemon without the extension (Forge:
        its STATUS is read too, for the cap on games in flight)."""
        async with self._probe_lock:
            if not self._probed:
                conn = await self._connect()
                try:
                    answer = await self._handshake(conn)
                except BaseException:
                    self._discard(conn)
                    raise
                if answer is None:
                    self._discard(conn)
                    status = await self._status()
                    self.max_games = max(1, status.max_concurrent)
                    self._slots = asyncio.Semaphore(self.max_games)
                else:
                    self._idle.append(conn)
                self.hello_answer = answer
                self._probed = True
        return self.hello_answer

    async def status(self) -> DaemonStatus:
        await self.hello()
        return await self._status()

    async def _status(self) -> DaemonStatus:
        conn, reused = await self._take()
        lines: list[str] = []
        try:
            await conn.write_lines(Status().line(), timeout=self.read_timeout)
            while True:
                line = await conn.read_line(self.read_timeout)
                if line is None and reused and not lines:
                    # A pooled connection the daemon had closed meanwhile: once more on a new one.
                    self._discard(conn)
                    conn, reused = await self._acquire_new()
                    await conn.write_lines(Status().line(), timeout=self.read_timeout)
                    continue
                if line is None:
                    if not lines:
                        raise NoReply(
                            f"{self.address}: the daemon closed the connection without answering 'STATUS'"
                        )
                    if self.persistent:
                        raise DaemonDisconnected(f"{self.address}: connection closed during STATUS")
                    break
                if line == "END":
                    break
                if not lines and isinstance(parse_line(line), ErrorLine):
                    raise refusal(parse_line(line).message, Status().line(), self.address)  # type: ignore[union-attr]
                lines.append(line)
            status = parse_status(lines)
        except BaseException:
            self._discard(conn)
            raise
        self._release(conn)
        return status

    async def shutdown(self) -> str:
        """Ask the daemon to stop; returns its acknowledgement text."""
        conn, _ = await self._acquire()
        try:
            await conn.write_lines(Shutdown().line(), timeout=self.read_timeout)
            line = await conn.read_line(self.read_timeout)
        finally:
            self._discard(conn)
        if line is None:
            return ""
        message = parse_line(line)
        if isinstance(message, ErrorLine):
            raise refusal(message.message, Shutdown().line(), self.address)
        return message.message if isinstance(message, OkLine) else line

    async def start_game(self, deck1: str, deck2: str, options: GameOptions | None = None) -> AsyncGame:
        """Send NEWGAME; lines (and a refusal such as `DaemonBusy`) come from the game's reads.
        Against Forge this waits for one of its `Max concurrent` slots first."""
        options = options or GameOptions()
        await self.hello()
        options.check_supported(self.hello_answer and self.hello_answer.capabilities, self.address)
        if self.dialect is Dialect.FORGE:
            options = forge_options(options)
        command = NewGame(deck1, deck2, options)
        if self._slots is not None:
            await self._slots.acquire()
        try:
            conn, reused = await self._acquire()
        except BaseException:
            self._release_slot()
            raise
        game_timeout = command.options.game_timeout or DEFAULT_GAME_TIMEOUT
        game = AsyncGame(self, conn, command, line_timeout=game_timeout + self.read_timeout, reused=reused)
        try:
            await conn.write_lines(command.line(), timeout=self.read_timeout)
        except BaseException:
            game._finish(reusable=False)
            raise
        return game

    def _release_slot(self) -> None:
        if self._slots is not None:
            self._slots.release()

    async def play(
        self, deck1: str, deck2: str, choose: Chooser, options: GameOptions | None = None
    ) -> AsyncGame:
        """Play a whole game, answering each decision with `choose(decision)`; the finished game."""
        game = await self.start_game(deck1, deck2, options)
        await game.play(choose)
        return game

    async def close(self) -> None:
        for conn in list(self._open):
            self._discard(conn)
        self._idle.clear()

    async def __aenter__(self) -> AsyncDaemonClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _connect(self) -> _Connection:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port, limit=MAX_LINE_BYTES), self.connect_timeout
            )
        except TimeoutError:
            raise DaemonUnavailable(
                f"{self.address}: connect timed out after {self.connect_timeout:g}s"
            ) from None
        except OSError as e:
            raise DaemonUnavailable(f"{self.address}: {e}") from None
        conn = _Connection(reader, writer, self.address)
        self._open.add(conn)
        return conn

    async def _handshake(self, conn: _Connection) -> HelloAnswer | None:
        await conn.write_lines(Hello(self.client_name).line(), timeout=self.read_timeout)
        line = await conn.read_line(self.read_timeout)
        if line is None:
            raise DaemonDisconnected(f"{self.address}: connection closed before the HELLO answer")
        answer = parse_line(line)
        if isinstance(answer, HelloAnswer):
            return answer
        if isinstance(answer, ErrorLine):
            return None
        raise ProtocolError(f"{self.address}: unexpected answer to HELLO: {line[:200]!r}")

    async def _acquire(self) -> tuple[_Connection, bool]:
        """A connection ready for one command, and whether it was reused from the pool."""
        await self.hello()
        return await self._take()

    async def _take(self) -> tuple[_Connection, bool]:
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                return conn, True
            self._discard(conn)
        return await self._acquire_new()

    async def _acquire_new(self) -> tuple[_Connection, bool]:
        conn = await self._connect()
        if self.persistent:
            try:
                if await self._handshake(conn) is None:
                    raise ProtocolError(f"{self.address}: the daemon stopped accepting HELLO")
            except BaseException:
                self._discard(conn)
                raise
        return conn, False

    def _release(self, conn: _Connection) -> None:
        if self.persistent and not conn.closed:
            self._idle.append(conn)
        else:
            self._discard(conn)

    def _discard(self, conn: _Connection) -> None:
        conn.close()
        self._open.discard(conn)


class AsyncGame:
    """One game on one connection: `next_decision()` / `reply()` until the result."""

    def __init__(
        self,
        client: AsyncDaemonClient,
        conn: _Connection,
        command: NewGame,
        *,
        line_timeout: float,
        reused: bool,
    ):
        self.client = client
        self.command = command
        self.progress = GameProgress(command, client.dialect, client.address)
        self._conn: _Connection | None = conn
        self._line_timeout = line_timeout
        self._retry_on_close = reused  # a pooled connection may have been closed by the daemon
        self._holds_slot = client._slots is not None
        # Forge drops an interactive reply it cannot use without a word: silence after a reply.
        forge_interactive = client.dialect is Dialect.FORGE and command.options.interactive
        self._stall_timeout = client.stall_timeout if forge_interactive else None
        self._last_reply: str | None = None

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

    async def next_decision(self) -> DecisionMessage | None:
        """The next DECISION (answer it with `reply` when `expects_reply`), or None at the end."""
        if self.progress.finished:
            return None
        self.progress.check_next()
        conn = self._live_connection()
        try:
            while True:
                line = await self._read_line(conn)
                if line is None:
                    conn = await self._reconnect_or_raise(conn)
                    continue
                self._retry_on_close = False
                self._last_reply = None
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

    async def reply(self, text: str) -> None:
        if "\n" in text or "\r" in text:
            raise ValueError(f"a reply is one line, got {text!r}")
        self.progress.check_reply()
        conn = self._live_connection()
        try:
            await conn.write_lines(text, timeout=self._line_timeout)
        except BaseException:
            self._finish(reusable=False)
            raise
        self._last_reply = text

    async def play(self, choose: Chooser) -> GameResult:
        """Answer every decision with `choose(decision)` (sync or async) until the result."""
        while (decision := await self.next_decision()) is not None:
            if decision.expects_reply:
                answer = choose(decision)
                if not isinstance(answer, str):
                    answer = await answer
                await self.reply(answer)
        assert self.progress.result is not None
        return self.progress.result

    async def abort(self) -> None:
        """Drop the game: the connection closes and the daemon frees the game's slot."""
        if self._conn is not None:
            self._finish(reusable=False)

    async def __aenter__(self) -> AsyncGame:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if not self.finished:
            await self.abort()

    def _live_connection(self) -> _Connection:
        if self._conn is None:
            raise DaemonDisconnected(f"{self.client.address}: the game's connection is closed")
        return self._conn

    async def _read_line(self, conn: _Connection) -> str | None:
        if self._stall_timeout is None or self._last_reply is None:
            return await conn.read_line(self._line_timeout)
        try:
            return await conn.read_line(min(self._line_timeout, self._stall_timeout))
        except DaemonTimeout:
            raise DaemonTimeout(
                f"{self.client.address}: nothing for {self._stall_timeout:g}s after our reply "
                f"{self._last_reply!r} to decision {self.progress.decisions}: a Forge daemon drops a "
                "reply it cannot use without a word, so the game is abandoned"
            ) from None

    async def _reconnect_or_raise(self, conn: _Connection) -> _Connection:
        if not self._retry_on_close:
            raise self.progress.closed()
        self._retry_on_close = False
        self.client._discard(conn)
        conn, _ = await self.client._acquire_new()
        self._conn = conn
        await conn.write_lines(self.command.line(), timeout=self.client.read_timeout)
        return conn

    def _finish(self, *, reusable: bool) -> None:
        if self._holds_slot:
            self._holds_slot = False
            self.client._release_slot()
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if reusable:
            self.client._release(conn)
        else:
            self.client._discard(conn)
