from __future__ import annotations

import json

import numpy as np
import pytest
from engine.helpers import deck

from tolaria.engine import Game, HeuristicPlayer, decision_payload
from tolaria.engine.answer_text import answer_text
from tolaria.trainer.config import NetworkConfig
from tolaria.trainer.encoding import (
    CARD_FEATURES,
    DECISION_TYPES,
    GLOBAL_FEATURES,
    KIND_ONE,
    KIND_PAIRS,
    KIND_SUBSET,
    OPTION_COMBAT,
    OPTION_FEATURES,
    PHASES,
    Encoder,
    EncodingError,
    Fighter,
    fight,
    name_id,
)
from tolaria.trainer.synthetic import PayloadFactory
from trainer import payloads as P

ENCODER = Encoder(NetworkConfig.from_preset("small"))


def test_shapes_and_kinds_of_every_decision_type():
    payloads = P.every_decision_type()
    arrays = ENCODER.encode(payloads)
    n = len(payloads)
    assert arrays["card_feat"].shape == (n, ENCODER.max_cards, CARD_FEATURES)
    assert arrays["global_feat"].shape == (n, GLOBAL_FEATURES)
    assert arrays["option_feat"].shape == (n, ENCODER.max_options, OPTION_FEATURES)
    kinds = {
        p["decision_type"] + str(p.get("optional", "")): int(k)
        for p, k in zip(payloads, arrays["kind"], strict=True)
    }
    assert kinds["declare_attackers"] == KIND_SUBSET and kinds["choose_cardsFalse"] == KIND_SUBSET
    assert kinds["declare_blockers"] == KIND_PAIRS
    assert kinds["choose_action"] == kinds["confirm_action"] == kinds["announce_value"] == KIND_ONE
    offered = arrays["option_mask"].sum(1).tolist()
    # actions 3, attackers 1, blockers 2, abilities 2, y/n x3, cards 3, entities 3 + none, 3,
    # values 0..5, damage divisions 2 and 2
    assert offered == [3, 1, 2, 2, 2, 2, 2, 3, 4, 3, 6, 2, 2]
    assert (arrays["card_mask"].sum(1) == 4).all()  # Mountain, Goblin Guide, Serra Angel, Lightning Bolt
    ENCODER.validate(arrays)


def test_card_features_read_the_payload():
    arrays = ENCODER.encode([P.declare_blockers()])
    # the deciding player is the opponent here: its Serra Angel is "mine" and comes first
    assert arrays["card_name"][0, 0] == name_id("Serra Angel", ENCODER.buckets)
    angel, guide = arrays["card_feat"][0, 0], arrays["card_feat"][0, 2]
    assert angel[0] == 1.0 and angel[1] == 0.0  # creature, not land
    assert guide[0] == 1.0
    blocker_card, attacker_card = arrays["option_card"][0, 0], arrays["target_card"][0, 1]
    assert blocker_card == 0 and arrays["card_name"][0, attacker_card] == name_id(
        "Goblin Guide", ENCODER.buckets
    )
    assert arrays["block_mask"][0, 0].tolist()[:3] == [True, True, False]
    assert arrays["block_mask"][0, 1].tolist()[:2] == [True, False]  # can_block [] : only no block


def test_each_sides_creatures_are_counted_and_summed():
    payload = P.choose_action()
    angel = payload["game_state"]["players"][1]["battlefield"][0]
    payload["game_state"]["players"][1]["battlefield"].append({**angel, "id": 22, "tapped": True})
    g = ENCODER.encode([payload])["global_feat"][0]
    players = (GLOBAL_FEATURES - 1 - (len(PHASES) + 1) - 10 - len(DECISION_TYPES)) // 2  # per-player width
    mine, theirs = g[:7], g[players : players + 7]
    # count / 10, power / 20, toughness / 20, untapped / 10, toughness left <= 1, 2, 3 (/ 5);
    # the Mountain is not a creature
    np.testing.assert_allclose(mine, [0.1, 0.1, 0.1, 0.1, 0, 0.2, 0.2], rtol=1e-6)  # Goblin Guide 2/2
    # two Serra Angels (4/4 with 1 damage), one tapped; then one with 2 damage
    payload["game_state"]["players"][1]["battlefield"][0]["damage"] = 2
    theirs_damaged = ENCODER.encode([payload])["global_feat"][0][players : players + 7]
    np.testing.assert_allclose(theirs, [0.2, 0.4, 0.4, 0.1, 0, 0, 0.4], rtol=1e-6)
    np.testing.assert_allclose(theirs_damaged, [0.2, 0.4, 0.4, 0.1, 0, 0.2, 0.4], rtol=1e-6)


def test_fights_read_first_strike_double_strike_and_deathtouch():
    def creature(power: float, toughness: float, *keywords: str) -> Fighter:
        return Fighter(power, toughness, frozenset(keywords))

    assert fight(creature(2, 2), creature(2, 2)) == (True, True)
    assert fight(creature(2, 3), creature(2, 2)) == (False, True)
    assert fight(creature(2, 2, "first strike"), creature(2, 2)) == (False, True)
    assert fight(creature(1, 1, "first strike"), creature(3, 3)) == (True, False)
    assert fight(creature(2, 2), creature(2, 2, "double strike")) == (True, False)
    assert fight(creature(2, 2, "first strike"), creature(2, 2, "first strike")) == (True, True)
    assert fight(creature(1, 1, "double strike"), creature(2, 2)) == (True, True)  # the second hit
    assert fight(creature(1, 3, "double strike"), creature(2, 2)) == (False, True)
    assert fight(creature(0, 1), creature(0, 1)) == (False, False)
    assert fight(creature(1, 1, "deathtouch"), creature(5, 5)) == (True, True)
    assert fight(creature(0, 1, "deathtouch"), creature(5, 5)) == (True, False)


def test_blocks_carry_who_dies_in_each_pairing():
    payload = P.declare_blockers()  # Serra Angel 4/4 with 1 damage may block Goblin Guide 2/2
    arrays = ENCODER.encode([payload])
    pair = arrays["pair_feat"][0]
    assert pair[0, 1].tolist() == [0.0, 1.0]  # (the blocker dies, the attacker dies)
    assert not pair[0, 0].any() and not pair[1].any()  # no block; Wall of Omens may block nothing
    combat = slice(OPTION_COMBAT, OPTION_COMBAT + 4)  # meets, killed by, killed by and survives, kills
    np.testing.assert_allclose(arrays["option_feat"][0, 0, combat], [0.2, 0, 0, 0.2])
    np.testing.assert_allclose(arrays["option_feat"][0, 1, combat], [0, 0, 0, 0])
    np.testing.assert_allclose(arrays["target_feat"][0, 1, combat], [0.2, 0.2, 0.2, 0])

    payload["game_state"]["players"][1]["battlefield"][0]["damage"] = 2  # now 2 toughness left
    payload["attackers"][0]["keywords"] = ["First Strike"]
    arrays = ENCODER.encode([payload])
    assert arrays["pair_feat"][0, 0, 1].tolist() == [1.0, 0.0]
    np.testing.assert_allclose(arrays["target_feat"][0, 1, combat], [0.2, 0, 0, 0.2])


def test_attackers_count_the_untapped_blockers_that_can_meet_them():
    payload = P.declare_attackers()  # Goblin Guide 2/2 against an untapped Serra Angel (3 left)
    theirs = payload["game_state"]["players"][1]["battlefield"]
    wall = {**theirs[0], "id": 23, "name": "Wall of Omens", "power": 0, "toughness": 4, "damage": 0}
    wall["keywords"] = []
    tapped = {**theirs[0], "id": 24, "tapped": True}
    theirs += [wall, tapped]
    combat = slice(OPTION_COMBAT, OPTION_COMBAT + 4)
    guide = ENCODER.encode([payload])["option_feat"][0, 0, combat]
    np.testing.assert_allclose(guide, [0.4, 0.2, 0.2, 0])  # the Angel kills it and lives; the Wall
    payload["attackers"][0].update(name="Serra Angel", card_id=21, power=4, toughness=4)
    payload["attackers"][0]["keywords"] = ["Flying"]  # a flier: the Angel alone may block it
    payload["game_state"]["players"][0]["battlefield"].append({**theirs[0], "id": 21, "damage": 0})
    angel = ENCODER.encode([payload])["option_feat"][0, 0, combat]
    np.testing.assert_allclose(angel, [0.2, 0.2, 0, 0.2])  # the two Angels trade


def test_compact_payloads_encode_like_full_ones():
    full = P.every_decision_type()
    a, b = ENCODER.encode(full), ENCODER.encode([P.compact(p) for p in full])
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    factory, compact_factory = PayloadFactory(3), PayloadFactory(3, compact=True)
    a = ENCODER.encode([factory.payload() for _ in range(50)])
    b = ENCODER.encode([compact_factory.payload() for _ in range(50)])
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_name_ids_are_stable_across_processes_and_versions():
    # blake2b, not Python's salted hash(): these numbers must never change, or old checkpoints break
    assert (
        name_id("Mountain", 4096)
        == 1
        + int.from_bytes(__import__("hashlib").blake2b(b"Mountain", digest_size=8).digest(), "little") % 4095
    )
    assert name_id("Mountain", 4096) == name_id("Mountain", 4096) != name_id("Plains", 4096)
    assert 1 <= name_id("", 16) <= 15


def test_truncation_keeps_pass_and_none():
    p = P.choose_action()
    p["actions"] = [
        {
            "index": i,
            "description": f"Cast {i}",
            "card": f"Card {i}",
            "card_id": 1000 + i,
            "mana_cost": "{1}",
            "is_land": False,
        }
        for i in range(60)
    ]
    p["actions"].append({"index": -1, "description": "Pass priority"})
    offered = ENCODER.options(p)
    assert len(offered.options) == ENCODER.max_options
    assert offered.tokens[-1] == "-1" and offered.tokens[0] == "0"
    e = P.choose_entity(optional=True)
    e["entities"] = e["entities"] * 20
    assert ENCODER.options(e).tokens[-1] == "-1" and len(ENCODER.options(e).tokens) == ENCODER.max_options


def test_choose_cards_minimum_beyond_slots_is_filled_by_reply():
    p = P.choose_cards()
    p["cards"] = [dict(p["cards"][0], index=i, id=500 + i) for i in range(30)]
    p.update(min=26, max=28)
    offered = ENCODER.options(p)
    assert offered.select_min == offered.select_max == ENCODER.max_options
    reply = ENCODER.reply_text(p, [1] * ENCODER.max_options)
    assert P.legal_reply(p, reply) and len(reply.split(",")) == 26


def test_announce_value_range_is_clipped():
    p = P.announce_value()
    p.update(min=2, max=1000)
    tokens = ENCODER.options(p).tokens
    assert tokens[0] == "2" and len(tokens) == ENCODER.max_options and int(tokens[-1]) < 1000


def test_damage_divisions_offer_every_set_of_blockers_the_damage_can_kill():
    # 5 damage, blockers with 4 and 2 lethal: kill the first (4,1) or the second (3,2)
    offered = ENCODER.options(P.assign_combat_damage())
    assert offered.kind == KIND_ONE and offered.tokens == ["4,1", "3,2"]
    assert [o.card_id for o in offered.options] == [21, 22]
    p = P.assign_combat_damage(trample=True)
    p.update(damage=9)
    assert ENCODER.options(p).tokens == ["4,2,3"]  # both lethal, the rest tramples over
    p["blockers"] = [dict(p["blockers"][0], index=i, card_id=40 + i, lethal=1) for i in range(8)]
    tokens = ENCODER.options(p).tokens  # past six blockers: one order, by lethal damage
    assert tokens == ["1,1,1,1,1,1,1,1,1"]
    for payload in (P.assign_combat_damage(), p):
        assert all(P.legal_reply(payload, t) for t in ENCODER.options(payload).tokens)


def test_bad_payloads_get_clear_errors():
    with pytest.raises(EncodingError, match="reveal"):
        ENCODER.encode([dict(P.choose_action(), decision_type="reveal")])
    with pytest.raises(EncodingError, match="decision_id"):
        broken = P.choose_action()
        broken["actions"] = [{"index": "x"}]
        ENCODER.encode([broken])


def test_validate_rejects_out_of_range_arrays():
    arrays = ENCODER.encode(P.every_decision_type())
    bad = dict(arrays, option_card=arrays["option_card"].copy())
    bad["option_card"][0, 0] = ENCODER.max_cards
    with pytest.raises(EncodingError, match="option_card"):
        ENCODER.validate(bad)
    bad = dict(arrays, option_mask=np.zeros_like(arrays["option_mask"]))
    with pytest.raises(EncodingError):
        ENCODER.validate(bad)
    with pytest.raises(EncodingError, match="card_feat"):
        ENCODER.validate(dict(arrays, card_feat=arrays["card_feat"][:, :3]))


def test_player_targets_do_not_depend_on_the_players_names():
    """Daemons name players by seat, deck and controller (Agent(1)-..., Random(2)-..., Forge its
    own way): a target is "the opponent" or "me", whatever the names."""
    payload = P.choose_entity()
    assert {e["name"] for e in payload["entities"] if e["type"] == "player"} == {P.ME, P.OPP}
    text = json.dumps(payload)
    renamed = json.loads(text.replace(P.ME, "Random(1)-elsewhere").replace(P.OPP, "Forge's player"))
    a, b = ENCODER.encode([payload]), ENCODER.encode([renamed])
    for name in a:
        assert np.array_equal(a[name], b[name]), name


def test_the_heuristic_ais_replies_in_real_games_become_the_actions_that_reply_them():
    encoder = Encoder(NetworkConfig.from_preset("small"))
    seen_kinds, decisions = set(), 0
    for seed, decks in enumerate([("red_aggro", "white_weenie"), ("green_midrange", "blue_control")] * 3):
        game = Game((deck(decks[0]), deck(decks[1])), seed=seed)
        players = (HeuristicPlayer(seed), HeuristicPlayer(seed + 100))
        decision = game.start()
        while decision is not None:
            answer = None
            if decision.expects_reply:
                answer = players[decision.seat].choose(decision)
                text = answer_text(decision, answer)
                payload = decision_payload(decision)
                offered = encoder.options(payload)
                action = encoder.action_of_reply(offered, text)
                assert action is not None, (payload["decision_type"], text, offered.tokens)
                # the same choice, though a subset's reply may list it in another order
                assert sorted(encoder.reply(offered, action).split(",")) == sorted(text.split(","))
                seen_kinds.add(offered.kind)
                decisions += 1
            decision = game.submit(answer)
    assert seen_kinds == {KIND_ONE, KIND_SUBSET, KIND_PAIRS} and decisions > 500


def test_a_reply_the_offered_slots_cannot_express_has_no_action():
    action = ENCODER.options(P.choose_action())
    assert ENCODER.action_of_reply(action, "-1")[0] == action.tokens.index("-1")
    assert ENCODER.action_of_reply(action, "17") is None  # not offered (or cut by truncation)
    assert ENCODER.action_of_reply(action, "Lightning Bolt") is None
    cards = P.choose_cards()
    offered = ENCODER.options(cards)
    assert ENCODER.action_of_reply(offered, ",".join(offered.tokens[: offered.select_max + 1])) is None
    assert ENCODER.action_of_reply(offered, f"{offered.tokens[0]},{offered.tokens[0]}") is None
    blocks = ENCODER.options(P.declare_blockers())
    blocker, attacker = blocks.tokens[0], blocks.targets[1].token
    assert ENCODER.action_of_reply(blocks, f"{blocker}:{attacker}")[0] == 1
    assert ENCODER.action_of_reply(blocks, f"{blocker}:{attacker},{blocker}:{attacker}") is None
    assert ENCODER.action_of_reply(blocks, f"{blocker}:99") is None
    assert (ENCODER.action_of_reply(blocks, "") == 0).all()  # no block
