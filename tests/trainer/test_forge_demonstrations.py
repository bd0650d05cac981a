"""The warm start's demonstrations from the two observed games a real Forge daemon recorded,
read as the client reads them (Forge's dialect, normalized): the encoder takes every payload,
the AI's choices land on the policy's option slots, and Forge's cards encode with the same
type features as the built-in engine's cards of the same name."""

from __future__ import annotations

import numpy as np
import pytest
from engine.helpers import deck
from forge_recordings import OBSERVED_GAMES, recording_lines

from tolaria.engine import Game, HeuristicPlayer, decision_payload
from tolaria.protocol import DecisionMessage, GameOptions, GameProgress, NewGame
from tolaria.protocol.forge import Dialect
from tolaria.trainer.config import NetworkConfig
from tolaria.trainer.encoding import CARD_TYPES, Encoder
from tolaria.trainer.imitation import demonstrations, outcome_returns

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
    encoder.validate(demos.observations)
    passes = demos.observations["option_feat"][np.arange(len(demos)), demos.actions[:, 0], 0]
    choose_action = demos.observations["decision_type"] == 0
    assert 0 < passes[choose_action].mean() < 1  # the AI both passes and plays


def test_forge_cards_encode_with_the_engines_type_features():
    """Cards that both the recordings and the built-in engine know (Forge sends is_* flags, the
    engine a type line) get the same card-type features, and lands are not counted as creatures."""
    type_columns = [
        CARD_TYPES.index(t) for t in ("creature", "land", "artifact", "enchantment", "instant", "sorcery")
    ]

    def rows_by_name(payloads: list[dict]) -> dict[int, np.ndarray]:
        arrays = Encoder(NETWORK).encode(payloads)
        rows = {}
        for names, feats, mask in zip(
            arrays["card_name"], arrays["card_feat"], arrays["card_mask"], strict=True
        ):
            for name, feat in zip(names[mask], feats[mask], strict=True):
                rows.setdefault(int(name), feat[type_columns])
        return rows

    forge = rows_by_name(observed(OBSERVED_GAMES[0])[0])
    game = Game((deck("red_aggro"), deck("white_weenie")), seed=7)
    players = (HeuristicPlayer(1), HeuristicPlayer(2))
    engine_payloads, decision = [], game.start()
    while decision is not None and len(engine_payloads) < 300:
        engine_payloads.append(decision_payload(decision))
        decision = game.submit(players[decision.seat].choose(decision) if decision.expects_reply else None)
    engine = rows_by_name(engine_payloads)
    shared = forge.keys() & engine.keys()
    assert len(shared) >= 8
    for name in shared:
        assert forge[name].tolist() == engine[name].tolist()
