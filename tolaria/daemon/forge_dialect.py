"""`tolaria daemon --dialect forge`: the built-in engine behind the dialect a real Forge RL daemon
speaks, framed and shaped as its recorded output (`../shared/forge/`), so that everything that
must work against Forge can be run and tested where Forge cannot.

What is emulated, from the recordings: the STATUS format; `ERROR: Unknown command. Use NEWGAME,
STATUS, or SHUTDOWN` for anything else (HELLO included); the usage line for a NEWGAME with fewer
than two decks; `ERROR: Could not load deck: NAME` (counted as a game played); `SEED:` before
`GAME_START: <deck> vs <deck>`, and only with `-s`; `GAME_RESULT` without fields; observe-mode
payloads with Forge's keys and value types (both hands visible, `is_*` flags instead of a type
line, `summoningSickness`, `mana_pool: {total}`, actions without `card_id` whose description is
cut to 100 characters, `ai_choice` as `{card, description, is_land}` / `{"action": "pass"}` / a
list of indexes / a list of `{blocker, attacker}`; a declare_blockers' `blockers` without the
creatures the AI chose, listed as they are after it declared), and only the three decision
types the recordings show (the others are decided by the AI without a line). A choose_action
lists what Forge lists: every card the timing allows, each copy, in the order of the hand,
payable or not and whatever its targets (`Game.timely_actions`), then a mana ability
(`{T}: Add {G}.`, cost `{0}`) for each untapped source; and it is asked at every priority where
Forge asks, pass alone included (not in the first turn's draw step, nor in a declare attackers
step without attackers: `Game(forge_priority=True)`).

What is emulated from what is known of Forge's source (not recorded): at most 10 games at once
in a fixed pool that serves STATUS too (a connection waits for a free slot; never `busy`); one
command per connection; unknown flags ignored (`-p1`, `-x`, ...); a `-c`, `-t` or `-s` value
that is not a number closes the connection without a word; `-i` wins over `-o`; `-s` reseeds the
daemon's one random generator, which all games share (a seed replays its game only when games
run one at a time); JSON escaping of backslash, quote, newline, carriage return and tab only;
interactive mode sends choose_action, the declarations and the yes/no decisions, keeps every
opening hand, prints counters as a Java map, marks attacking cards, numbers blockers by their
place among the player's creatures (so the indexes skip), and drops a reply it cannot use
without a word (the AI's default applies, the decision is not asked again): an index not
offered, a mana ability (Forge pays costs itself), a spell the player cannot pay for or that
has no legal target. The daemon's DEBUG log says why.

Not emulated (the built-in engine's behaviour stays): an illegal attack or block is refused and
dropped as a reply it cannot use (Forge executes it); simultaneous triggers all resolve; loading
decks from any path on disk (decks stay inside the deck directories), a game that keeps running
after GAME_TIMEOUT, and SHUTDOWN's wait for the next connection.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tolaria.engine import Action, ReplyError
from tolaria.engine.cards import CardPool
from tolaria.engine.mana import can_pay
from tolaria.engine.payload import action_json
from tolaria.protocol.forge import ACTION_DESCRIPTION_LIMIT, UNKNOWN_COMMAND, USAGE

# Decision types a Forge daemon streams in observe mode (all the recordings show) and asks the
# client in interactive mode; the rest are decided by its AI without a line.
OBSERVED_TYPES = frozenset({"choose_action", "declare_attackers", "declare_blockers"})
INTERACTIVE_TYPES = OBSERVED_TYPES | {"confirm_action", "play_trigger", "play_from_effect"}
CONFIRM_MESSAGE = "Confirm action? (y/n)"
_JAVA_INT = re.compile(r"^[+-]?\d+$")
_TYPE_FLAGS = (
    ("is_creature", "Creature"),
    ("is_land", "Land"),
    ("is_artifact", "Artifact"),
    ("is_enchantment", "Enchantment"),
    ("is_planeswalker", "Planeswalker"),
    ("is_instant", "Instant"),
    ("is_sorcery", "Sorcery"),
)


class ForgeRefusal(Exception):
    """A command Forge answers with `ERROR: <message>`."""


class ForgeSilentClose(Exception):
    """A command Forge answers by closing the connection (a flag value that is not a number)."""


@dataclass(frozen=True)
class ForgeNewGame:
    deck1: str
    deck2: str
    interactive: bool = False
    observe: bool = False
    quiet: bool = False
    game_timeout: int | None = None
    ai_timeout: int | None = None
    seed: int | None = None


def parse_forge_command(line: str) -> str | ForgeNewGame:
    """`STATUS`, `SHUTDOWN` or a NEWGAME, read as Forge reads them."""
    words = line.split()
    name = words[0] if words else ""
    if name in ("STATUS", "SHUTDOWN"):
        return name
    if name != "NEWGAME":
        raise ForgeRefusal(UNKNOWN_COMMAND)
    if len(words) < 3:
        raise ForgeRefusal(USAGE)
    values: dict[str, Any] = {}
    rest = iter(words[3:])
    for flag in rest:
        if flag == "-i":
            values["interactive"] = True
        elif flag == "-o":
            values["observe"] = True
        elif flag == "-q":
            values["quiet"] = True
        elif flag in ("-c", "-t", "-s"):
            value = next(rest, "")
            bits = 64 if flag == "-s" else 32
            if not _JAVA_INT.match(value) or not -(2 ** (bits - 1)) <= int(value) < 2 ** (bits - 1):
                raise ForgeSilentClose(flag)
            values[{"-c": "game_timeout", "-t": "ai_timeout", "-s": "seed"}[flag]] = int(value)
        # anything else is ignored, as Forge ignores flags it does not know
    if values.get("interactive"):
        values["observe"] = False  # -i wins
    return ForgeNewGame(words[1], words[2], **values)


class ForgeView:
    """One game's decisions as Forge shows them: payloads, the AI's choices, and the client's
    replies translated back into the engine's reply text."""

    def __init__(self, interactive: bool):
        self.interactive = interactive
        self.decision_ids = [0, 0]

    def reaches_client(self, decision: Any) -> bool:
        """Whether Forge would send this decision at all (in the game's mode)."""
        if not decision.expects_reply:
            return False
        if decision.type == "confirm_action" and decision.purpose == "mulligan":
            return False  # Forge has no mulligan decision: it always keeps
        return decision.type in (INTERACTIVE_TYPES if self.interactive else OBSERVED_TYPES)

    def payload(self, decision: Any, ours: dict[str, Any]) -> dict[str, Any]:
        """Forge's DECISION payload for the engine's decision `decision` and its payload `ours`
        (of a full-observability game, so that both hands are in it, as Forge shows them)."""
        kind = ours["decision_type"]
        seat = decision.seat
        decision_id, self.decision_ids[seat] = self.decision_ids[seat], self.decision_ids[seat] + 1
        state = ours["game_state"]
        out: dict[str, Any] = {
            "decision_type": kind,
            "decision_id": decision_id,
            "player": ours["player"],
            "turn": ours["turn"],
            "phase": ours["phase"],
            "game_state": {
                "is_game_over": state["is_game_over"],
                "active_player": state["active_player"],
                "players": [self._player(p) for p in state["players"]],
            },
        }
        me = _me(ours)
        if kind == "choose_action":
            actions = [_action(action_json(i, a), me) for i, (a, _) in enumerate(_offered(decision))]
            out["actions"] = actions + _mana_abilities(me, first_index=len(actions)) + [_PASS]
        elif kind == "declare_attackers":
            out["attackers"] = [_combatant(a) for a in ours["attackers"]]
        elif kind == "declare_blockers":
            out["attackers"] = [_combatant(a) for a in ours["attackers"]]
            places = _creature_places(me)
            out["blockers"] = [dict(_combatant(b), index=places[b["card_id"]]) for b in ours["blockers"]]
        elif kind == "confirm_action":
            out["message"] = CONFIRM_MESSAGE
        return out

    def add_ai_choice(self, payload: dict[str, Any], ours: dict[str, Any], reply: str) -> None:
        """Forge's `ai_choice` into its payload `payload`. Forge lists an observed
        declare_blockers' blockers after its AI declared, without the creatures that block (as
        the recordings show): those leave the list."""
        payload["ai_choice"] = choice = self.ai_choice(ours, reply)
        if ours["decision_type"] == "declare_blockers":
            blocking = {pair["blocker"] for pair in choice}
            payload["blockers"] = [b for b in payload["blockers"] if b["index"] not in blocking]

    def ai_choice(self, ours: dict[str, Any], reply: str) -> Any:
        """Forge's `ai_choice` for the engine's reply text `reply` to the payload `ours`."""
        kind = ours["decision_type"]
        if kind == "choose_action":
            index = int(reply)
            if index == -1:
                return {"action": "pass"}
            action = next(a for a in ours["actions"] if a["index"] == index)
            return {
                "card": action["card"],
                "description": _description(action, _me(ours)),
                "is_land": action["is_land"],
            }
        if kind == "declare_attackers":
            return [int(i) for i in reply.split(",") if i]
        if kind == "declare_blockers":
            places = _creature_places(_me(ours))
            blockers = {b["index"]: b["card_id"] for b in ours["blockers"]}
            pairs = [pair.split(":") for pair in reply.split(",") if pair]
            return [{"blocker": places[blockers[int(b)]], "attacker": int(a)} for b, a in pairs]
        return reply

    def reply(self, decision: Any, ours: dict[str, Any], text: str) -> str:
        """The engine's reply text for a client's reply `text` in Forge's numbering (actions as
        Forge lists them, blockers by their place among the player's creatures). ReplyError for
        an action the engine cannot carry out (a mana ability, a spell it cannot pay for or
        without targets, an index not offered); an unknown blocker is left for the engine to
        refuse."""
        if ours["decision_type"] == "choose_action":
            return _action_reply(decision, text)
        if ours["decision_type"] != "declare_blockers":
            return text
        places = _creature_places(_me(ours))
        ours_of_place = {places[b["card_id"]]: b["index"] for b in ours["blockers"]}
        pairs = []
        for pair in (p.strip() for p in text.split(",") if p.strip()):
            blocker, sep, attacker = pair.partition(":")
            try:
                pairs.append(f"{ours_of_place.get(int(blocker), -1)}{sep}{attacker}")
            except ValueError:
                pairs.append(pair)
        return ",".join(pairs)

    def _player(self, player: dict[str, Any]) -> dict[str, Any]:
        battlefield = player["battlefield"]
        creatures = sum(1 for c in battlefield if c.get("is_creature"))
        lands = sum(1 for c in battlefield if c.get("is_land") and not c.get("is_creature"))
        return {
            "name": player["name"],
            "life": player["life"],
            "poison": player["poison"],
            "has_lost": player["has_lost"],
            "lands_played_this_turn": player["lands_played_this_turn"],
            "max_land_plays": player["max_land_plays"],
            "library_size": player["library_size"],
            "hand_size": player["hand_size"],
            "hand": [self._card(c, False) for c in player["hand"]],
            "battlefield_creatures": creatures,
            "battlefield_lands": lands,
            "battlefield_other": len(battlefield) - creatures - lands,
            "battlefield": [self._card(c, True) for c in battlefield],
            "graveyard": [self._card(c, False) for c in player["graveyard"]],
            "exile": [self._card(c, False) for c in player["exile"]],
            "mana_pool": {"total": player["mana_pool"].get("total", 0)},
        }

    def _card(self, card: dict[str, Any], on_battlefield: bool) -> dict[str, Any]:
        types = _type_words(card)
        creature = "Creature" in types
        out: dict[str, Any] = {"id": card["id"], "name": card["name"], "cmc": card.get("cmc", 0)}
        for flag, word in _TYPE_FLAGS:
            out[flag] = word in types
        out["power"] = card.get("power", 0) if creature else 0
        out["toughness"] = card.get("toughness", 0) if creature else 0
        out["oracle_text"] = str(card.get("oracle_text", "")).replace("\n", "\\n")
        if on_battlefield:
            out["tapped"] = card.get("tapped", False)
            out["summoningSickness"] = card.get("summoning_sick", False)
            if creature:
                out["damage"] = card.get("damage", 0)
            counters = {k: v for k, v in (card.get("counters") or {}).items() if v}
            if counters:
                out["counters"] = (
                    "{" + ", ".join(f"{k}={v}" for k, v in counters.items()) + "}"
                    if self.interactive
                    else [{"type": k, "count": v} for k, v in counters.items()]
                )
            if self.interactive and card.get("attacking"):
                out["attacking"] = True
        return out


_PASS = {"index": -1, "card": "", "description": "Pass priority", "is_land": False, "mana_cost": ""}


def forge_escaping(text: str) -> str:
    """JSON text (as `json.dumps(..., ensure_ascii=False)` writes it) escaped as Forge escapes
    its own: only backslash, quote, newline, carriage return and tab; every other character raw
    (other control characters too, non-ASCII as UTF-8)."""
    if "\\u00" not in text and "\\b" not in text and "\\f" not in text:
        return text
    return _ESCAPE.sub(_unescaped, text)


# An escape of JSON text: `\\` (kept, so that the next character is not read as one) or one
# that Forge does not write.
_ESCAPE = re.compile(r"\\(\\|u00[01][0-9a-f]|b|f)")
_RAW = {"\\": "\\\\", "b": "\b", "f": "\f"}


def _unescaped(match: re.Match[str]) -> str:
    escape = match.group(1)
    return _RAW.get(escape) or chr(int(escape[1:], 16))


def _offered(decision: Any) -> list[tuple[Action, int | None]]:
    """The actions Forge lists in a choose_action before its mana abilities: every card the
    timing allows, each copy, payable or not (`Game.timely_actions`), each with the index of the
    engine's action it stands for (the same play of a card of the same name from the same zone:
    identical cards are one choice), or None where the engine cannot carry it out (it cannot be
    paid for, or a spell has no target)."""
    engine: dict[tuple[str, str, str], int] = {}
    for index, action in enumerate(decision.options):
        engine.setdefault((action.kind, action.card.name, action.card.zone), index)
    game = decision.game
    plays = game.timely_actions(game.players[decision.seat], distinct=False)
    return [(a, engine.get((a.kind, a.card.name, a.card.zone))) for a in plays]


def _action_reply(decision: Any, text: str) -> str:
    """The engine's reply text for a choose_action reply in Forge's numbering; a pass, or text
    that is not an index, is left for the engine to read. ReplyError, saying why, for an action
    the engine cannot carry out."""
    try:
        index = int(text)
    except ValueError:
        return text
    if index == -1:
        return text
    offered = _offered(decision)
    if not 0 <= index < len(offered):
        raise ReplyError(f"action {index}: a mana ability (Forge pays costs itself) or none offered")
    action, ours = offered[index]
    if ours is not None:
        return str(ours)
    game = decision.game
    if not can_pay(action.cost, game.mana_available(game.players[decision.seat])[1]):
        raise ReplyError(f"{action.description}: cannot be paid for")
    raise ReplyError(f"{action.description}: no legal target")


def _me(ours: dict[str, Any]) -> dict[str, Any]:
    return next(p for p in ours["game_state"]["players"] if p["name"] == ours["player"])


def _type_words(card: dict[str, Any]) -> set[str]:
    return set(str(card.get("types", "")).split("—")[0].split())


def _creature_places(me: dict[str, Any]) -> dict[Any, int]:
    """card id -> place among the player's creatures on the battlefield: Forge's blocker index."""
    creatures = [c for c in me["battlefield"] if "Creature" in _type_words(c)]
    return {c["id"]: place for place, c in enumerate(creatures)}


def _mana_abilities(me: dict[str, Any], first_index: int) -> list[dict[str, Any]]:
    """The mana abilities Forge lists among a player's actions: one for each untapped permanent
    that can tap for mana (a creature only once it may tap), as Forge's card scripts word them
    (`{T}: Add {G}.`, a dual land's `{T}: Add {R} or {G}.`), at cost `{0}`."""
    pool = CardPool.default()
    abilities = []
    for card in me["battlefield"]:
        cdef = pool.get(card["name"])
        if cdef is None or not cdef.mana or card.get("tapped") or card.get("summoning_sick"):
            continue
        colours = " or ".join(f"{{{colour}}}" for colour in cdef.mana)
        abilities.append(
            {
                "index": first_index + len(abilities),
                "card": card["name"],
                "description": f"{{T}}: Add {colours}.",
                "is_land": False,
                "mana_cost": "{0}",
            }
        )
    return abilities


def _combatant(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: entry[k] for k in ("index", "card_id", "name", "power", "toughness")}


def _action(action: dict[str, Any], me: dict[str, Any]) -> dict[str, Any]:
    return {
        "index": action["index"],
        "card": action["card"],
        "description": _description(action, me)[:ACTION_DESCRIPTION_LIMIT],
        "is_land": action["is_land"],
        "mana_cost": action["mana_cost"],
    }


def _description(action: dict[str, Any], me: dict[str, Any]) -> str:
    """Forge's text of an action (uncut): `Play land`, `<name> - Creature P / T`, or the
    spell's rules text."""
    if action["is_land"]:
        return "Play land"
    zones = ("hand", "battlefield", "graveyard", "exile")
    card = next((c for zone in zones for c in me[zone] if c["id"] == action["card_id"]), None)
    if card is None or not str(action["description"]).startswith("Cast "):
        return str(action["description"])  # suspending a card, ...: the engine's words
    types = _type_words(card)
    if "Creature" in types:
        return f"{card['name']} - Creature {card.get('power', 0)} / {card.get('toughness', 0)}"
    if types & {"Instant", "Sorcery"}:
        return str(card.get("oracle_text") or card["name"]).replace("\n", " ")
    return str(card["name"])
