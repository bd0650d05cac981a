"""What a card's oracle text says about its keywords and about its own part in combat, for
payloads whose cards carry no `keywords` (a Forge daemon's: tolaria.protocol.forge).

Only what the text says of the card itself counts:

- keyword lines: a line (reminder text in parentheses removed) that is no sentence (no final
  period, no colon) and lists keywords separated by commas, as in `Flying`, `Defender, flying`,
  `Reach (This creature can block creatures with flying.)`, `Protection from multicolored`,
  `Ward {2}`. An item that is no keyword the client knows (`Enchant creature`, `Spectacle {R}`,
  a land's `{G}`) is left out. Text that grants a keyword (`Creatures you control gain flying
  until end of turn.`, `Enchanted creature has flying.`) is a sentence, not a keyword line;
- the card's own restrictions, in a sentence (or after a sentence's comma) that starts with its
  name, its short name (a legendary's name up to the comma), `this creature` or `CARDNAME`:
  `... can't block`, `... can't attack`, `... can't attack or block`, `... can't be blocked`,
  `... can't be blocked except by two or more creatures` (menace in words), `... can block only
  creatures with flying`. Text after a colon is an activated ability's effect, not a standing
  rule, and text in reminder parentheses (detain's `that creature can't attack or block`) is
  not the card's own. A restriction with a condition the client does not judge (`can't block
  unless ...`, `can't be blocked by creatures with power 2 or less`) is read as the whole
  restriction: the client then offers less than is legal, never more.

What the text cannot show: abilities another card grants or removes (an Aura's flying, a
`gains flying until end of turn`), and restrictions set by other permanents (`Creatures your
opponents control can't block`); a Forge card's `oracle_text` is its printed text only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from tolaria.engine.cards import KEYWORDS

# Keyword names as Tolaria's payloads spell them (tolaria.engine.cards.KEYWORDS), then those the
# encoder has a column for, then evasion the client does not judge (an attacker with one of
# these is offered no blocker: see `may_block`).
KEYWORD_NAMES = {name.lower(): name for name in KEYWORDS.values()} | {
    "hexproof": "Hexproof",
    "indestructible": "Indestructible",
    "flash": "Flash",
    "ward": "Ward",
    "fear": "Fear",
    "intimidate": "Intimidate",
    "shadow": "Shadow",
    "horsemanship": "Horsemanship",
    "skulk": "Skulk",
}
UNJUDGED_EVASION = frozenset({"Fear", "Intimidate", "Shadow", "Horsemanship", "Skulk"})
COLOUR_WORDS = {"W": "white", "U": "blue", "B": "black", "R": "red", "G": "green"}

_REMINDER = re.compile(r"\s*\([^()]*\)")
_KEYWORD_ITEM = re.compile(
    r"^(?P<word>" + "|".join(sorted(map(re.escape, KEYWORD_NAMES), key=len, reverse=True)) + r")"
    r"(?: (?:\{[^{}]*\})+| \d+)?$"
)
_LANDWALK = re.compile(r"^(?P<land>(?:nonbasic )?[a-z]+)walk$")
_SENTENCE_END = re.compile(r"(?<=\.)\s+")
_RESTRICTION = (
    r"(?:^|, )(?:{selves}) (?:"
    r"(?P<only_fliers>can block only creatures with flying\.?$)"
    r"|(?P<block_only>can block only)"
    r"|(?P<needs_two>can't be blocked except by two or more creatures\.?$)"
    r"|(?P<unblockable>can't be blocked)"
    r"|(?P<attack_or_block>can't attack or block)"
    r"|(?P<attack>can't attack)"
    r"|(?P<block>can't block)"
    r")"
)


@dataclass(frozen=True)
class OracleRules:
    """A card's keywords (Tolaria's names, sorted) and its own combat restrictions."""

    keywords: tuple[str, ...] = ()
    protection: tuple[str, ...] = ()  # `Protection from red` -> "red"
    cant_attack: bool = False  # defender, or `can't attack` in words
    cant_block: bool = False
    unblockable: bool = False  # `can't be blocked`, with or without a condition
    needs_two_blockers: bool = False  # menace, or the same in words
    blocks_only_fliers: bool = False


@lru_cache(maxsize=4096)
def oracle_rules(name: str, text: str) -> OracleRules:
    """The keywords and combat restrictions that a card named `name` has by its oracle text
    `text` (line breaks as newlines or as Forge's literal backslash-n)."""
    keywords: set[str] = set()
    protection: list[str] = []
    found: set[str] = set()
    restriction = re.compile(_RESTRICTION.format(selves=_selves(name)))
    for line in text.replace("\\n", "\n").split("\n"):
        line = _REMINDER.sub("", line).strip()
        if not line:
            continue
        if not line.endswith(".") and ":" not in line:
            for item in (i.strip().lower() for i in re.split(r"[,;]", line)):
                if item.startswith("protection from "):
                    for quality in item[len("protection from ") :].split(" and from "):
                        protection.append(quality.strip())
                        keywords.add(f"Protection from {quality.strip()}")
                elif match := _KEYWORD_ITEM.match(item):
                    keywords.add(KEYWORD_NAMES[match["word"]])
                elif match := _LANDWALK.match(item):
                    keywords.add(f"{match['land'].capitalize()}walk")
            continue
        for sentence in _SENTENCE_END.split(line):
            for match in restriction.finditer(sentence.lower()):
                found.update(kind for kind, text in match.groupdict().items() if text)
    return OracleRules(
        keywords=tuple(sorted(keywords)),
        protection=tuple(protection),
        cant_attack="Defender" in keywords or bool(found & {"attack", "attack_or_block"}),
        cant_block=bool(found & {"block", "attack_or_block", "block_only"}),
        unblockable="unblockable" in found,
        needs_two_blockers="Menace" in keywords or "needs_two" in found,
        blocks_only_fliers="only_fliers" in found,
    )


def _selves(name: str) -> str:
    """The ways a card's text names the card itself, as a regex alternation (lower case)."""
    names = {"this creature", "cardname", name.lower().strip()}
    short = name.split(",")[0].strip().lower()
    if short:
        names.add(short)
    return "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True) if n)


def may_block(
    blocker: OracleRules,
    attacker: OracleRules,
    *,
    blocker_colours: frozenset[str] | None,
    blocker_is_artifact: bool = False,
) -> bool:
    """Whether a creature with `blocker`'s rules may block one with `attacker`'s, as far as
    their texts say (menace, which needs a second blocker, is the reply's to respect).
    `blocker_colours` are the blocker's colours (W, U, B, R, G), or None when unknown: an
    attacker with protection from a colour, or from multicoloured, is then not blocked."""
    if blocker.cant_block or attacker.unblockable or "Shadow" in blocker.keywords:
        return False
    if any(k in UNJUDGED_EVASION or k.endswith("walk") for k in attacker.keywords):
        return False
    flier = "Flying" in attacker.keywords
    if flier and not {"Flying", "Reach"} & set(blocker.keywords):
        return False
    if blocker.blocks_only_fliers and not flier:
        return False
    return not any(_protects(q, blocker_colours, blocker_is_artifact) for q in attacker.protection)


def _protects(quality: str, colours: frozenset[str] | None, is_artifact: bool) -> bool:
    """Whether protection from `quality` keeps a blocker of these colours from blocking."""
    if quality in COLOUR_WORDS.values():
        return colours is None or any(COLOUR_WORDS.get(c) == quality for c in colours)
    if quality in ("multicolored", "multicolor"):
        return colours is None or len(colours) >= 2
    if quality == "artifacts":
        return is_artifact
    return True  # creatures, everything, a creature type, ...: not judged, so not blocked
