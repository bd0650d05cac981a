"""The daemon's TCP server: commands, connection lifecycle, busy limit and shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import signal
import socket
import time

from tolaria import __version__
from tolaria.daemon import metrics
from tolaria.daemon.config import DaemonConfig
from tolaria.daemon.connection import ClientConnection, Interrupted, LineTooLong
from tolaria.daemon.decks import DeckLibrary
from tolaria.daemon.forge_dialect import ForgeNewGame, ForgeRefusal, ForgeSilentClose, parse_forge_command
from tolaria.daemon.game_session import Controller, GameSession, GameSetup, Outcome
from tolaria.daemon.host_memory import memory_max_mb, memory_used_mb
from tolaria.daemon.pool import PoolCounters, PoolCounts
from tolaria.engine import DeckError
from tolaria.protocol import PROTOCOL_VERSION
from tolaria.protocol.commands import CommandError, Hello, NewGame, Shutdown, Status, parse_command
from tolaria.protocol.errors import DECK_ERROR
from tolaria.protocol.status import DaemonStatus

log = logging.getLogger(__name__)

CAPABILITIES = ("persistent", "seats", "compact", "result-fields", "observe", "turn-limit")
SHUTDOWN_ABORT_WAIT_S = 5.0


class DaemonServer:
    def __init__(self, config: DaemonConfig, decks: DeckLibrary):
        self.config = config
        self.decks = decks
        self.sessions: set[GameSession] = set()
        self.connections: set[ClientConnection] = set()
        self.games_played = 0
        self.games_timed_out = 0
        self.games_dropped = 0
        self.decisions = 0
        self.errors = 0
        self.stopping = False
        self.started = time.monotonic()
        self.port: int | None = None
        self._server: asyncio.Server | None = None
        self._shutdown_task: asyncio.Task | None = None
        self._stopped = asyncio.Event()
        if config.supervised:
            self.pool = PoolCounters(config.workers, config.worker_index, config.pool_file)
        else:
            self.pool = PoolCounters(1, 0)
        # Forge's fixed thread pool serves every connection, STATUS included: one that finds it
        # full waits for a free thread, it is never told busy.
        self.forge_threads = asyncio.Semaphore(config.max_games) if config.dialect == "forge" else None
        # Forge's one random generator, shared by all its games; `-s` reseeds it, so that a seed
        # replays a game only when games run one at a time.
        self.forge_rng = random.Random()

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle,
            host=self.config.host,
            port=self.config.port,
            limit=self.config.max_line_bytes,
            reuse_port=self.config.workers > 1,
            backlog=1024,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info(
            "tolaria daemon worker %d/%d%s listening on %s:%s (pid %d)",
            self.config.worker_index + 1,
            self.config.workers,
            " in Forge's dialect" if self.forge_threads is not None else "",
            self.config.host,
            self.port,
            os.getpid(),
        )

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    def request_shutdown(self) -> None:
        if self._shutdown_task is None:
            self._shutdown_task = asyncio.get_running_loop().create_task(self._shutdown())

    def _publish(self) -> PoolCounts:
        """Share this worker's counts; the whole daemon's totals."""
        self.pool.publish(
            PoolCounts(
                active_games=len(self.sessions),
                games_played=self.games_played,
                decisions=self.decisions + sum(s.decisions_sent for s in self.sessions),
                games_timed_out=self.games_timed_out,
                games_dropped=self.games_dropped,
                errors=self.errors,
            )
        )
        return self.pool.totals()

    def status(self) -> DaemonStatus:
        """The whole daemon (every worker), as of each worker's latest game start or end."""
        totals = self._publish()
        extras = {
            "protocol": str(PROTOCOL_VERSION),
            "server": f"tolaria {__version__}",
            "worker": f"{self.config.worker_index + 1}/{self.config.workers}",
            "pid": str(os.getpid()),
            "uptime_s": str(int(time.monotonic() - self.started)),
            "worker_connections": str(len(self.connections)),
            "decisions": str(totals.decisions),
            "games_timed_out": str(totals.games_timed_out),
            "games_dropped": str(totals.games_dropped),
            "errors": str(totals.errors),
            "accepting": "no" if self.stopping else "yes",
        }
        return DaemonStatus(
            active_games=totals.active_games,
            games_played=totals.games_played,
            memory_used_mb=memory_used_mb(),
            memory_max_mb=memory_max_mb(),
            max_concurrent=self._capacity(),
            extras=extras,
        )

    def _capacity(self) -> int:
        return self.config.max_games * self.pool.workers

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = ClientConnection(reader, writer, self.config.max_line_bytes)
        self.connections.add(conn)
        metrics.CONNECTIONS.inc()
        try:
            if self.forge_threads is None:
                await self._converse(conn)
            else:
                async with self.forge_threads:
                    await self._converse_forge(conn)
        except Exception:
            log.exception("connection %s failed", conn.peer)
        finally:
            await conn.linger()
            self.connections.discard(conn)
            metrics.CONNECTIONS.dec()
            conn.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await writer.wait_closed()

    async def _converse(self, conn: ClientConnection) -> None:
        while not self.stopping:
            try:
                line = await conn.read_line(self.config.idle_timeout)
            except (TimeoutError, Interrupted):
                return
            except LineTooLong:
                self._error(
                    conn, f"Line too long (limit {self.config.max_line_bytes} bytes)", "line_too_long"
                )
                await conn.flush(self.config.reply_timeout)
                return
            if line is None:
                return
            keep = await self._command(conn, line)
            if not await conn.flush(self.config.reply_timeout) or not keep or not conn.persistent:
                return

    async def _converse_forge(self, conn: ClientConnection) -> None:
        """One command, answered as Forge answers it; the connection closes after it."""
        if self.stopping:
            return
        try:
            line = await conn.read_line(self.config.idle_timeout)
        except (TimeoutError, Interrupted, LineTooLong):
            return
        if line is None:
            return
        try:
            command = parse_forge_command(line)
        except ForgeSilentClose:
            return
        except ForgeRefusal as e:
            self._error(conn, str(e), "bad_command")
            return
        if command == "STATUS":
            for status_line in self.status().forge_lines():
                conn.write_line(status_line)
        elif command == "SHUTDOWN":
            conn.write_line("OK: shutting down")
            self.request_shutdown()
        else:
            assert isinstance(command, ForgeNewGame)
            await self._new_forge_game(conn, command)
        await conn.flush(self.config.reply_timeout)

    async def _new_forge_game(self, conn: ClientConnection, command: ForgeNewGame) -> None:
        try:
            decks = (self.decks.load(command.deck1), self.decks.load(command.deck2))
        except DeckError as e:
            self.games_played += 1  # Forge counts a failed deck load as a game played
            self._publish()
            deck = command.deck1 if str(e).startswith(f"{DECK_ERROR} {command.deck1}") else command.deck2
            self._error(conn, f"{DECK_ERROR} {deck}", "deck")
            return
        controller = Controller.AGENT if command.interactive else Controller.AI
        if command.seed is not None:
            self.forge_rng.seed(command.seed)
        setup = GameSetup(
            decks=decks,
            controllers=(controller, controller),
            seed=command.seed if command.seed is not None else secrets.randbits(63),
            observe=command.observe,
            quiet=command.quiet,
            compact=False,
            game_timeout=command.game_timeout or self.config.default_game_timeout,
            reply_timeout=self.config.reply_timeout,
            forge=True,
            announce_seed=command.seed is not None,
            shared_rng=self.forge_rng,
        )
        await self._run_game(conn, setup, command)

    async def _command(self, conn: ClientConnection, line: str) -> bool:
        """Answer one command; False when the connection must close afterwards."""
        try:
            command = parse_command(line)
        except CommandError as e:
            self._error(conn, str(e), "bad_command")
            return True
        if isinstance(command, Hello):
            conn.persistent = True
            conn.write_line(" ".join(["HELLO", "tolaria", str(PROTOCOL_VERSION), *CAPABILITIES]))
            return True
        if isinstance(command, Status):
            for status_line in self.status().lines():
                conn.write_line(status_line)
            if conn.persistent:
                conn.write_line("END")
            return True
        if isinstance(command, Shutdown):
            conn.write_line("OK: shutting down")
            self.request_shutdown()
            return False
        return await self._new_game(conn, command)

    async def _new_game(self, conn: ClientConnection, command: NewGame) -> bool:
        if self.stopping:
            self._error(conn, "daemon is shutting down", "shutting_down")
            return False
        # Pool-wide: the kernel, not the client, chose this worker. Workers admitting games at
        # the same instant may overshoot by a game or two; none is ever cut short for it.
        running = self._publish().active_games
        if running >= self._capacity():
            self._error(conn, f"busy ({running}/{self._capacity()} games running)", "busy")
            return True
        try:
            decks = (self.decks.load(command.deck1), self.decks.load(command.deck2))
        except DeckError as e:
            self._error(conn, str(e), "deck")
            return True
        options = command.options
        default = Controller.AGENT if options.interactive else Controller.AI
        controllers = tuple(Controller(choice) if choice else default for choice in (options.p1, options.p2))
        setup = GameSetup(
            decks=decks,
            controllers=controllers,  # type: ignore[arg-type]
            seed=options.seed if options.seed is not None else secrets.randbits(63),
            observe=options.observe,
            quiet=options.quiet,
            compact=options.compact,
            game_timeout=options.game_timeout or self.config.default_game_timeout,
            reply_timeout=self.config.reply_timeout,
            full_observability=self.config.full_observability,
            max_turns=options.max_turns,
        )
        outcome = await self._run_game(conn, setup, command)
        return True if outcome is None else outcome.keeps_connection

    async def _run_game(self, conn: ClientConnection, setup: GameSetup, command: object) -> Outcome | None:
        """Play one game on `conn`; None when the engine could not set it up."""
        try:
            session = GameSession(conn, setup)
        except Exception as e:
            log.exception("engine could not set up a game: %s", command)
            self._error(conn, f"Could not start game: {type(e).__name__}: {e}", "engine")
            return None
        self.sessions.add(session)
        self._publish()
        metrics.GAMES_STARTED.inc()
        metrics.ACTIVE_GAMES.inc()
        try:
            outcome = await session.run()
        finally:
            self.sessions.discard(session)
            metrics.ACTIVE_GAMES.dec()
            self.decisions += session.decisions_sent
        if outcome is Outcome.DROPPED:
            self.games_dropped += 1
        else:
            self.games_played += 1
        if outcome is Outcome.TIMEOUT:
            self.games_timed_out += 1
        if outcome in (Outcome.ERROR, Outcome.REPLY_TIMEOUT, Outcome.SHUTDOWN):
            self.errors += 1
        self._publish()
        return outcome

    def _error(self, conn: ClientConnection, message: str, kind: str) -> None:
        conn.write_line(f"ERROR: {message}")
        self.errors += 1
        metrics.ERRORS.labels(kind=kind).inc()

    async def _shutdown(self) -> None:
        self.stopping = True
        log.info("shutting down: %d games running, grace %.0fs", len(self.sessions), self.config.grace)
        if self.config.supervised:
            # SHUTDOWN reached one worker; the supervisor stops them all.
            with contextlib.suppress(OSError):
                os.kill(os.getppid(), signal.SIGTERM)
        if self._server is not None:
            self._server.close()
        in_game = {session.conn for session in self.sessions}
        for conn in list(self.connections):
            if conn not in in_game:
                conn.interrupt()
        deadline = time.monotonic() + self.config.grace
        while self.sessions and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for session in list(self.sessions):
            session.abort("daemon shutting down")
        deadline = time.monotonic() + SHUTDOWN_ABORT_WAIT_S
        while self.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for conn in list(self.connections):
            conn.close()
        self._publish()
        self._stopped.set()
