"""The operator at scale on the kwok test bed (issue 21, section 7).

    python bench/operator_scale.py --scenario pods --variants before,after,before --before d3442bb
    python bench/operator_scale.py --scenario runs --variants before,after,before --before d3442bb

The test bed of the e2e tests (tests/e2e/conftest.py: etcd, kube-apiserver, controller-manager,
scheduler and kwok on this machine) with 100 more fake nodes, a redis-server that wants a
password, and `tolaria operator` running as a ServiceAccount of its own so that the API
server can count its requests (tests/e2e/apicount.py). Two scenarios:

- pods: one run whose daemon pool is pinned at 1,000 pods (plus 10 actors, learner,
  evaluator). From its creation to the status's first writing and to its saying 1000/1000
  daemons ready, then a steady window.
- runs: 100 runs (one daemon, one actor, learner and evaluator each) created at once (one
  API call after the other, as fast as they go). From each run's creation to its status
  saying Running, then a steady window.

Each variant is the operator's code at some commit: `after` is this checkout, `before` is
`--before REF` (exported with `git archive`). Variants run one after another on the same test
bed, each in a namespace of its own whose runs are deleted (and their pods gone) before the
next one starts, so `before,after,before` interleaves them within one sitting.

Measured per variant: the operator's requests to the API server (as counted by the API
server, per second and per run; GETs of TrainingRuns and of Secrets apart), the reconcile
duration (p50 and p95 interpolated from the operator's histogram, as Prometheus'
histogram_quantile does), the operator's RSS at the end of the steady window and its peak
(VmHWM), and the time from a run's creation (the API call returned) to its status. Every run uses `spec.redis.passwordSecret`,
so the Redis password path is exercised. Prints a Markdown table; `--json` keeps the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import redis
from kubernetes import client

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from conftest import RedisServer, free_port, wait_for_port  # noqa: E402
from e2e.apicount import ClientIdentity, client_identity  # noqa: E402
from e2e.conftest import ControlPlane, Testbed, fake_node, find_bin_dir, wait_until  # noqa: E402

from tolaria.spec import API_VERSION, GROUP, PLURAL, VERSION  # noqa: E402

CRD_FILE = REPO / "crds" / "trainingrun.yaml"
IDENTITY_NAMESPACE = "bench-operator"
REDIS_PASSWORD = "bench-redis-password"
HISTOGRAM = "tolaria_operator_reconcile_duration_seconds"
SMALL = {"requests": {"cpu": "10m", "memory": "16Mi"}}


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, round(q / 100 * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus' histogram_quantile over cumulative (upper bound, count) buckets."""
    buckets = sorted(buckets)
    total = buckets[-1][1] if buckets else 0
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if upper == float("inf"):
                return lower
            return lower + (upper - lower) * (rank - below) / max(count - below, 1e-12)
        lower, below = upper, count
    return lower


class Operator:
    """`tolaria operator` from a source tree, as the bench's ServiceAccount, watching one namespace."""

    def __init__(self, source: Path, namespace: str, identity: ClientIdentity, log_path: Path):
        self.metrics_port = free_port()
        health_port = free_port()
        env = {**identity.env(), "PYTHONPATH": str(source)}
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tolaria.cli", "operator", "--namespace", namespace,
                 "--metrics-port", str(self.metrics_port), "--health-port", str(health_port)],
                cwd=source, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        wait_for_port(health_port, timeout=60)

    def buckets(self) -> dict[float, float]:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        found: dict[float, float] = {}
        for line in urllib.request.urlopen(url, timeout=10).read().decode().splitlines():
            if line.startswith(f"{HISTOGRAM}_bucket{{"):
                bound = line.split('le="', 1)[1].split('"', 1)[0]
                found[float(bound)] = float(line.rsplit(" ", 1)[1])
        return found

    def memory_mib(self) -> dict[str, float]:
        fields = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) / 1024
        return fields

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


class Window:
    """Counters of the operator and the API server between two moments."""

    def __init__(self, operator: Operator, identity: ClientIdentity):
        self.operator = operator
        self.identity = identity
        self.started = time.monotonic()
        self.requests = identity.counts()
        self.buckets = operator.buckets()

    def close(self, runs: int) -> dict[str, Any]:
        seconds = time.monotonic() - self.started
        requests = self.identity.counts()
        buckets = self.operator.buckets()
        delta = [(le, buckets[le] - self.buckets.get(le, 0.0)) for le in buckets]
        made = {what: requests[what] - self.requests[what] for what in requests}
        return {
            "seconds": seconds,
            "requests": made,
            "requests_per_second_per_run": {what: n / seconds / runs for what, n in made.items()},
            "reconciles": max((n for _, n in delta), default=0.0),
            "reconcile_p50_s": histogram_quantile(0.5, delta),
            "reconcile_p95_s": histogram_quantile(0.95, delta),
        }


class Bench:
    def __init__(self, workdir: Path, nodes: int):
        self.workdir = workdir
        self.nodes = nodes
        self.plane = ControlPlane(find_bin_dir(), workdir / "testbed")
        self.redis = RedisServer(workdir / "redis")
        self.bed: Testbed | None = None

    def start(self) -> None:
        self.bed = bed = self.plane.start()
        self.api = bed.api_client()
        self.custom = client.CustomObjectsApi(self.api)
        self.core = client.CoreV1Api(self.api)
        bed.kubectl("apply", "--server-side", "-f", str(CRD_FILE))
        bed.kubectl("wait", "--for=condition=Established", "crd/trainingruns.tolaria.dev")
        for i in range(self.nodes):
            self.core.create_node(
                fake_node(f"bench-{i}", capacity={"cpu": "32", "memory": "128Gi", "pods": "110"})
            )
        wait_until(self._nodes_ready, 300, f"{self.nodes} fake nodes Ready", interval=2)
        bed.kubectl("create", "namespace", IDENTITY_NAMESPACE)
        self.identity = client_identity(bed, IDENTITY_NAMESPACE, "tolaria-operator", self.workdir)
        self.redis.start()
        # Set at run time: a password in redis-server's argv would be readable in /proc.
        redis.Redis.from_url(self.redis.url).config_set("requirepass", REDIS_PASSWORD)

    def _nodes_ready(self) -> bool:
        ready = sum(
            any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])
            for n in self.core.list_node().items
            if n.metadata.name.startswith("bench-")
        )
        return ready == self.nodes

    def stop(self) -> None:
        self.redis.stop()
        self.plane.stop()

    def namespace(self, name: str) -> None:
        bed = self.bed
        bed.kubectl("create", "namespace", name)
        wait_until(
            lambda: bed.kubectl("get", "serviceaccount", "default", "-n", name, check=False).returncode == 0,
            60,
            "default ServiceAccount",
            interval=0.5,
        )
        # Through stdin: a secret value never goes on a command line.
        secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "redis-auth"},
                  "stringData": {"password": REDIS_PASSWORD}}  # fmt: skip
        bed.kubectl("apply", "-n", name, "-f", "-", input=json.dumps(secret))

    def remove_runs(self, namespace: str) -> float:
        """Delete the namespace's runs and wait for their pods to be gone; seconds it took."""
        started = time.monotonic()
        self.bed.kubectl("delete", "trainingruns", "--all", "-n", namespace, "--timeout=300s", timeout=330)
        wait_until(
            lambda: not self.core.list_namespaced_pod(namespace, limit=1).items,
            600,
            f"pods of {namespace} gone",
            interval=2,
        )
        return time.monotonic() - started

    def run_body(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": API_VERSION,
            "kind": "TrainingRun",
            "metadata": {
                "name": name,
                # kwok keeps these pods Running (tests/e2e/testbed/kwok-stages.yaml).
                "annotations": {
                    "tolaria.dev/pod-annotations": json.dumps({"testbed.tolaria.dev/outcome": "run"})
                },
            },
            "spec": {
                "decks": ["red_aggro", "white_weenie"],
                "redis": {"url": self.redis.url, "passwordSecret": {"name": "redis-auth", "key": "password"}},
                "checkpoints": {"uri": f"s3://bench/runs/{name}"},
                "learner": {"gpus": 0, "resources": SMALL},
                **spec,
            },
        }

    def create(self, namespace: str, body: dict[str, Any]) -> float:
        """Create a run; the monotonic time its creation returned."""
        self.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
        return time.monotonic()

    def statuses(self, namespace: str) -> dict[str, dict[str, Any]]:
        runs = self.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]
        return {r["metadata"]["name"]: r.get("status") or {} for r in runs}


def scenario_pods(bench: Bench, operator: Operator, namespace: str, daemons: int, steady: float) -> dict:
    spec = {
        "daemons": {
            "resources": SMALL,
            "autoscaling": {"minReplicas": daemons, "maxReplicas": daemons, "fallbackReplicas": daemons},
        },
        "actors": {"replicas": 10, "resources": SMALL},
    }
    window = Window(operator, bench.identity)
    applied = bench.create(namespace, bench.run_body("big", spec))
    first_status = ready = None
    deadline = applied + 600
    while ready is None and time.monotonic() < deadline:
        status = bench.statuses(namespace).get("big", {})
        now = time.monotonic()
        if first_status is None and status:
            first_status = now - applied
        if (status.get("daemons") or {}).get("ready") == daemons:
            ready = now - applied
        time.sleep(0.5)
    if ready is None:
        raise TimeoutError(f"{daemons} daemons not ready in the status after 600 s")
    rollout = window.close(runs=1)
    time.sleep(10)  # the last Deployment and ReplicaSet status updates settle
    window = Window(operator, bench.identity)
    time.sleep(steady)
    return {
        "first_status_s": first_status,
        "ready_s": ready,
        "rollout": rollout,
        "steady": window.close(runs=1),
        "memory_mib": operator.memory_mib(),
    }


def scenario_runs(bench: Bench, operator: Operator, namespace: str, count: int, steady: float) -> dict:
    spec = {
        "daemons": {"resources": SMALL, "autoscaling": {"minReplicas": 1, "maxReplicas": 1}},
        "actors": {"replicas": 1, "resources": SMALL},
    }
    names = [f"run-{i}" for i in range(count)]
    window = Window(operator, bench.identity)
    created = {name: bench.create(namespace, bench.run_body(name, spec)) for name in names}
    running: dict[str, float] = {}
    deadline = time.monotonic() + 600
    while len(running) < count and time.monotonic() < deadline:
        now = time.monotonic()
        for name, status in bench.statuses(namespace).items():
            if name not in running and status.get("phase") == "Running":
                running[name] = now - created[name]
        time.sleep(0.5)
    if len(running) < count:
        raise TimeoutError(f"{count - len(running)} of {count} runs not Running after 600 s")
    creation = window.close(runs=count)
    time.sleep(10)
    window = Window(operator, bench.identity)
    time.sleep(steady)
    latencies = list(running.values())
    return {
        "running_p50_s": percentile(latencies, 50),
        "running_p95_s": percentile(latencies, 95),
        "running_max_s": max(latencies),
        "creation": creation,
        "steady": window.close(runs=count),
        "memory_mib": operator.memory_mib(),
    }


def export_source(ref: str, into: Path) -> Path:
    """The operator's code (the `tolaria` package) at `ref`."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref, "tolaria"], cwd=REPO, check=True, capture_output=True
    ).stdout
    into.mkdir(parents=True)
    with tarfile.open(fileobj=__import__("io").BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def fmt(value: float | None, unit: str = "", digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def report(scenario: str, results: list[tuple[str, dict]]) -> None:
    if scenario == "pods":
        print("| variant | created to status written | to 1000/1000 ready | reconcile p50 / p95 (rollout) "
              "| reconcile p50 / p95 (steady) | req/s rollout (GET run, GET Secret) "
              "| req/s steady (GET run, GET Secret) | RSS / peak |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|")
        for variant, r in results:
            ro, st = r["rollout"], r["steady"]
            rate_ro, rate_st = ro["requests_per_second_per_run"], st["requests_per_second_per_run"]
            print(
                f"| {variant} | {fmt(r['first_status_s'], ' s')} | {fmt(r['ready_s'], ' s', 1)} "
                f"| {fmt(ro['reconcile_p50_s'], ' s', 3)} / {fmt(ro['reconcile_p95_s'], ' s', 3)} "
                f"| {fmt(st['reconcile_p50_s'], ' s', 3)} / {fmt(st['reconcile_p95_s'], ' s', 3)} "
                f"| {rate_ro['total']:.2f} ({rate_ro['get-runs']:.2f}, {rate_ro['get-secrets']:.2f}) "
                f"| {rate_st['total']:.2f} ({rate_st['get-runs']:.2f}, {rate_st['get-secrets']:.2f}) "
                f"| {r['memory_mib']['VmRSS']:.0f} / {r['memory_mib']['VmHWM']:.0f} MiB |"
            )
    else:
        print("| variant | created to Running p50 / p95 / max | reconcile p50 / p95 (creation) "
              "| reconcile p50 / p95 (steady) | req/s per run, steady (GET run, GET Secret) "
              "| RSS / peak |")  # fmt: skip
        print("|---|---|---|---|---|---|")
        for variant, r in results:
            cr, st = r["creation"], r["steady"]
            rate = st["requests_per_second_per_run"]
            print(
                f"| {variant} | {fmt(r['running_p50_s'], ' s', 1)} / {fmt(r['running_p95_s'], ' s', 1)} "
                f"/ {fmt(r['running_max_s'], ' s', 1)} "
                f"| {fmt(cr['reconcile_p50_s'], ' s', 3)} / {fmt(cr['reconcile_p95_s'], ' s', 3)} "
                f"| {fmt(st['reconcile_p50_s'], ' s', 3)} / {fmt(st['reconcile_p95_s'], ' s', 3)} "
                f"| {rate['total']:.3f} ({rate['get-runs']:.3f}, {rate['get-secrets']:.3f}) "
                f"| {r['memory_mib']['VmRSS']:.0f} / {r['memory_mib']['VmHWM']:.0f} MiB |"
            )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenario", choices=("pods", "runs"), required=True)
    parser.add_argument("--variants", default="after", help="comma-separated: before, after")
    parser.add_argument("--before", help="the commit `before` runs (required when a variant is before)")
    parser.add_argument("--nodes", type=int, default=100, help="fake nodes added to the test bed")
    parser.add_argument("--daemons", type=int, default=1000, help="daemon pods of the one run (pods)")
    parser.add_argument("--runs", type=int, default=100, help="runs applied at once (runs)")
    parser.add_argument("--steady-seconds", type=float, default=45.0, help="steady window")
    parser.add_argument("--json", type=Path, help="write the numbers here")
    args = parser.parse_args()
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if any(v not in ("before", "after") for v in variants):
        parser.error(f"--variants takes before and after, got {args.variants!r}")
    if "before" in variants and not args.before:
        parser.error("--before REF is needed for the before variant")

    results: list[tuple[str, dict]] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tolaria-bench-scale-") as tmp:
        workdir = Path(tmp)
        sources = {"after": REPO}
        if "before" in variants:
            sources["before"] = export_source(args.before, workdir / "before")
        bench = Bench(workdir, args.nodes)
        log = workdir / "operator.log"
        try:
            bench.start()
            for i, variant in enumerate(variants):
                namespace = f"bench-{args.scenario}-{i}"
                bench.namespace(namespace)
                operator = Operator(sources[variant], namespace, bench.identity, log)
                try:
                    if args.scenario == "pods":
                        result = scenario_pods(bench, operator, namespace, args.daemons, args.steady_seconds)
                    else:
                        result = scenario_runs(bench, operator, namespace, args.runs, args.steady_seconds)
                    # The runs' finalizers are the operator's to release: it runs until they are gone.
                    result["cleanup_s"] = bench.remove_runs(namespace)
                finally:
                    operator.stop()
                results.append((variant, result))
                print(f"{variant}: {json.dumps(result)}", file=sys.stderr, flush=True)
        except BaseException:
            print(f"--- operator log ---\n{log.read_text(errors='replace')[-6000:]}", file=sys.stderr)
            raise
        finally:
            bench.stop()

    print(f"# {platform.node()}, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}, "
          f"{time.monotonic() - started:.0f} s in all\n")  # fmt: skip
    report(args.scenario, results)
    if args.json:
        args.json.write_text(json.dumps({"scenario": args.scenario, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
