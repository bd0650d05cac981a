"""Mana costs: parsing "{X}{2}{W}{G/W}", affordability and deterministic automatic payment.

Every mana source in the card pool makes one mana, of one colour or (dual lands) of one of
several: payment matches cost symbols to sources; with single-colour sources alone the most
constrained symbols fill first (coloured, then hybrid, then generic), and with dual sources a
small backtracking search finds a matching that spends basics before duals.
"""

from __future__ import annotations

import re

COLORS = "WUBRG"
COLOR_NAMES = {"W": "white", "U": "blue", "B": "black", "R": "red", "G": "green"}
_SYMBOL = re.compile(r"\{([^}]*)\}")


class ManaCost:
    """A mana cost: generic amount, coloured symbols, hybrid symbols (pairs of colours) and the
    number of {X} symbols. X counts as 0 everywhere (mana value off the stack, affordability)
    until a value is announced: with_x(value) is the cost to pay for that X."""

    __slots__ = ("colored", "generic", "hybrid", "text", "x")

    def __init__(
        self, generic: int = 0, colored: tuple[str, ...] = (), hybrid: tuple[str, ...] = (), x: int = 0
    ):
        self.generic = generic
        self.colored = colored
        self.hybrid = hybrid  # each entry a two-letter string such as "GW"
        self.x = x
        self.text = self._render()

    @classmethod
    def parse(cls, text: str) -> ManaCost:
        """Parse "{1}{R}{G/W}"; raises ValueError naming the bad symbol."""
        text = text.strip()
        if not text:
            return cls()
        if _SYMBOL.sub("", text):
            raise ValueError(f"mana cost {text!r} has text outside {{...}} symbols")
        generic = x = 0
        colored: list[str] = []
        hybrid: list[str] = []
        for sym in _SYMBOL.findall(text):
            if sym.isdigit():
                generic += int(sym)
            elif sym == "X":
                x += 1
            elif sym in COLORS and len(sym) == 1:
                colored.append(sym)
            elif len(sym) == 3 and sym[1] == "/" and sym[0] in COLORS and sym[2] in COLORS:
                hybrid.append(sym[0] + sym[2])
            else:
                raise ValueError(f"unknown mana symbol {{{sym}}} in {text!r}")
        return cls(generic, tuple(colored), tuple(hybrid), x)

    def _render(self) -> str:
        parts = ["{X}"] * self.x
        parts += [f"{{{self.generic}}}"] if self.generic else []
        parts += [f"{{{h[0]}/{h[1]}}}" for h in self.hybrid]
        parts += [f"{{{c}}}" for c in self.colored]
        return "".join(parts)

    @property
    def mana_value(self) -> int:
        return self.generic + len(self.colored) + len(self.hybrid)

    @property
    def colors(self) -> frozenset[str]:
        return frozenset(self.colored) | frozenset(c for h in self.hybrid for c in h)

    def plus_generic(self, amount: int) -> ManaCost:
        if amount == 0:
            return self
        return ManaCost(max(0, self.generic + amount), self.colored, self.hybrid, self.x)

    def with_x(self, value: int) -> ManaCost:
        """The cost to pay once X is announced as `value`."""
        return ManaCost(self.generic + self.x * value, self.colored, self.hybrid)

    def __repr__(self) -> str:
        return f"ManaCost({self.text!r})"


def max_x(cost: ManaCost, available: dict[str, int]) -> int:
    """The largest X that single-colour sources counted by colour can pay along with `cost`
    (which they must be able to pay with X = 0): every source pays generic mana."""
    return sum(available.values()) - cost.mana_value


def can_pay(cost: ManaCost, available: dict[str, int]) -> bool:
    """Whether sources counted by the colours each makes ({"R": 3, "RG": 1, ...}) can pay `cost`."""
    for kind in available:  # a plain loop: this runs for every action offered
        if len(kind) > 1:
            break
    else:
        return _can_pay_single(cost, available)
    left = dict(available)
    if not _match([*cost.colored, *cost.hybrid], left):
        return False
    return sum(left.values()) >= cost.generic


def _can_pay_single(cost: ManaCost, available: dict[str, int]) -> bool:
    """can_pay when every source makes one colour: symbols fill greedily."""
    left = dict(available)
    for c in cost.colored:
        n = left.get(c, 0)
        if n <= 0:
            return False
        left[c] = n - 1
    for h in cost.hybrid:
        a, b = left.get(h[0], 0), left.get(h[1], 0)
        if a <= 0 and b <= 0:
            return False
        pick = h[0] if a >= b else h[1]
        left[pick] -= 1
    return sum(left.values()) >= cost.generic


def _match(symbols: list[str], left: dict[str, int]) -> bool:
    """Assign each coloured symbol (a string of the colours that pay it) a source kind that makes
    one of them, taking from `left` (kind -> count; updated on success). Backtracking over the
    few symbols of a cost; kinds that make fewer colours are tried first, so that a dual land is
    kept while a basic can pay."""
    if not symbols:
        return True
    symbol, rest = symbols[0], symbols[1:]
    for kind in sorted((k for k, n in left.items() if n > 0 and any(c in k for c in symbol)), key=len):
        left[kind] -= 1
        if _match(rest, left):
            return True
        left[kind] += 1
    return False


def choose_sources(cost: ManaCost, sources: list) -> list | None:
    """Pick the sources (objects with a `.produces` string of colours, in preference order) that
    pay `cost`.

    Returns None when the sources cannot pay. Deterministic: earlier sources are used first, and
    sources that make fewer colours before those that make more.
    """
    counts: dict[str, int] = {}
    for s in sources:
        counts[s.produces] = counts.get(s.produces, 0) + 1
    if all(len(kind) == 1 for kind in counts):
        return _choose_single(cost, sources)
    if not can_pay(cost, counts):
        return None
    left = dict(counts)
    _match([*cost.colored, *cost.hybrid], left)
    taken = {kind: counts[kind] - left[kind] for kind in counts}
    used = []
    free = []
    for s in sources:
        if taken.get(s.produces, 0) > 0:
            taken[s.produces] -= 1
            used.append(s)
        else:
            free.append(s)
    free.sort(key=lambda s: len(s.produces))  # stable: generic mana from basics before duals
    used.extend(free[: cost.generic])
    return used


def _choose_single(cost: ManaCost, sources: list) -> list | None:
    """choose_sources when every source makes one colour: the most constrained symbols first."""
    free = list(sources)
    used = []

    def take(colors: str) -> bool:
        for i, s in enumerate(free):
            if s.produces in colors:
                used.append(free.pop(i))
                return True
        return False

    for c in cost.colored:
        if not take(c):
            return None
    for h in cost.hybrid:
        counts = {h[0]: 0, h[1]: 0}
        for s in free:
            if s.produces in counts:
                counts[s.produces] += 1
        if counts[h[0]] == 0 and counts[h[1]] == 0:
            return None
        if not take(h[0] if counts[h[0]] >= counts[h[1]] else h[1]):
            return None
    if len(free) < cost.generic:
        return None
    used.extend(free[: cost.generic])
    return used
