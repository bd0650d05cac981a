"""The built-in rules engine: cards as data, decks, games as state machines, and players.

    pool = CardPool.default()                       # tolaria/engine/cards/*.toml, parsed once
    deck = load_deck(find_deck("red_aggro", [Path("decks")]), pool)
    game = Game((deck, other), seed=42, names=(...), full_observability=False)
    d = game.start()                                # first Decision, or None when over
    while d is not None:
        d = game.submit(player.choose(d) if d.expects_reply else None)   # or d.parse(text)
    game.result                                     # GameResult(winner, turns, reason)

A Decision offers only real choices (a seat that could only pass is passed for, unless the game
gives priority as Forge does: `forge_priority`), parses wire replies (ReplyError on anything
illegal) and has a legal default(); decision_payload(d, seen) writes PROTOCOL.md's DECISION
payload (`seen` for compact mode), and answer_text(d, answer) the wire reply of an answer
(`tolaria.engine.answer_text`, the inverse of parse).

Imports run one way: the game builds decisions (decision.py knows nothing of the game's
module), and the payload writer reads both. Of the rest of Tolaria the engine imports only
the protocol's reply format (`tolaria.protocol.replies`).
"""

from tolaria.engine.cards import CardDataError, CardPool
from tolaria.engine.decision import Action, Decision, ReplyError
from tolaria.engine.deck import Deck, DeckError, find_deck, load_deck
from tolaria.engine.game import Game, GameResult
from tolaria.engine.heuristic_player import HeuristicPlayer
from tolaria.engine.payload import decision_payload
from tolaria.engine.play import play_game
from tolaria.engine.random_player import RandomPlayer

__all__ = [
    "Action",
    "CardDataError",
    "CardPool",
    "Decision",
    "Deck",
    "DeckError",
    "Game",
    "GameResult",
    "HeuristicPlayer",
    "RandomPlayer",
    "ReplyError",
    "decision_payload",
    "find_deck",
    "load_deck",
    "play_game",
]
