"""Operator benchmarks on the kube-apiserver test bed (issue 5).

    python bench/reconcile_and_scale.py                       # both, defaults below
    python bench/reconcile_and_scale.py --single-runs 20 --bulk-runs 50 --scale-cycles 10

1. Reconcile latency: from a TrainingRun's creation (the API call returned) to the moment all
   of its children exist (ConfigMap, daemon Service and Deployment, actor and evaluator
   Deployments, learner Job), and to its status first saying Running. Measured for one run at
   a time (`--single-runs` runs, one after another) and for `--bulk-runs` runs created at once.
2. Scale reaction time: a run whose rollout queue is kept above or below its target by writing
   to its Redis stream directly (no actors or learner are needed for that: the operator reads
   only the queue). The time from the queue crossing the target to the daemon Deployment's
   `spec.replicas` changing, for scale-up (the default spec: poll every 5 s, no scale-up
   stabilization) and for scale-down (its stabilization window is part of the design, so the
   figure reported is the time beyond the window). The bench crosses as soon as it has seen
   the previous change, which the operator makes right after one of its polls, so the scale-up
   figures are the worst case of the polling interval.

Everything runs on this machine: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok from `scripts/testbed build`, redis-server, and `tolaria operator`
watching one namespace. Pods never run containers (kwok plays the kubelet). Prints a Markdown
summary for BENCHMARKS.md and writes the raw samples as JSON (`--json`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from kubernetes import client

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from conftest import RedisServer, free_port, wait_for_port  # noqa: E402
from e2e.conftest import ControlPlane, Testbed, find_bin_dir  # noqa: E402

from tolaria.keys import RunKeys  # noqa: E402
from tolaria.spec import API_VERSION, GROUP, PLURAL, VERSION  # noqa: E402

CRD_FILE = REPO / "crds" / "trainingrun.yaml"
NAMESPACE = "bench"
CHILDREN = (
    ("ConfigMap", "config"),
    ("Service", "daemon"),
    ("Deployment", "daemon"),
    ("Deployment", "actor"),
    ("Deployment", "evaluator"),
    ("Job", "learner"),
)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, round(q / 100 * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def summary(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 50):.2f} s, p95 {percentile(values, 95):.2f} s, "
        f"max {max(values):.2f} s (n={len(values)})"
    )


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what}: not after {timeout}s")


class Cluster:
    """The test bed, the CRD, one namespace, a redis-server and the operator watching it."""

    def __init__(self, workdir: Path):
        self.plane = ControlPlane(find_bin_dir(), workdir / "testbed")
        self.redis = RedisServer(workdir / "redis")
        self.operator: subprocess.Popen | None = None
        self.operator_log = workdir / "operator.log"
        self.bed: Testbed | None = None

    def start(self) -> None:
        self.bed = self.plane.start()
        self.bed.kubectl("apply", "--server-side", "-f", str(CRD_FILE))
        self.bed.kubectl("wait", "--for=condition=Established", "crd/trainingruns.tolaria.dev")
        self.bed.kubectl("create", "namespace", NAMESPACE)
        wait_until(
            lambda: (
                self.bed.kubectl("get", "serviceaccount", "default", "-n", NAMESPACE, check=False).returncode
                == 0
            ),
            60,
            "default ServiceAccount",
        )
        self.redis.start()
        health_port = free_port()
        with self.operator_log.open("ab") as log:
            self.operator = subprocess.Popen(
                [sys.executable, "-m", "tolaria.cli", "operator", "--namespace", NAMESPACE,
                 "--metrics-port", str(free_port()), "--health-port", str(health_port)],
                cwd=REPO, env=self.bed.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        wait_for_port(health_port, timeout=60)
        self.api = self.bed.api_client()
        self.custom = client.CustomObjectsApi(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.batch = client.BatchV1Api(self.api)
        self.core = client.CoreV1Api(self.api)

    def stop(self) -> None:
        if self.bed is not None:
            self.bed.kubectl("delete", "trainingruns", "--all", "-n", NAMESPACE, "--timeout=60s", check=False)
        if self.operator is not None and self.operator.poll() is None:
            os.killpg(self.operator.pid, signal.SIGTERM)
            try:
                self.operator.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.operator.pid, signal.SIGKILL)
                self.operator.wait()
        self.redis.stop()
        self.plane.stop()

    # -- runs

    def create_run(self, name: str, spec: dict[str, Any]) -> float:
        """Create a TrainingRun; the monotonic time its creation returned."""
        body = {
            "apiVersion": API_VERSION,
            "kind": "TrainingRun",
            "metadata": {
                "name": name,
                # kwok keeps these pods Running (tests/e2e/testbed/kwok-stages.yaml).
                "annotations": {
                    "tolaria.dev/pod-annotations": json.dumps({"testbed.tolaria.dev/outcome": "run"})
                },
            },
            "spec": {"decks": ["red_aggro", "white_weenie"], "redis": {"url": self.redis.url}, **spec},
        }
        self.custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, body)
        return time.monotonic()

    def children_present(self) -> dict[str, set[tuple[str, str]]]:
        """Per run (label tolaria.dev/run): the (kind, suffix) children that exist now."""
        found: dict[str, set[tuple[str, str]]] = {}
        listings = (
            ("ConfigMap", self.core.list_namespaced_config_map),
            ("Service", self.core.list_namespaced_service),
            ("Deployment", self.apps.list_namespaced_deployment),
            ("Job", self.batch.list_namespaced_job),
        )
        for kind, list_call in listings:
            for item in list_call(NAMESPACE, label_selector="tolaria.dev/run").items:
                run = item.metadata.labels["tolaria.dev/run"]
                found.setdefault(run, set()).add((kind, item.metadata.name[len(run) + 1 :]))
        return found

    def phases(self) -> dict[str, str]:
        runs = self.custom.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL)["items"]
        return {r["metadata"]["name"]: (r.get("status") or {}).get("phase", "") for r in runs}

    def delete_runs(self) -> None:
        self.bed.kubectl("delete", "trainingruns", "--all", "-n", NAMESPACE, "--timeout=120s")
        wait_until(lambda: not self.children_present(), 120, "children garbage-collected", interval=0.5)

    def daemon_replicas(self, run: str) -> int | None:
        """The daemon Deployment's desired replicas; None before the operator created it."""
        try:
            return self.apps.read_namespaced_deployment(f"{run}-daemon", NAMESPACE).spec.replicas
        except client.ApiException as e:
            if e.status == 404:
                return None
            raise


def reconcile_latency(cluster: Cluster, names: list[str], at_once: bool) -> tuple[list[float], list[float]]:
    """Seconds from creation to all children, and to phase Running, for each run."""
    created: dict[str, float] = {}
    children_at: dict[str, float] = {}
    running_at: dict[str, float] = {}
    wanted = set(CHILDREN)

    def watch(pending: list[str]) -> None:
        deadline = time.monotonic() + 300
        while (
            set(pending) - set(children_at) or set(pending) - set(running_at)
        ) and time.monotonic() < deadline:
            now = time.monotonic()
            for run, present in cluster.children_present().items():
                if run in created and run not in children_at and wanted <= present:
                    children_at[run] = now
            for run, phase in cluster.phases().items():
                if run in created and run not in running_at and phase == "Running":
                    running_at[run] = now
            time.sleep(0.05)
        missing = sorted(n for n in pending if n not in children_at or n not in running_at)
        if missing:
            raise TimeoutError(f"runs not reconciled in 300 s: {missing}")

    # Small requests and a CPU learner, so that the fake nodes hold every run's pods.
    small = {"requests": {"cpu": "50m", "memory": "64Mi"}}
    spec = {
        "daemons": {"resources": small, "autoscaling": {"minReplicas": 1, "maxReplicas": 1}},
        "actors": {"resources": small, "perDaemon": 1},
        "learner": {"gpus": 0, "resources": small},
    }
    if at_once:
        for name in names:
            created[name] = cluster.create_run(name, spec)
        watch(names)
    else:
        for name in names:
            created[name] = cluster.create_run(name, spec)
            watch([name])
    return (
        [children_at[n] - created[n] for n in names],
        [running_at[n] - created[n] for n in names],
    )


def scale_reaction(cluster: Cluster, cycles: int, down_window: int) -> tuple[list[float], list[float]]:
    """Scale-up reaction times, and scale-down times beyond the stabilization window."""
    target = 100
    spec = {
        "learner": {"gpus": 0},
        "daemons": {
            "autoscaling": {
                "minReplicas": 1,
                "maxReplicas": 4,
                "targetQueueDepth": target,
                "scaleDownStabilizationSeconds": down_window,
            }
        },
    }
    run = "scale"
    cluster.create_run(run, spec)
    keys = RunKeys(NAMESPACE, run)
    r = redis.Redis.from_url(cluster.redis.url)

    def fill() -> None:
        # No consumer group: every entry of the stream is waiting (observe.py).
        with r.pipeline(transaction=False) as pipe:
            for _ in range(target * 3):
                pipe.xadd(keys.rollouts, {"segment": b"x"})
            pipe.execute()

    ups: list[float] = []
    downs: list[float] = []
    # Empty queue: the pool grows to its maximum first.
    wait_until(lambda: cluster.daemon_replicas(run) == 4, 120, "pool at its maximum", interval=0.1)
    for _ in range(cycles):
        fill()
        crossed = time.monotonic()
        wait_until(lambda: (cluster.daemon_replicas(run) or 4) < 4, down_window + 120, "scale-down", 0.05)
        downs.append(time.monotonic() - crossed - down_window)
        wait_until(
            lambda: cluster.daemon_replicas(run) == 1, down_window * 4 + 120, "pool at its minimum", 0.1
        )
        r.delete(keys.rollouts)
        crossed = time.monotonic()
        wait_until(lambda: (cluster.daemon_replicas(run) or 0) > 1, 120, "scale-up", 0.05)
        ups.append(time.monotonic() - crossed)
        wait_until(lambda: cluster.daemon_replicas(run) == 4, 120, "pool at its maximum", interval=0.1)
    return ups, downs


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--single-runs", type=int, default=20, help="runs created one after another")
    parser.add_argument("--bulk-runs", type=int, default=50, help="runs created at once")
    parser.add_argument("--scale-cycles", type=int, default=10, help="queue crossings each way")
    parser.add_argument("--down-window", type=int, default=10, help="scale-down stabilization (s)")
    parser.add_argument("--json", type=Path, help="write the raw samples here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tolaria-bench-operator-") as tmp:
        cluster = Cluster(Path(tmp))
        try:
            cluster.start()
            single = reconcile_latency(cluster, [f"one-{i}" for i in range(args.single_runs)], at_once=False)
            cluster.delete_runs()
            bulk = reconcile_latency(cluster, [f"bulk-{i}" for i in range(args.bulk_runs)], at_once=True)
            cluster.delete_runs()
            ups, downs = scale_reaction(cluster, args.scale_cycles, args.down_window)
        except BaseException:
            print(f"--- operator log ---\n{cluster.operator_log.read_text(errors='replace')[-4000:]}")
            raise
        finally:
            cluster.stop()

    print(f"# {platform.node()}, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}\n")
    print("| measured | children created | status Running |")
    print("|---|---|---|")
    print(f"| 1 run at a time | {summary(single[0])} | {summary(single[1])} |")
    print(f"| {args.bulk_runs} runs at once | {summary(bulk[0])} | {summary(bulk[1])} |")
    print()
    print(f"- scale-up reaction (poll 5 s, no stabilization): {summary(ups)}")
    print(f"- scale-down beyond its {args.down_window} s stabilization window: {summary(downs)}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "single": {"children": single[0], "running": single[1]},
                    "bulk": {"children": bulk[0], "running": bulk[1]},
                    "scale_up": ups,
                    "scale_down_beyond_window": downs,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
