"""Runs one engine game for one client connection, line by line as PROTOCOL.md says.

Seats are controlled by the client (`agent`: DECISION lines out, replies in), by the
heuristic AI or by the random player. In observe mode the AI seats' decisions are streamed
with the AI's reply in `ai_choice`. The session ends with exactly one GAME_RESULT line,
unless the client left (then the game is dropped without a line). With `forge` set, lines and
payloads are Forge's (`tolaria.daemon.forge_dialect`): decisions that Forge would not send are
decided by the AI without a line, and a reply the engine cannot use is dropped without a word.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import orjson

from tolaria.daemon import metrics
from tolaria.daemon.connection import ClientConnection, Interrupted, LineTooLong
from tolaria.daemon.forge_dialect import ForgeView, forge_escaping
from tolaria.engine import Deck, Game, HeuristicPlayer, RandomPlayer, ReplyError, decision_payload
from tolaria.engine.answer_text import answer_text
from tolaria.protocol.messages import format_result

log = logging.getLogger(__name__)

CPU_SLICE_S = 0.005  # longest stretch of AI play before other connections get a turn


class Controller(enum.Enum):
    AGENT = "agent"
    AI = "ai"
    RANDOM = "random"


class Outcome(enum.Enum):
    FINISHED = "finished"  # the rules ended the game
    TIMEOUT = "timeout"  # -c exceeded: GAME_TIMEOUT, draw
    REPLY_TIMEOUT = "reply_timeout"  # the client did not answer in time: GAME_ERROR, draw
    ERROR = "error"  # engine failure: GAME_ERROR, draw
    SHUTDOWN = "shutdown"  # the daemon stopped: GAME_ERROR, draw
    DROPPED = "dropped"  # the client left: no result line

    @property
    def keeps_connection(self) -> bool:
        """Only a game the rules ended leaves the connection in step for the next command."""
        return self is Outcome.FINISHED


@dataclass(frozen=True)
class GameSetup:
    decks: tuple[Deck, Deck]
    controllers: tuple[Controller, Controller]
    seed: int
    observe: bool
    quiet: bool
    compact: bool
    game_timeout: float
    reply_timeout: float
    full_observability: bool = False
    forge: bool = False  # Forge's dialect (tolaria.daemon.forge_dialect)
    announce_seed: bool = True  # the SEED line (Forge prints it only for -s)
    max_turns: int | None = None  # NEWGAME -l: none by default, games end by the rules
    # Forge: the daemon's one random generator, shared by all its games (-s reseeds it), instead
    # of one per game and seat fixed by `seed`
    shared_rng: random.Random | None = None

    def names(self) -> tuple[str, str]:
        return (self._name(0), self._name(1))

    def _name(self, seat: int) -> str:
        controller = self.controllers[seat]
        if controller is Controller.AGENT:
            kind = "Agent"
        elif controller is Controller.RANDOM:
            kind = "Random"
        else:
            kind = "AiObs" if self.observe else "Ai"
        return f"{kind}({seat + 1})-{self.decks[seat].name}"


def seat_seed(seed: int, seat: int) -> int:
    """The seed of the built-in player of a seat: fixed by the game seed."""
    return random.Random(f"{seed}:{seat}").getrandbits(63)


def seat_rng(setup: GameSetup, seat: int) -> random.Random:
    """The random generator of the built-in player of a seat: the daemon's shared one (Forge),
    or one fixed by the game seed."""
    return setup.shared_rng or random.Random(seat_seed(setup.seed, seat))


def decision_line(payload: dict[str, Any], forge: bool = False) -> str:
    """The DECISION line of a payload; `forge`: escaped as Forge escapes its JSON."""
    # orjson writes the text json.dumps(separators=(",", ":"), ensure_ascii=False) writes for these
    # payloads, escapes included (forge_escaping reads them), at a tenth of the cost: json.dumps
    # was a third of the daemon's time.
    text = orjson.dumps(payload).decode()
    return "DECISION:" + (forge_escaping(text) if forge else text)


class GameSession:
    def __init__(self, conn: ClientConnection, setup: GameSetup):
        self.conn = conn
        self.setup = setup
        self.names = setup.names()
        # Forge shows both hands in every payload.
        full_observability = setup.full_observability or setup.forge
        self.game = Game(
            setup.decks,
            seed=setup.seed,
            names=self.names,
            max_turns=setup.max_turns,
            full_observability=full_observability,
            forge_priority=setup.forge,
            rng=setup.shared_rng,
        )
        self.players: list[Any] = []
        for seat, controller in enumerate(setup.controllers):
            if controller is Controller.AI:
                self.players.append(HeuristicPlayer(rng=seat_rng(setup, seat)))
            elif controller is Controller.RANDOM:
                self.players.append(RandomPlayer(rng=seat_rng(setup, seat)))
            else:
                self.players.append(None)
        self.forge = ForgeView(interactive=Controller.AGENT in setup.controllers) if setup.forge else None
        # Forge's AI decides what Forge never asks the client (targets, X, scry, ...).
        self.silent_players = [HeuristicPlayer(rng=seat_rng(setup, seat)) for seat in range(2)]
        self.seen: set[str] | None = set() if setup.compact else None
        self.decisions_sent = 0
        self._abort_reason: str | None = None
        self._started = 0.0

    def abort(self, reason: str) -> None:
        """End the game at the next step with GAME_ERROR (daemon shutdown)."""
        self._abort_reason = reason
        self.conn.interrupt()

    async def run(self) -> Outcome:
        self._started = time.monotonic()
        if not self.setup.quiet and self.forge is not None:
            if self.setup.announce_seed:
                self.conn.write_line(f"SEED: {self.setup.seed}")
            self.conn.write_line(f"GAME_START: {self.setup.decks[0].name} vs {self.setup.decks[1].name}")
        elif not self.setup.quiet:
            self.conn.write_line(f"GAME_START: {self.names[0]} vs {self.names[1]}")
            self.conn.write_line(f"SEED: {self.setup.seed}")
        try:
            return await self._play()
        except Exception as e:
            log.exception("engine failure in game seed=%s", self.setup.seed)
            return self._end_with_error(Outcome.ERROR, f"internal error: {type(e).__name__}: {e}", "error")

    async def _play(self) -> Outcome:
        deadline = self._started + self.setup.game_timeout
        last_yield = time.perf_counter()
        decision = self.game.start()
        while decision is not None:
            if self._abort_reason is not None:
                return self._end_with_error(Outcome.SHUTDOWN, self._abort_reason, "shutdown")
            if time.monotonic() >= deadline:
                return self._end_with_timeout()
            player = self.players[decision.seat]
            if self.forge is not None and not self.forge.reaches_client(decision):
                answer = self._silent_answer(decision)
            elif player is None:
                answer, outcome = await self._ask_client(decision, deadline)
                if outcome is not None:
                    return outcome
                last_yield = time.perf_counter()
            else:
                payload = decision_payload(decision, self.seen) if self.setup.observe else None
                answer = player.choose(decision) if decision.expects_reply else None
                if payload is not None:
                    if decision.expects_reply:
                        payload["ai_choice"] = answer_text(decision, answer)
                    if self.forge is not None:
                        payload = self._forge_payload(decision, payload)
                    self._send_decision(payload)
                    if not await self.conn.flush(self.setup.reply_timeout):
                        return self._dropped()
                if time.perf_counter() - last_yield > CPU_SLICE_S:
                    await asyncio.sleep(0)
                    last_yield = time.perf_counter()
            decision = self.game.submit(answer)
        result = self.game.result
        winner = None if result.winner is None else self.names[result.winner]
        return self._finish(Outcome.FINISHED, winner, result.turns, result.reason)

    def _silent_answer(self, decision: Any) -> Any:
        """Forge: what its AI decides without a line (a mulligan: Forge always keeps)."""
        if not decision.expects_reply:
            return None
        if decision.type == "confirm_action" and decision.purpose == "mulligan":
            return True
        player = self.players[decision.seat] or self.silent_players[decision.seat]
        return player.choose(decision)

    def _forge_payload(self, decision: Any, ours: dict[str, Any]) -> dict[str, Any]:
        assert self.forge is not None
        payload = self.forge.payload(decision, ours)
        if "ai_choice" in ours:
            self.forge.add_ai_choice(payload, ours, ours["ai_choice"])
        return payload

    async def _ask_client(self, decision: Any, deadline: float) -> tuple[Any, Outcome | None]:
        ours = decision_payload(decision, self.seen)
        self._send_decision(ours if self.forge is None else self._forge_payload(decision, ours))
        if not decision.expects_reply:
            return None, None
        remaining = deadline - time.monotonic()
        try:
            reply = await self.conn.read_line(min(self.setup.reply_timeout, max(remaining, 0.0)))
        except TimeoutError:
            if time.monotonic() >= deadline:
                return None, self._end_with_timeout()
            return None, self._end_with_error(
                Outcome.REPLY_TIMEOUT,
                f"No reply within {self.setup.reply_timeout:g} seconds",
                "reply_timeout",
            )
        except Interrupted:
            return None, self._end_with_error(
                Outcome.SHUTDOWN, self._abort_reason or "interrupted", "shutdown"
            )
        except LineTooLong:
            # The stream cannot be resynchronised, but the client is still there: the game
            # ends with its result line, and then the connection closes.
            self.conn.write_line(f"ERROR: Line too long (limit {self.conn.max_line_bytes} bytes)")
            return None, self._end_with_error(Outcome.ERROR, "reply line too long", "line_too_long")
        if reply is None:
            return None, self._dropped()
        try:
            text = reply if self.forge is None else self.forge.reply(decision, ours, reply)
            return decision.parse(text), None
        except ReplyError as e:
            if self.forge is None:
                self.conn.write_line(f"ERROR: {e}")
            else:  # Forge drops a reply it cannot use without a word
                log.debug("game seed=%s: %s's reply %r dropped: %s", self.setup.seed, decision.type, reply, e)
            metrics.ERRORS.labels(kind="bad_reply").inc()
            return decision.default(), None

    def _send_decision(self, payload: dict[str, Any]) -> None:
        self.conn.write_line(decision_line(payload, forge=self.forge is not None))
        self.decisions_sent += 1
        metrics.DECISIONS.inc()

    def _elapsed_ms(self) -> int:
        return int((time.monotonic() - self._started) * 1000)

    def _turns(self) -> int:
        return self.game.turn

    def _end_with_timeout(self) -> Outcome:
        self.conn.write_line(f"GAME_TIMEOUT: Game exceeded {self.setup.game_timeout:g} seconds")
        return self._finish(Outcome.TIMEOUT, None, self._turns(), "timeout")

    def _end_with_error(self, outcome: Outcome, message: str, reason: str) -> Outcome:
        self.conn.write_line(f"GAME_ERROR: {message}")
        metrics.ERRORS.labels(kind=reason).inc()
        return self._finish(outcome, None, self._turns(), reason)

    def _finish(self, outcome: Outcome, winner: str | None, turns: int, reason: str) -> Outcome:
        fields = None if self.forge is not None else {"turns": turns, "reason": reason}
        self.conn.write_line(format_result(winner, self._elapsed_ms(), fields))
        metrics.GAMES_FINISHED.labels(reason=reason).inc()
        return outcome

    def _dropped(self) -> Outcome:
        metrics.GAMES_DROPPED.inc()
        return Outcome.DROPPED
