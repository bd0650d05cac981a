"""Builders of a run's children: names, labels, owner references, pods, secrets, hashes."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import redis
import yaml

from tests.conftest import free_port, wait_for_port
from tolaria.operator import children as build
from tolaria.spec import ResourceRequirements, TrainingRun, load_trainingrun


def make_run(spec: dict | None = None, annotations: dict | None = None, name: str = "r1") -> TrainingRun:
    document = {
        "apiVersion": "tolaria.dev/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {
            "name": name,
            "namespace": "team",
            "uid": "1234-uid",
            "generation": 3,
            "annotations": annotations or {},
        },
        "spec": {"decks": ["red_aggro", "white_weenie"], **(spec or {})},
    }
    return load_trainingrun(document)


def by_kind(manifests: list[dict]) -> dict[tuple[str, str], dict]:
    return {(m["kind"], m["metadata"]["name"]): m for m in manifests}


def container(manifest: dict) -> dict:
    return manifest["spec"]["template"]["spec"]["containers"][0]


def env(manifest: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container(manifest).get("env", [])}


def test_every_child_is_named_labelled_and_owned_by_the_run():
    run = make_run()
    manifests = build.desired_children(
        run, daemon_replicas=3, actor_count=2, stopped=False, redis_persistent=False
    )
    assert set(by_kind(manifests)) == {
        ("ConfigMap", "r1-config"),
        ("Service", "r1-redis"),
        ("Deployment", "r1-redis"),
        ("PodDisruptionBudget", "r1-redis"),
        ("Service", "r1-daemon"),
        ("Deployment", "r1-daemon"),
        ("Deployment", "r1-actor"),
        ("Job", "r1-learner"),
        ("Deployment", "r1-evaluator"),
    }
    for m in manifests:
        meta = m["metadata"]
        assert meta["namespace"] == "team"
        assert meta["labels"]["tolaria.dev/run"] == "r1"
        assert meta["ownerReferences"] == [
            {
                "apiVersion": "tolaria.dev/v1alpha1",
                "kind": "TrainingRun",
                "name": "r1",
                "uid": "1234-uid",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]


def test_config_first_then_redis_then_the_rest():
    kinds = [
        (m["kind"], m["metadata"]["name"])
        for m in build.desired_children(make_run(), 1, 1, False, redis_persistent=False)
    ]
    assert kinds[0] == ("ConfigMap", "r1-config")
    assert kinds.index(("Deployment", "r1-redis")) < kinds.index(("Deployment", "r1-actor"))


def test_external_redis_has_no_managed_redis_and_pods_get_its_url():
    run = make_run({"redis": {"url": "redis://redis.shared:6379/2"}})
    manifests = by_kind(build.desired_children(run, 1, 1, False, redis_persistent=False))
    assert ("Deployment", "r1-redis") not in manifests and ("Service", "r1-redis") not in manifests
    assert (
        env(manifests[("Job", "r1-learner")])["TOLARIA_REDIS_URL"]["value"] == "redis://redis.shared:6379/2"
    )


def test_managed_redis_url_is_the_service_in_the_run_namespace():
    assert build.redis_url(make_run()) == "redis://r1-redis.team.svc:6379/0"


def test_run_without_uid_cannot_own_children():
    run = make_run()
    run.metadata.uid = None
    with pytest.raises(ValueError, match="no uid"):
        build.config_map(run)


def test_config_map_holds_a_loadable_trainingrun():
    run = make_run({"seed": 7})
    cm = build.config_map(run)
    document = yaml.safe_load(cm["data"]["spec.yaml"])
    again = load_trainingrun(document)
    assert again.spec == run.spec
    assert again.metadata.name == "r1" and again.metadata.namespace == "team"


def test_daemon_deployment_and_headless_service():
    run = make_run({"daemons": {"gamesPerDaemon": 32}})
    deployment = build.daemon_deployment(run, 4)
    assert deployment["spec"]["replicas"] == 4
    assert deployment["spec"]["selector"]["matchLabels"] == {
        "tolaria.dev/run": "r1",
        "tolaria.dev/component": "daemon",
    }
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    c = container(deployment)
    assert c["args"][:2] == ["--max-games", "32"]
    assert "--metrics-port" in c["args"]
    assert {p["containerPort"] for p in c["ports"]} == {17171, 9090}
    pod = deployment["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > build.DAEMON_DRAIN_SECONDS
    service = build.daemon_service(run)
    assert service["spec"]["clusterIP"] == "None"
    assert {p["port"] for p in service["spec"]["ports"]} == {17171, 9090}
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


FORGE_EVALUATION = {"evaluation": {"baselines": ["league"]}}


def test_forge_daemon_keeps_its_image_entrypoint():
    run = make_run({"daemons": {"engine": "forge", "image": "forge:1"}, **FORGE_EVALUATION})
    c = container(build.daemon_deployment(run, 1))
    assert "args" not in c and c["image"] == "forge:1"
    assert [p["port"] for p in build.daemon_service(run)["spec"]["ports"]] == [17171]


def test_forge_daemon_pods_get_a_fixed_heap_a_home_and_probes_that_read_forges_status():
    resources = {"requests": {"cpu": "2", "memory": "2Gi"}, "limits": {"memory": "3Gi"}}
    run = make_run({"daemons": {"engine": "forge", "resources": resources}, **FORGE_EVALUATION})
    deployment = build.daemon_deployment(run, 2)
    c = container(deployment)
    assert c["env"] == [{"name": "FORGE_HEAP", "value": "2304m"}]  # 3/4 of the 3Gi limit
    assert c["volumeMounts"][0] == {"name": "forge-home", "mountPath": "/var/lib/forge"}
    assert deployment["spec"]["template"]["spec"]["volumes"][0] == {"name": "forge-home", "emptyDir": {}}
    assert c["startupProbe"]["tcpSocket"] == {"port": "game"}
    assert c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"] >= 120
    readiness = c["readinessProbe"]
    assert readiness["exec"]["command"] == ["/opt/forge/bin/forge-status"]
    assert readiness["timeoutSeconds"] >= 60  # STATUS waits while Forge runs its 10 games
    builtin = build.daemon_deployment(make_run(), 1)
    assert "env" not in container(builtin)
    assert [v["name"] for v in builtin["spec"]["template"]["spec"]["volumes"]] == ["tmp"]


@pytest.mark.parametrize(
    ("resources", "heap"),
    [
        ({"requests": {"memory": "1Gi"}}, 768),
        ({"requests": {"memory": "4G"}}, 2861),
        ({"limits": {"memory": "200Mi"}}, 256),
        ({"requests": {"cpu": "1"}}, 1536),
    ],
)
def test_forge_heap_from_the_pods_memory(resources, heap):
    assert build.forge_heap_mb(ResourceRequirements(**resources)) == heap


def test_learner_job_gpu_placement_and_restarts():
    run = make_run(
        {
            "learner": {
                "gpus": 2,
                "maxRestarts": 5,
                "nodeSelector": {"nvidia.com/gpu.present": "true"},
                "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                "resources": {"requests": {"cpu": 8, "memory": "32Gi"}},
            }
        }
    )
    job = build.learner_job(run, suspend=False)
    spec = job["spec"]
    assert spec["backoffLimit"] == 5 and spec["suspend"] is False
    assert spec["podFailurePolicy"]["rules"][0]["action"] == "Ignore"
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["terminationGracePeriodSeconds"] == build.LEARNER_GRACE_SECONDS
    c = pod["containers"][0]
    assert c["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert c["resources"]["requests"] == {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "2"}
    assert c["args"][:3] == ["learner", "--spec", "/etc/tolaria/spec.yaml"]
    assert c["volumeMounts"][0]["mountPath"] == "/etc/tolaria"
    assert pod["volumes"][0]["configMap"]["name"] == "r1-config"


@pytest.mark.parametrize(
    ("uri", "claim", "in_pod"),
    [
        ("file://checkpoints", "ckpt", "file:///var/lib/tolaria/checkpoints/checkpoints"),
        ("file:///data/run-1/", None, "file:///var/lib/tolaria/checkpoints/data/run-1"),
    ],
)
def test_file_checkpoints_live_on_the_checkpoint_volume_in_every_pod_that_reads_them(uri, claim, in_pod):
    run = make_run({"checkpoints": {"uri": uri, **({"volumeClaim": claim} if claim else {})}})
    volume = {"persistentVolumeClaim": {"claimName": claim}} if claim else {"emptyDir": {}}
    for manifest in (
        build.learner_job(run, suspend=False),
        build.actor_deployment(run, 1),
        build.evaluator_deployment(run, 1),
    ):
        pod = manifest["spec"]["template"]["spec"]
        c = pod["containers"][0]
        assert c["args"][-2:] == ["--checkpoint-uri", in_pod]
        assert {"name": "checkpoints", "mountPath": build.CHECKPOINT_MOUNT} in c["volumeMounts"]
        assert {"name": "checkpoints", **volume} in pod["volumes"]
        assert pod["securityContext"]["fsGroup"] == build.TRAINER_UID
    assert build.checkpoints_persist(run) is (claim is not None)


def test_s3_checkpoints_need_no_volume():
    run = make_run({"checkpoints": {"uri": "s3://bucket/p", "credentialsSecret": "s3"}})
    pod = build.learner_job(run, suspend=False)["spec"]["template"]["spec"]
    assert [v["name"] for v in pod["volumes"]] == ["config", "tmp"]
    assert "--checkpoint-uri" not in pod["containers"][0]["args"]
    assert pod["containers"][0]["envFrom"] == [{"secretRef": {"name": "s3"}}]
    assert build.checkpoints_persist(run)


def test_pods_that_reach_the_checkpoint_store_can_run_as_a_cloud_identity():
    run = make_run(
        {
            "checkpoints": {"uri": "s3://bucket/p"},
            "learner": {"serviceAccountName": "trainer-irsa"},
            "actors": {"perDaemon": 1.0, "serviceAccountName": "player-irsa"},
        }
    )
    manifests = by_kind(build.desired_children(run, 1, 1, False, redis_persistent=False))
    pod = lambda kind, name: manifests[(kind, name)]["spec"]["template"]["spec"]  # noqa: E731
    assert pod("Job", "r1-learner")["serviceAccountName"] == "trainer-irsa"
    assert pod("Deployment", "r1-actor")["serviceAccountName"] == "player-irsa"
    assert pod("Deployment", "r1-evaluator")["serviceAccountName"] == "player-irsa"
    assert "serviceAccountName" not in pod("Deployment", "r1-daemon")
    assert "envFrom" not in container(manifests[("Job", "r1-learner")])  # no credentials Secret
    plain = by_kind(build.desired_children(make_run(), 1, 1, False, redis_persistent=False))
    assert "serviceAccountName" not in plain[("Job", "r1-learner")]["spec"]["template"]["spec"]


def test_cpu_learner_requests_no_gpu():
    c = container(build.learner_job(make_run({"learner": {"gpus": 0}}), suspend=True))
    assert "nvidia.com/gpu" not in json.dumps(c["resources"])


def test_suspended_learner_job():
    assert build.learner_job(make_run(), suspend=True)["spec"]["suspend"] is True


def test_secrets_are_referenced_never_copied():
    run = make_run(
        {
            "redis": {"url": "redis://r:6379/0", "passwordSecret": {"name": "redis-auth", "key": "pw"}},
            "checkpoints": {
                "uri": "s3://bucket/runs",
                "credentialsSecret": "s3-creds",
                "endpointUrl": "http://minio:9000",
            },
        }
    )
    for manifest in (
        build.learner_job(run, False),
        build.actor_deployment(run, 1),
        build.evaluator_deployment(run, 1),
    ):
        variables = env(manifest)
        assert variables["TOLARIA_REDIS_PASSWORD"]["valueFrom"] == {
            "secretKeyRef": {"name": "redis-auth", "key": "pw"}
        }
        assert "value" not in variables["TOLARIA_REDIS_PASSWORD"]
        assert container(manifest)["envFrom"] == [{"secretRef": {"name": "s3-creds"}}]
        assert variables["TOLARIA_S3_ENDPOINT"]["value"] == "http://minio:9000"


def test_managed_redis_with_password_reads_it_from_the_secret():
    run = make_run({"redis": {"managed": True, "passwordSecret": {"name": "redis-auth"}}})
    deployment = build.redis_deployment(run, persistent=False)
    c = container(deployment)
    assert c["env"] == [
        {"name": "REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "redis-auth", "key": "password"}}}
    ]
    assert not any("REDIS_PASSWORD" in arg or "requirepass" in arg for arg in c["args"])
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == build.REDIS_UID


def test_managed_redis_without_a_secret_uses_the_generated_one_everywhere():
    run = make_run()
    ref = build.redis_password_ref(run)
    assert (ref.name, ref.key) == ("r1-redis-auth", "password")
    secret = build.redis_password_secret(run, "generated")
    assert secret["metadata"]["name"] == "r1-redis-auth"
    assert secret["metadata"]["ownerReferences"][0]["controller"] is True
    manifests = {
        (m["kind"], m["metadata"]["name"]): m
        for m in build.desired_children(run, 1, 1, False, redis_persistent=False)
    }
    # Only created once by the reconciler, never applied with the other children.
    assert ("Secret", "r1-redis-auth") not in manifests
    wanted = {"secretKeyRef": {"name": "r1-redis-auth", "key": "password"}}
    assert container(manifests[("Deployment", "r1-redis")])["env"][0]["valueFrom"] == wanted
    for name in ("r1-learner", "r1-actor", "r1-evaluator"):
        kind = "Job" if name == "r1-learner" else "Deployment"
        assert env(manifests[(kind, name)])["TOLARIA_REDIS_PASSWORD"]["valueFrom"] == wanted


def test_external_redis_without_a_secret_gets_no_password():
    assert build.redis_password_ref(make_run({"redis": {"url": "redis://r:6379/0"}})) is None


def test_managed_redis_keeps_its_data_on_a_claim_when_the_cluster_has_storage():
    run = make_run({"redis": {"managed": True, "storage": {"size": "20Gi", "storageClassName": "fast"}}})
    manifests = by_kind(build.desired_children(run, 1, 1, False, redis_persistent=True))
    claim = manifests[("PersistentVolumeClaim", "r1-redis")]
    assert claim["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "20Gi"}},
        "storageClassName": "fast",
    }
    assert claim["metadata"]["ownerReferences"][0]["uid"] == run.metadata.uid
    volumes = manifests[("Deployment", "r1-redis")]["spec"]["template"]["spec"]["volumes"]
    assert volumes[0] == {"name": "data", "persistentVolumeClaim": {"claimName": "r1-redis"}}
    kinds = [kind for kind, _ in by_kind(build.desired_children(run, 1, 1, False, redis_persistent=True))]
    assert kinds.index("PersistentVolumeClaim") < kinds.index("Deployment")

    ephemeral = by_kind(build.desired_children(run, 1, 1, False, redis_persistent=False))
    assert ("PersistentVolumeClaim", "r1-redis") not in ephemeral
    volumes = ephemeral[("Deployment", "r1-redis")]["spec"]["template"]["spec"]["volumes"]
    assert volumes[0] == {"name": "data", "emptyDir": {}}


def test_a_released_run_keeps_its_redis_claim_but_not_its_redis():
    kept = by_kind(build.desired_children(make_run(), 0, 0, True, redis_persistent=True, released=True))
    assert ("Deployment", "r1-redis") not in kept and ("PodDisruptionBudget", "r1-redis") not in kept
    assert ("PersistentVolumeClaim", "r1-redis") in kept and ("ConfigMap", "r1-config") in kept
    assert kept[("Job", "r1-learner")]["spec"]["suspend"] is True


def test_managed_redis_is_not_evicted_voluntarily():
    budget = by_kind(build.desired_children(make_run(), 1, 1, False, redis_persistent=False))[
        ("PodDisruptionBudget", "r1-redis")
    ]
    assert budget["spec"] == {
        "minAvailable": 1,
        "selector": {"matchLabels": build.selector_labels(make_run(), "redis")},
    }


def test_managed_redis_is_append_only_and_never_evicts():
    run = make_run({"redis": {"managed": True, "resources": {"limits": {"memory": "2Gi"}}}})
    args = container(build.redis_deployment(run, persistent=False))["args"]
    options = dict(zip(args[::2], args[1::2], strict=True))
    assert options["--appendonly"] == "yes" and options["--appendfsync"] == "everysec"
    assert options["--maxmemory-policy"] == "noeviction"
    assert options["--maxmemory"] == str(int(2 * 2**30 * 0.75))
    assert options["--dir"] == build.REDIS_DATA_DIR


def local_redis_args(args: list[str], data_dir: Path, port: int) -> list[str]:
    """The Deployment's arguments with a data directory and port of this machine."""
    options = dict(zip(args[::2], args[1::2], strict=True))
    options.update({"--dir": str(data_dir), "--port": str(port)})
    return [item for pair in options.items() for item in pair]


@pytest.mark.integration
@pytest.mark.parametrize("password", ["plain-token", 'sp ace "quote" back\\slash $HOME `x`'])
def test_redis_start_script_takes_the_password_on_stdin_only(tmp_path, password):
    """The Deployment's command, run with the real redis-server: the password works, is required,
    and is in no process's command line."""
    port = free_port()
    c = container(build.redis_deployment(make_run(), persistent=False))
    proc = subprocess.Popen(
        [*c["command"], *local_redis_args(c["args"], tmp_path, port)],
        env={"PATH": os.environ["PATH"], "REDIS_PASSWORD": password},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(port)
        assert redis.Redis(port=port, password=password).ping()
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port).ping()
        for pid in subprocess.run(
            ["pgrep", "-f", f"redis-server.*{port}"], capture_output=True, text=True
        ).stdout.split():
            assert password.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.integration
@pytest.mark.parametrize(("password", "says"), [("", "is empty"), ("two\nlines", "contains a newline")])
def test_redis_start_script_refuses_a_password_redis_cannot_take(tmp_path, password, says):
    c = container(build.redis_deployment(make_run(), persistent=False))
    done = subprocess.run(
        [*c["command"], *local_redis_args(c["args"], tmp_path, free_port())],
        env={"PATH": os.environ["PATH"], "REDIS_PASSWORD": password},
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 1
    assert says in done.stderr


def test_every_child_pod_has_a_read_only_root_and_no_api_token():
    run = make_run({"checkpoints": {"uri": "file://ckpt", "volumeClaim": "ckpt"}})
    for manifest in build.desired_children(run, 1, 1, False, redis_persistent=True):
        if manifest["kind"] not in ("Deployment", "Job"):
            continue
        pod = manifest["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        assert {"name": "tmp", "emptyDir": {}} in pod["volumes"]
        for c in pod["containers"]:
            assert c["securityContext"]["readOnlyRootFilesystem"] is True
            assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]
            # Every other mount is a volume a process writes to on purpose, or read-only config.
            for mount in c["volumeMounts"]:
                assert mount["name"] in ("tmp", "config", "checkpoints", "data")
    learner = env(build.learner_job(run, suspend=False))
    assert learner["TRITON_CACHE_DIR"]["value"].startswith("/tmp/")


def test_pods_run_as_non_root_without_privilege_escalation():
    for manifest in build.desired_children(make_run(), 1, 1, False, redis_persistent=False):
        if manifest["kind"] in ("Deployment", "Job"):
            pod = manifest["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True
            assert pod["containers"][0]["securityContext"]["allowPrivilegeEscalation"] is False


@pytest.mark.parametrize(
    ("daemons", "per_daemon", "expected"),
    [(0, 1.0, 0), (4, 0.5, 2), (5, 0.5, 3), (3, 0.1, 1), (10, 0.1, 1), (3, 2.0, 6)],
)
def test_actors_follow_the_daemon_pool(daemons, per_daemon, expected):
    assert build.actor_replicas(make_run({"actors": {"perDaemon": per_daemon}}), daemons) == expected


def test_fixed_actor_replicas_ignore_the_pool_but_stop_with_it():
    run = make_run({"actors": {"replicas": 7}})
    assert build.actor_replicas(run, 2) == 7
    assert build.actor_replicas(run, 0) == 0  # suspended or ended: nothing left to play against


def test_config_hash_changes_only_for_the_components_that_read_the_change():
    base = make_run()
    new_daemon_image = make_run({"daemons": {"image": "daemon:2"}})
    new_ppo = make_run({"learner": {"ppo": {"learningRate": 0.001}}})
    new_bounds = make_run({"daemons": {"autoscaling": {"maxReplicas": 9}}, "suspend": True})

    def hashes(run):
        return {c: build.config_hash(run, c) for c in build.COMPONENTS}

    h = hashes(base)
    assert {c for c, v in hashes(new_daemon_image).items() if v != h[c]} == {"daemon"}
    assert {c for c, v in hashes(new_ppo).items() if v != h[c]} == {"learner"}
    assert hashes(new_bounds) == h  # operator-only fields roll nothing
    template = build.daemon_deployment(new_daemon_image, 1)["spec"]["template"]
    assert (
        template["metadata"]["annotations"][build.CONFIG_HASH_ANNOTATION]
        == hashes(new_daemon_image)["daemon"]
    )


def test_unknown_component_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown component 'operator'"):
        build.config_hash(make_run(), "operator")


def test_pod_annotations_from_the_run_annotation():
    run = make_run(annotations={build.POD_ANNOTATIONS_ANNOTATION: '{"example.com/team": "rl"}'})
    for manifest in build.desired_children(run, 1, 1, False, redis_persistent=False):
        if manifest["kind"] in ("Deployment", "Job"):
            annotations = manifest["spec"]["template"]["metadata"]["annotations"]
            assert annotations["example.com/team"] == "rl"
            assert build.CONFIG_HASH_ANNOTATION in annotations


@pytest.mark.parametrize(
    ("raw", "message"), [("{nope", "not valid JSON"), ('["a"]', "JSON object"), ('{"a": 1}', "JSON object")]
)
def test_bad_pod_annotations_are_refused_naming_the_annotation(raw, message):
    run = make_run(annotations={build.POD_ANNOTATIONS_ANNOTATION: raw})
    with pytest.raises(build.PodAnnotationsError, match=message) as caught:
        build.desired_children(run, 1, 1, False, redis_persistent=False)
    assert build.POD_ANNOTATIONS_ANNOTATION in str(caught.value)


def test_builders_are_deterministic():
    run = make_run()
    assert build.desired_children(run, 2, 2, False, redis_persistent=False) == build.desired_children(
        run, 2, 2, False, redis_persistent=False
    )


def test_trainer_pods_find_spec_redis_run_and_daemons():
    run = make_run({"redis": {"url": "redis://r:6379/3"}})
    for manifest in (
        build.learner_job(run, False),
        build.actor_deployment(run, 1),
        build.evaluator_deployment(run, 1),
    ):
        variables = env(manifest)
        assert variables["TOLARIA_SPEC"]["value"] == "/etc/tolaria/spec.yaml"
        assert variables["TOLARIA_REDIS_URL"]["value"] == "redis://r:6379/3"
        assert variables["TOLARIA_RUN_NAME"]["value"] == "r1"
        assert variables["TOLARIA_RUN_NAMESPACE"]["value"] == "team"
    for manifest in (build.actor_deployment(run, 1), build.evaluator_deployment(run, 1)):
        assert env(manifest)["TOLARIA_DAEMONS"]["value"] == "r1-daemon.team.svc:17171"
        assert "--daemons" in container(manifest)["args"]
    assert container(build.evaluator_deployment(run, 1))["args"][0] == "evaluator"


def test_only_a_learner_with_a_warm_start_is_told_where_the_daemons_are():
    assert "TOLARIA_DAEMONS" not in env(build.learner_job(make_run(), False))
    warm = make_run({"learner": {"warmStart": {"games": 500}}})
    assert env(build.learner_job(warm, False))["TOLARIA_DAEMONS"]["value"] == "r1-daemon.team.svc:17171"


def test_evaluator_only_when_evaluation_is_enabled_and_stopped_with_the_run():
    disabled = make_run({"evaluation": {"enabled": False}})
    assert ("Deployment", "r1-evaluator") not in by_kind(
        build.desired_children(disabled, 1, 1, False, redis_persistent=False)
    )
    stopped = by_kind(build.desired_children(make_run(), 0, 0, stopped=True, redis_persistent=False))
    assert stopped[("Deployment", "r1-evaluator")]["spec"]["replicas"] == 0
    assert stopped[("Job", "r1-learner")]["spec"]["suspend"] is True


def test_learner_template_hash_tracks_the_immutable_template_only():
    def template_hash(run, suspend=False):
        return build.learner_job(run, suspend)["metadata"]["annotations"][build.TEMPLATE_HASH_ANNOTATION]

    base = make_run()
    assert template_hash(base) == template_hash(base, suspend=True)  # suspend is mutable: no replacement
    assert template_hash(base) == template_hash(make_run({"daemons": {"image": "d:2"}}))
    assert template_hash(base) != template_hash(make_run({"learner": {"image": "t:2"}}))
    annotated = make_run(annotations={build.POD_ANNOTATIONS_ANNOTATION: '{"a.b/c": "d"}'})
    assert template_hash(base) != template_hash(annotated)
