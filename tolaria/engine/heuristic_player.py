"""The baseline AI: plays lands, curves out, fights by board evaluation, aims burn and removal.

It reads the game through `decision.game` and plans a spell's targets when it decides to cast
it, so the targets chosen in the following choose_entity decisions match the reason to cast.
"""

from __future__ import annotations

import itertools
import random
from functools import cache

from tolaria.engine.decision import Action, Answer, Decision
from tolaria.engine.game import Game
from tolaria.engine.mana import max_x
from tolaria.engine.objects import BATTLEFIELD, Card, Player, StackItem
from tolaria.protocol.replies import lethal_in_order

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


def _kills(game: Game, src: Card, dst: Card) -> bool:
    power = game.power(src)
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
    def __init__(self, seed: int | None = None, rng: random.Random | None = None):
        """`rng`: a generator to draw from (shared with others) instead of one seeded with `seed`."""
        self.rng = rng if rng is not None else random.Random(seed)
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
        if t == "announce_value":
            return d.max
        if t == "assign_combat_damage":
            return self._assign_damage(d)
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
            # an anthem wants creatures to pump; an enchantment with triggers works on its own
            return (9.0, []) if main and (cdef.triggers or me.creatures()) else (0.0, [])
        if not cdef.effects:
            return (0.0, [])
        op = cdef.effects[-1].op if cdef.effects[0].op == "turn_rule" else cdef.effects[0].op
        if op == "damage":
            return self._score_burn(game, me, opp, a, main, my_turn)
        if op in ("exile", "destroy"):
            return self._score_removal(game, me, opp, a)
        if op == "destroy_all_creatures":
            return self._score_wrath(game, me, opp) if main else (0.0, [])
        if op == "search_card":
            return (8.5 if main else 0.0, [])
        if op == "detain":
            return self._score_detain(game, opp, a, main)
        if op == "counter":
            return self._score_counter(game, me, opp, a)
        if op == "pump":
            return self._score_pump(game, me, a)
        if op in ("draw", "scry", "exile_top_playable", "gain_life"):
            if cdef.cost.x and max_x(a.cost, game.mana_available(me)[1]) < 2:
                return (0.0, [])  # an X draw spell is worth a card only for two or more
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

    def _score_wrath(self, game: Game, me: Player, opp: Player) -> tuple[float, list]:
        """Sweep the board when it kills clearly more of theirs than of mine, or saves my life."""
        theirs = [c for c in opp.battlefield if c.cdef.is_creature]
        mine = [c for c in me.battlefield if c.cdef.is_creature]
        lost = sum(creature_value(game, c) for c in theirs) - sum(creature_value(game, c) for c in mine)
        threatened = sum(game.power(c) for c in theirs) >= me.life
        if theirs and (threatened or (len(theirs) >= 2 and lost >= 5.0)):
            return (8.0 + lost / 10, [])
        return (0.0, [])

    def _score_detain(self, game: Game, opp: Player, a: Action, main: bool) -> tuple[float, list]:
        best, best_v = None, 2.0  # not worth a card below a 2-power threat
        for c in game.target_candidates(a.card.cdef.targets[0], a.card):
            v = creature_value(game, c)
            if v > best_v:
                best, best_v = c, v
        if best is None or not main:
            return (0.0, [])
        return (7.0 + best_v / 10, [best])

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
        friendly = op in ("pump", "draw")
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
        blockers = [b for b in opp.battlefield if game.can_block_at_all(b)]
        options = list(d.options)
        m = Matchups(game, options, blockers)
        their_power = [
            (game.power(c), c.id) for c in opp.battlefield if c.cdef.is_creature and not c.has("defender")
        ]
        n_creatures = sum(1 for c in me.battlefield if c.cdef.is_creature)

        def score(attack: list[int]) -> float:
            return attack_score(m, me, opp, attack, their_power, n_creatures)

        n = len(options)
        if n <= 5:
            best, best_score = [], 0.0
            for mask in range(1, 1 << n):
                attack = [i for i in range(n) if mask >> i & 1]
                sc = score(attack)
                if sc > best_score:
                    best, best_score = attack, sc
            return tuple(options[i] for i in best)
        chosen: list[int] = []
        current = 0.0
        improved = True
        while improved:
            improved = False
            for i in range(n):
                if i in chosen:
                    continue
                sc = score([*chosen, i])
                if sc > current:
                    current, pick, improved = sc, i, True
            if improved:
                chosen.append(pick)
        return tuple(options[i] for i in chosen)

    def _block(self, d: Decision) -> tuple:
        game = d.game
        me = game.players[d.seat]
        m = Matchups(game, d.attackers, d.options)
        for bi, opts in enumerate(d.context):
            for ai in range(len(d.attackers)):
                if ai not in opts:
                    m.outcome[ai][bi] = None
        pairs = plan_blocks(m, me.life, range(len(d.attackers)))
        return tuple((d.options[bi], d.attackers[ai]) for bi, ai in pairs)

    def _assign_damage(self, d: Decision) -> tuple[int, ...]:
        """Kill the most valuable set of blockers the damage can kill (lethal damage to each, in
        the best order), then trample over; ties go to the order offered."""
        game = d.game
        lethal, trample = d.context.lethal, d.context.defender is not None
        n = len(d.options)
        orders = itertools.permutations(range(n)) if n <= 6 else [sorted(range(n), key=lambda i: lethal[i])]
        best, best_score = None, -1.0
        for order in orders:
            split = lethal_in_order(d.min, [lethal[i] for i in order], trample)
            amounts = [0] * n + ([split[-1]] if trample else [])
            for i, give in zip(order, split, strict=False):
                amounts[i] = give
            killed = sum(creature_value(game, d.options[i]) for i in range(n) if amounts[i] >= lethal[i])
            score = killed + (amounts[-1] * 0.01 if trample else 0.0)
            if score > best_score:
                best, best_score = tuple(amounts), score
        return best

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
        if d.purpose == "search":
            return (0,)
        if d.purpose == "tutor":
            return (self._tutor_pick(me, d.options),)
        return tuple(range(d.min))

    @staticmethod
    def _tutor_pick(me: Player, options: list[Card]) -> int:
        """A card whose triggers work beyond its arrival (a combo piece, an engine) that I hold
        no copy of, else the costliest spell: lands last."""
        held = {c.name for c in (*me.hand, *me.battlefield)}

        def worth(i: int) -> tuple:
            c = options[i].cdef
            lasting = any(t.on != "etb" for t in c.triggers)
            return (not c.is_land, lasting and c.name not in held, c.name not in held, c.mana_value)

        return max(range(len(options)), key=worth)


class Matchups:
    """Every attacker/blocker pair's fight outcome and each creature's value, computed once per
    combat decision so that many candidate attacks can be simulated cheaply."""

    __slots__ = (
        "a_menace",
        "a_power",
        "a_toughness",
        "a_value",
        "a_vigilance",
        "b_deathtouch",
        "b_id",
        "b_power",
        "b_value",
        "outcome",
    )

    def __init__(self, game: Game, attackers: list[Card], blockers: list[Card]):
        self.a_power = [game.power(a) for a in attackers]
        self.a_toughness = [game.toughness(a) for a in attackers]
        self.a_value = [creature_value(game, a) for a in attackers]
        self.a_menace = [a.has("menace") for a in attackers]
        self.a_vigilance = [a.has("vigilance") for a in attackers]
        self.b_power = [game.power(b) for b in blockers]
        self.b_value = [creature_value(game, b) for b in blockers]
        self.b_deathtouch = [b.has("deathtouch") for b in blockers]
        self.b_id = [b.id for b in blockers]
        # outcome[a][b]: (attacker dies, blocker dies) if b blocks a alone; None if b cannot block a
        self.outcome = [
            [fight(game, a, b) if game.can_block(b, a) else None for b in blockers] for a in attackers
        ]


def plan_blocks(m: Matchups, life: int, attack) -> list[tuple[int, int]]:
    """(blocker, attacker) index pairs against the attackers `attack`: kill attackers where it
    pays, trade when even, block safely, and chump only to survive."""
    free = list(range(len(m.b_power)))
    pairs: list[tuple[int, int]] = []
    unblocked = 0
    order = sorted(attack, key=lambda i: -m.a_power[i])
    for ai in order:
        if m.a_menace[ai]:
            unblocked += m.a_power[ai]
            continue
        good, trade, safe = [], [], []
        va = m.a_value[ai]
        row = m.outcome[ai]
        for bi in free:
            res = row[bi]
            if res is None:
                continue
            a_dies, b_dies = res
            vb = m.b_value[bi]
            if a_dies and not b_dies:
                good.append((vb, bi))
            elif not b_dies:
                safe.append((vb, bi))
            elif a_dies and va >= vb - 0.5:
                trade.append((vb, bi))
        choice = next((min(group)[1] for group in (good, trade, safe) if group), None)
        if choice is None:
            unblocked += m.a_power[ai]
            continue
        free.remove(choice)
        pairs.append((choice, ai))
    if unblocked >= life:
        blocked = {ai for _, ai in pairs}
        for ai in order:
            if ai in blocked or m.a_menace[ai]:
                continue
            cands = sorted((m.b_value[bi], bi) for bi in free if m.outcome[ai][bi] is not None)
            if cands:
                bi = cands[0][1]
                free.remove(bi)
                pairs.append((bi, ai))
                unblocked -= m.a_power[ai]
                if unblocked < life:
                    break
    return pairs


def attack_score(
    m: Matchups, me: Player, opp: Player, attack: list[int], their_power: list, n_creatures: int
) -> float:
    """Value of attacking with the attackers `attack` against the blocks plan_blocks would make."""
    pairs = plan_blocks(m, opp.life, attack)
    blocked: dict[int, list[int]] = {}
    for bi, ai in pairs:
        blocked.setdefault(ai, []).append(bi)
    face = 0
    gain = 0.0
    dead_blockers = set()
    for ai in attack:
        group = blocked.get(ai)
        if not group:
            face += m.a_power[ai]
            continue
        a_dies, b_dies = m.outcome[ai][group[0]]
        if len(group) > 1:
            a_dies = (
                any(m.b_deathtouch[bi] for bi in group)
                or sum(m.b_power[bi] for bi in group) >= m.a_toughness[ai]
            )
        if b_dies:
            gain += m.b_value[group[0]]
            dead_blockers.add(m.b_id[group[0]])
        if a_dies:
            gain -= m.a_value[ai]
    if face >= opp.life:
        return 1000.0
    # the counterattack: their surviving attackers against my creatures left untapped
    theirs = sorted((p for p, cid in their_power if cid not in dead_blockers), reverse=True)
    home = n_creatures - sum(1 for ai in attack if not m.a_vigilance[ai])
    if sum(theirs[home:]) >= me.life:
        gain -= 50.0
    return face * (0.6 + 6.0 / max(opp.life, 1)) + gain
