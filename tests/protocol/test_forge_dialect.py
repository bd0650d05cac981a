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
    map onto an offered action. Measured: 796 of 800 (99.5%); of the 110 that are not a pass,
    106 (96.4%). Every choice of action maps (Forge cuts an action's description to 100
    characters, or drops a spell's last sentence, where its ai_choice does not); the four that
    do not are blocks with a creature the decision did not offer as a blocker (twice with an
    empty `blockers` list)."""
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
            if reply is None:
                offered = {b["index"] for b in raw["blockers"]}
                assert raw["decision_type"] == "declare_blockers"
                assert any(pair["blocker"] not in offered for pair in raw["ai_choice"])
            elif raw["decision_type"] == "choose_action" and reply != "-1":
                action = next(a for a in raw["actions"] if str(a["index"]) == reply)
                assert action["card"] == raw["ai_choice"]["card"]
                assert action["is_land"] == raw["ai_choice"]["is_land"]
    assert (total, mapped, not_pass, not_pass_mapped) == (800, 796, 110, 106)
    assert mapped / total >= 0.95


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
                    "oracle_text": "+1: Gain\n-2: Ping"}  # fmt: skip
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
