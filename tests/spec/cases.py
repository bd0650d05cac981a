"""TrainingRuns that must be refused, shared by the loader's unit tests and the API server's e2e tests.

Each case patches a valid minimal manifest and names the field path that the error must name,
both in `load_trainingrun`'s message and in the API server's.
"""

from __future__ import annotations

import copy
from typing import Any

MINIMAL: dict[str, Any] = {
    "apiVersion": "tolaria.dev/v1alpha1",
    "kind": "TrainingRun",
    "metadata": {"name": "bad"},
    "spec": {"decks": ["red_aggro", "white_weenie"]},
}


def merged(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """`base` with `patch` merged in (nested mappings merge, anything else replaces)."""
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def spec(**patch: Any) -> dict[str, Any]:
    return {"spec": patch}


# (id, patch, field path the error names, words of the message)
BAD_SPECS: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "forge-agent-against-its-ai",
        spec(
            daemons={"engine": "forge"},
            actors={"perDaemon": 1, "opponents": {"builtinAi": 0.2}},
            evaluation={"enabled": False},
        ),
        "spec.actors.opponents",
        "a Forge daemon cannot seat an agent against its AI or random player",
    ),
    (
        "forge-evaluated-against-its-players",
        spec(daemons={"engine": "forge"}),
        "spec.evaluation.baselines",
        "evaluate against league only",
    ),
    (
        "forge-with-a-turn-limit",
        spec(daemons={"engine": "forge"}, evaluation={"baselines": ["league"]}, maxTurns=60),
        "spec.maxTurns",
        "a Forge daemon has no game length limit",
    ),
    (
        "min-above-max-replicas",
        spec(daemons={"autoscaling": {"minReplicas": 5, "maxReplicas": 2}}),
        "spec.daemons.autoscaling.minReplicas",
        "minReplicas must be less than or equal to maxReplicas",
    ),
    (
        "fallback-outside-range",
        spec(daemons={"autoscaling": {"maxReplicas": 3, "fallbackReplicas": 9}}),
        "spec.daemons.autoscaling.fallbackReplicas",
        "fallbackReplicas must lie between",
    ),
    (
        "actors-replicas-and-per-daemon",
        spec(actors={"replicas": 2, "perDaemon": 1}),
        "spec.actors",
        "exactly one of replicas and perDaemon",
    ),
    (
        "actors-neither-replicas-nor-per-daemon",
        spec(actors={"gamesInFlight": 32}),
        "spec.actors",
        "exactly one of replicas and perDaemon",
    ),
    (
        "redis-managed-and-url",
        spec(redis={"managed": True, "url": "redis://r:6379/0"}),
        "spec.redis",
        "exactly one of managed: true and url",
    ),
    (
        "redis-url-with-credentials",
        spec(redis={"url": "redis://:hunter2@redis.shared:6379/0"}),
        "spec.redis.url",
        "url must not carry credentials",
    ),
    (
        "checkpoint-uri-scheme",
        spec(checkpoints={"uri": "gs://bucket/runs"}),
        "spec.checkpoints.uri",
        "uri must be s3://bucket/prefix or file://path",
    ),
    (
        "endpoint-url-with-file-uri",
        spec(checkpoints={"uri": "file:///ckpt", "endpointUrl": "http://minio:9000"}),
        "spec.checkpoints",
        "apply only to s3:// URIs",
    ),
    (
        "volume-claim-with-s3-uri",
        spec(checkpoints={"uri": "s3://bucket/run", "volumeClaim": "ckpt"}),
        "spec.checkpoints",
        "volumeClaim applies only to file:// URIs",
    ),
    (
        "matchup-deck-not-listed",
        spec(matchups=[{"agentDeck": "red_aggro", "opponentDeck": "blue_tempo"}]),
        "spec.matchups",
        "every matchup deck must be listed in decks",
    ),
    (
        "minibatch-above-batch",
        spec(learner={"ppo": {"minibatchSize": 4096, "batchSize": 1024}}),
        "spec.learner.ppo.minibatchSize",
        "minibatchSize must be less than or equal to batchSize",
    ),
    (
        "target-win-rate-baseline-not-evaluated",
        spec(
            evaluation={"baselines": ["random"]}, stop={"targetWinRate": 0.6, "targetBaseline": "heuristic"}
        ),
        "spec.stop.targetWinRate",
        "targetBaseline among evaluation.baselines",
    ),
    (
        "opponent-weights-all-zero",
        spec(actors={"perDaemon": 1, "opponents": {"selfPlay": 0, "league": 0}}),
        "spec.actors.opponents",
        "at least one of selfPlay, builtinAi, randomPlayer and league must be positive",
    ),
    ("unknown-engine", spec(daemons={"engine": "xmage"}), "spec.daemons.engine", "xmage"),
    ("gamma-above-one", spec(learner={"ppo": {"gamma": 1.5}}), "spec.learner.ppo.gamma", "1.5"),
    (
        "learning-rate-decay-without-updates",
        spec(learner={"ppo": {"learningRateDecay": {"finalFraction": 0.1}}}),
        "spec.learner.ppo.learningRateDecay.updates",
        "",
    ),
    (
        "learning-rate-floor-above-the-rate",
        spec(learner={"ppo": {"learningRateDecay": {"updates": 700, "finalFraction": 2}}}),
        "spec.learner.ppo.learningRateDecay.finalFraction",
        "2",
    ),
    ("mixed-precision-fp8", spec(learner={"mixedPrecision": "fp8"}), "spec.learner.mixedPrecision", "fp8"),
    ("negative-gpus", spec(learner={"gpus": -1}), "spec.learner.gpus", "-1"),
    (
        "warm-start-without-epochs",
        spec(learner={"warmStart": {"games": 100, "epochs": 0}}),
        "spec.learner.warmStart.epochs",
        "0",
    ),
    (
        "warm-start-beyond-the-learners-memory",
        spec(learner={"warmStart": {"games": 1_000_000}}),
        "spec.learner.warmStart.games",
        "1000000",
    ),
    ("no-decks", spec(decks=[]), "spec.decks", ""),
    ("zero-turn-limit", spec(maxTurns=0), "spec.maxTurns", "0"),
    ("deck-escaping-the-deck-directory", spec(decks=["../secrets"]), "spec.decks[0]", "../secrets"),
    ("duplicate-deck", spec(decks=["red_aggro", "red_aggro"]), "spec.decks[1]", "red_aggro"),
    (
        "wall-clock-not-a-duration",
        spec(stop={"maxWallClock": "two days"}),
        "spec.stop.maxWallClock",
        "two days",
    ),
    (
        "cpu-not-a-quantity",
        spec(daemons={"resources": {"requests": {"cpu": "lots"}}}),
        "spec.daemons.resources.requests.cpu",
        "lots",
    ),
    ("unknown-baseline", spec(evaluation={"baselines": ["chess"]}), "spec.evaluation.baselines[0]", "chess"),
    ("redis-url-scheme", spec(redis={"url": "http://redis:6379"}), "spec.redis.url", "http://redis:6379"),
    (
        "unknown-action-selection",
        spec(evaluation={"actionSelection": "argmax"}),
        "spec.evaluation.actionSelection",
        "argmax",
    ),
    ("empty-league", spec(evaluation={"leagueSize": 0}), "spec.evaluation.leagueSize", "0"),
    (
        "empty-league-series",
        spec(actors={"perDaemon": 1, "opponents": {"leagueSeries": 0}}),
        "spec.actors.opponents.leagueSeries",
        "0",
    ),
    (
        "unknown-past-weighting",
        spec(actors={"perDaemon": 1, "opponents": {"pastWeighting": "newest"}}),
        "spec.actors.opponents.pastWeighting",
        "newest",
    ),
    (
        "pairing-priority-without-the-ai",
        spec(actors={"perDaemon": 1, "pairingPriority": {"exponent": 2}}),
        "spec.actors.pairingPriority",
        "actors.opponents.builtinAi must be positive",
    ),
    (
        "pairing-priority-floor-zero",
        spec(actors={"perDaemon": 1, "opponents": {"builtinAi": 0.4}, "pairingPriority": {"minFactor": 0}}),
        "spec.actors.pairingPriority.minFactor",
        "0",
    ),
    ("name-too-long", {"metadata": {"name": "r" * 51}}, "metadata.name", "50"),
    (
        "matchups-and-deck-pools",
        spec(
            matchups=[{"agentDeck": "red_aggro", "opponentDeck": "white_weenie"}],
            deckPools={"agent": [{"deck": "red_aggro"}]},
        ),
        "spec.deckPools",
        "matchups and deckPools are alternatives",
    ),
    (
        "deck-pool-deck-not-listed",
        spec(deckPools={"agent": [{"deck": "red_aggro"}], "opponent": [{"deck": "blue_tempo"}]}),
        "spec.deckPools",
        "every deckPools deck must be listed in decks",
    ),
    (
        "deck-pool-deck-twice",
        spec(deckPools={"agent": [{"deck": "red_aggro"}, {"deck": "red_aggro", "weight": 2}]}),
        "spec.deckPools.agent",
        "a deck is listed more than once in agent",
    ),
    (
        "deck-pools-only-mirrors-refused",
        spec(deckPools={"agent": [{"deck": "red_aggro"}], "mirrors": False}),
        "spec.deckPools.mirrors",
        "mirrors: false leaves no pairing",
    ),
    (
        "deck-pool-weight-zero",
        spec(deckPools={"agent": [{"deck": "red_aggro", "weight": 0}]}),
        "spec.deckPools.agent[0].weight",
        "should be greater than 0",
    ),
    (
        "curriculum-stage-without-until",
        spec(curriculum={"stages": [{"name": "mirrors"}, {"name": "whole-pool"}]}),
        "spec.curriculum.stages",
        "every stage but the last needs until",
    ),
    (
        "curriculum-last-stage-with-until",
        spec(curriculum={"stages": [{"name": "mirrors", "until": {"games": 1000}}]}),
        "spec.curriculum.stages",
        "the last has none",
    ),
    (
        "curriculum-stage-names-repeat",
        spec(
            curriculum={
                "stages": [
                    {"name": "aggro", "until": {"games": 10}},
                    {"name": "aggro", "until": {"games": 10}},
                ]
            }
        ),
        "spec.curriculum.stages",
        "stage names must be unique",
    ),
    (
        "curriculum-until-empty",
        spec(curriculum={"stages": [{"name": "mirrors", "until": {"baseline": "random"}}, {"name": "all"}]}),
        "spec.curriculum.stages[0].until",
        "until needs winRate or games",
    ),
    (
        "curriculum-stage-deck-not-listed",
        spec(
            curriculum={
                "stages": [
                    {
                        "name": "mirrors",
                        "matchups": [{"agentDeck": "blue_tempo", "opponentDeck": "blue_tempo"}],
                        "until": {"games": 1000},
                    },
                    {"name": "all"},
                ]
            }
        ),
        "spec.curriculum",
        "every deck of a curriculum stage must be listed in decks",
    ),
    (
        "curriculum-stage-matchups-and-pools",
        spec(
            curriculum={
                "stages": [
                    {
                        "name": "mirrors",
                        "matchups": [{"agentDeck": "red_aggro", "opponentDeck": "red_aggro"}],
                        "deckPools": {"agent": [{"deck": "red_aggro"}]},
                        "until": {"games": 1000},
                    },
                    {"name": "all"},
                ]
            }
        ),
        "spec.curriculum.stages[0].deckPools",
        "matchups and deckPools are alternatives",
    ),
    (
        "curriculum-win-rate-baseline-not-evaluated",
        spec(
            evaluation={"baselines": ["random"]},
            curriculum={"stages": [{"name": "mirrors", "until": {"winRate": 0.6}}, {"name": "all"}]},
        ),
        "spec.curriculum",
        "until.baseline among evaluation.baselines",
    ),
    (
        "curriculum-stage-name-not-a-label",
        spec(curriculum={"stages": [{"name": "Whole Pool"}]}),
        "spec.curriculum.stages[0].name",
        "Whole Pool",
    ),
]
