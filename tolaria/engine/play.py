"""In-process games: two players answer a Game's decisions directly, no JSON in between."""

from __future__ import annotations

from collections.abc import Sequence

from tolaria.engine.deck import Deck
from tolaria.engine.game import Game, GameResult


def play_game(
    decks: Sequence[Deck], players: Sequence, seed: int = 0, max_turns: int | None = None
) -> GameResult:
    """Play one game; players[i] answers seat i through `.choose(decision)`."""
    game = Game(decks, seed=seed, max_turns=max_turns)
    decision = game.start()
    while decision is not None:
        answer = players[decision.seat].choose(decision) if decision.expects_reply else None
        decision = game.submit(answer)
    return game.result
