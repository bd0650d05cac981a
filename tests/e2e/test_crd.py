"""The TrainingRun CRD on a real API server: it installs, fills in defaults, refuses bad specs by
field (OpenAPI validation and CEL rules across fields), and `kubectl get trainingruns` tells the story."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from spec.cases import BAD_SPECS, MINIMAL, merged

from tolaria.spec import (
    CheckpointRef,
    CurriculumStatus,
    DaemonsStatus,
    LearnerStatus,
    SpecError,
    TrainingRunStatus,
    load_trainingrun,
)

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CRD_FILE = REPO / "crds" / "trainingrun.yaml"
CRD_NAME = "trainingruns.tolaria.dev"


def install_crd(testbed) -> None:
    """Apply the generated CRD (taking over fields another manager such as Helm set) and wait for it."""
    testbed.kubectl(
        "apply", "--server-side", "--force-conflicts", "--field-manager=tolaria-tests", "-f", str(CRD_FILE)
    )
    wait_established(testbed)


def wait_established(testbed, timeout: float = 60) -> None:
    """Until the CRD is Established. (`kubectl wait --for=condition=Established` fails at once,
    instead of waiting, when it reads a CRD created so recently that it has no conditions yet.)"""

    def established() -> bool:
        found = testbed.kubectl("get", "crd", CRD_NAME, "-o", "json", check=False)
        if found.returncode != 0:
            return False
        conditions = json.loads(found.stdout).get("status", {}).get("conditions") or []
        return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

    testbed.wait_for(established, f"CRD {CRD_NAME} Established", timeout=timeout)


@pytest.fixture(scope="module")
def crd(testbed):
    install_crd(testbed)
    return CRD_NAME


@pytest.fixture
def namespace(testbed, crd):
    name = testbed.create_namespace("crd")
    yield name
    testbed.kubectl("delete", "namespace", name, "--wait=false")


def apply(testbed, namespace: str, manifest: dict, check: bool = True):
    return testbed.kubectl(
        "apply",
        "--server-side",
        "--field-manager=tolaria-tests",
        "-n",
        namespace,
        "-f",
        "-",
        input=yaml.safe_dump(manifest),
        check=check,
    )


def get_run(testbed, namespace: str, name: str) -> dict:
    return json.loads(testbed.kubectl("get", "trainingrun", name, "-n", namespace, "-o", "json").stdout)


def without_empty(value):
    if isinstance(value, dict):
        return {k: without_empty(v) for k, v in value.items() if v not in ({}, [], None)}
    if isinstance(value, list):
        return [without_empty(v) for v in value]
    return value


def test_crd_is_established_with_its_names(testbed, crd):
    found = json.loads(testbed.kubectl("get", "crd", crd, "-o", "json").stdout)
    conditions = {c["type"]: c["status"] for c in found["status"]["conditions"]}
    assert conditions["Established"] == "True"
    assert conditions["NamesAccepted"] == "True"
    assert found["status"]["acceptedNames"]["shortNames"] == ["tr"]
    assert found["spec"]["scope"] == "Namespaced"
    resources = testbed.kubectl("api-resources", "--api-group=tolaria.dev", "-o", "wide").stdout
    assert "trainingruns" in resources and "tr" in resources and "TrainingRun" in resources


@pytest.mark.parametrize("example", ["minimal.yaml", "quickstart.yaml", "trainingrun.yaml"])
def test_example_applies_and_the_server_fills_in_the_models_defaults(testbed, namespace, example):
    manifest = yaml.safe_load((REPO / "examples" / example).read_text())
    apply(testbed, namespace, manifest)
    stored = get_run(testbed, namespace, manifest["metadata"]["name"])
    expected = load_trainingrun(manifest).spec.to_wire()
    assert without_empty(stored["spec"]) == without_empty(expected)


def test_minimal_run_has_the_documented_defaults(testbed, namespace):
    apply(testbed, namespace, MINIMAL)
    spec = get_run(testbed, namespace, "bad")["spec"]
    assert spec["actors"]["perDaemon"] == 1
    assert spec["redis"]["managed"] is True
    assert spec["daemons"]["autoscaling"] == {
        "minReplicas": 1,
        "maxReplicas": 4,
        "targetQueueDepth": 2048,
        "scaleUpStabilizationSeconds": 0,
        "scaleDownStabilizationSeconds": 120,
        "pollIntervalSeconds": 5,
    }
    assert spec["learner"]["ppo"]["learningRate"] == 0.0003
    assert spec["evaluation"]["baselines"] == ["random", "heuristic", "league"]
    assert (spec["evaluation"]["leagueSize"], spec["evaluation"]["actionSelection"]) == (20, "greedy")
    assert spec["actors"]["opponents"]["pastWeighting"] == "uniform"
    assert spec["suspend"] is False


@pytest.mark.parametrize(
    ("patch", "path", "words"), [c[1:] for c in BAD_SPECS], ids=[c[0] for c in BAD_SPECS]
)
def test_api_server_refuses_bad_spec_naming_the_field(testbed, namespace, patch, path, words):
    # As `kubectl apply -f` creates it (server-side apply reports duplicates in other words).
    refused = testbed.kubectl(
        "create", "-n", namespace, "-f", "-", input=yaml.safe_dump(merged(MINIMAL, patch)), check=False
    )
    assert refused.returncode != 0, f"accepted: {patch}"
    assert f"{path}:" in refused.stderr, refused.stderr
    assert words in refused.stderr, refused.stderr
    # Local mode refuses it with the API server's own message, field by field.
    with pytest.raises(SpecError) as local:
        load_trainingrun(merged(MINIMAL, patch))
    for error in local.value.errors:
        assert str(error) in refused.stderr, (str(error), refused.stderr)
    assert testbed.kubectl("get", "trainingruns", "-n", namespace, "-o", "name").stdout.strip() == ""


def test_api_server_refuses_unknown_fields(testbed, namespace):
    refused = apply(
        testbed, namespace, merged(MINIMAL, {"spec": {"daemon": {"engine": "forge"}}}), check=False
    )
    assert refused.returncode != 0
    assert "spec.daemon" in refused.stderr and "not declared in schema" in refused.stderr, refused.stderr


def test_the_crd_refuses_at_least_ten_distinct_fields():
    assert len({path for _, _, path, _ in BAD_SPECS}) >= 10
    assert sum(1 for _, _, _, words in BAD_SPECS if "must" in words or "exactly one" in words) >= 8


def status_of_a_running_run() -> dict:
    status = TrainingRunStatus(
        phase="Running",
        observed_generation=1,
        games_played=12345,
        queue_depth=321,
        daemons=DaemonsStatus(ready=3, desired=4),
        daemons_summary="3/4",
        actors_ready=2,
        learner=LearnerStatus(state="Running", restarts=0),
        policy_version=17,
        curriculum=CurriculumStatus(stage=1, name="all-aggro", stage_start_games=9000),
        stage="all-aggro(2/3)",
        win_rate=0.625,
        baseline="heuristic",
        elo=1287,
        last_checkpoint=CheckpointRef(uri="s3://ckpt/run/000017", time=datetime(2026, 1, 1, tzinfo=UTC)),
        start_time=datetime(2026, 1, 1, tzinfo=UTC),
    )
    status.set_condition("Ready", "False", "DaemonsScaling", "3/4 daemons ready", observed_generation=1)
    status.set_condition("Progressing", "True", "Training", "policy version 17", observed_generation=1)
    return status.to_wire()


def test_status_subresource_and_printer_columns(testbed, namespace):
    apply(testbed, namespace, merged(MINIMAL, {"metadata": {"name": "columns"}}))
    testbed.kubectl(
        "patch",
        "trainingrun",
        "columns",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status_of_a_running_run()}),
    )
    stored = get_run(testbed, namespace, "columns")
    assert stored["status"]["daemons"] == {"ready": 3, "desired": 4}
    assert [c["type"] for c in stored["status"]["conditions"]] == ["Ready", "Progressing"]
    table = testbed.kubectl("get", "trainingruns", "-n", namespace).stdout.splitlines()
    assert table[0].split() == [
        "NAME",
        "PHASE",
        "GAMES",
        "DAEMONS",
        "QUEUE",
        "POLICY",
        "STAGE",
        "WINRATE",
        "ELO",
        "AGE",
    ]
    assert table[1].split()[:9] == [
        "columns",
        "Running",
        "12345",
        "3/4",
        "321",
        "17",
        "all-aggro(2/3)",
        "0.625",
        "1287",
    ]
    short = testbed.kubectl("get", "tr", "columns", "-n", namespace, "--no-headers").stdout.split()
    assert short[:2] == ["columns", "Running"]


def test_status_is_validated_too(testbed, namespace):
    apply(testbed, namespace, merged(MINIMAL, {"metadata": {"name": "badstatus"}}))
    refused = testbed.kubectl(
        "patch",
        "trainingrun",
        "badstatus",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": {"phase": "Exploded"}}),
        check=False,
    )
    assert refused.returncode != 0 and "status.phase" in refused.stderr, refused.stderr


def test_spec_is_not_writable_through_the_status_subresource(testbed, namespace):
    apply(testbed, namespace, merged(MINIMAL, {"metadata": {"name": "split"}}))
    testbed.kubectl(
        "patch",
        "trainingrun",
        "split",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"spec": {"suspend": True}, "status": {"phase": "Pending"}}),
    )
    stored = get_run(testbed, namespace, "split")
    assert stored["spec"]["suspend"] is False and stored["status"]["phase"] == "Pending"


def test_kubectl_explain_shows_the_models_descriptions(testbed, crd):
    explained = testbed.kubectl("explain", "trainingrun.spec.daemons.autoscaling.targetQueueDepth").stdout
    assert "Rollout stream entries waiting for the learner" in explained
