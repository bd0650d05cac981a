"""The operator as a real process against the test bed's control plane and a real redis-server.

Pods never run containers here (kwok plays the kubelet), so everything the operator decides
comes from what the API server reports, as on a real cluster. Each test gets its own run in a
namespace the operator watches, and its own redis-server that the run points at through
`spec.redis.url`. Learner pods are told to keep running (`testbed.tolaria.dev/outcome: run`)
through the run's `tolaria.dev/pod-annotations` annotation, unless a test wants them to fail.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import yaml
from conftest import free_port, wait_for_port

from tolaria.keys import RunKeys
from tolaria.operator.children import POD_ANNOTATIONS_ANNOTATION

from .apicount import client_identity

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CRD_FILE = REPO / "crds" / "trainingrun.yaml"
CRD_NAME = "trainingruns.tolaria.dev"
KEEP_RUNNING = json.dumps({"testbed.tolaria.dev/outcome": "run"})
FAIL = json.dumps({"testbed.tolaria.dev/outcome": "fail"})
OOM = json.dumps({"testbed.tolaria.dev/outcome": "oom"})


class Operator:
    """`tolaria operator` as a subprocess watching one namespace."""

    def __init__(
        self,
        testbed,
        namespace: str,
        log_path: Path,
        extra_args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ):
        self.testbed = testbed
        self.namespace = namespace
        self.log_path = log_path
        self.extra_args = extra_args
        self.env = env if env is not None else testbed.env
        self.metrics_port = free_port()
        self.health_port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tolaria.cli",
                    "operator",
                    "--namespace",
                    self.namespace,
                    "--metrics-port",
                    str(self.metrics_port),
                    "--health-port",
                    str(self.health_port),
                    *self.extra_args,
                ],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for_port(self.health_port, timeout=60)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def metric(self, name: str) -> float:
        text = (
            urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).read().decode()
        )
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and not line.startswith("#"):
                total += float(line.rsplit(" ", 1)[1])
        return total


@pytest.fixture(scope="module")
def crd(testbed) -> str:
    testbed.kubectl(
        "apply", "--server-side", "--force-conflicts", "--field-manager=tolaria-tests", "-f", str(CRD_FILE)
    )
    testbed.wait_for(
        lambda: any(
            c["type"] == "Established" and c["status"] == "True"
            for c in (get(testbed, "", "crd", CRD_NAME) or {}).get("status", {}).get("conditions", [])
        ),
        "the TrainingRun CRD established",
        60,
    )
    return CRD_NAME


@pytest.fixture(scope="module")
def namespace(testbed, crd) -> Iterator[str]:
    name = testbed.create_namespace("operator")
    yield name
    testbed.kubectl("delete", "namespace", name, "--wait=false")


@pytest.fixture(scope="module")
def operator(testbed, namespace, tmp_path_factory) -> Iterator[Operator]:
    op = Operator(testbed, namespace, tmp_path_factory.mktemp("operator") / "operator.log")
    op.start()
    try:
        yield op
    finally:
        # Runs first, so that their finalizers are released by the operator that set them.
        testbed.kubectl("delete", "trainingruns", "--all", "-n", namespace, "--timeout=60s", check=False)
        op.stop()


@pytest.fixture
def report(testbed, namespace, operator, request):
    """The operator's log, shown with a failed test; the test's runs are deleted after it."""
    failed_before = request.session.testsfailed
    yield
    if request.session.testsfailed > failed_before:
        print(f"--- operator log ---\n{operator.log_tail()}")
    names = [
        r["metadata"]["name"]
        for r in json.loads(testbed.kubectl("get", "trainingruns", "-n", namespace, "-o", "json").stdout)[
            "items"
        ]
    ]
    if names:
        testbed.kubectl("delete", "trainingruns", *names, "-n", namespace, "--wait=false")


def manifest(name: str, redis_url: str, spec: dict | None = None, pods: str = KEEP_RUNNING) -> dict:
    autoscaling = {
        "minReplicas": 1,
        "maxReplicas": 4,
        "targetQueueDepth": 100,
        "pollIntervalSeconds": 1,
        "scaleUpStabilizationSeconds": 0,
        "scaleDownStabilizationSeconds": 4,
    }
    body = {
        "apiVersion": "tolaria.dev/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {"name": name, "annotations": {POD_ANNOTATIONS_ANNOTATION: pods}},
        "spec": {
            "decks": ["red_aggro", "white_weenie"],
            "redis": {"url": redis_url},
            "daemons": {"autoscaling": autoscaling},
            "actors": {"perDaemon": 0.5},
            "learner": {"gpus": 1, "maxRestarts": 2},
            # Not read by the simulated pods; file:// without a volume would make the run Degraded.
            "checkpoints": {"uri": f"s3://tolaria/runs/{name}"},
        },
    }
    for key, value in (spec or {}).items():
        if isinstance(value, dict):
            body["spec"].setdefault(key, {}).update(value)
        else:
            body["spec"][key] = value
    return body


def apply(testbed, namespace: str, body: dict) -> None:
    testbed.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(body))


def patch_spec(testbed, namespace: str, name: str, spec: dict) -> None:
    testbed.kubectl(
        "patch", "trainingrun", name, "-n", namespace, "--type=merge", "-p", json.dumps({"spec": spec})
    )


def get(testbed, namespace: str, kind: str, name: str) -> dict | None:
    scope = ("-n", namespace) if namespace else ()
    done = testbed.kubectl("get", kind, name, *scope, "-o", "json", check=False)
    return json.loads(done.stdout) if done.returncode == 0 else None


def items(testbed, namespace: str, kind: str, selector: str) -> list[dict]:
    return json.loads(testbed.kubectl("get", kind, "-n", namespace, "-l", selector, "-o", "json").stdout)[
        "items"
    ]


def status(testbed, namespace: str, name: str) -> dict:
    return (get(testbed, namespace, "trainingrun", name) or {}).get("status") or {}


def condition(testbed, namespace: str, name: str, type_: str) -> dict:
    return next((c for c in status(testbed, namespace, name).get("conditions", []) if c["type"] == type_), {})


def replicas(testbed, namespace: str, name: str) -> int | None:
    deployment = get(testbed, namespace, "deployment", name)
    return None if deployment is None else deployment["spec"]["replicas"]


def events(testbed, namespace: str, name: str, reason: str) -> list[str]:
    found = json.loads(
        testbed.kubectl(
            "get",
            "events",
            "-n",
            namespace,
            "-o",
            "json",
            f"--field-selector=involvedObject.kind=TrainingRun,involvedObject.name={name},reason={reason}",
        ).stdout
    )["items"]
    return [e["message"] for e in found]


def wait_running(testbed, namespace: str, name: str) -> None:
    testbed.wait_for(
        lambda: status(testbed, namespace, name).get("phase") == "Running", f"{name} Running", 60
    )


CHILDREN = {
    ("configmap", "config"),
    ("service", "daemon"),
    ("deployment", "daemon"),
    ("deployment", "actor"),
    ("job", "learner"),
    ("deployment", "evaluator"),
}


def test_run_creates_owned_children_and_fills_the_status(testbed, namespace, operator, redis_server, report):
    apply(
        testbed, namespace, manifest("full", redis_server.url, {"checkpoints": {"uri": "file://checkpoints"}})
    )
    wait_running(testbed, namespace, "full")
    run = get(testbed, namespace, "trainingrun", "full")
    for kind, suffix in CHILDREN:
        child = get(testbed, namespace, kind, f"full-{suffix}")
        assert child is not None, f"{kind} full-{suffix} missing"
        assert child["metadata"]["labels"]["tolaria.dev/run"] == "full"
        owner = child["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["uid"], owner["controller"]) == (
            "TrainingRun",
            run["metadata"]["uid"],
            True,
        )
    pods = items(testbed, namespace, "pods", "tolaria.dev/run=full")
    testbed.wait_for(
        lambda: all(
            p["status"].get("phase") == "Running"
            for p in items(testbed, namespace, "pods", "tolaria.dev/run=full")
        ),
        "pods of run full Running",
        60,
    )
    learner_pod = next(p for p in pods if p["metadata"]["labels"].get("tolaria.dev/component") == "learner")
    assert learner_pod["spec"]["nodeName"] == testbed.gpu_node

    # The queue is empty (below target): the pool grows to its maximum.
    testbed.wait_for(
        lambda: status(testbed, namespace, "full").get("daemonsSummary") == "4/4", "4/4 daemons", 60
    )
    current = status(testbed, namespace, "full")
    assert current["observedGeneration"] == run["metadata"]["generation"]
    assert current["queueDepth"] == 0 and current["actorsReady"] == 2
    assert current["learner"]["state"] == "Running"
    testbed.wait_for(
        lambda: condition(testbed, namespace, "full", "Ready").get("status") == "True", "Ready", 30
    )
    table = testbed.kubectl("get", "trainingruns", "full", "-n", namespace).stdout
    header, row = table.splitlines()[:2]
    assert header.split()[:4] == ["NAME", "PHASE", "GAMES", "DAEMONS"]
    assert row.split()[1] == "Running" and "4/4" in row.split()

    # Liveness and metrics endpoints.
    assert urllib.request.urlopen(f"http://127.0.0.1:{operator.health_port}/healthz", timeout=5).status == 200
    assert operator.metric("tolaria_operator_reconcile_duration_seconds_count") > 0
    assert operator.metric("tolaria_operator_scaling_decisions_total") >= 1
    messages = events(testbed, namespace, "full", "ScaledDaemons")
    assert any("learner starved" in m and "queue depth 0 (target 100)" in m for m in messages), messages
    # file:// checkpoints without a volume claim do not outlive the learner's pod.
    degraded = condition(testbed, namespace, "full", "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", "CheckpointsNotPersistent")
    assert "set checkpoints.volumeClaim or use an s3:// URI" in degraded["message"]


def test_drift_is_repaired_and_steady_state_writes_nothing(
    testbed, namespace, operator, redis_server, report
):
    apply(
        testbed,
        namespace,
        manifest("drift", redis_server.url, {"daemons": {"autoscaling": {"maxReplicas": 1}}}),
    )
    wait_running(testbed, namespace, "drift")
    old_uid = get(testbed, namespace, "deployment", "drift-actor")["metadata"]["uid"]
    testbed.kubectl("delete", "deployment", "drift-actor", "-n", namespace, "--wait=false")
    testbed.kubectl("delete", "service", "drift-daemon", "-n", namespace, "--wait=false")
    testbed.kubectl("set", "image", "deployment/drift-daemon", "daemon=evil:1", "-n", namespace)
    testbed.kubectl("scale", "deployment/drift-daemon", "--replicas=3", "-n", namespace)

    def repaired() -> bool:
        actor = get(testbed, namespace, "deployment", "drift-actor")
        daemon = get(testbed, namespace, "deployment", "drift-daemon")
        return (
            actor is not None
            and actor["metadata"]["uid"] != old_uid
            and get(testbed, namespace, "service", "drift-daemon") is not None
            and daemon["spec"]["template"]["spec"]["containers"][0]["image"] != "evil:1"
            and daemon["spec"]["replicas"] == 1
        )

    testbed.wait_for(repaired, "deleted and edited children restored", 30)
    for kind, _ in CHILDREN:
        assert len(items(testbed, namespace, kind, "tolaria.dev/run=drift")) == (
            3 if kind == "deployment" else 1
        )
    time.sleep(3)  # settle
    before = operator.metric("tolaria_operator_child_applies_total")
    time.sleep(4)
    assert operator.metric("tolaria_operator_child_applies_total") == before


def test_spec_change_rolls_only_the_components_that_read_it(
    testbed, namespace, operator, redis_server, report
):
    apply(testbed, namespace, manifest("roll", redis_server.url))
    wait_running(testbed, namespace, "roll")
    job_uid = get(testbed, namespace, "job", "roll-learner")["metadata"]["uid"]
    patch_spec(testbed, namespace, "roll", {"daemons": {"image": "ghcr.io/tolaria/daemon:next"}})

    def rolled() -> bool:
        daemon = get(testbed, namespace, "deployment", "roll-daemon")
        image = daemon["spec"]["template"]["spec"]["containers"][0]["image"]
        return (
            image == "ghcr.io/tolaria/daemon:next"
            and daemon["status"].get("updatedReplicas") == daemon["spec"]["replicas"]
        )

    testbed.wait_for(rolled, "daemon Deployment rolled to the new image", 60)
    assert get(testbed, namespace, "job", "roll-learner")["metadata"]["uid"] == job_uid
    run = get(testbed, namespace, "trainingrun", "roll")
    testbed.wait_for(
        lambda: status(testbed, namespace, "roll").get("observedGeneration") == run["metadata"]["generation"],
        "observedGeneration",
        30,
    )

    # A learner change replaces the Job (its template is immutable); the new one starts.
    patch_spec(testbed, namespace, "roll", {"learner": {"image": "ghcr.io/tolaria/trainer:next"}})
    testbed.wait_for(
        lambda: (
            (job := get(testbed, namespace, "job", "roll-learner")) is not None
            and job["metadata"]["uid"] != job_uid
            and job["spec"]["template"]["spec"]["containers"][0]["image"] == "ghcr.io/tolaria/trainer:next"
        ),
        "learner Job replaced",
        60,
    )
    assert events(testbed, namespace, "roll", "ReplacingLearner")

    # A component the spec no longer asks for goes away.
    patch_spec(testbed, namespace, "roll", {"evaluation": {"enabled": False}})
    testbed.wait_for(
        lambda: get(testbed, namespace, "deployment", "roll-evaluator") is None, "evaluator removed", 30
    )
    assert events(testbed, namespace, "roll", "RemovedChild")


def test_suspend_and_resume(testbed, namespace, operator, redis_server, report):
    apply(testbed, namespace, manifest("pause", redis_server.url))
    wait_running(testbed, namespace, "pause")
    patch_spec(testbed, namespace, "pause", {"suspend": True})

    def suspended() -> bool:
        job = get(testbed, namespace, "job", "pause-learner")
        return (
            status(testbed, namespace, "pause").get("phase") == "Suspended"
            and replicas(testbed, namespace, "pause-daemon") == 0
            and replicas(testbed, namespace, "pause-actor") == 0
            and replicas(testbed, namespace, "pause-evaluator") == 0
            and job["spec"]["suspend"] is True
            and not items(testbed, namespace, "pods", "tolaria.dev/run=pause")
        )

    testbed.wait_for(suspended, "run suspended, pods gone", 60)
    assert condition(testbed, namespace, "pause", "Suspended")["status"] == "True"
    assert status(testbed, namespace, "pause")["learner"]["state"] == "Stopped"
    assert any(
        "-> 0: the run is suspended" in m for m in events(testbed, namespace, "pause", "ScaledDaemons")
    )

    patch_spec(testbed, namespace, "pause", {"suspend": False})
    testbed.wait_for(
        lambda: (
            status(testbed, namespace, "pause").get("phase") == "Running"
            and status(testbed, namespace, "pause")["learner"]["state"] == "Running"
            and (replicas(testbed, namespace, "pause-daemon") or 0) >= 1
        ),
        "run resumed",
        60,
    )
    assert condition(testbed, namespace, "pause", "Suspended")["status"] == "False"


def test_autoscaler_follows_the_rollout_queue(testbed, namespace, operator, redis_server, report):
    apply(testbed, namespace, manifest("scale", redis_server.url))
    started = time.monotonic()
    testbed.wait_for(lambda: replicas(testbed, namespace, "scale-daemon") == 4, "scale up to 4 (starved)", 30)
    assert time.monotonic() - started < 15
    testbed.wait_for(
        lambda: replicas(testbed, namespace, "scale-actor") == 2, "actors follow (perDaemon 0.5)", 30
    )

    # Rollouts pile up far beyond the target: the pool shrinks, but only after the 4 s window.
    client = redis.Redis.from_url(redis_server.url)
    stream = RunKeys(namespace, "scale").rollouts
    pipe = client.pipeline()
    for i in range(1000):
        pipe.xadd(stream, {"i": i})
    pipe.execute()
    piled = time.monotonic()
    testbed.wait_for(lambda: replicas(testbed, namespace, "scale-daemon") < 4, "first scale-down", 30)
    assert time.monotonic() - piled >= 2.5  # the 4 s scale-down window, less one polling interval
    testbed.wait_for(lambda: replicas(testbed, namespace, "scale-daemon") == 1, "scale down to 1", 60)
    assert status(testbed, namespace, "scale")["queueDepth"] == 1000
    assert any(
        "rollouts piling up; queue depth 1000" in m
        for m in events(testbed, namespace, "scale", "ScaledDaemons")
    )

    # The learner drains the queue: starved again, the pool grows back.
    client.xgroup_create(stream, "learners", id="$")
    testbed.wait_for(
        lambda: replicas(testbed, namespace, "scale-daemon") == 4, "scale up after the drain", 30
    )


def test_noisy_queue_does_not_flap(testbed, namespace, operator, redis_server, report):
    spec = {
        "daemons": {
            "autoscaling": {
                "minReplicas": 2,
                "maxReplicas": 6,
                "targetQueueDepth": 1000,
                "scaleUpStabilizationSeconds": 6,
                "scaleDownStabilizationSeconds": 30,
            }
        }
    }
    apply(testbed, namespace, manifest("noisy", redis_server.url, spec))
    client = redis.Redis.from_url(redis_server.url)
    stream = RunKeys(namespace, "noisy").rollouts
    client.xgroup_create(stream, "learners", id="$", mkstream=True)
    pipe = client.pipeline()
    for i in range(1000):
        pipe.xadd(stream, {"i": i})
    pipe.execute()
    wait_running(testbed, namespace, "noisy")
    time.sleep(2)
    baseline = len(events(testbed, namespace, "noisy", "ScaledDaemons"))
    # The depth swings 500 -> 1000 -> 1500 -> 1000 -> 500 ... every second: starved and piled-up
    # alternate faster than either stabilisation window.
    for delta in [-500, 500, 500, -500] * 4:
        if delta > 0:
            pipe = client.pipeline()
            for j in range(delta):
                pipe.xadd(stream, {"j": j})
            pipe.execute()
        else:
            read = client.xreadgroup("learners", "l", {stream: ">"}, count=-delta)
            client.xack(stream, "learners", *[entry_id for _, entries in read for entry_id, _ in entries])
        time.sleep(1)
    assert len(events(testbed, namespace, "noisy", "ScaledDaemons")) - baseline <= 1


def test_redis_outage_is_degraded_holds_the_pool_and_recovers(
    testbed, namespace, operator, redis_server, report
):
    apply(testbed, namespace, manifest("outage", redis_server.url))
    testbed.wait_for(lambda: replicas(testbed, namespace, "outage-daemon") == 4, "pool at 4", 30)
    redis_server.stop()
    testbed.wait_for(
        lambda: condition(testbed, namespace, "outage", "Degraded").get("reason") == "RedisUnavailable",
        "Degraded: RedisUnavailable",
        30,
    )
    message = condition(testbed, namespace, "outage", "Degraded")["message"]
    assert f"127.0.0.1:{redis_server.port}" in message
    time.sleep(3)
    assert replicas(testbed, namespace, "outage-daemon") == 4
    assert events(testbed, namespace, "outage", "RedisUnavailable")

    redis_server.start()
    testbed.wait_for(
        lambda: condition(testbed, namespace, "outage", "Degraded").get("status") == "False",
        "Degraded cleared",
        30,
    )
    # kopf posts events in the background: the status can be written before the event lands
    testbed.wait_for(
        lambda: events(testbed, namespace, "outage", "RedisRecovered"), "RedisRecovered event", 15
    )


def test_a_redis_that_lost_the_runs_state_gets_the_games_counter_back(
    testbed, namespace, operator, redis_server, report
):
    apply(testbed, namespace, manifest("wiped", redis_server.url, {"stop": {"maxGames": 1000}}))
    wait_running(testbed, namespace, "wiped")
    keys = RunKeys(namespace, "wiped")
    client = redis.Redis.from_url(redis_server.url)
    client.hset(keys.stats, "games", 700)
    testbed.wait_for(lambda: status(testbed, namespace, "wiped").get("gamesPlayed") == 700, "700 games", 30)

    # What a Redis pod restarted without its data looks like, with the actors carrying on.
    with client.pipeline(transaction=True) as pipe:
        pipe.flushall().hincrby(keys.stats, "games", 5).execute()
    testbed.wait_for(lambda: events(testbed, namespace, "wiped", "RedisStateLost"), "RedisStateLost", 30)
    message = events(testbed, namespace, "wiped", "RedisStateLost")[0]
    assert (
        "Redis lost the run's state: the operator's mark in it is gone, and it counted 5 games since"
        in message
    )
    assert int(client.hget(keys.stats, "games")) == 705
    assert status(testbed, namespace, "wiped")["gamesPlayed"] >= 700
    testbed.wait_for(
        lambda: status(testbed, namespace, "wiped").get("gamesPlayed") == 705, "the count goes on", 30
    )
    client.hincrby(keys.stats, "games", 295)  # maxGames counts the games from before the loss
    testbed.wait_for(lambda: status(testbed, namespace, "wiped").get("phase") == "Succeeded", "Succeeded", 30)


def test_max_games_ends_the_run_and_releases_compute(testbed, namespace, operator, redis_server, report):
    # a curriculum of two stages, the first ending after 100 games: the operator moves it on
    curriculum = {"stages": [{"name": "mirrors", "until": {"games": 100}}, {"name": "whole-pool"}]}
    apply(
        testbed,
        namespace,
        manifest("stop", redis_server.url, {"stop": {"maxGames": 500}, "curriculum": curriculum}),
    )
    wait_running(testbed, namespace, "stop")
    keys = RunKeys(namespace, "stop")
    client = redis.Redis.from_url(redis_server.url)
    client.hset(
        keys.stats,
        mapping={"games": 120, "checkpoint_uri": "file:///ck/stop/3", "checkpoint_time": 1795000000},
    )
    client.set(keys.policy_version, 3)
    # the evaluator's headline of the version it evaluated last (v2), not of the newest (v3)
    client.hset(
        keys.eval, mapping={"policy_version": 2, "baseline": "heuristic", "winrate": 0.62549, "elo": 1234.4}
    )
    testbed.wait_for(
        lambda: status(testbed, namespace, "stop").get("gamesPlayed") == 120, "games counted", 30
    )
    current = status(testbed, namespace, "stop")
    assert (current["policyVersion"], current["evaluatedPolicyVersion"]) == (3, 2)
    assert (current["winRate"], current["baseline"], current["elo"]) == (0.625, "heuristic", 1234)
    assert current["lastCheckpoint"]["uri"] == "file:///ck/stop/3"
    testbed.wait_for(
        lambda: status(testbed, namespace, "stop").get("stage") == "whole-pool(2/2)", "stage 2 began", 30
    )
    assert status(testbed, namespace, "stop")["curriculum"]["stageStartGames"] == 120
    assert client.hget(keys.stats, "curriculum_stage") == b"1"
    # `kubectl get trainingruns` tells the story from what the operator wrote.
    header, row = testbed.kubectl("get", "trainingruns", "stop", "-n", namespace).stdout.splitlines()[:2]
    assert header.split() == [
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
    cells = dict(zip(header.split(), row.split(), strict=True))
    shown = tuple(cells[c] for c in ("PHASE", "GAMES", "QUEUE", "POLICY", "STAGE", "WINRATE", "ELO"))
    assert shown == ("Running", "120", "0", "3", "whole-pool(2/2)", "0.625", "1234")

    client.hset(keys.stats, "games", 500)
    testbed.wait_for(lambda: status(testbed, namespace, "stop").get("phase") == "Succeeded", "Succeeded", 30)
    testbed.wait_for(
        lambda: (
            replicas(testbed, namespace, "stop-daemon") == 0
            and replicas(testbed, namespace, "stop-actor") == 0
            and get(testbed, namespace, "job", "stop-learner")["spec"]["suspend"] is True
            and not items(testbed, namespace, "pods", "tolaria.dev/run=stop")
        ),
        "compute released",
        60,
    )
    done = status(testbed, namespace, "stop")
    assert done["completionTime"]
    complete = condition(testbed, namespace, "stop", "Complete")
    assert (complete["status"], complete["reason"]) == ("True", "MaxGamesReached")
    # Final: more games or a later resume do not restart it.
    client.hset(keys.stats, "games", 10)
    time.sleep(3)
    assert status(testbed, namespace, "stop")["phase"] == "Succeeded"


def test_an_evicted_learner_does_not_count_against_max_restarts(
    testbed, namespace, operator, redis_server, report
):
    apply(testbed, namespace, manifest("evicted", redis_server.url, {"learner": {"maxRestarts": 0}}))
    wait_running(testbed, namespace, "evicted")

    def running_learners() -> list[str]:
        pods = items(testbed, namespace, "pods", "tolaria.dev/run=evicted,tolaria.dev/component=learner")
        return [p["metadata"]["name"] for p in pods if p["status"].get("phase") == "Running"]

    testbed.wait_for(lambda: len(running_learners()) == 1, "learner Running", 60)
    first = running_learners()[0]
    # A node drain or a preemption: the Eviction API marks the pod DisruptionTarget, then deletes it.
    eviction = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": first, "namespace": namespace},
    }
    testbed.kubectl(
        "create", "--raw", f"/api/v1/namespaces/{namespace}/pods/{first}/eviction", "-f", "-",
        input=json.dumps(eviction),
    )  # fmt: skip
    testbed.wait_for(
        lambda: (names := running_learners()) != [] and first not in names, "a new learner pod Running", 90
    )
    current = status(testbed, namespace, "evicted")
    # maxRestarts 0: a counted failure would have failed the run.
    assert current["phase"] == "Running" and current["learner"]["restarts"] == 0, current
    assert (get(testbed, namespace, "job", "evicted-learner")["status"].get("failed") or 0) <= 1


def test_a_crashed_learner_is_restarted_and_the_run_recovers(
    testbed, namespace, operator, redis_server, report
):
    apply(testbed, namespace, manifest("flaky", redis_server.url))
    wait_running(testbed, namespace, "flaky")

    def running_learners() -> list[str]:
        pods = items(testbed, namespace, "pods", "tolaria.dev/run=flaky,tolaria.dev/component=learner")
        return [p["metadata"]["name"] for p in pods if p["status"].get("phase") == "Running"]

    testbed.wait_for(lambda: len(running_learners()) == 1, "learner Running", 60)
    first = running_learners()[0]
    # The learner process crashes: kwok fails the Running pod once it carries this annotation.
    testbed.kubectl(
        "annotate", "pod", first, "-n", namespace, "--overwrite", "testbed.tolaria.dev/outcome=fail"
    )
    testbed.wait_for(
        lambda: condition(testbed, namespace, "flaky", "Degraded").get("reason") == "LearnerRestarting",
        "Degraded: LearnerRestarting",
        60,
    )
    testbed.wait_for(
        lambda: (names := running_learners()) != [] and first not in names, "a new learner pod Running", 60
    )
    testbed.wait_for(
        lambda: condition(testbed, namespace, "flaky", "Degraded").get("status") == "False",
        "Degraded cleared",
        30,
    )
    current = status(testbed, namespace, "flaky")
    assert current["phase"] == "Running"
    assert current["learner"] == {"state": "Running", "restarts": 1}


def test_a_finished_run_releases_its_redis_after_its_ttl_and_keeps_its_status(
    testbed, namespace, operator, report
):
    body = manifest(
        "brief", "unused", {"learner": {"maxRestarts": 0}, "ttlSecondsAfterFinished": 5}, pods=FAIL
    )
    body["spec"]["redis"] = {"managed": True}
    apply(testbed, namespace, body)
    testbed.wait_for(
        lambda: get(testbed, namespace, "deployment", "brief-redis") is not None, "the run's Redis", 30
    )
    testbed.wait_for(lambda: status(testbed, namespace, "brief").get("phase") == "Failed", "Failed", 90)
    testbed.wait_for(
        lambda: get(testbed, namespace, "deployment", "brief-redis") is None,
        "the Redis released after the TTL",
        60,
    )
    final = status(testbed, namespace, "brief")
    assert final["phase"] == "Failed" and final["completionTime"]
    assert condition(testbed, namespace, "brief", "Failed")["reason"] == "LearnerFailed"
    running = [
        p["metadata"]["name"]
        for p in items(testbed, namespace, "pods", "tolaria.dev/run=brief")
        if p["status"].get("phase") in ("Pending", "Running") and "deletionTimestamp" not in p["metadata"]
    ]
    assert running == []
    assert get(testbed, namespace, "configmap", "brief-config") is not None


def test_an_oom_killed_learner_is_reported_with_that_reason(
    testbed, namespace, operator, redis_server, report
):
    spec = {"learner": {"maxRestarts": 1, "resources": {"limits": {"memory": "3Gi"}}}}
    apply(testbed, namespace, manifest("hungry", redis_server.url, spec, pods=OOM))
    testbed.wait_for(lambda: status(testbed, namespace, "hungry").get("phase") == "Failed", "Failed", 90)
    message = condition(testbed, namespace, "hungry", "Failed")["message"]
    assert "was OOMKilled: the learner needed more than its memory limit 3Gi" in message, message


def test_learner_over_max_restarts_fails_the_run(testbed, namespace, operator, redis_server, report):
    apply(testbed, namespace, manifest("crash", redis_server.url, {"learner": {"maxRestarts": 1}}, pods=FAIL))
    testbed.wait_for(
        lambda: (
            condition(testbed, namespace, "crash", "Degraded").get("reason") == "LearnerRestarting"
            or status(testbed, namespace, "crash").get("phase") == "Failed"
        ),
        "learner restarting",
        60,
    )
    testbed.wait_for(lambda: status(testbed, namespace, "crash").get("phase") == "Failed", "Failed", 90)
    failed = condition(testbed, namespace, "crash", "Failed")
    assert (failed["status"], failed["reason"]) == ("True", "LearnerFailed")
    assert "BackoffLimitExceeded" in failed["message"]
    assert status(testbed, namespace, "crash")["learner"]["restarts"] == 1
    testbed.wait_for(lambda: replicas(testbed, namespace, "crash-daemon") == 0, "daemons released", 30)


def test_operator_restart_creates_no_duplicates_and_keeps_status(
    testbed, namespace, operator, redis_server, report
):
    apply(testbed, namespace, manifest("restart", redis_server.url))
    wait_running(testbed, namespace, "restart")
    before = status(testbed, namespace, "restart")
    # Killed mid-reconcile: a second run is being set up when the operator dies.
    apply(testbed, namespace, manifest("midway", redis_server.url))
    testbed.wait_for(
        lambda: items(testbed, namespace, "configmap", "tolaria.dev/run=midway"), "midway started", 30
    )
    operator.stop(signal.SIGKILL)
    patch_spec(testbed, namespace, "restart", {"daemons": {"gamesPerDaemon": 16}})
    operator.start()
    wait_running(testbed, namespace, "midway")
    testbed.wait_for(
        lambda: (
            "--max-games"
            in (
                args := get(testbed, namespace, "deployment", "restart-daemon")["spec"]["template"]["spec"][
                    "containers"
                ][0]["args"]
            )
            and args[args.index("--max-games") + 1] == "16"
        ),
        "change made while the operator was down applied",
        60,
    )
    for run in ("restart", "midway"):
        for kind, _ in CHILDREN:
            expected = 3 if kind == "deployment" else 1
            assert len(items(testbed, namespace, kind, f"tolaria.dev/run={run}")) == expected, (run, kind)
    after = status(testbed, namespace, "restart")
    assert after["startTime"] == before["startTime"]
    assert after["phase"] == "Running"


def test_deleting_the_run_garbage_collects_its_children(testbed, namespace, operator, redis_server, report):
    apply(testbed, namespace, manifest("gone", redis_server.url))
    wait_running(testbed, namespace, "gone")
    testbed.kubectl("delete", "trainingrun", "gone", "-n", namespace, "--timeout=60s")

    def collected() -> bool:
        return not any(
            items(testbed, namespace, kind, "tolaria.dev/run=gone")
            for kind in ("deployment", "job", "service", "configmap", "pods")
        )

    testbed.wait_for(collected, "children garbage-collected", 60)


def test_fifty_runs_applied_at_once_all_reconcile(testbed, namespace, operator, redis_server, report):
    count = 50
    small = {"requests": {"cpu": "50m", "memory": "64Mi"}}
    spec = {
        "daemons": {"resources": small, "autoscaling": {"maxReplicas": 1}},
        "actors": {"resources": small},
        "learner": {"gpus": 0, "resources": small},
    }
    documents = [manifest(f"bulk-{i}", redis_server.url, spec) for i in range(count)]
    started = time.monotonic()
    testbed.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(documents))

    def running() -> int:
        runs = json.loads(testbed.kubectl("get", "trainingruns", "-n", namespace, "-o", "json").stdout)[
            "items"
        ]
        return sum(
            (r.get("status") or {}).get("phase") == "Running"
            for r in runs
            if r["metadata"]["name"].startswith("bulk-")
        )

    testbed.wait_for(lambda: running() == count, f"{count} runs Running", 180)
    print(f"{count} runs Running {time.monotonic() - started:.1f}s after one apply")
    for kind in ("deployment", "job", "configmap"):
        children = items(testbed, namespace, kind, "tolaria.dev/run")
        bulk = [c for c in children if c["metadata"]["labels"]["tolaria.dev/run"].startswith("bulk-")]
        assert len(bulk) == count * (3 if kind == "deployment" else 1)


KOPF_PEERING_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "kopfpeerings.kopf.dev"},
    "spec": {
        "scope": "Namespaced",
        "group": "kopf.dev",
        "names": {"kind": "KopfPeering", "plural": "kopfpeerings", "singular": "kopfpeering"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                        },
                    }
                },
            }
        ],
    },
}


def test_two_peered_operators_one_works_the_other_takes_over(testbed, crd, tmp_path, redis_server):
    testbed.kubectl("apply", "-f", "-", input=yaml.safe_dump(KOPF_PEERING_CRD))
    testbed.wait_for(
        lambda: any(
            c["type"] == "Established" and c["status"] == "True"
            for c in (get(testbed, "", "crd", "kopfpeerings.kopf.dev") or {})
            .get("status", {})
            .get("conditions", [])
        ),
        "the KopfPeering CRD established",
        60,
    )
    namespace = testbed.create_namespace("peering")
    peering = {"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": "tolaria"}}
    apply(testbed, namespace, peering)
    leader = Operator(testbed, namespace, tmp_path / "leader.log", ("--peering=tolaria", "--priority=200"))
    standby = Operator(testbed, namespace, tmp_path / "standby.log", ("--peering=tolaria", "--priority=100"))
    leader.start()
    standby.start()
    try:
        # Peered operators start paused; only the one with the highest priority resumes.
        testbed.wait_for(
            lambda: "Resuming operations" in leader.log_path.read_text(), "the leader to work", 60
        )
        apply(testbed, namespace, manifest("peered", redis_server.url))
        wait_running(testbed, namespace, "peered")
        assert leader.metric("tolaria_operator_reconcile_duration_seconds_count") > 0
        assert standby.metric("tolaria_operator_reconcile_duration_seconds_count") == 0
        assert "Resuming operations" not in standby.log_path.read_text()
        assert len(items(testbed, namespace, "deployment", "tolaria.dev/run=peered")) == 3

        leader.stop()  # a clean exit withdraws it from the peering at once
        testbed.wait_for(
            lambda: "Resuming operations" in standby.log_path.read_text(), "the standby to resume", 60
        )
        testbed.kubectl("delete", "deployment", "peered-actor", "-n", namespace, "--wait=false")
        testbed.wait_for(
            lambda: (
                (actor := get(testbed, namespace, "deployment", "peered-actor")) is not None
                and not actor["metadata"].get("deletionTimestamp")
            ),
            "the standby repairing the run",
            60,
        )
        assert standby.metric("tolaria_operator_reconcile_duration_seconds_count") > 0
        testbed.kubectl("delete", "trainingrun", "peered", "-n", namespace, "--timeout=60s")
    except BaseException:
        print(f"--- leader ---\n{leader.log_tail(200)}\n--- standby ---\n{standby.log_tail(200)}")
        raise
    finally:
        leader.stop()
        standby.stop()
        testbed.kubectl("delete", "namespace", namespace, "--wait=false")


def test_example_trainingrun_creates_every_child(testbed, namespace, operator, report):
    body = yaml.safe_load((REPO / "examples" / "trainingrun.yaml").read_text())
    body["metadata"]["annotations"] = {POD_ANNOTATIONS_ANNOTATION: KEEP_RUNNING}
    apply(testbed, namespace, body)
    name = body["metadata"]["name"]
    expected = {
        ("configmap", "config"),
        ("service", "daemon"),
        ("deployment", "daemon"),
        ("deployment", "actor"),
        ("job", "learner"),
        ("deployment", "evaluator"),
        ("deployment", "redis"),
        ("service", "redis"),
        ("poddisruptionbudget", "redis"),
        ("secret", "redis-auth"),
        # The API server accepted the run's NetworkPolicies as the operator built them.
        ("networkpolicy", "daemon"),
        ("networkpolicy", "redis"),
        ("networkpolicy", "trainer"),
    }
    testbed.wait_for(
        lambda: all(
            get(testbed, namespace, kind, f"{name}-{suffix}") is not None for kind, suffix in expected
        ),
        "every child of the example",
        60,
    )
    testbed.wait_for(
        lambda: (
            (pods := items(testbed, namespace, "pods", f"tolaria.dev/run={name}"))
            and len(pods) >= 6
            and all(p["status"].get("phase") == "Running" for p in pods)
        ),
        "the example's pods Running",
        60,
    )
    learner = next(
        p
        for p in items(testbed, namespace, "pods", f"tolaria.dev/run={name}")
        if p["metadata"]["labels"]["tolaria.dev/component"] == "learner"
    )
    assert learner["spec"]["nodeName"] == testbed.gpu_node
    # The managed Redis is only reachable inside a cluster's DNS, which the operator here lacks,
    # and the checkpoint credentials Secret does not exist: both named in the Degraded message.
    testbed.wait_for(
        lambda: "cannot read Redis" in condition(testbed, namespace, name, "Degraded").get("message", ""),
        "Degraded: the managed Redis cannot be reached from outside the cluster",
        30,
    )
    degraded = condition(testbed, namespace, name, "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", "SecretMissing")
    assert f"{name}-redis.{namespace}.svc:6379" in degraded["message"]
    assert "Secret s3-credentials (spec.checkpoints.credentialsSecret) does not exist" in degraded["message"]
    assert replicas(testbed, namespace, f"{name}-daemon") == 4  # the example's fallbackReplicas


def test_managed_redis_keeps_its_data_on_a_claim_of_the_default_storage_class(
    testbed, namespace, operator, report
):
    ephemeral = manifest("nostorage", "unused", {"checkpoints": {"uri": "s3://tolaria/runs/nostorage"}})
    ephemeral["spec"]["redis"] = {"managed": True}
    apply(testbed, namespace, ephemeral)
    # (Degraded's reason is the first problem: the simulated Redis pod cannot be read either.) The
    # first status says why there is no claim (no default StorageClass); every later one, that the
    # Redis was created without one, which a slow poll may be the first to see.
    testbed.wait_for(
        lambda: (
            "the managed Redis keeps its data in an emptyDir ("
            in condition(testbed, namespace, "nostorage", "Degraded").get("message", "")
        ),
        "Degraded: RedisNotPersistent",
        30,
    )
    assert get(testbed, namespace, "persistentvolumeclaim", "nostorage-redis") is None

    storage_class = f"default-{namespace}"
    testbed.kubectl(
        "apply", "-f", "-",
        input=yaml.safe_dump({
            "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": storage_class,
                         "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": "WaitForFirstConsumer",
        }),
    )  # fmt: skip
    try:
        durable = manifest("durable", "unused", {"checkpoints": {"uri": "s3://tolaria/runs/durable"}})
        durable["spec"]["redis"] = {"managed": True, "storage": {"size": "2Gi"}}
        apply(testbed, namespace, durable)
        testbed.wait_for(
            lambda: get(testbed, namespace, "deployment", "durable-redis") is not None, "durable's Redis", 30
        )
        claim = get(testbed, namespace, "persistentvolumeclaim", "durable-redis")
        assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"
        volumes = get(testbed, namespace, "deployment", "durable-redis")["spec"]["template"]["spec"][
            "volumes"
        ]
        assert volumes[0] == {"name": "data", "persistentVolumeClaim": {"claimName": "durable-redis"}}
        # Decided when the Redis was created: a StorageClass appearing later does not move it.
        time.sleep(2)
        assert get(testbed, namespace, "persistentvolumeclaim", "nostorage-redis") is None
        assert "emptyDir" not in condition(testbed, namespace, "durable", "Degraded").get("message", "")
    finally:
        testbed.kubectl("delete", "storageclass", storage_class, "--wait=false")


def test_a_steady_run_costs_the_api_server_no_reads(testbed, crd, tmp_path, redis_server):
    """The operator takes the run from its watch and keeps the Redis password it read: at
    every tick of a steady run it asks the API server for neither (counted by the API server,
    tests/e2e/apicount.py)."""
    namespace = testbed.create_namespace("reads")
    identity = client_identity(testbed, namespace, "tolaria-operator", tmp_path)
    redis.Redis.from_url(redis_server.url).config_set("requirepass", "steady-password")
    testbed.kubectl(
        "create",
        "secret",
        "generic",
        "redis-auth",
        "-n",
        namespace,
        "--from-literal=password=steady-password",
    )
    operator = Operator(testbed, namespace, tmp_path / "operator.log", env=identity.env())
    operator.start()
    try:
        spec = {
            "redis": {"passwordSecret": {"name": "redis-auth", "key": "password"}},
            "daemons": {"autoscaling": {"minReplicas": 1, "maxReplicas": 1, "pollIntervalSeconds": 1}},
        }
        apply(testbed, namespace, manifest("steady", redis_server.url, spec))
        testbed.wait_for(
            lambda: (
                status(testbed, namespace, "steady").get("daemonsSummary") == "1/1"
                and condition(testbed, namespace, "steady", "Ready").get("status") == "True"
            ),
            "steady Ready with its daemon",
            60,
        )
        before = identity.counts()
        steps = operator.metric("tolaria_operator_reconcile_duration_seconds_count")
        time.sleep(6)
        after = identity.counts()
        assert operator.metric("tolaria_operator_reconcile_duration_seconds_count") - steps >= 4
        assert after["get-runs"] - before["get-runs"] == 0
        # At most one existence check of the Secret (once a minute); its value is kept.
        assert after["get-secrets"] - before["get-secrets"] <= 1
        assert condition(testbed, namespace, "steady", "Degraded").get("status") == "False"
    except BaseException:
        print(f"--- operator log ---\n{operator.log_tail()}")
        raise
    finally:
        testbed.kubectl("delete", "trainingruns", "--all", "-n", namespace, "--timeout=60s", check=False)
        operator.stop()
        identity.remove()
        testbed.kubectl("delete", "namespace", namespace, "--wait=false")
