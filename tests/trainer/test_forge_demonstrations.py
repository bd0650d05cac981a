"""The warm start's demonstrations from the two observed games a real Forge daemon recorded,
read as the client reads them (Forge's dialect, normalized): the encoder takes every payload,
the AI's choices land on the policy's option slots, Forge's cards encode with the same type
and keyword features as the built-in engine's cards of the same name, and the block options
leave out what the cards' texts forbid."""

from __future__ import annotations

import numpy as np
import pytest
from engine.helpers import deck
from forge_recordings import OBSERVED_GAMES, recording_lines

from tolaria.engine import Game, HeuristicPlayer, decision_payload
from tolaria.protocol import DecisionMessage, GameOptions, GameProgress, NewGame
from tolaria.protocol.forge import Dialect, normalize_decision
from tolaria.trainer.config import NetworkConfig
from tolaria.trainer.encoding import CARD_TYPES, KEYWORDS, Encoder, offered_options
from tolaria.trainer.imitation import demonstrations, outcome_returns
from tolaria.trainer.policy import to_tensors

NETWORK = NetworkConfig.from_preset("small")


def observed(name: str) -> tuple[list[dict], list[str], list[int], int | None, int]:
    """(payloads, AI replies, seats, winner seat, choices left out), as `observe_game` gathers them."""
    progress = GameProgress(NewGame(*name.split("-")[1:3], GameOptions(observe=True)), Dialect.FORGE)
    payloads, replies, seats, unmapped = [], [], [], 0
    for line in recording_lines(name):
        event = progress.feed(line)
        if isinstance(event, DecisionMessage):
            if event.ai_choice is None:
                unmapped += 1
                continue
            payloads.append(event.payload)
            replies.append(event.ai_choice)
            seats.append(event.seat)
    return payloads, replies, seats, progress.result.winner_seat, unmapped


@pytest.mark.parametrize("name", OBSERVED_GAMES)
def test_every_mapped_choice_of_a_recorded_game_is_a_demonstration(name):
    payloads, replies, seats, winner, unmapped = observed(name)
    encoder = Encoder(NETWORK)
    demos = demonstrations(encoder, payloads, replies, outcome_returns(seats, winner, 0.99))
    assert len(demos) == len(payloads)  # every mapped reply names an option slot
    assert len(demos) / (len(demos) + unmapped) >= 0.95
    exact, _ = encoder.encode_offered(payloads)
    encoder.validate(exact)
    # kept in half the bytes, each float feature rounded to within 2^-11 of its value (float16)
    assert sum(v.nbytes for v in demos.observations.values()) < 0.55 * sum(v.nbytes for v in exact.values())
    for name, array in exact.items():
        kept = demos.observations[name]
        if array.dtype == np.float32:
            assert (np.abs(kept.astype(np.float32) - array) <= 2**-11 * np.abs(array)).all(), name
        else:
            assert np.array_equal(kept, array), name
    # the network takes the kept arrays in the dtypes of the exact ones
    kept_tensors = to_tensors(demos.observations)
    assert all(kept_tensors[k].dtype == v.dtype for k, v in to_tensors(exact).items())
    passes = demos.observations["option_feat"][np.arange(len(demos)), demos.actions[:, 0], 0]
    choose_action = demos.observations["decision_type"] == 0
    assert 0 < passes[choose_action].mean() < 1  # the AI both passes and plays


@pytest.mark.parametrize("name", OBSERVED_GAMES)
def test_forge_cards_encode_with_the_engines_type_and_keyword_features(name):
    """Cards that both the recordings and the built-in engine know (Forge sends is_* flags and
    oracle text, the engine a type line and keywords) get the same card-type and keyword
    features, and lands are not counted as creatures."""
    columns = [
        CARD_TYPES.index(t) for t in ("creature", "land", "artifact", "enchantment", "instant", "sorcery")
    ]
    columns += [len(CARD_TYPES) + i for i in range(len(KEYWORDS))]

    def rows_by_name(payloads: list[dict]) -> dict[int, np.ndarray]:
        arrays = Encoder(NETWORK).encode(payloads)
        rows = {}
        for names, feats, mask in zip(
            arrays["card_name"], arrays["card_feat"], arrays["card_mask"], strict=True
        ):
            for card, feat in zip(names[mask], feats[mask], strict=True):
                rows.setdefault(int(card), feat[columns])
        return rows

    forge = rows_by_name(observed(name)[0])
    decks = name.split("-")[1:3]
    game = Game((deck(decks[0]), deck(decks[1])), seed=7)
    players = (HeuristicPlayer(1), HeuristicPlayer(2))
    engine_payloads, decision = [], game.start()
    while decision is not None and len(engine_payloads) < 600:
        engine_payloads.append(decision_payload(decision))
        decision = game.submit(players[decision.seat].choose(decision) if decision.expects_reply else None)
    engine = rows_by_name(engine_payloads)
    shared = forge.keys() & engine.keys()
    assert len(shared) >= 8
    for card in shared:
        assert forge[card].tolist() == engine[card].tolist()
    keyword_columns = slice(6, None)
    assert sum(any(forge[card][keyword_columns]) for card in shared) >= 3  # keywords, not zeros alike


def test_a_ground_creature_is_not_offered_as_a_blocker_of_a_flier():
    """Against Forge, which executes any block it is sent, the block options leave out a
    blocker without flying or reach on an attacker with flying: its only target is no block."""

    def creature(card_id: int, name: str, text: str) -> dict:
        return {"id": card_id, "name": name, "is_creature": True, "is_land": False, "power": 2,
                "toughness": 2, "oracle_text": text, "tapped": False, "summoningSickness": False}  # fmt: skip

    drake, courser = creature(1, "Wind Drake", "Flying"), creature(2, "Centaur Courser", "")
    spider = creature(3, "Giant Spider", "Reach (This creature can block creatures with flying.)")
    payload = normalize_decision(
        {
            "decision_type": "declare_blockers",
            "player": "Agent(2)-b",
            "game_state": {"active_player": "Agent(1)-a", "players": [
                {"name": "Agent(1)-a", "battlefield": [drake], "hand": []},
                {"name": "Agent(2)-b", "battlefield": [courser, spider], "hand": []},
            ]},
            "attackers": [{"index": 0, "card_id": 1, "name": "Wind Drake", "power": 2, "toughness": 2}],
            "blockers": [{"index": 0, "card_id": 2, "name": "Centaur Courser", "power": 2, "toughness": 2},
                         {"index": 1, "card_id": 3, "name": "Giant Spider", "power": 2, "toughness": 2}],
        }
    )  # fmt: skip
    offered = offered_options(payload, NETWORK.max_options, NETWORK.max_block_targets, "Agent(2)-b")
    assert [o.name for o in offered.options] == ["Centaur Courser", "Giant Spider"]
    assert [t.name for t in offered.targets] == ["no block", "Wind Drake"]
    assert offered.block_targets == [[], [1]]  # the courser may not take the drake; the spider may
    encoder = Encoder(NETWORK)
    assert encoder.action_of_reply(offered, "0:0") is None
    assert encoder.action_of_reply(offered, "1:0") is not None
