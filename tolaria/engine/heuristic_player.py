"""The baseline AI: plays lands, curves out, fights by board evaluation, aims burn and removal.

It reads the game through `decision.game` and plans a spell's targets when it decides to cast
it, so the targets chosen in the following choose_entity decisions match the reason to cast.
"""

from __future__ import annotations

import random
from functools import cache

from tolaria.engine.decision import Action, Answer, Decision
from tolaria.engine.game import Game
from tolaria.engine.objects import BATTLEFIELD, Card, Player, StackItem

_KEYWORD_VALUE = {
    "flying": 1.0,
    "first_strike": 1.0,
    "double_strike": 2.0,
    "deathtouch": 1.5,
    "lifelink": 1.0,
    "trample": 0.5,
    "vigilance": 0.3,
    "menace": 0.5,
    "haste": 0.2,
    "prowess": 0.5,
}


@cache
def _keyword_bonus(cdef) -> float:
    # summed in sorted order: set order varies between processes, float sums must not
    return sum(_KEYWORD_VALUE.get(k, 0.0) for k in sorted(cdef.keywords))


def creature_value(game: Game, c: Card) -> float:
    cdef = c.cdef
    v = game.power(c) + game.toughness(c) * 0.6 + _keyword_bonus(cdef)
    if cdef.statics or cdef.triggers:
        v += 1.5
    if cdef.protection:
        v += 0.5
    if cdef.mana:
        v += 0.5
    if c.has("defender"):
        v -= game.power(c)
    return v


def _kills(game: Game, src: Card, dst: Card, extra_power: int = 0) -> bool:
    power = game.power(src) + extra_power
    return power > 0 and (src.has("deathtouch") or power >= game.toughness(dst) - dst.damage)


def fight(game: Game, a: Card, b: Card) -> tuple[bool, bool]:
    """(a dies, b dies) if a and b deal combat damage to each other, first strike considered."""
    a_first = a.has("first_strike") or a.has("double_strike")
    b_first = b.has("first_strike") or b.has("double_strike")
    a_kills, b_kills = _kills(game, a, b), _kills(game, b, a)
    if a.has("double_strike") and not a_kills and game.power(a) * 2 >= game.toughness(b) - b.damage:
        a_kills = True
    if a_first and not b_first:
        return (b_kills and not a_kills, a_kills)
    if b_first and not a_first:
        return (b_kills, a_kills and not b_kills)
    return (b_kills, a_kills)


class HeuristicPlayer:
    def __init__(self, seed: int | None = None):
        self.rng = random.Random(seed)
        self._plan: dict[int, list] = {}  # card id -> planned targets, in order

    def choose(self, d: Decision) -> Answer:
        t = d.type
        if t == "choose_action":
            return self._choose_action(d)
        if t == "declare_attackers":
            return self._attack(d)
        if t == "declare_blockers":
            return self._block(d)
        if t == "choose_cards":
            return self._choose_cards(d)
        if t == "choose_entity":
            return self._choose_entity(d)
        if t == "confirm_action":
            return self._keep_hand(d) if d.purpose == "mulligan" else True
        if t in ("play_trigger", "play_from_effect"):
            return True
        return None

    # -- priority --------------------------------------------------------------------------
    def _choose_action(self, d: Decision) -> Action | None:
        game = d.game
        me = game.players[d.seat]
        opp = me.opponent
        my_turn = game.active is me
        main = my_turn and game.phase in ("MAIN1", "MAIN2") and not game.stack
        lands = [a for a in d.options if a.kind == "land"]
        if lands:
            lands.sort(key=lambda a: a.card.zone != "exile")
            return lands[0]
        best, best_score = None, 0.0
        for a in d.options:
            score, targets = self._score(game, me, opp, a, main, my_turn)
            score += self.rng.random() * 1e-3 if score > 0 else 0.0  # ties go to chance
            if score > best_score:
                best, best_score = a, score
                plan = targets
        if best is not None:
            self._plan[best.card.id] = plan
        return best

    def _score(
        self, game: Game, me: Player, opp: Player, a: Action, main: bool, my_turn: bool
    ) -> tuple[float, list]:
        cdef = a.card.cdef
        if a.kind == "suspend":
            return (3.0, []) if main else (0.0, [])
        if cdef.is_creature:
            return (10.0 + cdef.mana_value, []) if main else (0.0, [])
        if "Enchantment" in cdef.types and not cdef.effects:
            return (9.0, []) if main and me.creatures() else (0.0, [])
        if not cdef.effects:
            return (0.0, [])
        op = cdef.effects[-1].op if cdef.effects[0].op == "turn_rule" else cdef.effects[0].op
        if op == "damage":
            return self._score_burn(game, me, opp, a, main, my_turn)
        if op == "exile":
            return self._score_removal(game, me, opp, a)
        if op == "counter":
            return self._score_counter(game, me, opp, a)
        if op == "pump":
            return self._score_pump(game, me, a)
        if op in ("draw", "scry", "exile_top_playable"):
            if "Sorcery" in cdef.types:
                return (8.0 if main else 0.0, [])
            return (
                (2.0, []) if (not my_turn and game.phase == "END_OF_TURN" and not game.stack) else (0.0, [])
            )
        return (0.0, [])

    def _burn_amount(self, me: Player, cdef) -> int:
        total = 0
        for e in cdef.effects:
            if e.op == "damage":
                amount = (
                    e.get("landfall_amount")
                    if e.get("landfall_amount") is not None and me.landfall_this_turn
                    else e.get("amount")
                )
                total = max(total, amount)
        return total

    def _score_burn(
        self, game: Game, me: Player, opp: Player, a: Action, main: bool, my_turn: bool
    ) -> tuple[float, list]:
        card = a.card
        cdef = card.cdef
        dmg = self._burn_amount(me, cdef)
        kinds = cdef.targets
        if kinds == ("player", "creature_of_target_player"):
            kill = self._best_kill(game, opp, card, dmg)
            if kill is not None:
                return (7.0, [opp, kill])
            return (0.0, [])
        if dmg >= opp.life:
            return (20.0, [opp])
        reach = sum(
            self._burn_amount(me, c.cdef) for c in me.hand if c.cdef.targets[:1] in (("any",), ("player",))
        )
        if reach >= opp.life:  # the burn in hand is lethal: all of it goes to the face
            return (15.0, [opp])
        if "creature" not in kinds[0] and kinds[0] != "any":
            return (6.0 if main or not my_turn else 0.0, [opp])
        kill = self._best_kill(game, opp, card, dmg)
        clearing = my_turn and game.phase == "MAIN1" and any(game.can_attack(c) for c in me.battlefield)
        if kill is not None and (
            creature_value(game, kill) >= (2.5 if clearing else 3.0)
            or kill.attacking
            or kill.blocking is not None
        ):
            return (7.0 + creature_value(game, kill) / 10, [kill])
        face_time = (not my_turn and game.phase == "END_OF_TURN") or (my_turn and game.phase == "MAIN2")
        if face_time and not game.stack:
            return (4.0, [opp])
        return (0.0, [])

    def _best_kill(self, game: Game, opp: Player, source: Card, dmg: int) -> Card | None:
        best, best_v = None, -1.0
        for c in opp.battlefield:
            if c.cdef.is_creature and game.can_target(source, c) and game.toughness(c) - c.damage <= dmg:
                v = creature_value(game, c)
                if v > best_v:
                    best, best_v = c, v
        return best

    def _score_removal(self, game: Game, me: Player, opp: Player, a: Action) -> tuple[float, list]:
        best, best_v = None, -1.0
        for c in opp.battlefield:
            if c.cdef.is_creature and game.can_target(a.card, c):
                v = creature_value(game, c) + (3.0 if c.attacking else 0.0)
                if v > best_v:
                    best, best_v = c, v
        if best is not None and (best_v >= 4.5 or (best.attacking and game.power(best) >= 2)):
            return (8.0 + best_v / 10, [best])
        return (0.0, [])

    def _score_counter(self, game: Game, me: Player, opp: Player, a: Action) -> tuple[float, list]:
        cands = game.target_candidates(a.card.cdef.targets[0], a.card)
        for item in reversed(cands):
            if item.controller is not opp:
                continue
            mine_targeted = any(
                (o is me) or (isinstance(o, Card) and o.controller is me) for o, _ in item.targets
            )
            if item.card.cdef.mana_value >= 2 or mine_targeted:
                return (12.0, [item])
        return (0.0, [])

    def _score_pump(self, game: Game, me: Player, a: Action) -> tuple[float, list]:
        boost = next(e.get("power", 0) for e in a.card.cdef.effects if e.op == "pump")
        # save a creature from burn on the stack
        if game.stack:
            top = game.stack[-1]
            if top.controller is not me:
                for o, _ in top.targets:
                    if isinstance(o, Card) and o.controller is me and o.zone == BATTLEFIELD:
                        dmg = max((e.get("amount", 0) for e in top.effects if e.op == "damage"), default=0)
                        if dmg and game.toughness(o) - o.damage <= dmg < game.toughness(o) - o.damage + boost:
                            return (9.0, [o])
            return (0.0, [])
        if game.phase != "COMBAT_DECLARE_BLOCKERS":
            return (0.0, [])
        for atk in game.attackers:
            blockers = [b for b in game.blockers_of.get(atk.id, ()) if b.zone == BATTLEFIELD]
            for mine, others in ((atk, blockers), *((b, [atk]) for b in blockers)):
                if mine.controller is not me or len(others) != 1:
                    continue
                other = others[0]
                dies, kills = fight(game, mine, other)
                if dies and not mine.has("deathtouch"):
                    mine.pump_power += boost
                    mine.pump_toughness += boost
                    dies2, kills2 = fight(game, mine, other)
                    mine.pump_power -= boost
                    mine.pump_toughness -= boost
                    if not dies2 or (kills2 and not kills):
                        return (9.0, [mine])
            if (
                atk.controller is me
                and atk.id not in game.blocked
                and game.power(atk) + boost >= me.opponent.life
            ):
                return (9.0, [atk])
        return (0.0, [])

    def _choose_entity(self, d: Decision) -> int:
        item, i = d.context
        plan = self._plan.get(item.card.id) if isinstance(item, StackItem) else None
        if plan and i < len(plan) and plan[i] in d.options:
            return d.options.index(plan[i])
        game = d.game
        me = game.players[d.seat]
        effects = [e for e in item.effects if e.get("target") == i]
        op = effects[0].op if effects else ""
        friendly = op == "pump"
        best, best_v = 0, -1e9
        for j, o in enumerate(d.options):
            if isinstance(o, Player):
                v = 5.0 if o is not me else -20.0
                v = -v if friendly else v
            elif isinstance(o, StackItem):
                v = 1.0 if o.controller is not me else -1.0
            else:
                v = creature_value(game, o)
                if (o.controller is me) != friendly:
                    v = -v - 10
            if v > best_v:
                best, best_v = j, v
        return best

    # -- combat ----------------------------------------------------------------------------
    def _attack(self, d: Decision) -> tuple:
        """Pick the attack whose simulated outcome (the opponent blocking as this AI would) scores
        best: damage dealt, creatures traded, and no lethal counterattack left open."""
        game = d.game
        me = game.players[d.seat]
        opp = me.opponent
        blockers = [b for b in opp.battlefield if b.cdef.is_creature and not b.tapped]
        options = list(d.options)

        def score(attack: list[Card]) -> float:
            return attack_score(game, me, opp, blockers, attack)

        if len(options) <= 5:
            best, best_score = [], 0.0
            for mask in range(1, 1 << len(options)):
                attack = [c for i, c in enumerate(options) if mask >> i & 1]
                sc = score(attack)
                if sc > best_score:
                    best, best_score = attack, sc
            return tuple(best)
        chosen: list[Card] = []
        current = 0.0
        improved = True
        while improved:
            improved = False
            for c in options:
                if c in chosen:
                    continue
                sc = score([*chosen, c])
                if sc > current:
                    current, pick, improved = sc, c, True
            if improved:
                chosen.append(pick)
        return tuple(chosen)

    def _block(self, d: Decision) -> tuple:
        game = d.game
        me = game.players[d.seat]
        pairs = plan_blocks(game, me.life, d.options, d.context, d.attackers)
        return tuple((d.options[bi], d.attackers[ai]) for bi, ai in pairs)

    # -- card choices ----------------------------------------------------------------------
    def _keep_hand(self, d: Decision) -> bool:
        me = d.game.players[d.seat]
        lands = sum(1 for c in me.hand if c.cdef.is_land)
        if me.mulligans >= 2:
            return True
        return 2 <= lands <= 5

    def _choose_cards(self, d: Decision) -> tuple:
        game = d.game
        me = game.players[d.seat]
        n = len(d.options)
        if d.purpose == "damage_order":
            return tuple(
                sorted(
                    range(n),
                    key=lambda i: (
                        game.toughness(d.options[i]) - d.options[i].damage,
                        -creature_value(game, d.options[i]),
                    ),
                )
            )
        if d.purpose in ("mulligan_bottom", "discard"):
            lands_total = sum(1 for c in d.options if c.cdef.is_land)
            keep_lands = (
                3
                if d.purpose == "mulligan_bottom"
                else max(0, 4 - sum(1 for c in me.battlefield if c.cdef.is_land))
            )

            def badness(i: int) -> tuple:
                c = d.options[i]
                if c.cdef.is_land:
                    return (1 if lands_total > keep_lands else -1, 0)
                return (0, c.cdef.mana_value)

            return tuple(sorted(range(n), key=badness, reverse=True)[: d.min])
        if d.purpose == "scry":
            lands = sum(1 for c in me.battlefield if c.cdef.is_land) + sum(
                1 for c in me.hand if c.cdef.is_land
            )
            return tuple(
                i
                for i, c in enumerate(d.options)
                if (c.cdef.is_land and lands >= 5) or (not c.cdef.is_land and lands < 3)
            )
        if d.purpose == "damage_order_insert":
            blocker, _ = d.context
            first = d.options[0]
            return (
                (0,)
                if game.toughness(blocker) - blocker.damage <= game.toughness(first) - first.damage
                else ()
            )
        if d.purpose == "search":
            return (0,)
        return tuple(range(d.min))


def plan_blocks(
    game: Game, life: int, blockers: list[Card], legal: list[list[int]], attackers: list[Card]
) -> list:
    """(blocker index, attacker index) pairs: kill attackers where it pays, trade when even,
    block safely, and chump only to survive."""
    free = list(range(len(blockers)))
    pairs: list[tuple[int, int]] = []
    unblocked = 0
    order = sorted(range(len(attackers)), key=lambda i: -game.power(attackers[i]))
    for ai in order:
        a = attackers[ai]
        if a.has("menace"):
            unblocked += game.power(a)
            continue
        good, trade, safe = [], [], []
        va = creature_value(game, a)
        for bi in free:
            if ai not in legal[bi]:
                continue
            b = blockers[bi]
            a_dies, b_dies = fight(game, a, b)
            vb = creature_value(game, b)
            if a_dies and not b_dies:
                good.append((vb, bi))
            elif not b_dies:
                safe.append((vb, bi))
            elif a_dies and va >= vb - 0.5:
                trade.append((vb, bi))
        choice = next((min(group)[1] for group in (good, trade, safe) if group), None)
        if choice is None:
            unblocked += game.power(a)
            continue
        free.remove(choice)
        pairs.append((choice, ai))
    if unblocked >= life:
        blocked = {ai for _, ai in pairs}
        for ai in order:
            a = attackers[ai]
            if ai in blocked or a.has("menace"):
                continue
            cands = sorted((creature_value(game, blockers[bi]), bi) for bi in free if ai in legal[bi])
            if cands:
                bi = cands[0][1]
                free.remove(bi)
                pairs.append((bi, ai))
                unblocked -= game.power(a)
                if unblocked < life:
                    break
    return pairs


def attack_score(game: Game, me: Player, opp: Player, blockers: list[Card], attack: list[Card]) -> float:
    """Value of attacking with `attack` against the blocks plan_blocks would make."""
    legal = [[i for i, a in enumerate(attack) if game.can_block(b, a)] for b in blockers]
    pairs = plan_blocks(game, opp.life, blockers, legal, attack)
    blocked: dict[int, list[Card]] = {}
    for bi, ai in pairs:
        blocked.setdefault(ai, []).append(blockers[bi])
    face = 0
    gain = 0.0
    dead_blockers = set()
    for ai, a in enumerate(attack):
        group = blocked.get(ai)
        if not group:
            face += game.power(a)
            continue
        if len(group) == 1:
            a_dies, b_dies = fight(game, a, group[0])
        else:
            a_dies = any(b.has("deathtouch") for b in group) or sum(
                game.power(b) for b in group
            ) >= game.toughness(a)
            b_dies = _kills(game, a, group[0])
        if b_dies:
            gain += creature_value(game, group[0])
            dead_blockers.add(group[0].id)
        if a_dies:
            gain -= creature_value(game, a)
    if face >= opp.life:
        return 1000.0
    # the counterattack: their surviving attackers against my creatures left untapped
    theirs = sorted(
        (
            game.power(c)
            for c in opp.battlefield
            if c.cdef.is_creature and not c.has("defender") and c.id not in dead_blockers
        ),
        reverse=True,
    )
    home = sum(1 for c in me.battlefield if c.cdef.is_creature and (c not in attack or c.has("vigilance")))
    if sum(theirs[home:]) >= me.life:
        gain -= 50.0
    return face * (0.6 + 6.0 / max(opp.life, 1)) + gain
