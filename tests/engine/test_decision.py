"""Decision replies (parse, defaults, errors) and the DECISION payload of PROTOCOL.md."""

from __future__ import annotations

import json

import pytest

from engine.helpers import Table, deck
from tolaria.engine import Game, RandomPlayer, ReplyError, decision_payload


def _attack_board() -> Table:
    t = Table()
    t.battlefield(0, "Savannah Lions", "Elite Vanguard", "Kalonian Tusker")
    t.battlefield(1, "Giant Spider", "Llanowar Elves")
    t.start()
    return t


def test_choose_action_replies():
    t = Table()
    t.hand(0, "Lightning Bolt", "Shock")
    t.battlefield(0, "Mountain")
    d = t.start()
    assert d.parse("") is None and d.parse("-1") is None and d.parse(" pass ") is None
    assert d.parse("1") is d.options[1]
    for bad, msg in (("2", "out of range"), ("x", "expected an action index"), ("1,0", "expected")):
        with pytest.raises(ReplyError, match=msg):
            d.parse(bad)
    assert d.default() is None


def test_declare_attackers_replies():
    t = _attack_board()
    d = t.expect("declare_attackers")
    assert d.parse("") == () and d.parse("0, 2") == (d.options[0], d.options[2])
    for bad in ("3", "0,0", "a", "-1"):
        with pytest.raises(ReplyError):
            d.parse(bad)
    assert d.default() == ()


def test_declare_blockers_replies():
    t = _attack_board()
    t.answer("0,1,2")
    d = t.expect("declare_blockers", 1)
    assert d.parse("") == ()
    assert d.parse("0:0,1:2") == ((d.options[0], d.attackers[0]), (d.options[1], d.attackers[2]))
    assert len(d.parse("0:1")) == 1
    for bad, msg in (
        ("0:0,0:1", "assigned twice"),
        ("5:0", "blocker index"),
        ("0:9", "attacker index"),
        ("0-1", "blocker:attacker"),
        ("a:b", "expected"),
    ):
        with pytest.raises(ReplyError, match=msg):
            d.parse(bad)
    assert d.default() == ()


def test_confirm_and_choose_cards_replies():
    g = Game((deck("red_aggro"), deck("white_weenie")), seed=2)
    d = g.start()
    for yes in ("y", "Y", "1", "true", "yes"):
        assert d.parse(yes) is True
    for no in ("n", "0", "false", ""):
        assert d.parse(no) is False
    with pytest.raises(ReplyError):
        d.parse("maybe")
    assert d.default() is False
    d = g.submit(False)
    d = g.submit(True)
    assert d.type == "choose_cards"
    assert d.parse("3") == (3,) and d.default() == (0,)
    for bad in ("", "0,1", "7", "x", "1,1"):
        with pytest.raises(ReplyError):
            d.parse(bad)


def test_choose_entity_replies():
    t = Table()
    t.hand(0, "Lightning Bolt")
    t.battlefield(0, "Mountain")
    t.battlefield(1, "Savannah Lions")
    t.start()
    t.act("Cast Lightning Bolt")
    d = t.expect("choose_entity")
    assert d.parse("2") == 2 and d.default() == 0
    for bad in ("-1", "3", "", "z"):
        with pytest.raises(ReplyError):
            d.parse(bad)


def test_reveal_takes_no_reply():
    t = Table()
    t.battlefield(0, "Goblin Guide")
    t.start()
    t.answer("0")
    d = t.expect("reveal", 0)
    assert not d.expects_reply and d.parse("anything") is None
    p = decision_payload(d)
    assert p["zone"] == "library" and p["owner"] == "Bob" and p["cards"][0]["name"] == "Plains"


def test_payload_has_every_protocol_field_and_hides_the_opponents_hand():
    t = Table()
    t.hand(0, "Lightning Bolt")
    t.hand(1, "Shock", "Shock")
    t.battlefield(0, "Mountain", "Goblin Guide")
    d = t.start()
    p = json.loads(json.dumps(decision_payload(d)))
    assert {
        "decision_type",
        "decision_id",
        "player",
        "turn",
        "phase",
        "message",
        "game_state",
        "actions",
    } <= set(p)
    gs = p["game_state"]
    assert set(gs) >= {"is_game_over", "active_player", "priority_player", "players", "stack"}
    me, opp = gs["players"]
    player_fields = {
        "name", "life", "poison", "has_lost", "lands_played_this_turn", "max_land_plays", "hand_size",
        "hand", "library_size", "graveyard", "battlefield", "exile", "mana_pool",
    }  # fmt: skip
    assert player_fields <= set(me) and player_fields <= set(opp)
    assert set(me["mana_pool"]) == {"total", "white", "blue", "black", "red", "green", "colorless"}
    assert [c["name"] for c in me["hand"]] == ["Lightning Bolt"]
    assert opp["hand"] == [] and opp["hand_size"] == 2
    guide = next(c for c in me["battlefield"] if c["name"] == "Goblin Guide")
    card_fields = {
        "id", "name", "mana_cost", "cmc", "types", "oracle_text", "power", "toughness", "keywords", "tapped",
        "summoning_sick", "is_creature", "is_land", "is_artifact", "is_enchantment", "is_planeswalker",
        "damage", "loyalty", "counters",
    }  # fmt: skip
    assert card_fields <= set(guide)
    assert guide["keywords"] == ["Haste"] and guide["power"] == 2
    assert p["actions"][-1]["index"] == -1
    assert p["actions"][0] == {
        "index": 0,
        "description": "Cast Lightning Bolt",
        "card": "Lightning Bolt",
        "card_id": me["hand"][0]["id"],
        "mana_cost": "{R}",
        "is_land": False,
    }
    t.game.full_observability = True
    assert len(decision_payload(d)["game_state"]["players"][1]["hand"]) == 2


def test_combat_payload_and_attack_block_fields():
    t = _attack_board()
    p = decision_payload(t.expect("declare_attackers"))
    assert [a["index"] for a in p["attackers"]] == [0, 1, 2] and p["defenders"][0]["name"] == "Bob"
    t.answer("0,2")
    p = decision_payload(t.expect("declare_blockers"))
    assert {"blockers", "attackers"} <= set(p)
    combat = p["game_state"]["combat"]
    assert combat["attacking_player"] == "Alice"
    assert [a["name"] for a in combat["attackers"]] == ["Savannah Lions", "Kalonian Tusker"]
    assert all(a["blocked_by"] == [] for a in combat["attackers"])


def test_compact_mode_sends_oracle_text_once_per_name():
    t = Table()
    t.hand(0, "Lightning Bolt", "Lightning Bolt")
    t.battlefield(0, "Mountain")
    d = t.start()
    seen: set[str] = set()
    first = decision_payload(d, seen)
    bolts = first["game_state"]["players"][0]["hand"]
    assert "oracle_text" in bolts[0] and "oracle_text" not in bolts[1]
    assert set(bolts[1]) == {"id", "name"}  # static text and type flags were sent once already
    assert "Lightning Bolt" in seen and "Plains" not in seen
    again = decision_payload(d, seen)
    assert all("oracle_text" not in c for c in again["game_state"]["players"][0]["hand"])
    assert len(json.dumps(again)) < len(json.dumps(decision_payload(d)))


def test_decision_ids_increase_per_seat():
    t = Table()
    t.hand(0, "Lightning Bolt")
    t.hand(1, "Shock")
    t.battlefield(0, "Mountain")
    t.battlefield(1, "Mountain")
    ids = {0: [], 1: []}
    t.start()
    for _ in range(12):
        if t.decision is None:
            break
        ids[t.decision.seat].append(t.decision.decision_id)
        t.answer("")
    for seq in ids.values():
        assert seq == sorted(set(seq)) and (not seq or seq[0] == 1)


def test_compact_payloads_expand_back_to_full_payloads():
    from tolaria.engine import HeuristicPlayer
    from tolaria.protocol.compact import CompactExpander

    n = 0
    for seed, (a, b) in enumerate((("white_weenie", "green_midrange"), ("red_aggro", "blue_control")) * 3):
        g = Game((deck(a), deck(b)), seed=seed)
        kind = HeuristicPlayer if seed % 2 else RandomPlayer
        players = (kind(seed), kind(seed + 1))
        seen: set[str] = set()
        expander = CompactExpander()
        d = g.start()
        while d is not None:
            full = json.loads(json.dumps(decision_payload(d)))
            compact = json.loads(json.dumps(decision_payload(d, seen)))
            assert expander.expand(compact) == full
            n += 1
            d = g.submit(players[d.seat].choose(d) if d.expects_reply else None)
    assert n > 100
