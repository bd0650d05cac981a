"""The TrainingRun models: examples load, defaults are sensible, bad specs are refused by field."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tolaria.spec import (
    SpecError,
    TrainingRunSpec,
    TrainingRunStatus,
    load_trainingrun,
    parse_checkpoint_uri,
    parse_duration,
)
from tolaria.trainer.config import trainer_config_from_spec

from .cases import BAD_SPECS, MINIMAL, merged

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("name", ["minimal.yaml", "quickstart.yaml", "trainingrun.yaml"])
def test_examples_load(name):
    run = load_trainingrun(EXAMPLES / name)
    assert run.spec.decks == ["red_aggro", "white_weenie"]


def test_every_example_is_tested():
    assert sorted(p.name for p in EXAMPLES.glob("*.yaml")) == [
        "curriculum.yaml",
        "minimal.yaml",
        "quickstart.yaml",
        "trainingrun.yaml",
    ]


def test_minimal_spec_gets_a_whole_topology_by_default():
    spec = load_trainingrun(EXAMPLES / "minimal.yaml").spec
    assert spec.actors.per_daemon == 1.0 and spec.actors.replicas is None
    assert spec.redis.managed is True and spec.redis.url is None
    assert spec.daemons.engine == "builtin"
    assert spec.daemons.autoscaling.min_replicas <= spec.daemons.autoscaling.max_replicas
    assert spec.learner.mixed_precision == "bf16"
    assert spec.checkpoints.uri == "file://checkpoints"
    assert spec.evaluation.baselines == ["random", "heuristic", "league"]
    assert spec.reward_shaping.life_delta == 0 and spec.reward_shaping.card_advantage == 0
    assert spec.suspend is False
    # the evaluator's and actors' behaviour before these fields existed
    assert spec.evaluation.league_size == 20 and spec.evaluation.action_selection == "greedy"
    assert spec.actors.opponents.past_weighting == "uniform"
    # scale up at once, as the HPA does by default: only scale-downs are stabilised
    assert spec.daemons.autoscaling.scale_up_stabilization_seconds == 0
    # PPO from random weights unless a warm start is asked for
    assert spec.learner.warm_start.games == 0
    # no game length limit: games end by the rules
    assert spec.max_turns is None


def test_wire_names_are_camel_case_and_round_trip():
    run = load_trainingrun(EXAMPLES / "trainingrun.yaml")
    wire = run.to_wire()
    assert wire["spec"]["daemons"]["autoscaling"]["scaleDownStabilizationSeconds"] == 300
    assert wire["spec"]["learner"]["ppo"]["gaeLambda"] == 0.95
    assert wire["spec"]["actors"]["opponents"]["builtinAi"] == 0.1
    assert load_trainingrun(wire) == run


def test_python_names_are_accepted_too():
    spec = TrainingRunSpec(decks=["a"], actors={"replicas": 3})
    assert spec.actors.replicas == 3 and spec.actors.per_daemon is None


def test_pairings_default_to_every_ordered_pair():
    spec = TrainingRunSpec(decks=["a", "b"])
    assert spec.pairings() == [("a", "a", 1.0), ("a", "b", 1.0), ("b", "a", 1.0), ("b", "b", 1.0)]
    spec = TrainingRunSpec(decks=["a", "b"], matchups=[{"agentDeck": "a", "opponentDeck": "b", "weight": 3}])
    assert spec.pairings() == [("a", "b", 3.0)]


@pytest.mark.parametrize(
    ("patch", "path", "words"), [c[1:] for c in BAD_SPECS], ids=[c[0] for c in BAD_SPECS]
)
def test_bad_spec_is_refused_naming_the_field(patch, path, words):
    with pytest.raises(SpecError) as caught:
        load_trainingrun(merged(MINIMAL, patch))
    paths = [e.path for e in caught.value.errors]
    assert path in paths, f"{path} not among {paths}: {caught.value}"
    assert f"{path}: " in str(caught.value)
    assert words in str(caught.value)


def test_there_are_at_least_ten_distinct_bad_specs():
    assert len({path for _, _, path, _ in BAD_SPECS}) >= 10


def test_unknown_field_is_refused():
    with pytest.raises(SpecError, match=r"spec\.daemon: Forbidden: unknown field"):
        load_trainingrun(merged(MINIMAL, {"spec": {"daemon": {"engine": "forge"}}}))


def test_every_error_is_reported_at_once():
    bad = merged(MINIMAL, {"spec": {"learner": {"gpus": -1, "mixedPrecision": "fp8"}}})
    with pytest.raises(SpecError) as caught:
        load_trainingrun(bad)
    assert {e.path for e in caught.value.errors} == {"spec.learner.gpus", "spec.learner.mixedPrecision"}


def test_wrong_kind_and_api_version_are_named():
    bad = dict(copy.deepcopy(MINIMAL), apiVersion="tolaria.dev/v1", kind="Job")
    with pytest.raises(SpecError) as caught:
        load_trainingrun(bad)
    assert [e.path for e in caught.value.errors] == ["apiVersion", "kind"]


def test_file_problems_name_the_file(tmp_path):
    with pytest.raises(SpecError, match=r"cannot read .*missing\.yaml"):
        load_trainingrun(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("spec: [unclosed\n")
    with pytest.raises(SpecError, match=r"broken\.yaml: not valid YAML"):
        load_trainingrun(broken)
    two = tmp_path / "two.yaml"
    two.write_text("a: 1\n---\nb: 2\n")
    with pytest.raises(SpecError, match="expected one YAML document, found 2"):
        load_trainingrun(two)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42\n")
    with pytest.raises(SpecError, match="expected a mapping"):
        load_trainingrun(scalar)


def test_kopf_body_with_status_and_server_metadata_loads():
    body = merged(
        MINIMAL,
        {
            "metadata": {
                "namespace": "ml",
                "generation": 3,
                "uid": "u-1",
                "managedFields": [{"manager": "kubectl"}],
            },
            "status": {"phase": "Running", "gamesPlayed": 10, "kopf": {"progress": {}}},
        },
    )
    run = load_trainingrun(body)
    assert (run.namespace, run.name, run.metadata.generation) == ("ml", "bad", 3)
    assert run.status.phase == "Running" and run.status.games_played == 10
    assert run.keys.rollouts == "tolaria:ml/bad:rollouts"


@pytest.mark.parametrize(
    ("text", "seconds"), [("90m", 5400), ("1h30m", 5400), ("2d", 172800), ("500ms", 0.5), ("36h", 129600)]
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "2 days", "1.5h", "h", "10"])
def test_parse_duration_refuses(text):
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_parse_checkpoint_uri():
    assert parse_checkpoint_uri("s3://my-bucket/runs/a") == ("s3", "my-bucket", "runs/a")
    assert parse_checkpoint_uri("s3://my-bucket") == ("s3", "my-bucket", "")
    assert parse_checkpoint_uri("file:///var/ckpt") == ("file", "", "/var/ckpt")
    assert parse_checkpoint_uri("file://ckpt") == ("file", "", "ckpt")
    with pytest.raises(ValueError, match="gs://b"):
        parse_checkpoint_uri("gs://b/x")


def test_set_condition_moves_transition_time_only_on_status_change():
    status = TrainingRunStatus()
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    status.set_condition("Ready", "False", "DaemonsStarting", "0/2 daemons", observed_generation=1, now=t0)
    status.set_condition(
        "Ready", "False", "ActorsStarting", "2/2 daemons", observed_generation=2, now=t0 + timedelta(1)
    )
    ready = status.condition("Ready")
    assert (ready.reason, ready.last_transition_time, ready.observed_generation) == ("ActorsStarting", t0, 2)
    status.set_condition("Ready", "True", "AllReady", now=t0 + timedelta(2))
    assert status.condition("Ready").last_transition_time == t0 + timedelta(2)
    assert len(status.conditions) == 1


def test_status_wire_form_uses_kubernetes_times():
    status = TrainingRunStatus(phase="Running", daemons_summary="3/4")
    status.set_condition(
        "Progressing", "True", "Training", now=datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
    )
    wire = status.to_wire()
    assert wire["conditions"][0]["lastTransitionTime"] == "2026-01-01T12:00:00Z"
    assert wire["daemonsSummary"] == "3/4"


def test_the_trainer_reads_the_warm_start_from_the_spec():
    spec = TrainingRunSpec.model_validate(
        {**MINIMAL["spec"], "learner": {"warmStart": {"games": 300, "epochs": 5, "learningRate": 0.002}}}
    )
    warm_start = trainer_config_from_spec(spec).warm_start
    assert (warm_start.games, warm_start.epochs, warm_start.learning_rate) == (300, 5, 0.002)
    assert warm_start.games_in_flight == 16


def test_the_trainer_reads_the_learning_rate_decay_from_the_spec():
    ppo = trainer_config_from_spec(TrainingRunSpec.model_validate(MINIMAL["spec"])).ppo
    assert ppo.lr_decay_updates == 0
    spec = TrainingRunSpec.model_validate(
        {
            **MINIMAL["spec"],
            "learner": {"ppo": {"learningRateDecay": {"updates": 700, "finalFraction": 0.05}}},
        }
    )
    ppo = trainer_config_from_spec(spec).ppo
    assert (ppo.lr_decay_updates, ppo.final_lr_fraction) == (700, 0.05)


def test_deck_pools_pair_every_agent_deck_with_every_opponent_deck_by_weight():
    pools = {
        "agent": [{"deck": "a", "weight": 2}, {"deck": "b"}],
        "opponent": [{"deck": "a"}, {"deck": "c", "weight": 3}],
    }
    spec = TrainingRunSpec(decks=["a", "b", "c"], deck_pools=pools)
    assert spec.pairings() == [("a", "a", 2.0), ("a", "c", 6.0), ("b", "a", 1.0), ("b", "c", 3.0)]
    # no mirrors: the same draw, redrawn on a mirror, keeps the other pairings' odds
    spec = TrainingRunSpec(decks=["a", "b", "c"], deck_pools={**pools, "mirrors": False})
    assert spec.pairings() == [("a", "c", 6.0), ("b", "a", 1.0), ("b", "c", 3.0)]
    # no opponent pool: the agent's
    spec = TrainingRunSpec(
        decks=["a", "b"], deck_pools={"agent": [{"deck": "a"}, {"deck": "b"}], "mirrors": False}
    )
    assert spec.pairings() == [("a", "b", 1.0), ("b", "a", 1.0)]


def test_each_curriculum_stage_has_its_pairings_or_the_runs():
    spec = TrainingRunSpec(
        decks=["a", "b"],
        matchups=[{"agentDeck": "a", "opponentDeck": "b"}],
        curriculum={
            "stages": [
                {
                    "name": "mirror",
                    "matchups": [{"agentDeck": "a", "opponentDeck": "a"}],
                    "until": {"games": 9},
                },
                {"name": "pools", "deckPools": {"agent": [{"deck": "b"}]}, "until": {"games": 9}},
                {"name": "run"},
            ]
        },
    )
    assert spec.stage_pairings() == [[("a", "a", 1.0)], [("b", "b", 1.0)], [("a", "b", 1.0)]]
    assert TrainingRunSpec(decks=["a"]).stage_pairings() == [[("a", "a", 1.0)]]


def test_the_curriculum_example_loads_with_its_stages():
    run = load_trainingrun(EXAMPLES / "curriculum.yaml")
    names = [s.name for s in run.spec.curriculum.stages]
    assert len(names) >= 3 and run.spec.curriculum.stages[-1].until is None
    assert all(run.spec.stage_pairings())
