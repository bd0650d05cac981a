"""Forge .dck decks: loading, validation against the card pool, and safe lookup by name."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from tolaria.engine.cards import CardDef, CardPool

_LINE = re.compile(r"^(\d+)\s+(.+?)\s*$")


class DeckError(ValueError):
    """A deck cannot be found or loaded; the message names the deck and what is wrong."""


class Deck:
    """A named main deck: the card definitions in file order, one entry per copy."""

    __slots__ = ("cards", "name", "path", "pool")

    def __init__(self, name: str, cards: list[CardDef], pool: CardPool, path: Path | None = None):
        self.name = name
        self.cards = cards
        self.pool = pool
        self.path = path

    def __repr__(self) -> str:
        return f"Deck({self.name!r}, {len(self.cards)} cards)"


def parse_deck(text: str, pool: CardPool, source: str, default_name: str) -> Deck:
    """Parse .dck text; unknown cards raise one DeckError naming `source` and all of them."""
    name = default_name
    section = "main"
    cards: list[CardDef] = []
    unknown: list[str] = []
    lower = {n.lower(): c for n, c in pool.cards.items() if not c.token}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip().lower()
            continue
        if section == "metadata":
            key, _, value = line.partition("=")
            if key.strip().lower() == "name" and value.strip():
                name = value.strip()
            continue
        if section != "main":
            continue  # sideboard and other sections do not take part in a game
        m = _LINE.match(line)
        if not m:
            raise DeckError(f"{source}: line {lineno}: expected 'N Card Name', got {line[:80]!r}")
        count, card_name = int(m.group(1)), m.group(2).split("|")[0].strip()
        cdef = lower.get(card_name.lower())
        if cdef is None:
            if card_name not in unknown:
                unknown.append(card_name)
            continue
        cards.extend([cdef] * count)
    if unknown:
        raise DeckError(f"{source}: unknown card(s): {', '.join(unknown)}")
    if not cards:
        raise DeckError(f"{source}: the main deck is empty")
    return Deck(name, cards, pool)


def load_deck(path: Path | str, pool: CardPool | None = None) -> Deck:
    path = Path(path)
    pool = pool or CardPool.default()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DeckError(f"Could not load deck: {path}: {e}") from None
    deck = parse_deck(text, pool, str(path), path.stem)
    deck.path = path
    return deck


def find_deck(name: str, directories: Iterable[Path | str]) -> Path:
    """Resolve a deck name or a relative path inside one of `directories`.

    Anything that resolves outside them (`../x`, absolute paths, symlinks pointing out) or
    does not exist raises DeckError("Could not load deck: <name>").
    """
    if name and "\x00" not in name:
        for d in directories:
            root = Path(d).resolve()
            for candidate in (name, f"{name}.dck"):
                try:
                    path = (root / candidate).resolve()
                except (OSError, RuntimeError, ValueError):
                    continue
                if path.is_relative_to(root) and path.is_file():
                    return path
    raise DeckError(f"Could not load deck: {name}")
