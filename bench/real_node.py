"""How fast the cluster path is on the test bed's real node: from `kubectl apply` to games, policy
versions and evaluations, and how long each pod of a run takes to start.

    python bench/real_node.py --repeats 3 [--out real_node.json]

Brings up the real node's test bed (tests/e2e/conftest.py: a control plane and one real kubelet
running the images of `scripts/images build`), installs the chart, then `--repeats` times applies
the e2e tests' small TrainingRun (one daemon, one actor, a small network on the CPU, evaluation
every two versions) in a fresh namespace and polls its status every 0.2 s until it has been
evaluated, recording seconds from the apply to the first finished game (GAMES > 0), the first
new policy version (POLICY >= 2) and the first evaluation (WINRATE set), and each pod's seconds
from creation to Ready. Needs root (the node's namespaces), like the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import yaml
from kubernetes import client

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from e2e.conftest import find_bin_dir, running_real_cluster  # noqa: E402
from e2e.test_real_node import CHART, OPERATOR_IMAGE, VERSION, small_run  # noqa: E402

from tolaria.spec import GROUP, PLURAL  # noqa: E402
from tolaria.spec import VERSION as CRD_VERSION  # noqa: E402

COMPONENTS = ("redis", "daemon", "actor", "learner", "evaluator")


def parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def pod_start_seconds(core: client.CoreV1Api, namespace: str) -> dict[str, float]:
    """Seconds from each component pod's creation to its Ready condition."""
    seconds = {}
    for pod in core.list_namespaced_pod(namespace, label_selector="tolaria.dev/run").items:
        component = pod.metadata.labels.get("app.kubernetes.io/component")
        ready = next(
            (c for c in pod.status.conditions or [] if c.type == "Ready" and c.status == "True"), None
        )
        if component in COMPONENTS and ready is not None and component not in seconds:
            seconds[component] = (
                ready.last_transition_time.timestamp() - pod.metadata.creation_timestamp.timestamp()
            )
    return seconds


def one_run(bed, api, timeout: float) -> dict:
    namespace = bed.create_namespace("bench")
    custom, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    bed.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(small_run("ember")))
    applied = time.monotonic()
    marks: dict[str, float] = {}
    while "first_evaluation_s" not in marks:
        if time.monotonic() - applied > timeout:
            raise TimeoutError(f"run in {namespace} not evaluated within {timeout}s; reached {marks}")
        status = custom.get_namespaced_custom_object(GROUP, CRD_VERSION, namespace, PLURAL, "ember").get(
            "status", {}
        )
        now = time.monotonic() - applied
        if (status.get("gamesPlayed") or 0) > 0:
            marks.setdefault("first_game_s", now)
        if (status.get("policyVersion") or 0) >= 2:
            marks.setdefault("first_new_version_s", now)
        if status.get("winRate") is not None:
            marks.setdefault("first_evaluation_s", now)
        time.sleep(0.2)
    marks["pod_ready_s"] = pod_start_seconds(core, namespace)
    bed.kubectl("delete", "namespace", namespace, "--wait=false")
    return marks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("TOLARIA_TESTBED", str(find_bin_dir()))
    results: dict = {"machine": platform.node(), "cpus": os.cpu_count(), "runs": []}
    with tempfile.TemporaryDirectory(prefix="bench-real-node-") as work:
        started = time.monotonic()
        with running_real_cluster(find_bin_dir(), Path(work)) as bed:
            results["bring_up_s"] = time.monotonic() - started
            release = f"tolaria-{uuid.uuid4().hex[:6]}"
            started = time.monotonic()
            bed.helm(
                "install", release, str(CHART), "-n", "default",
                f"--set=image.repository={OPERATOR_IMAGE.rsplit(':', 1)[0]}", f"--set=image.tag={VERSION}",
                "--wait", "--timeout=300s",
            )  # fmt: skip
            results["helm_install_s"] = time.monotonic() - started
            with bed.api_client() as api:
                for repeat in range(args.repeats):
                    marks = one_run(bed, api, args.timeout)
                    print(f"run {repeat + 1}: {json.dumps(marks)}", flush=True)
                    results["runs"].append(marks)
    summary = {}
    for key in ("first_game_s", "first_new_version_s", "first_evaluation_s"):
        values = [run[key] for run in results["runs"]]
        summary[key] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
    for component in COMPONENTS:
        values = [run["pod_ready_s"][component] for run in results["runs"] if component in run["pod_ready_s"]]
        if values:
            summary[f"{component}_pod_ready_s"] = {
                "median": statistics.median(values),
                "min": min(values),
                "max": max(values),
            }
    results["summary"] = summary
    print(json.dumps({k: v for k, v in results.items() if k != "runs"}, indent=2))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
