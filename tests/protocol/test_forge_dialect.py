"""Forge's dialect, read from the recordings of a real Forge RL daemon byte for byte: STATUS,
the refusals, the game lines and the observed payloads, normalized into Tolaria's shapes, with
the AI's choices mapped onto the offered options."""

from __future__ import annotations

import copy

import pytest
from forge_recordings import OBSERVED_GAMES, recorded_decisions, recording_bytes, recording_lines

from tolaria.protocol import (
    CommandError,
    CommandRefused,
    DaemonStatus,
    DecisionMessage,
    ErrorLine,
    GameOptions,
    GameProgress,
    NewGame,
    parse_line,
    parse_status,
)
from tolaria.protocol.errors import DeckRefused, NoReply, refusal
from tolaria.protocol.forge import (
    UNKNOWN_COMMAND,
    USAGE,
    Dialect,
    ai_choice_reply,
    can_pay,
    forge_options,
    normalize_decision,
    parse_counters,
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("status-fresh.txt", DaemonStatus(0, 0, 109, 2048, 10, {})),
        ("status-after-games.txt", DaemonStatus(0, 17, 800, 2048, 10, {})),
    ],
)
def test_forges_status_parses_and_is_written_back_byte_for_byte(name, expected):
    status = parse_status(recording_lines(name))
    assert status == expected
    assert ("\n".join(status.forge_lines()) + "\n").encode() == recording_bytes(name)
    assert parse_status(status.lines()) == status  # and our own format still parses


def test_forges_refusals_are_the_recorded_lines():
    hello = parse_line(recording_lines("hello.txt")[0])
    assert hello == ErrorLine(UNKNOWN_COMMAND)
    assert parse_line(recording_lines("error-one-deck.txt")[0]) == ErrorLine(USAGE)


def test_an_unknown_deck_is_a_deck_error_naming_the_deck_and_the_command():
    command = NewGame("nosuchdeck", "red_aggro", GameOptions(observe=True))
    progress = GameProgress(command, Dialect.FORGE, "forge-0:17171")
    with pytest.raises(DeckRefused) as refused:
        progress.feed(recording_lines("error-unknown-deck.txt")[0])
    assert refused.value.deck == "nosuchdeck"
    assert str(refused.value) == (
        "forge-0:17171: 'NEWGAME nosuchdeck red_aggro -o' refused: Could not load deck: nosuchdeck"
    )


def test_the_usage_line_is_a_refusal_naming_the_command():
    error = refusal(parse_line(recording_lines("error-one-deck.txt")[0]).message, "NEWGAME red_aggro", "f:1")
    assert type(error) is CommandRefused
    assert str(error).startswith("f:1: 'NEWGAME red_aggro' refused: Usage: NEWGAME deck1.dck deck2.dck")


@pytest.mark.parametrize(
    ("name", "command", "seed"),
    [
        (
            "default-red_aggro-white_weenie-seed5.txt",
            NewGame("red_aggro", "white_weenie", GameOptions(seed=5)),
            5,
        ),
        (
            "silent-white_weenie-red_aggro-seed5.txt",
            NewGame("white_weenie", "red_aggro", GameOptions(quiet=True, seed=5)),
            None,
        ),
    ],
)
def test_forges_game_lines(name, command, seed):
    """SEED comes before GAME_START and only with -s; GAME_START names the decks; GAME_RESULT has
    no key=value fields."""
    progress = GameProgress(command, Dialect.FORGE)
    events = [progress.feed(line) for line in recording_lines(name)]
    assert events[-1] is progress.result and progress.finished
    assert progress.seed == seed
    assert progress.names == (None if seed is None else ("red_aggro", "white_weenie"))
    assert progress.result.winner_seat == 1 and progress.result.fields == {}
    assert progress.result.turns is None and progress.result.reason is None
    assert not progress.inline_errors and not progress.other_lines


def test_a_connection_closed_without_a_line_names_the_command_and_forges_reason():
    progress = GameProgress(NewGame("a", "b", GameOptions(seed=1)), Dialect.FORGE, "f:1")
    error = progress.closed()
    assert isinstance(error, NoReply)
    assert "'NEWGAME a b -s 1'" in str(error) and "-c, -t or -s value is not a number" in str(error)
    progress.feed("SEED: 1")
    assert not isinstance(progress.closed(), NoReply)


def test_forge_gets_whole_number_flags_and_no_extensions():
    options = forge_options(GameOptions(interactive=True, game_timeout=2.5, ai_timeout=0.2, seed=2**40 + 7))
    assert NewGame("a", "b", options).line() == f"NEWGAME a b -i -c 3 -t 1 -s {(2**40 + 7) % 2**31}"
    assert forge_options(GameOptions(seed=-1)).seed == 2**31 - 1
    for extension in (GameOptions(p1="agent"), GameOptions(compact=True)):
        with pytest.raises(CommandError, match="does not support"):
            extension.check_supported(None, "forge-0:17171")


@pytest.mark.parametrize("name", OBSERVED_GAMES)
def test_observed_games_read_as_tolaria_payloads(name):
    command = NewGame(*name.split("-")[1:3], GameOptions(observe=True))
    progress = GameProgress(command, Dialect.FORGE)
    decisions = [e for line in recording_lines(name) if isinstance(e := progress.feed(line), DecisionMessage)]
    assert progress.finished and len(decisions) == len(recorded_decisions(name))
    for decision in decisions:
        assert not decision.expects_reply and decision.seat in (1, 2)
        payload = decision.payload
        state = payload["game_state"]
        for player in state["players"]:
            if player["name"] != payload["player"]:
                assert player["hand"] == []  # Forge shows both hands; a policy must not see it
            for card in player["hand"] + player["battlefield"] + player["graveyard"] + player["exile"]:
                assert "summoningSickness" not in card and "\\n" not in card["oracle_text"]
                assert card["is_creature"] == ("power" in card) == ("Creature" in card["types"].split())
        if payload["decision_type"] == "choose_action":
            assert state["priority_player"] == payload["player"]
            assert all("card_id" in action for action in payload["actions"])
        if payload["decision_type"] == "declare_blockers":
            assert {a["card_id"] for a in state["combat"]["attackers"]} == {
                a["card_id"] for a in payload["attackers"]
            }


def test_the_ais_choices_in_the_recorded_games_map_onto_offered_options():
    """The issue's target: at least 95% of the AI's choices in the two recorded observed games
    map onto an offered action. Measured: all 800, the 110 that are not a pass among them.
    Every choice of action maps (Forge cuts an action's description to 100 characters, or drops
    a spell's last sentence, where its ai_choice does not); the four blocks whose blockers
    Forge's list leaves out (it lists them after its AI declared, without those that block)
    map once the client puts those back."""
    total = mapped = not_pass = not_pass_mapped = 0
    for name in OBSERVED_GAMES:
        for raw in recorded_decisions(name):
            payload = normalize_decision(copy.deepcopy(raw))
            reply = payload["ai_choice"]
            total += 1
            mapped += reply is not None
            if raw["ai_choice"] != {"action": "pass"}:
                not_pass += 1
                not_pass_mapped += reply is not None
            if raw["decision_type"] == "choose_action" and reply not in (None, "-1"):
                action = next(a for a in raw["actions"] if str(a["index"]) == reply)
                assert action["card"] == raw["ai_choice"]["card"]
                assert action["is_land"] == raw["ai_choice"]["is_land"]
    assert (total, mapped, not_pass, not_pass_mapped) == (800, 800, 110, 110)


def test_every_block_of_forges_ai_is_legal_by_the_cards_texts_and_offered():
    """Forge does not check blocks, so the client offers only the pairs the cards' texts allow
    (`can_block`). Every block Forge's AI chose in the recordings (12 pairs in 4 decisions,
    among them Wall of Air, a flier with defender, on ground attackers) is among them, and the
    blockers its list left out are put back at their place among the player's creatures."""
    pairs = decisions = left_out = 0
    for name in OBSERVED_GAMES:
        for raw in recorded_decisions(name):
            if raw["decision_type"] != "declare_blockers" or not raw["ai_choice"]:
                continue
            payload = normalize_decision(copy.deepcopy(raw))
            me = next(p for p in payload["game_state"]["players"] if p["name"] == payload["player"])
            creatures = [c for c in me["battlefield"] if c["is_creature"]]
            blockers = {b["index"]: b for b in payload["blockers"]}
            decisions += 1
            for pair in raw["ai_choice"]:
                blocker = blockers[pair["blocker"]]
                assert blocker["card_id"] == creatures[pair["blocker"]]["id"]
                assert pair["attacker"] in blocker["can_block"]
                left_out += pair["blocker"] not in {b["index"] for b in raw["blockers"]}
                pairs += 1
            assert payload["ai_choice"] == ",".join(
                f"{p['blocker']}:{p['attacker']}" for p in raw["ai_choice"]
            )
    assert (decisions, pairs, left_out) == (4, 12, 12)


def test_a_recorded_flier_is_offered_only_the_blocker_with_reach():
    """Decision 144 of the green-blue game: Air Elemental attacks; Forge offers the two Elvish
    Mystics, Giant Spider and Garruk's Companion as blockers. Only Giant Spider (reach) may
    take it."""
    raw = next(
        d for d in recorded_decisions(OBSERVED_GAMES[1])
        if d["decision_type"] == "declare_blockers" and d["decision_id"] == 144
    )  # fmt: skip
    payload = normalize_decision(copy.deepcopy(raw))
    assert [(a["name"], a["keywords"]) for a in payload["attackers"]] == [("Air Elemental", ["Flying"])]
    assert [(b["name"], b["can_block"]) for b in payload["blockers"]] == [
        ("Elvish Mystic", []),
        ("Giant Spider", [0]),
        ("Garruk's Companion", []),
        ("Elvish Mystic", []),
    ]


def test_recorded_cards_carry_the_keywords_of_their_oracle_text():
    keywords = {}
    for name in OBSERVED_GAMES:
        for raw in recorded_decisions(name):
            for player in normalize_decision(copy.deepcopy(raw))["game_state"]["players"]:
                for card in player["hand"] + player["battlefield"] + player["graveyard"] + player["exile"]:
                    keywords[card["name"]] = card["keywords"]
    assert {name: k for name, k in keywords.items() if k} == {
        "Air Elemental": ["Flying"],
        "Brimaz, King of Oreskos": ["Vigilance"],
        "Cat Soldier": ["Vigilance"],
        "Cloudkin Seer": ["Flying"],
        "Deadly Recluse": ["Deathtouch", "Reach"],
        "Garruk's Companion": ["Trample"],
        "Giant Spider": ["Reach"],
        "Goblin Guide": ["Haste"],
        "Rampaging Baloths": ["Trample"],
        "Wall of Air": ["Defender", "Flying"],
        "Wind Drake": ["Flying"],
    }
    assert keywords["Inaction Injunction"] == []  # detain's "can't attack or block" is reminder text


def _is_mana_ability(action):
    return action["mana_cost"] == "{0}" and ": Add {" in action["description"]


def test_only_payable_actions_stay_offered_and_every_choice_of_forges_ai_is_among_them():
    """Forge offers its mana abilities and every spell the timing allows, payable or not, and
    drops a reply it cannot use without a word: the client offers the policy only what it can
    pay. Forge's own AI never chose anything the client drops."""
    offered = kept = chosen = 0
    for name in OBSERVED_GAMES:
        for raw in recorded_decisions(name):
            if raw["decision_type"] != "choose_action":
                continue
            payload = normalize_decision(copy.deepcopy(raw))
            spells = [
                a for a in raw["actions"] if a["index"] != -1 and not a["is_land"] and not _is_mana_ability(a)
            ]
            offered += len(spells)
            kept += sum(1 for a in payload["actions"] if a["index"] != -1 and not a["is_land"])
            assert not any(_is_mana_ability(a) for a in payload["actions"])
            assert [a["index"] for a in payload["actions"] if a["index"] == -1 or a["is_land"]] == [
                a["index"] for a in raw["actions"] if a["index"] == -1 or a["is_land"]
            ]
            if payload["ai_choice"] not in (None, "-1"):
                choice = next(a for a in payload["actions"] if str(a["index"]) == payload["ai_choice"])
                chosen += not choice["is_land"]
    assert (offered, kept, chosen) == (819, 471, 47)


@pytest.mark.parametrize(
    ("cost", "floating", "sources", "payable"),
    [
        ("{W}", 0, [{"W"}], True),
        ("{W}", 0, [{"R"}], False),
        ("{W}", 1, [], True),  # the pool's colours are unknown: any
        ("{1}{W}{W}", 0, [{"W"}, {"W"}], False),
        ("{1}{W}{W}", 0, [{"W"}, {"W"}, {"R"}], True),
        ("{R}{G}", 0, [{"R", "G"}, {"G"}], True),  # the dual land must pay the red
        ("{R}{G}", 0, [{"G"}, {"G"}], False),
        ("{X}{2}{U}", 0, [{"U"}, {"U"}, {"U"}], True),  # X counts as 0
        ("{R/G}", 0, [{"G"}], True),
        ("{G/P}", 0, [], True),  # Phyrexian: 2 life
        ("{4}{G}{G}", 2, [{"G"}] * 4, True),
        ("{4}{G}{G}", 0, [{"G"}] * 5, False),
        ("", 0, [], True),
    ],
)
def test_a_mana_cost_is_payable_from_the_pool_and_one_mana_a_source(cost, floating, sources, payable):
    assert can_pay(cost, floating, sources) is payable


def test_identical_actions_are_the_same_choice_and_the_first_is_taken():
    bolt = {
        "card": "Lightning Bolt",
        "description": "Lightning Bolt deals 3 damage to any target.",
        "is_land": False,
    }
    payload = {
        "decision_type": "choose_action",
        "actions": [
            {"index": 0, **bolt, "mana_cost": "{R}"},
            {"index": 1, **bolt, "mana_cost": "{R}"},
            {"index": -1, "card": "", "description": "Pass priority", "is_land": False, "mana_cost": ""},
        ],
        "ai_choice": bolt,
    }
    assert ai_choice_reply(payload) == "0"
    assert ai_choice_reply({**payload, "ai_choice": {"action": "pass"}}) == "-1"
    assert ai_choice_reply({**payload, "ai_choice": {**bolt, "card": "Shock"}}) is None
    assert ai_choice_reply({**payload, "ai_choice": "1"}) == "1"  # our own dialect passes through


def test_attacks_and_blocks_map_by_the_offered_index_values():
    attackers = [{"index": 0, "card_id": 88}, {"index": 2, "card_id": 83}]
    attack = {"decision_type": "declare_attackers", "attackers": attackers}
    assert ai_choice_reply({**attack, "ai_choice": [2, 0]}) == "2,0"
    assert ai_choice_reply({**attack, "ai_choice": []}) == ""
    assert ai_choice_reply({**attack, "ai_choice": [1]}) is None
    block = {"decision_type": "declare_blockers", "attackers": attackers[:1], "blockers": attackers}
    assert ai_choice_reply({**block, "ai_choice": [{"blocker": 2, "attacker": 0}]}) == "2:0"
    assert ai_choice_reply({**block, "ai_choice": [{"blocker": 1, "attacker": 0}]}) is None


def _forge_card(card_id, name, text, power=2, toughness=2, **flags):
    """A creature on the battlefield as Forge shows it (no keywords, oracle text only)."""
    return {"id": card_id, "name": name, "cmc": 2, "is_creature": True, "is_land": False,
            "is_artifact": False, "is_enchantment": False, "is_planeswalker": False,
            "is_instant": False, "is_sorcery": False, "power": power, "toughness": toughness,
            "oracle_text": text, "tapped": False, "summoningSickness": False, **flags}  # fmt: skip


def _blocks(attackers, blockers, ai_choice=None):
    """A Forge declare_blockers for p2, blockers numbered by their place among p2's creatures."""
    payload = {
        "decision_type": "declare_blockers",
        "player": "Agent(2)-b",
        "game_state": {
            "active_player": "Agent(1)-a",
            "players": [
                {"name": "Agent(1)-a", "battlefield": attackers, "hand": []},
                {"name": "Agent(2)-b", "battlefield": blockers, "hand": []},
            ],
        },
        "attackers": [
            {"index": i, "card_id": c["id"], "name": c["name"], "power": 2, "toughness": 2}
            for i, c in enumerate(attackers)
        ],
        "blockers": [
            {"index": i, "card_id": c["id"], "name": c["name"], "power": 2, "toughness": 2}
            for i, c in enumerate(blockers)
        ],
    }
    if ai_choice is not None:
        payload["ai_choice"] = ai_choice
    return normalize_decision(payload)


def test_a_ground_creature_may_not_block_a_flier():
    drake = _forge_card(1, "Wind Drake", "Flying")
    courser = _forge_card(2, "Centaur Courser", "")
    spider = _forge_card(3, "Giant Spider", "Reach (This creature can block creatures with flying.)")
    seer = _forge_card(4, "Cloudkin Seer", "Flying\\nWhen Cloudkin Seer enters the battlefield, draw a card.")
    payload = _blocks([drake, courser], [courser | {"id": 5}, spider, seer])
    assert [b["can_block"] for b in payload["blockers"]] == [[1], [0, 1], [0, 1]]
    assert [a["keywords"] for a in payload["attackers"]] == [["Flying"], []]
    # Forge's AI blocking the flier with the ground creature: not a reply the client would send
    illegal = _blocks([drake], [courser | {"id": 5}], ai_choice=[{"blocker": 0, "attacker": 0}])
    assert illegal["ai_choice"] is None


def test_creatures_that_cannot_block_are_not_offered_and_the_unblockable_take_none():
    attackers = [
        _forge_card(1, "Phantom Warrior", "Phantom Warrior can't be blocked."),
        _forge_card(2, "Grizzly Bears", ""),
    ]
    blockers = [
        _forge_card(3, "Goblin Brute", "Goblin Brute can't block."),
        _forge_card(4, "Mogg Flunkies", "Mogg Flunkies can't attack or block alone."),
        _forge_card(5, "Tapped Bear", "", tapped=True),
        _forge_card(6, "Cloud Sprite", "Flying\\nCloud Sprite can block only creatures with flying."),
        _forge_card(7, "Grizzly Bears", ""),
    ]
    payload = _blocks(attackers, blockers)
    assert [(b["index"], b["can_block"]) for b in payload["blockers"]] == [(3, []), (4, [1])]


def test_a_lone_blocker_on_a_menace_attacker_is_no_reply_to_send():
    brute = _forge_card(
        1, "Boggart Brute", "Menace (This creature can't be blocked except by two or more creatures.)"
    )
    bears = [_forge_card(2, "Grizzly Bears", ""), _forge_card(3, "Grizzly Bears", "")]
    lone = _blocks([brute], bears, ai_choice=[{"blocker": 0, "attacker": 0}])
    assert lone["attackers"][0]["keywords"] == ["Menace"] and lone["ai_choice"] is None
    both = _blocks([brute], bears, ai_choice=[{"blocker": 0, "attacker": 0}, {"blocker": 1, "attacker": 0}])
    assert both["ai_choice"] == "0:0,1:0"


def test_protection_keeps_blockers_of_that_colour_and_of_unknown_colour_off():
    """Forge sends no colours: a blocker's come from the built-in pool's card of that name, and
    one it does not know is kept off an attacker with protection from a colour."""
    soldier = _forge_card(1, "Soldier of the Pantheon", "Protection from multicolored\\nWhenever an opponent casts a multicolored spell, you gain 1 life.")  # fmt: skip
    blockers = [
        _forge_card(2, "Dryad Militant", ""),  # green-white
        _forge_card(3, "Elite Vanguard", ""),  # white
        _forge_card(4, "Not In The Pool", ""),
    ]
    payload = _blocks([soldier], blockers)
    assert payload["attackers"][0]["keywords"] == ["Protection from multicolored"]
    assert [b["can_block"] for b in payload["blockers"]] == [[], [0], []]


def test_creatures_with_defender_are_not_offered_as_attackers():
    wall = _forge_card(1, "Wall of Air", "Defender, flying (This creature can't attack, and it can block creatures with flying.)")  # fmt: skip
    serpent = _forge_card(
        2, "Sea Serpent", "Sea Serpent can't attack unless defending player controls an Island."
    )
    drake = _forge_card(3, "Wind Drake", "Flying")
    payload = normalize_decision(
        {
            "decision_type": "declare_attackers",
            "player": "Agent(1)-a",
            "game_state": {"players": [{"name": "Agent(1)-a", "battlefield": [wall, serpent, drake]}]},
            "attackers": [{"index": i, "card_id": c["id"], "name": c["name"]} for i, c in enumerate((wall, serpent, drake))],
        }
    )  # fmt: skip
    assert [a["name"] for a in payload["attackers"]] == ["Wind Drake"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([{"type": "P1P1", "count": 2}, {"type": "LOYALTY", "count": 3}], {"P1P1": 2, "LOYALTY": 3}),
        ("{P1P1=2, LOYALTY=3}", {"P1P1": 2, "LOYALTY": 3}),
        ("{}", {}),
        ({"TIME": 4}, {"TIME": 4}),
        ("not a map", {}),
        (None, {}),
    ],
)
def test_counters_in_every_shape(value, expected):
    assert parse_counters(value) == expected


def test_interactive_cards_are_normalized_too():
    card = {"id": 7, "name": "Ajani", "is_creature": False, "is_planeswalker": True, "power": 0, "toughness": 0,
            "counters": "{LOYALTY=4}", "attacking_planeswalker": True, "oracle_text": "+1: Gain\\n-2: Ping"}  # fmt: skip
    payload = {
        "decision_type": "declare_blockers",
        "player": "Agent(2)-b",
        "game_state": {"players": [{"name": "Agent(1)-a", "battlefield": [card], "hand": [{"id": 1}]}]},
        "attackers": [{"index": 0, "card_id": 7, "name": "Ajani"}],
        "blockers": [],
    }
    normalize_decision(payload)
    assert card == {"id": 7, "name": "Ajani", "is_creature": False, "is_planeswalker": True,
                    "counters": {"LOYALTY": 4}, "attacking": True, "types": "Planeswalker",
                    "oracle_text": "+1: Gain\n-2: Ping", "keywords": []}  # fmt: skip
    assert (
        payload["game_state"]["players"][0]["hand"] == []
        and payload["game_state"]["players"][0]["hand_size"] == 1
    )
    assert payload["game_state"]["combat"]["attackers"][0]["card_id"] == 7


def test_forges_minimal_json_escaping_is_read():
    """Forge escapes only backslash, quote, newline, carriage return and tab."""
    line = (
        'DECISION:{"decision_type":"choose_action","player":"Agent(1)-a","note":"bell\x07 and form\x0c feed"}'
    )
    assert parse_line(line).payload["note"] == "bell\x07 and form\x0c feed"
