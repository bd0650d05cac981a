"""Random DECISION payloads shaped like PROTOCOL.md's, for tests and benchmarks.

They exercise every decision type, long option lists (truncation), compact mode and odd
values (power "*", empty zones), so the encoder and `reply_text` can be checked on thousands
of cases without a rules engine. Real engine payloads are used where the engine is at hand.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from tolaria.rollouts import Segment
from tolaria.trainer.encoding import DECISION_TYPES, Encoder
from tolaria.trainer.policy import PolicyNetwork, to_tensors

CARD_POOL: tuple[dict[str, Any], ...] = (
    {
        "name": "Mountain",
        "mana_cost": "",
        "cmc": 0,
        "types": ["Basic", "Land", "Mountain"],
        "oracle_text": "({T}: Add {R}.)",
    },
    {
        "name": "Plains",
        "mana_cost": "",
        "cmc": 0,
        "types": ["Basic", "Land", "Plains"],
        "oracle_text": "({T}: Add {W}.)",
    },
    {
        "name": "Goblin Guide",
        "mana_cost": "{R}",
        "cmc": 1,
        "types": ["Creature", "Goblin", "Scout"],
        "power": 2,
        "toughness": 2,
        "keywords": ["Haste"],
        "oracle_text": "Haste",
    },
    {
        "name": "Serra Angel",
        "mana_cost": "{3}{W}{W}",
        "cmc": 5,
        "types": ["Creature", "Angel"],
        "power": 4,
        "toughness": 4,
        "keywords": ["Flying", "Vigilance"],
        "oracle_text": "Flying, vigilance",
    },
    {
        "name": "Lightning Bolt",
        "mana_cost": "{R}",
        "cmc": 1,
        "types": ["Instant"],
        "oracle_text": "Lightning Bolt deals 3 damage to any target.",
    },
    {
        "name": "Savannah Lions",
        "mana_cost": "{W}",
        "cmc": 1,
        "types": ["Creature", "Cat"],
        "power": 2,
        "toughness": 1,
    },
    {
        "name": "Tarmogoyf",
        "mana_cost": "{1}{G}",
        "cmc": 2,
        "types": ["Creature", "Lhurgoyf"],
        "power": "*",
        "toughness": "1+*",
    },
    {
        "name": "Pacifism",
        "mana_cost": "{1}{W}",
        "cmc": 2,
        "types": ["Enchantment", "Aura"],
        "oracle_text": "Enchant creature. Enchanted creature can't attack or block.",
    },
    {
        "name": "Fireball",
        "mana_cost": "{X}{R}",
        "cmc": 1,
        "types": ["Sorcery"],
        "oracle_text": "Fireball deals X damage.",
    },
    {
        "name": "Boros Reckoner",
        "mana_cost": "{R/W}{R/W}{R/W}",
        "cmc": 3,
        "types": ["Creature", "Minotaur", "Wizard"],
        "power": 3,
        "toughness": 3,
    },
)

PHASES = (
    "UPKEEP",
    "DRAW",
    "MAIN1",
    "COMBAT_DECLARE_ATTACKERS",
    "COMBAT_DECLARE_BLOCKERS",
    "MAIN2",
    "END_OF_TURN",
)


class PayloadFactory:
    """Makes payloads from one random.Random; `compact` drops oracle_text like `-x compact`."""

    def __init__(self, seed: int = 0, compact: bool = False, max_zone: int = 12):
        self.rng = random.Random(seed)
        self.compact = compact
        self.max_zone = max_zone
        self.next_id = 100

    def card(self, zone: str) -> dict[str, Any]:
        card = dict(self.rng.choice(CARD_POOL))
        card["id"] = self.next_id
        self.next_id += 1
        card.setdefault("keywords", [])
        if self.compact:
            card.pop("oracle_text", None)
        if zone == "battlefield":
            is_creature = "Creature" in card["types"]
            card.update(
                tapped=self.rng.random() < 0.3,
                summoning_sick=self.rng.random() < 0.2,
                is_creature=is_creature,
                is_land="Land" in card["types"],
                is_artifact=False,
                is_enchantment="Enchantment" in card["types"],
                is_planeswalker=False,
                damage=self.rng.randint(0, 1) if is_creature else 0,
                loyalty=None,
                counters={"+1/+1": 1} if self.rng.random() < 0.1 else {},
            )
        return card

    def zone(self, zone: str, low: int = 0, high: int | None = None) -> list[dict[str, Any]]:
        return [
            self.card(zone) for _ in range(self.rng.randint(low, self.max_zone if high is None else high))
        ]

    def player(self, name: str, own: bool) -> dict[str, Any]:
        hand = self.zone("hand", 0, 8)
        return {
            "name": name,
            "life": self.rng.randint(-2, 24),
            "poison": 0,
            "has_lost": False,
            "lands_played_this_turn": self.rng.randint(0, 1),
            "max_land_plays": 1,
            "hand_size": len(hand),
            "hand": hand if own else [],
            "library_size": self.rng.randint(0, 53),
            "graveyard": self.zone("graveyard", 0, 6),
            "battlefield": self.zone("battlefield"),
            "exile": self.zone("exile", 0, 2),
            "mana_pool": {
                "total": 1,
                "white": 0,
                "blue": 0,
                "black": 0,
                "red": 1,
                "green": 0,
                "colorless": 0,
            },
        }

    def payload(self, decision_type: str | None = None) -> dict[str, Any]:
        rng = self.rng
        dtype = decision_type or rng.choice(DECISION_TYPES)
        me, opp = self.player("Agent(1)-red_aggro", True), self.player("Agent(2)-white_weenie", False)
        players = [me, opp] if rng.random() < 0.5 else [opp, me]
        state: dict[str, Any] = {
            "is_game_over": False,
            "active_player": rng.choice(players)["name"],
            "priority_player": me["name"],
            "players": players,
            "stack": [],
        }
        if rng.random() < 0.2:
            src = rng.choice(opp["battlefield"] or [self.card("stack")])
            state["stack"].append(
                {
                    "id": 900,
                    "description": f"{src['name']} ability",
                    "controller": opp["name"],
                    "source_card": src["name"],
                    "source_card_id": src["id"],
                }
            )
        payload: dict[str, Any] = {
            "decision_type": dtype,
            "decision_id": rng.randint(1, 500),
            "player": me["name"],
            "turn": rng.randint(1, 30),
            "phase": rng.choice(PHASES),
            "message": "",
            "game_state": state,
        }
        many = rng.random() < 0.15  # long lists that overflow the slots
        if dtype == "choose_action":
            count = rng.randint(40, 60) if many else rng.randint(0, 8)
            actions = []
            for i in range(count):
                c = (
                    rng.choice(me["hand"] + me["battlefield"])
                    if me["hand"] + me["battlefield"]
                    else self.card("hand")
                )
                actions.append(
                    {
                        "index": i,
                        "description": f"Cast {c['name']}",
                        "card": c["name"],
                        "card_id": c["id"],
                        "mana_cost": c["mana_cost"],
                        "is_land": "Land" in c["types"],
                    }
                )
            actions.append(
                {
                    "index": -1,
                    "description": "Pass priority",
                    "card": None,
                    "card_id": None,
                    "mana_cost": "",
                    "is_land": False,
                }
            )
            payload["actions"] = actions
        elif dtype == "declare_attackers":
            creatures = [c for c in me["battlefield"] if c.get("is_creature")] or [self.card("battlefield")]
            if many:
                creatures = [self.card("battlefield") for _ in range(40)]
            payload["attackers"] = [
                {
                    "index": i,
                    "card_id": c["id"],
                    "name": c["name"],
                    "power": c.get("power"),
                    "toughness": c.get("toughness"),
                }
                for i, c in enumerate(creatures)
            ]
            payload["defenders"] = [{"index": 0, "name": opp["name"], "type": "player"}]
        elif dtype == "declare_blockers":
            blockers = [self.card("battlefield") for _ in range(rng.randint(1, 40 if many else 5))]
            attackers = [self.card("battlefield") for _ in range(rng.randint(1, 15 if many else 4))]
            opp["battlefield"].extend(attackers)
            payload["blockers"] = [
                {
                    "index": i,
                    "card_id": c["id"],
                    "name": c["name"],
                    "power": c.get("power"),
                    "toughness": c.get("toughness"),
                    "can_block": sorted(rng.sample(range(len(attackers)), rng.randint(0, len(attackers)))),
                }
                for i, c in enumerate(blockers)
            ]
            if rng.random() < 0.3:  # Forge's payloads carry no can_block: any attacker
                for blocker in payload["blockers"]:
                    del blocker["can_block"]
            payload["attackers"] = [
                {
                    "index": i,
                    "card_id": c["id"],
                    "name": c["name"],
                    "power": c.get("power"),
                    "toughness": c.get("toughness"),
                    "keywords": ["Menace"] if rng.random() < 0.3 else [],
                }
                for i, c in enumerate(attackers)
            ]
            state["combat"] = {
                "attacking_player": opp["name"],
                "attackers": [
                    {
                        "card_id": c["id"],
                        "name": c["name"],
                        "power": c.get("power"),
                        "toughness": c.get("toughness"),
                        "blocked_by": [],
                    }
                    for c in attackers
                ],
            }
        elif dtype == "choose_ability":
            card = self.card("battlefield")
            payload["card"] = card["name"]
            payload["abilities"] = [f"Ability {i} of {card['name']}" for i in range(rng.randint(1, 4))]
        elif dtype == "choose_cards":
            cards = [self.card("hand") for _ in range(rng.randint(1, 40 if many else 8))]
            low = rng.randint(0, len(cards))
            high = rng.randint(low, len(cards))
            payload.update(
                title="Choose cards to put on the bottom of your library",
                cards=[{"index": i, **c} for i, c in enumerate(cards)],
                min=low,
                max=high,
                optional=low == 0,
            )
        elif dtype == "choose_entity":
            optional = rng.random() < 0.5
            entities = [
                {"index": 0, "type": "player", "name": me["name"], "life": me["life"]},
                {"index": 1, "type": "player", "name": opp["name"], "life": opp["life"]},
            ]
            for c in (opp["battlefield"] + me["battlefield"])[: 50 if many else 6]:
                entities.append(
                    {
                        "index": len(entities),
                        "type": "card",
                        "card_id": c["id"],
                        "name": c["name"],
                        "controller": rng.choice([me["name"], opp["name"]]),
                    }
                )
            payload.update(entities=entities, optional=optional)
        elif dtype == "assign_combat_damage":
            attacker = self.card("battlefield")
            blockers = [self.card("battlefield") for _ in range(rng.randint(1, 9 if many else 4))]
            opp["battlefield"].extend(blockers)
            trample = rng.random() < 0.3
            payload.update(
                attacker={
                    "card_id": attacker["id"],
                    "name": attacker["name"],
                    "power": attacker.get("power"),
                },
                damage=rng.randint(1, 12),
                blockers=[
                    {"index": i, "card_id": c["id"], "name": c["name"], "lethal": rng.randint(1, 6)}
                    for i, c in enumerate(blockers)
                ],
                trample=trample,
            )
        elif dtype == "announce_value":
            low = rng.randint(0, 3)
            payload.update(
                ability="Fireball", announce="X", min=low, max=low + rng.randint(0, 60 if many else 6)
            )
        return payload


def synthetic_segment(
    encoder: Encoder,
    model: PolicyNetwork,
    factory: PayloadFactory,
    steps: int,
    policy_version: int,
    outcome: float | None = None,
    meta: dict[str, Any] | None = None,
) -> Segment:
    """A segment of `steps` random decisions answered by `model`, as an actor would ship it.

    `outcome` (+1 / -1 / 0) ends the game on the last step; None leaves it running and bootstraps
    from a value of 0.
    """
    payloads = [factory.payload() for _ in range(steps)]
    observations = encoder.encode(payloads)
    actions, log_probs, values = model.act(to_tensors(observations))
    reward = np.zeros(steps, np.float32)
    done = np.zeros(steps, np.bool_)
    if outcome is not None:
        reward[-1] = outcome
        done[-1] = True
    return Segment(
        observations=observations,
        action=actions.numpy().astype(np.int32),
        log_prob=log_probs.numpy().astype(np.float32),
        value=values.numpy().astype(np.float32),
        reward=reward,
        done=done,
        policy_version=np.full(steps, policy_version, np.int64),
        bootstrap_value=0.0,
        encoder=encoder.shape,
        meta=meta or {"matchup": "red_aggro-vs-white_weenie", "opponent": "self"},
    )
