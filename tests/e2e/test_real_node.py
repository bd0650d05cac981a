"""The cluster path for real: Tolaria's images on a real kubelet, from `helm install` to an evaluated
policy, with the operator running as the pod its chart installs."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import re
import subprocess
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest
import yaml

from tests.conftest import MinioServer
from tolaria.operator import children as build
from tolaria.spec import load_trainingrun

from .realnode import (
    MACHINE_LOCK,
    NODE_IP,
    NODE_LINK_HOST,
    NODE_NAME,
    NODE_POD_CIDR,
    leftovers,
    machine_lock,
)
from .test_chart import adopt_crd

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "tolaria"
VERSION = "0.1.0"
DAEMON_IMAGE = f"ghcr.io/tolaria/daemon:{VERSION}"
TRAINER_IMAGE = f"ghcr.io/tolaria/trainer:{VERSION}"
OPERATOR_IMAGE = f"ghcr.io/tolaria/operator:{VERSION}"
# Dockerfile.daemon's Forge stage around a stand-in forge.jar that runs Tolaria's emulation of Forge's
# dialect: real Forge cannot be fetched here (scripts/images, "the Forge stand-in").
FORGE_STANDIN_IMAGE = f"localhost/tolaria/forge-standin:{VERSION}"
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


def install_operator(bed, namespace: str, *values: str) -> str:
    """`helm install` of the chart with the built operator image; the release adopts the CRD
    that an earlier release of the session left (its `keepOnUninstall`), as Helm documents."""
    release = f"tolaria-{uuid.uuid4().hex[:6]}"
    adopt_crd(bed, release, namespace)
    bed.helm(
        "install", release, str(CHART), "-n", namespace,
        f"--set=image.repository={OPERATOR_IMAGE.rsplit(':', 1)[0]}", f"--set=image.tag={VERSION}",
        *(f"--set={value}" for value in values), "--wait", "--timeout=180s",
    )  # fmt: skip
    return release


# Pod Security "restricted", enforced: every pod of these tests, the operator's and the run's
# included, must be admitted under it.
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}


def restricted_pod(name: str, container: dict, **spec) -> dict:
    """A pod of the tests' own, locked down as the operator's children are."""
    container = {
        **container,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, **spec.pop("metadata", {})},
        "spec": {
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 10001,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "automountServiceAccountToken": False,
            "containers": [container],
            "volumes": [{"name": "tmp", "emptyDir": {}}],
            **spec,
        },
    }


@pytest.fixture
def namespace(real_cluster):
    name = real_cluster.create_namespace("real", labels=RESTRICTED)
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


def test_a_node_left_by_a_killed_run_is_removed_before_the_next_starts():
    """A killed test run leaves its node: processes in their own session and network namespace,
    the veth link and the route to the pod CIDR (a CI run once failed on that route). This test
    runs before the module's first real_cluster, while no node holds the machine lock. It plants
    the leftovers on a machine cleared first, holding the lock, so nothing else's node is in the
    way of its route."""
    netns, link = "tolaria-node-leftover", "tlnodeleftover"
    survivor = None
    try:
        with contextlib.ExitStack() as planting:
            try:
                planting.enter_context(machine_lock(wait=False))
            except BlockingIOError:
                pytest.fail(
                    f"a real node holds {MACHINE_LOCK}: this test must run before the first real_cluster"
                )
            for step in (
                ["ip", "netns", "add", netns],
                ["ip", "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", netns],
                ["ip", "addr", "add", f"{NODE_LINK_HOST}/30", "dev", link],
                ["ip", "link", "set", link, "up"],
                ["ip", "route", "add", NODE_POD_CIDR, "via", NODE_IP, "dev", link],
            ):
                done = subprocess.run(step, capture_output=True, text=True, check=False)
                assert done.returncode == 0, (
                    f"{' '.join(step)}: {done.stderr.strip()}; routes: {subprocess.getoutput('ip route')}"
                )
            survivor = subprocess.Popen(
                ["ip", "netns", "exec", netns, "sleep", "600"], start_new_session=True
            )
        with machine_lock():
            assert survivor.wait(timeout=10) == -9
            assert leftovers() == []
    finally:
        if survivor is not None:
            survivor.kill()
        subprocess.run(["ip", "netns", "delete", netns], capture_output=True, check=False)
        subprocess.run(["ip", "link", "delete", link], capture_output=True, check=False)


def test_node_is_real_and_runs_only_real_pods(real_cluster):
    nodes = json.loads(real_cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    assert [n["metadata"]["name"] for n in nodes] == [NODE_NAME]
    info = nodes[0]["status"]["nodeInfo"]
    assert info["containerRuntimeVersion"].startswith("containerd://")
    assert info["kubeletVersion"].startswith("v1.36")

    def images_present() -> bool:
        node = json.loads(real_cluster.kubectl("get", "node", NODE_NAME, "-o", "json").stdout)
        names = {name for image in node["status"].get("images") or [] for name in image.get("names") or []}
        return {DAEMON_IMAGE, TRAINER_IMAGE, OPERATOR_IMAGE, FORGE_STANDIN_IMAGE} <= names

    real_cluster.wait_for(images_present, "the node to report Tolaria's images", timeout=60)


def test_daemon_image_serves_games_behind_a_service_found_by_name(real_cluster, namespace):
    """A daemon pod behind a Service, asked for its STATUS by a trainer-image pod through the
    cluster's DNS and kube-proxy: images, pod network, Services and DNS on the real node."""
    manifests = [
        restricted_pod(
            "daemon",
            {"name": "daemon", "image": DAEMON_IMAGE, "ports": [{"containerPort": 17171}]},
            metadata={"labels": {"app": "daemon"}},
        ),
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
    probe = restricted_pod(
        "probe",
        {
            "name": "probe",
            "image": TRAINER_IMAGE,
            # The daemon needs a moment to listen after its pod is Running.
            "command": [
                "sh",
                "-c",
                "for i in $(seq 30); do tolaria status games:17171 && exit 0; sleep 1; done; exit 1",
            ],
        },
        restartPolicy="Never",
    )
    real_cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(probe))
    pod = wait_for_pod_phase(real_cluster, namespace, "probe", {"Succeeded", "Failed"}, timeout=180)
    logs = real_cluster.kubectl("logs", "probe", "-n", namespace).stdout
    assert pod["status"]["phase"] == "Succeeded", logs
    assert "FORGE DAEMON STATUS" in logs
    assert "server: tolaria" in logs


def test_trainer_image_compiles_the_learner_with_torch_compile(real_cluster, namespace):
    """spec.learner.compile needs a C++ compiler at run time (inductor's CPU kernels, Triton's
    launcher): the trainer image carries one. The learner's own compiled PPO update runs as the
    learner's pod runs (its user, a read-only root filesystem, the caches where the operator puts
    them) and gives the eager update."""
    script = textwrap.dedent(
        """\
        import copy, torch
        from torch._dynamo.utils import counters
        from tolaria.trainer.config import LearnerConfig, NetworkConfig, PPOConfig
        from tolaria.trainer.encoding import Encoder
        from tolaria.trainer.policy import PolicyNetwork
        from tolaria.trainer.ppo import PPOTrainer, build_batch
        from tolaria.trainer.synthetic import PayloadFactory, synthetic_segment
        torch.manual_seed(0)
        torch.set_num_threads(1)
        network = NetworkConfig.from_preset("small", d_model=32, ff_dim=64)
        encoder, model = Encoder(network), PolicyNetwork(network)
        factory = PayloadFactory(0)
        segments = [synthetic_segment(encoder, model, factory, 60, 0, outcome=o) for o in (-1.0, 1.0)]
        config = PPOConfig(minibatch_size=64, epochs=1, warmup_updates=0)
        eager = PPOTrainer(copy.deepcopy(model), config, LearnerConfig(device="cpu"))
        compiled = PPOTrainer(model, config, LearnerConfig(device="cpu", compile=True))
        want = eager.update(build_batch(segments, config))
        got = compiled.update(build_batch(segments, config))
        assert sum(counters["graph_break"].values()) == 0, counters["graph_break"]
        for name in ("policy_loss", "value_loss", "entropy", "approx_kl"):
            assert abs(got[name] - want[name]) <= 1e-4 * abs(want[name]) + 1e-6, (name, got[name], want[name])
        for a, b in zip(eager.model.parameters(), model.parameters(), strict=True):
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
        print("compiled update matches eager; graphs", counters["stats"]["unique_graphs"], "torch", torch.__version__)
        """
    )
    learner = build.learner_job(
        load_trainingrun(
            small_run("compile") | {"metadata": {"name": "compile", "namespace": namespace, "uid": "u"}}
        ),
        suspend=False,
    )
    cache_env = [
        e for e in learner["spec"]["template"]["spec"]["containers"][0]["env"] if "CACHE" in e["name"]
    ]
    assert cache_env, "the learner's pod names no compile caches"
    pod = restricted_pod(
        "compile",
        {"name": "compile", "image": TRAINER_IMAGE, "command": ["python", "-c", script], "env": cache_env},
        restartPolicy="Never",
    )
    real_cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(pod))
    done = wait_for_pod_phase(real_cluster, namespace, "compile", {"Succeeded", "Failed"}, timeout=300)
    logs = real_cluster.kubectl("logs", "compile", "-n", namespace).stdout
    assert done["status"]["phase"] == "Succeeded", logs[-3000:]
    assert "compiled update matches eager" in logs


def test_helm_install_then_a_trainingrun_trains_on_real_pods(real_cluster, namespace, tmp_path):
    """Namespaced operator; checkpoints in MinIO (on the host, reached from the pods) through a
    credentials Secret; a managed Redis with its generated password. It trains, a replacement
    learner resumes from S3, and no secret value shows anywhere."""
    release = install_operator(real_cluster, namespace, "namespaced=true")
    operator = pods(real_cluster, namespace, f"app.kubernetes.io/instance={release}")
    assert [p["status"]["phase"] for p in operator] == ["Running"]
    assert operator[0]["spec"]["serviceAccountName"].startswith(release)

    minio = MinioServer(tmp_path / "minio", host=NODE_LINK_HOST)
    try:
        _train_from_helm_install(real_cluster, namespace, minio.server)
    finally:
        minio.stop()


def _train_from_helm_install(real_cluster, namespace: str, s3) -> None:
    credentials = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s3-credentials"},
        "stringData": {k: v for k, v in s3.env.items() if k.startswith("AWS_") and "REGION" not in k},
    }
    # Through stdin: a secret value never goes on a command line.
    real_cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(credentials))
    run = small_run("ember")
    # The learner first clones the daemons' AI from games it watches: the learner's pod reaches
    # the daemons through the run's NetworkPolicy too.
    run["spec"]["learner"]["warmStart"] = {"games": 6, "epochs": 2}
    run["spec"]["checkpoints"] = {
        "uri": "s3://tolaria/runs/ember",
        "endpointUrl": s3.endpoint,
        "credentialsSecret": "s3-credentials",
        "everyUpdates": 2,
    }
    applied = time.monotonic()
    real_cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(run))

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

    # `kubectl describe` tells the story: the status and the run's events.
    described = real_cluster.kubectl("describe", "trainingrun", "ember", "-n", namespace).stdout
    for told in ("Policy Version:", "Games Played:", "GeneratedRedisPassword", "RunRunning"):
        assert told in described, f"{told} not in:\n{described[-4000:]}"

    first = running_pod(real_cluster, namespace, "learner")
    log = real_cluster.kubectl("logs", first["metadata"]["name"], "-n", namespace).stdout
    assert "warm start: cloned" in log, log[-3000:]

    # A replacement learner resumes from the checkpoint the first one wrote to S3.
    old = delete_pod(real_cluster, namespace, "learner")
    learner = replaced(real_cluster, namespace, "learner", old)
    real_cluster.wait_for(
        lambda: (
            "resumed from s3://tolaria/runs/ember/ckpt-"
            in real_cluster.kubectl("logs", learner["metadata"]["name"], "-n", namespace).stdout
        ),
        "the new learner to resume from S3",
        timeout=120,
    )

    # No secret value in any status, event, ConfigMap, pod spec, log or process command line.
    generated = json.loads(
        real_cluster.kubectl("get", "secret", "ember-redis-auth", "-n", namespace, "-o", "json").stdout
    )
    secrets = {
        "the Redis password": base64.b64decode(generated["data"]["password"]).decode(),
        "the S3 secret key": s3.env["AWS_SECRET_ACCESS_KEY"],
    }
    assert_no_secret_shows(real_cluster, namespace, secrets)

    # NetworkPolicies, enforced by kube-router: a pod of another run, or in another namespace,
    # reaches neither the run's daemons nor its Redis; a pod labelled as the run's actor does.
    daemon_ip = running_pod(real_cluster, namespace, "daemon")["status"]["podIP"]
    targets = {"daemon": f"{daemon_ip}:17171", "redis": f"ember-redis.{namespace}.svc:6379"}
    actor = {"tolaria.dev/run": "ember", "tolaria.dev/component": "actor"}
    assert reachable(real_cluster, namespace, "as-actor", actor, targets) == {"daemon": True, "redis": True}
    intruder = {"tolaria.dev/run": "intruder", "tolaria.dev/component": "actor"}
    assert reachable(real_cluster, namespace, "other-run", intruder, targets) == {
        "daemon": False,
        "redis": False,
    }
    elsewhere = real_cluster.create_namespace("elsewhere", labels=RESTRICTED)
    try:
        assert reachable(real_cluster, elsewhere, "other-ns", actor, targets) == {
            "daemon": False,
            "redis": False,
        }
    finally:
        real_cluster.kubectl("delete", "namespace", elsewhere, "--wait=false")

    # The namespaced operator cannot touch a run in another namespace: nothing is created there.
    other = real_cluster.create_namespace("other")
    try:
        real_cluster.kubectl("apply", "-n", other, "-f", "-", input=yaml.safe_dump(small_run("elsewhere")))
        time.sleep(15)
        assert run_status(real_cluster, other, "elsewhere") == {}
        children = real_cluster.kubectl(
            "get", "deployments,jobs,services,configmaps", "-n", other, "-l", "tolaria.dev/run", "-o", "name"
        )
        assert children.stdout.strip() == ""
    finally:
        real_cluster.kubectl("delete", "namespace", other, "--wait=false")


def reachable(
    bed, namespace: str, name: str, labels: dict[str, str], targets: dict[str, str]
) -> dict[str, bool]:
    """Whether a pod with `labels` in `namespace` can open a TCP connection to each target."""
    script = (
        "import json, socket, sys\n"
        "out = {}\n"
        "import time\n"
        "for name, address in json.loads(sys.argv[1]).items():\n"
        "    host, port = address.rsplit(':', 1)\n"
        "    out[name] = False\n"
        "    # A new pod is admitted once the enforcer has seen it: a refusal counts after 15 s.\n"
        "    for attempt in range(15):\n"
        "        try:\n"
        "            socket.create_connection((host, int(port)), timeout=2).close()\n"
        "            out[name] = True\n"
        "            break\n"
        "        except OSError:\n"
        "            time.sleep(1)\n"
        "print(json.dumps(out))\n"
    )
    pod = restricted_pod(
        name,
        {"name": "probe", "image": TRAINER_IMAGE, "command": ["python", "-c", script, json.dumps(targets)]},
        restartPolicy="Never",
        metadata={"labels": labels},
    )
    bed.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(pod))
    done = wait_for_pod_phase(bed, namespace, name, {"Succeeded", "Failed"}, timeout=120)
    logs = bed.kubectl("logs", name, "-n", namespace).stdout
    assert done["status"]["phase"] == "Succeeded", logs
    return json.loads(logs.strip().splitlines()[-1])


def assert_no_secret_shows(bed, namespace: str, secrets: dict[str, str]) -> None:
    places = {
        "objects": bed.kubectl(
            "get",
            "trainingruns,configmaps,events,pods,deployments,jobs,services",
            "-n",
            namespace,
            "-o",
            "json",
        ).stdout,
    }
    for pod in pods(bed, namespace):
        for container in pod["spec"]["containers"]:
            name = f"log of {pod['metadata']['name']}/{container['name']}"
            places[name] = bed.kubectl(
                "logs", pod["metadata"]["name"], "-c", container["name"], "-n", namespace, check=False
            ).stdout
    # The node's processes share this host's process table.
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            places[f"command line of pid {cmdline.parent.name}"] = (
                cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            )
        except OSError:
            continue  # gone meanwhile
    assert len(places) > 5
    leaks = [
        f"{what} in the {where}"
        for where, text in places.items()
        for what, value in secrets.items()
        if value in text
    ]
    assert not leaks, leaks


def checkpoint_volume(bed, namespace: str, directory: Path) -> str:
    """A PersistentVolume on the node's disk and its claim: learner checkpoints that outlive pods."""
    directory.mkdir(parents=True)
    directory.chmod(0o1777)  # hostPath ignores fsGroup; the trainer image's user writes here
    name = f"checkpoints-{namespace}"
    manifests = [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": name},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "",
                "persistentVolumeReclaimPolicy": "Retain",
                "hostPath": {"path": str(directory), "type": "Directory"},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "checkpoints", "namespace": namespace},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "",
                "volumeName": name,
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    ]
    bed.kubectl("apply", "-f", "-", input="\n---\n".join(map(yaml.safe_dump, manifests)))
    return "checkpoints"


def running_pod(bed, namespace: str, component: str, run: str = "ember") -> dict | None:
    found = [
        p
        for p in pods(bed, namespace, f"tolaria.dev/run={run},app.kubernetes.io/component={component}")
        if p["status"].get("phase") == "Running"
        and "deletionTimestamp" not in p["metadata"]
        and all(c.get("ready") for c in p["status"].get("containerStatuses") or [])
    ]
    return found[0] if found else None


def replaced(bed, namespace: str, component: str, old_uid: str, timeout: float = 180) -> dict:
    """Waits for a Running, ready pod of `component` other than the one with `old_uid`."""

    def new_pod() -> bool:
        pod = running_pod(bed, namespace, component)
        return pod is not None and pod["metadata"]["uid"] != old_uid

    bed.wait_for(new_pod, f"a new {component} pod", timeout=timeout)
    return running_pod(bed, namespace, component)


def assert_still_running(bed, namespace: str, component: str, pod: dict) -> None:
    """`pod` is still the Running, ready pod of `component`, and its containers never restarted;
    else an AssertionError with every pod of the component and its ended containers' last words."""
    now = running_pod(bed, namespace, component)
    restarts = sum(
        c.get("restartCount", 0) for c in (now or {}).get("status", {}).get("containerStatuses") or []
    )
    if now is not None and now["metadata"]["uid"] == pod["metadata"]["uid"] and restarts == 0:
        return
    seen = []
    for p in pods(bed, namespace, f"tolaria.dev/run=ember,app.kubernetes.io/component={component}"):
        name = p["metadata"]["name"]
        statuses = p["status"].get("containerStatuses") or []
        seen.append(
            f"{name} {p['status'].get('phase')} deleting={'deletionTimestamp' in p['metadata']} {statuses}"
        )
        for container in statuses:
            for which, flag, state in (("previous", ["--previous"], "lastState"), ("last", [], "state")):
                if "terminated" in (container.get(state) or {}):
                    said = bed.kubectl(
                        "logs", name, "-c", container["name"], "-n", namespace, *flag, check=False
                    )
                    seen.append(
                        f"{name}'s {which} {container['name']}:\n{(said.stdout + said.stderr)[-4000:]}"
                    )
    raise AssertionError(
        f"{pod['metadata']['name']} is no longer the running {component}:\n" + "\n".join(seen)
    )


def delete_pod(bed, namespace: str, component: str) -> str:
    pod = running_pod(bed, namespace, component)
    assert pod is not None, f"no running {component} pod"
    bed.kubectl("delete", "pod", pod["metadata"]["name"], "-n", namespace, "--wait=false")
    return pod["metadata"]["uid"]


def delete_run_and_wait_for_its_children(bed, namespace: str, run: str, timeout: float) -> None:
    """`kubectl delete trainingrun`, then every child of the run gone; AssertionError naming those
    left behind."""
    bed.kubectl("delete", "trainingrun", run, "-n", namespace, "--timeout=120s")

    def children() -> list[str]:
        listed = bed.kubectl(
            "get", "deployments,jobs,services,configmaps,pods", "-n", namespace, "-l", f"tolaria.dev/run={run}",
            "-o", "json",
        ).stdout  # fmt: skip
        return [f"{c['kind']}/{c['metadata']['name']}" for c in json.loads(listed)["items"]]

    try:
        bed.wait_for(lambda: not children(), "every child of the deleted run to go", timeout=timeout)
    except TimeoutError:
        raise AssertionError(f"left behind: {children()}") from None


def run_event_reasons(bed, namespace: str, run: str = "ember") -> set[str]:
    """The reasons of the run's events: what `kubectl describe trainingrun` tells."""
    listed = bed.kubectl(
        "get", "events", "-n", namespace, "--field-selector", f"involvedObject.name={run}", "-o", "json"
    )
    return {event["reason"] for event in json.loads(listed.stdout)["items"]}


def metrics_from_inside(bed, namespace: str, targets: dict[str, str]) -> dict[str, str]:
    """GET http://ADDRESS/metrics for each target, from a pod in the cluster."""
    script = (
        "import json, sys, urllib.request\n"
        "out = {}\n"
        "import time\n"
        "for name, address in json.loads(sys.argv[1]).items():\n"
        "    # A new pod is admitted by the NetworkPolicies once the enforcer has seen it: retry.\n"
        "    for attempt in range(30):\n"
        "        try:\n"
        "            out[name] = urllib.request.urlopen(f'http://{address}/metrics', timeout=10).read().decode()[:20000]\n"
        "            break\n"
        "        except Exception as e:\n"
        "            out[name] = f'ERROR {e}'\n"
        "            time.sleep(1)\n"
        "print(json.dumps(out))\n"
    )
    probe = restricted_pod(
        "scrape",
        {"name": "scrape", "image": TRAINER_IMAGE, "command": ["python", "-c", script, json.dumps(targets)]},
        restartPolicy="Never",
    )
    bed.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(probe))
    wait_for_pod_phase(bed, namespace, "scrape", {"Succeeded", "Failed"}, timeout=120)
    return json.loads(bed.kubectl("logs", "scrape", "-n", namespace).stdout)


class StatusRecorder:
    """Reads a run's status every second in the background: (GAMES, POLICY) as the user saw them."""

    def __init__(self, bed, namespace: str, name: str):
        self.bed, self.namespace, self.name = bed, namespace, name
        self.seen: list[tuple[int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._record, daemon=True)

    def _record(self) -> None:
        while not self._stop.wait(1.0):
            current = run_status(self.bed, self.namespace, self.name)
            if current.get("gamesPlayed") is not None and current.get("policyVersion") is not None:
                self.seen.append((current["gamesPlayed"], current["policyVersion"]))

    def start(self) -> StatusRecorder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def assert_never_went_back(self) -> None:
        for before, after in itertools.pairwise(self.seen):
            assert after[0] >= before[0], f"GAMES went back from {before[0]} to {after[0]}"
            assert after[1] >= before[1], f"POLICY went back from {before[1]} to {after[1]}"


def test_a_run_lives_through_the_faults_of_a_week_on_real_pods(real_cluster, namespace, tmp_path):
    """Cluster-wide operator; a run with checkpoints on a volume. Daemon, learner, Redis and
    operator pods are deleted in turn, the run is suspended and resumed, then deleted: it goes
    on, the policy version never goes back, and the children go with the run."""
    bed = real_cluster
    release = install_operator(bed, namespace)
    run = small_run("ember")
    run["spec"]["checkpoints"] = {
        "uri": "file://ckpt",
        "volumeClaim": checkpoint_volume(bed, namespace, tmp_path / "checkpoints"),
        "everyUpdates": 2,
    }
    # The metrics are scraped from a pod of the run's namespace (below).
    run["spec"]["networkPolicies"] = {"metricsNamespace": namespace}
    bed.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(run))

    def status() -> dict:
        return run_status(bed, namespace, "ember")

    def version() -> int:
        return status().get("policyVersion") or 0

    started = time.monotonic()

    def version_beyond(floor: int, what: str, timeout: float = 300) -> int:
        bed.wait_for(lambda: version() > floor, f"policy version above {floor} ({what})", timeout=timeout)
        print(f"{time.monotonic() - started:.0f}s: policy version {version()} ({what})")
        return version()

    def games_beyond(floor: int, what: str) -> None:
        bed.wait_for(lambda: (status().get("gamesPlayed") or 0) > floor, f"GAMES above {floor} ({what})", 300)

    recorder = StatusRecorder(bed, namespace, "ember").start()
    v = version_beyond(2, "training")

    # Every component's Prometheus endpoint answers from inside the cluster.
    targets = {
        c: f"{running_pod(bed, namespace, c)['status']['podIP']}:9090"
        for c in ("daemon", "actor", "learner", "evaluator")
    }
    targets["operator"] = f"{release}-operator-metrics.{namespace}.svc:9090"
    scraped = metrics_from_inside(bed, namespace, targets)
    for component, text in scraped.items():
        assert "# TYPE" in text and not text.startswith("ERROR"), f"{component}: {text[:300]}"
    assert "tolaria_learner_policy_version" in scraped["learner"]

    # A daemon pod deleted: the Deployment replaces it and games go on.
    old = delete_pod(bed, namespace, "daemon")
    replaced(bed, namespace, "daemon", old)
    games_beyond(status().get("gamesPlayed") or 0, "after the daemon pod was replaced")

    # The learner pod deleted: SIGTERM checkpoints, the Job's new pod resumes, versions rise.
    v = version()
    old = delete_pod(bed, namespace, "learner")
    learner = replaced(bed, namespace, "learner", old)
    v = version_beyond(v, "after the learner was replaced")
    bed.wait_for(
        lambda: (
            "resumed from file:///var/lib/tolaria/checkpoints/ckpt"
            in bed.kubectl("logs", learner["metadata"]["name"], "-n", namespace).stdout
        ),
        "the new learner to say it resumed from the checkpoint",
        timeout=60,
    )

    # The Redis pod deleted with its data (an emptyDir: the real node has no StorageClass). The
    # operator restores the games counter from the status, the learner publishes above every
    # version it published before: GAMES and POLICY never go back, and the events say why.
    games, v = status().get("gamesPlayed") or 0, version()
    old = delete_pod(bed, namespace, "redis")
    replaced(bed, namespace, "redis", old)
    try:
        bed.wait_for(lambda: "RedisStateLost" in run_event_reasons(bed, namespace), "RedisStateLost", 180)
    except TimeoutError as error:
        log = bed.kubectl("logs", "-n", namespace, "-l", f"app.kubernetes.io/instance={release}", "--tail=40")
        redis_pods = [
            (p["metadata"]["uid"][:8], p["status"].get("phase"), p["status"].get("startTime"))
            for p in pods(bed, namespace, "tolaria.dev/run=ember,app.kubernetes.io/component=redis")
        ]
        raise AssertionError(
            f"{error}; the run's events: {sorted(run_event_reasons(bed, namespace))}\n"
            f"GAMES and POLICY before and since ({games} games when Redis went): {recorder.seen[-60:]}\n"
            f"the Redis pods: {redis_pods}\nthe operator's log:\n{log.stdout}"
        ) from None
    # An outage shorter than the operator's status step goes unseen; one it saw, it says is over.
    if "RedisUnavailable" in run_event_reasons(bed, namespace):
        bed.wait_for(lambda: "RedisRecovered" in run_event_reasons(bed, namespace), "RedisRecovered", 60)
    games_beyond(games, "after Redis was replaced")
    version_beyond(v, "after Redis was replaced")
    degraded = next(c for c in status()["conditions"] if c["type"] == "Degraded")
    assert "keeps its data in an emptyDir" in degraded["message"], degraded

    # The operator pod deleted: a new one takes over and keeps the status current.
    operator = pods(bed, namespace, f"app.kubernetes.io/instance={release}")[0]
    bed.kubectl("delete", "pod", operator["metadata"]["name"], "-n", namespace, "--wait=false")
    bed.wait_for(
        lambda: any(
            p["metadata"]["uid"] != operator["metadata"]["uid"] and p["status"].get("phase") == "Running"
            for p in pods(bed, namespace, f"app.kubernetes.io/instance={release}")
        ),
        "a new operator pod",
        timeout=120,
    )
    games_beyond(status().get("gamesPlayed") or 0, "under the new operator")

    # Neither Redis's loss nor the operator's replacement restarted the learner: the pod that
    # resumed from the checkpoint is still the one training, its container never restarted.
    assert_still_running(bed, namespace, "learner", learner)

    # suspend: true stops the pods after the learner checkpointed; false resumes from that very
    # checkpoint. The learner's log is followed to its end, since its pod goes with the suspend.
    v = version()
    suspend = '{"spec":{"suspend":true}}'
    followed = subprocess.Popen(
        [str(bed.bin_dir / "kubectl"), "logs", "-f", learner["metadata"]["name"], "-n", namespace],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=bed.env,
    )
    try:
        bed.kubectl("patch", "trainingrun", "ember", "-n", namespace, "--type=merge", "-p", suspend)
        playing = ("daemon", "actor", "learner", "evaluator")
        bed.wait_for(
            lambda: (
                not any(
                    pods(bed, namespace, f"tolaria.dev/run=ember,app.kubernetes.io/component={c}")
                    for c in playing
                )
            ),
            "the run's pods to go",
            timeout=180,
        )
        last_words = followed.communicate(timeout=30)[0]
    finally:
        followed.kill()
        followed.wait()
    stop = last_words.rfind("signal SIGTERM: checkpointing and stopping")
    assert stop >= 0, last_words[-3000:]
    # The last checkpoint after the signal is the stop's, the one resumed from (before it, the
    # learner once wrote an update's periodic one at the same step).
    at_stop = re.findall(r"checkpoint (\S+) at step (\d+), version (\d+)", last_words[stop:])
    assert at_stop, f"no checkpoint after the SIGTERM:\n{last_words[stop:][-3000:]}"
    checkpoint, step, stopped_version = at_stop[-1][0], at_stop[-1][1], int(at_stop[-1][2])
    assert f"stopped at step {step}, policy version {stopped_version}" in last_words[stop:]
    assert stopped_version >= v
    assert (tmp_path / "checkpoints" / "ckpt" / checkpoint.rsplit("/", 1)[1]).is_file()
    bed.kubectl(
        "patch", "trainingrun", "ember", "-n", namespace, "--type=merge", "-p", '{"spec":{"suspend":false}}'
    )
    learner = replaced(bed, namespace, "learner", "")
    resumed = f"resumed from {checkpoint}: step {step}, version {stopped_version}"
    try:
        bed.wait_for(
            lambda: resumed in bed.kubectl("logs", learner["metadata"]["name"], "-n", namespace).stdout,
            f"the resumed learner to say it resumed from {checkpoint}",
            # a new pod first waits for Redis and the store, backing off up to 10 s between tries;
            # one CI run took more than 60 s here, a quiet machine about 10 s
            timeout=180,
        )
    except TimeoutError as error:
        log = bed.kubectl("logs", learner["metadata"]["name"], "-n", namespace, "--all-containers").stdout
        described = bed.kubectl("describe", "pod", learner["metadata"]["name"], "-n", namespace).stdout
        # What the learner did on starting (resumed from which checkpoint, waited for what), and
        # what the store held: a resume from another checkpoint than the stop's shows here.
        said_on_start = [line for line in log.splitlines() if "update " not in line][:40]
        stored = sorted(path.name for path in (tmp_path / "checkpoints" / "ckpt").iterdir())
        learners = [
            f"{p['metadata']['name']} {p['status'].get('phase')} started {p['status'].get('startTime')}"
            for p in pods(bed, namespace, "tolaria.dev/run=ember,app.kubernetes.io/component=learner")
        ]
        raise AssertionError(
            f"{error}\nthe learner's log, updates left out:\n"
            + "\n".join(said_on_start)
            + f"\nthe store: {stored}\nthe learner pods: {learners}\nits pod:\n{described[-3000:]}"
        ) from None
    version_beyond(stopped_version, "after resuming")
    reasons = run_event_reasons(bed, namespace)
    assert {"RunRunning", "RedisStateLost", "RunSuspended"} <= reasons, reasons
    recorder.stop()
    recorder.assert_never_went_back()

    # kubectl delete trainingrun removes every child.
    delete_run_and_wait_for_its_children(bed, namespace, "ember", timeout=180)


def test_an_engine_forge_run_trains_on_forge_daemon_pods(real_cluster, namespace):
    """`daemons.engine: forge` on real pods, with Dockerfile.daemon's Forge stage as scripts/images
    builds it around a stand-in forge.jar (Tolaria's emulation of Forge's dialect: real Forge cannot
    be fetched here). The daemon pod is Ready through the forge-status probe, its JVM has the heap
    derived from the pod's memory and its home on the emptyDir, and the stand-in finds its decks
    through forge.profile.properties; the learner clones Forge's AI in observe mode, the actors play
    themselves in Forge's dialect, the evaluator measures against the league (the only baseline a
    Forge daemon allows), and the run goes with all its pods when deleted."""
    bed = real_cluster
    install_operator(bed, namespace, "namespaced=true")
    run = small_run("forge")
    spec = run["spec"]
    spec["daemons"] |= {
        "engine": "forge",
        "image": FORGE_STANDIN_IMAGE,
        "gamesPerDaemon": 10,
        "resources": {"requests": {"cpu": "50m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
    }
    # Forge's pool runs 10 games at once for every client: actors, warm start and evaluator share it.
    spec["actors"] |= {"gamesInFlight": 4, "opponents": {"selfPlay": 1.0, "randomPlayer": 0.0, "league": 0.0}}
    spec["learner"]["warmStart"] = {"games": 4, "epochs": 2, "gamesInFlight": 4}
    spec["learner"]["ppo"] = {"batchSize": 128, "minibatchSize": 64, "epochs": 1}
    spec["evaluation"] = {"enabled": True, "everyUpdates": 1, "games": 4, "baselines": ["league"]}
    applied = time.monotonic()
    bed.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(run))

    def trained() -> bool:
        status = run_status(bed, namespace, "forge")
        return (
            status.get("daemonsSummary") == "1/1"
            and (status.get("gamesPlayed") or 0) > 0
            and (status.get("policyVersion") or 0) >= 3
            and status.get("baseline") == "league"
            and status.get("winRate") is not None
            and status.get("elo") is not None
        )

    try:
        bed.wait_for(trained, "DAEMONS 1/1, GAMES > 0, POLICY >= 3 and a WINRATE and ELO vs the league", 300)
    except TimeoutError:
        listing = bed.kubectl("get", "pods,trainingruns", "-n", namespace, "-o", "wide").stdout
        events = bed.kubectl("get", "events", "-n", namespace, "--sort-by=.lastTimestamp").stdout
        raise AssertionError(f"{listing}\n{events[-6000:]}") from None
    print(f"engine forge trained on real pods {time.monotonic() - applied:.0f}s after kubectl apply")

    daemon = running_pod(bed, namespace, "daemon", run="forge")
    assert daemon is not None and daemon["spec"]["containers"][0]["image"] == FORGE_STANDIN_IMAGE
    container = daemon["spec"]["containers"][0]
    assert container["readinessProbe"]["exec"]["command"] == ["/opt/forge/bin/forge-status"]
    assert {"name": "FORGE_HEAP", "value": "384m"} in container["env"]  # 3/4 of the 512Mi limit
    home = next(v for v in daemon["spec"]["volumes"] if v["name"] == "forge-home")
    assert (
        "emptyDir" in home
        and {"name": "forge-home", "mountPath": "/var/lib/forge"} in container["volumeMounts"]
    )
    log = bed.kubectl("logs", daemon["metadata"]["name"], "-n", namespace).stdout
    assert "decks from /opt/forge/decks/constructed/ (decksConstructedDir of" in log, log[-3000:]
    assert "in Forge's dialect listening" in log, log[-3000:]

    # The pod's processes, as this host sees them: forge-daemon's JVM with the heap the operator
    # derived, running the emulation on the profile's deck folder, with Forge's folders on the volume.
    (java,) = [pid for pid, cmdline in processes() if cmdline[:1] == ["java"] and "forge.jar" in cmdline]
    jvm = dict(processes())[java]
    assert {"-Xms384m", "-Xmx384m", "-XX:+UseG1GC", "-Djava.awt.headless=true"} <= set(jvm), jvm
    assert jvm[-4:] == ["forge.jar", "daemon", "-p", "17171"], jvm
    (emulation,) = [cmdline for pid, cmdline in processes() if parent(pid) == java]
    assert emulation[emulation.index("--decks") + 1] == "/opt/forge/decks/constructed/", emulation
    assert Path(f"/proc/{java}/root/var/lib/forge/cache/pics/cards").is_dir()

    learner = running_pod(bed, namespace, "learner", run="forge")
    learner_log = bed.kubectl("logs", learner["metadata"]["name"], "-n", namespace).stdout
    assert " decisions from 4 games (0 failed)" in learner_log, learner_log[-3000:]
    assert "warm start: cloned" in learner_log, learner_log[-3000:]

    delete_run_and_wait_for_its_children(bed, namespace, "forge", timeout=120)
    assert java not in dict(processes()), "the Forge daemon's JVM outlived its pod"


def processes() -> list[tuple[int, list[str]]]:
    """(pid, command line) of every process on this host, the real node's pods' included."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words = cmdline.read_bytes().decode(errors="replace").split("\0")[:-1]
        except OSError:
            continue  # gone meanwhile
        if words:
            found.append((int(cmdline.parent.name), words))
    return found


def parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])
