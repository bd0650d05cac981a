"""The built-in rules engine: cards as data, decks, games as state machines, and players."""

from tolaria.engine.cards import CardDataError, CardPool
from tolaria.engine.decision import Action, Decision, ReplyError
from tolaria.engine.deck import Deck, DeckError, find_deck, load_deck
from tolaria.engine.game import Game, GameResult
from tolaria.engine.heuristic_player import HeuristicPlayer
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
    "find_deck",
    "load_deck",
    "play_game",
]
