"""Deck lookup for NEWGAME: names resolve only inside the configured deck directories."""

from __future__ import annotations

from pathlib import Path

from tolaria.engine import CardPool, Deck, DeckError, find_deck, load_deck


class DeckLibrary:
    """Resolves deck names with the engine's `find_deck` and caches parsed decks by file
    (reloaded when the file changes), so a game start costs no parsing."""

    def __init__(self, directories: tuple[Path, ...], pool: CardPool):
        self.directories = [Path(d) for d in directories]
        self.pool = pool
        self._cache: dict[Path, tuple[int, Deck]] = {}

    def load(self, name: str) -> Deck:
        """The deck named `name`; DeckError whose text is the daemon's `ERROR:` message."""
        path = find_deck(name, self.directories)
        try:
            stamp = path.stat().st_mtime_ns
        except OSError:
            raise DeckError(f"Could not load deck: {name}") from None
        cached = self._cache.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            deck = load_deck(path, self.pool)
        except DeckError as e:
            if str(e).startswith("Could not load deck"):
                raise
            raise DeckError(f"Could not load deck: {name}: {e}") from None
        self._cache[path] = (stamp, deck)
        return deck
