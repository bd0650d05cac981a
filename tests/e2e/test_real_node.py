"""The cluster path for real: Tolaria's images on a real kubelet, from `helm install` to an evaluated
policy, with the operator running as the pod its chart installs."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
import yaml

from .realnode import NODE_NAME

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "tolaria"
VERSION = "0.1.0"
DAEMON_IMAGE = f"ghcr.io/tolaria/daemon:{VERSION}"
TRAINER_IMAGE = f"ghcr.io/tolaria/trainer:{VERSION}"
OPERATOR_IMAGE = f"ghcr.io/tolaria/operator:{VERSION}"
SMALL = {"requests": {"cpu": "50m", "memory": "128Mi"}}


def small_run(name: str) -> dict:
    """A run sized for two cores: one daemon, one actor, a small network trained on the CPU."""
    return {
        "apiVersion": "tolaria.dev/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {"name": name},
        "spec": {
            "decks": ["red_aggro", "white_weenie"],
            "daemons": {
                "gamesPerDaemon": 32,
                "resources": SMALL,
                "autoscaling": {"minReplicas": 1, "maxReplicas": 1},
            },
            "actors": {
                "replicas": 1,
                "gamesInFlight": 16,
                "policySyncIntervalSeconds": 1,
                "resources": SMALL,
                "opponents": {"selfPlay": 0.5, "randomPlayer": 0.5, "league": 0.0},
            },
            "learner": {
                "gpus": 0,
                "resources": SMALL,
                "network": {"preset": "small"},
                "ppo": {"batchSize": 256, "minibatchSize": 128, "epochs": 1},
            },
            "redis": {"managed": True, "streamMaxLength": 5000, "resources": SMALL},
            "checkpoints": {"everyUpdates": 5},
            "evaluation": {"enabled": True, "everyUpdates": 2, "games": 10, "baselines": ["random"]},
            "seed": 3,
        },
    }


@pytest.fixture
def namespace(real_cluster):
    name = real_cluster.create_namespace("real")
    yield name
    real_cluster.kubectl("delete", "namespace", name, "--wait=false")


def pods(bed, namespace: str, selector: str = "") -> list[dict]:
    args = ["get", "pods", "-n", namespace, "-o", "json"] + (["-l", selector] if selector else [])
    return json.loads(bed.kubectl(*args).stdout)["items"]


def run_status(bed, namespace: str, name: str) -> dict:
    found = bed.kubectl("get", "trainingrun", name, "-n", namespace, "-o", "json", check=False)
    return json.loads(found.stdout).get("status", {}) if found.returncode == 0 else {}


def wait_for_pod_phase(bed, namespace: str, name: str, phases: set[str], timeout: float = 120) -> dict:
    def reached() -> bool:
        return (
            json.loads(bed.kubectl("get", "pod", name, "-n", namespace, "-o", "json").stdout)["status"].get(
                "phase"
            )
            in phases
        )

    bed.wait_for(reached, f"pod {namespace}/{name} in {sorted(phases)}", timeout=timeout)
    return json.loads(bed.kubectl("get", "pod", name, "-n", namespace, "-o", "json").stdout)


def test_node_is_real_and_runs_only_real_pods(real_cluster):
    nodes = json.loads(real_cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    assert [n["metadata"]["name"] for n in nodes] == [NODE_NAME]
    info = nodes[0]["status"]["nodeInfo"]
    assert info["containerRuntimeVersion"].startswith("containerd://")
    assert info["kubeletVersion"].startswith("v1.36")

    def images_present() -> bool:
        node = json.loads(real_cluster.kubectl("get", "node", NODE_NAME, "-o", "json").stdout)
        names = {name for image in node["status"].get("images") or [] for name in image.get("names") or []}
        return {DAEMON_IMAGE, TRAINER_IMAGE, OPERATOR_IMAGE} <= names

    real_cluster.wait_for(images_present, "the node to report Tolaria's images", timeout=60)


def test_daemon_image_serves_games_behind_a_service_found_by_name(real_cluster, namespace):
    """A daemon pod behind a Service, asked for its STATUS by a trainer-image pod through the
    cluster's DNS and kube-proxy: images, pod network, Services and DNS on the real node."""
    manifests = [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "daemon", "labels": {"app": "daemon"}},
            "spec": {
                "containers": [{"name": "daemon", "image": DAEMON_IMAGE, "ports": [{"containerPort": 17171}]}]
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "games"},
            "spec": {"selector": {"app": "daemon"}, "ports": [{"port": 17171}]},
        },
    ]
    real_cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input="\n---\n".join(map(yaml.safe_dump, manifests))
    )
    wait_for_pod_phase(real_cluster, namespace, "daemon", {"Running"})
    probe = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "probe"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "probe",
                    "image": TRAINER_IMAGE,
                    # The daemon needs a moment to listen after its pod is Running.
                    "command": [
                        "sh",
                        "-c",
                        "for i in $(seq 30); do tolaria status games:17171 && exit 0; sleep 1; done; exit 1",
                    ],
                }
            ],
        },
    }
    real_cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(probe))
    pod = wait_for_pod_phase(real_cluster, namespace, "probe", {"Succeeded", "Failed"}, timeout=180)
    logs = real_cluster.kubectl("logs", "probe", "-n", namespace).stdout
    assert pod["status"]["phase"] == "Succeeded", logs
    assert "FORGE DAEMON STATUS" in logs
    assert "server: tolaria" in logs


def test_helm_install_then_a_trainingrun_trains_on_real_pods(real_cluster, namespace):
    release = f"tolaria-{uuid.uuid4().hex[:6]}"
    real_cluster.helm(
        "install",
        release,
        str(CHART),
        "-n",
        namespace,
        "--set=namespaced=true",
        f"--set=image.repository={OPERATOR_IMAGE.rsplit(':', 1)[0]}",
        f"--set=image.tag={VERSION}",
        "--wait",
        "--timeout=180s",
    )
    operator = pods(real_cluster, namespace, f"app.kubernetes.io/instance={release}")
    assert [p["status"]["phase"] for p in operator] == ["Running"]
    assert operator[0]["spec"]["serviceAccountName"].startswith(release)

    applied = time.monotonic()
    real_cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(small_run("ember")))

    def trained() -> bool:
        status = run_status(real_cluster, namespace, "ember")
        return (
            (status.get("gamesPlayed") or 0) > 0
            and (status.get("policyVersion") or 0) >= 2
            and status.get("winRate") is not None
            and status.get("elo") is not None
        )

    try:
        real_cluster.wait_for(trained, "GAMES > 0, POLICY >= 2, a WINRATE and an ELO", timeout=420)
    except TimeoutError:
        listing = real_cluster.kubectl("get", "pods,trainingruns", "-n", namespace, "-o", "wide").stdout
        events = real_cluster.kubectl("get", "events", "-n", namespace, "--sort-by=.lastTimestamp").stdout
        raise AssertionError(f"{listing}\n{events[-6000:]}") from None
    elapsed = time.monotonic() - applied
    table = real_cluster.kubectl("get", "trainingruns", "-n", namespace).stdout
    print(f"trained on real pods {elapsed:.0f}s after kubectl apply\n{table}")
    header, row = table.splitlines()[:2]
    assert header.split()[:2] == ["NAME", "PHASE"]
    assert row.split()[1] == "Running"
    for component in ("daemon", "actor", "learner", "evaluator", "redis"):
        found = pods(
            real_cluster, namespace, f"tolaria.dev/run=ember,app.kubernetes.io/component={component}"
        )
        assert any(p["status"]["phase"] == "Running" for p in found), component
