"""The Kubernetes objects a TrainingRun consists of: pure functions from the run to manifests.

Every child is named after the run (`{run}-daemon`, `{run}-actor`, `{run}-learner`,
`{run}-evaluator`, `{run}-redis`, `{run}-config`), labelled `tolaria.dev/run={run}` and owned by the run
(controller owner reference), so deleting the run garbage-collects all of them.

Pods read the run's configuration from the `{run}-config` ConfigMap, mounted at
`/etc/tolaria/spec.yaml`. Each pod template carries a hash of the spec sections its component
reads, so a change to those sections rolls that component and no other one (a new daemon
image does not restart the learner). Secrets are only referenced (secretKeyRef, envFrom); the
one value the operator writes is the password it generates for a managed Redis that names no
`passwordSecret` (`{run}-redis-auth`, owned by the run, created once and never rewritten).

The environment of trainer-image pods (learner, actors, evaluator): TOLARIA_SPEC (the spec
file), TOLARIA_RUN_NAME, TOLARIA_RUN_NAMESPACE, TOLARIA_REDIS_URL, TOLARIA_REDIS_PASSWORD
(from the run's Redis password Secret), TOLARIA_S3_ENDPOINT (spec.checkpoints.endpointUrl),
AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (envFrom spec.checkpoints.credentialsSecret), and
for actors, the evaluator and a learner with a warm start (`learner.warmStart`) TOLARIA_DAEMONS
(the daemons' headless Service).

The learner is a Job with `restartPolicy: Never` and `backoffLimit: maxRestarts`: every
failure gets a fresh pod (possibly on another node, after a spot reclaim) that resumes from
the newest checkpoint, and pod disruptions (eviction, preemption) do not count as failures.
Its pods get a long termination grace period because SIGTERM makes the learner checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import math
from decimal import Decimal
from typing import Any

import yaml

from tolaria.keys import REDIS_PASSWORD_ENV
from tolaria.operator.drift import quantity_value
from tolaria.spec import (
    API_VERSION,
    KIND,
    ResourceRequirements,
    SecretKeyRef,
    TrainingRun,
    parse_checkpoint_uri,
)

RUN_LABEL = "tolaria.dev/run"
COMPONENT_LABEL = "tolaria.dev/component"
CONFIG_HASH_ANNOTATION = "tolaria.dev/config-hash"
TEMPLATE_HASH_ANNOTATION = "tolaria.dev/template-hash"
# On the TrainingRun: a JSON object of annotations added to every pod of the run (for
# example a service mesh or scheduler setting); not part of the spec's training semantics.
POD_ANNOTATIONS_ANNOTATION = "tolaria.dev/pod-annotations"

DAEMON_PORT = 17171
METRICS_PORT = 9090
REDIS_PORT = 6379
CONFIG_DIR = "/etc/tolaria"
SPEC_FILE = "spec.yaml"
SPEC_PATH = f"{CONFIG_DIR}/{SPEC_FILE}"
REDIS_UID = 999  # the `redis` user of the official image
TRAINER_UID = 10001  # the user of Dockerfile.trainer
CHECKPOINT_MOUNT = "/var/lib/tolaria/checkpoints"
REDIS_DATA_DIR = "/data"  # the official image's working directory and volume
GENERATED_PASSWORD_KEY = "password"
# Share of the managed Redis's memory limit given to its dataset (`maxmemory`); the rest covers
# client buffers, fragmentation and the copy-on-write of an append-only-file rewrite.
REDIS_DATASET_SHARE = 0.75

# Seconds a daemon lets running games finish after SIGTERM, and the pod's grace on top.
DAEMON_DRAIN_SECONDS = 60
# The Forge image (Dockerfile.daemon's engine-forge stage and docker/forge/).
FORGE_HOME = "/var/lib/forge"  # userDir and cacheDir of its forge.profile.properties
FORGE_STATUS_PROBE = "/opt/forge/bin/forge-status"
FORGE_STATUS_TIMEOUT_SECONDS = 60  # longer than a game: STATUS queues behind 10 running games
FORGE_HEAP_FRACTION = 0.75
FORGE_DEFAULT_HEAP_MB = 1536
# Seconds the learner gets to write its checkpoint after SIGTERM.
LEARNER_GRACE_SECONDS = 300
ACTOR_GRACE_SECONDS = 30

COMPONENTS = ("daemon", "actor", "learner", "evaluator", "redis")


class PodAnnotationsError(ValueError):
    """The run's `tolaria.dev/pod-annotations` annotation is not a JSON object of strings."""


def child_name(run: TrainingRun, component: str) -> str:
    return f"{run.metadata.name}-{component}"


def config_map_name(run: TrainingRun) -> str:
    return f"{run.metadata.name}-config"


def run_labels(run: TrainingRun) -> dict[str, str]:
    return {RUN_LABEL: run.metadata.name}


def selector_labels(run: TrainingRun, component: str) -> dict[str, str]:
    return {RUN_LABEL: run.metadata.name, COMPONENT_LABEL: component}


def component_labels(run: TrainingRun, component: str) -> dict[str, str]:
    return {
        **selector_labels(run, component),
        "app.kubernetes.io/name": "tolaria",
        "app.kubernetes.io/instance": run.metadata.name,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": "tolaria-operator",
    }


def owner_reference(run: TrainingRun) -> dict[str, Any]:
    if not run.metadata.uid:
        raise ValueError(
            f"TrainingRun {run.metadata.namespace}/{run.metadata.name} has no uid to own children by"
        )
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": run.metadata.name,
        "uid": run.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def child_metadata(run: TrainingRun, name: str, component: str | None) -> dict[str, Any]:
    labels = (
        component_labels(run, component)
        if component
        else {
            **run_labels(run),
            "app.kubernetes.io/name": "tolaria",
            "app.kubernetes.io/instance": run.metadata.name,
            "app.kubernetes.io/managed-by": "tolaria-operator",
        }
    )
    return {
        "name": name,
        "namespace": run.metadata.namespace,
        "labels": labels,
        "ownerReferences": [owner_reference(run)],
    }


# ---------------------------------------------------------------------------------------
# Configuration and its hashes


def run_document(run: TrainingRun) -> dict[str, Any]:
    """The TrainingRun as pods read it: what `tolaria.spec.load_trainingrun` accepts."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": run.metadata.name, "namespace": run.metadata.namespace},
        "spec": run.spec.to_wire(),
    }


def config_map(run: TrainingRun) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": child_metadata(run, config_map_name(run), None),
        "data": {SPEC_FILE: yaml.safe_dump(run_document(run), sort_keys=True)},
    }


def _sections(run: TrainingRun, component: str) -> dict[str, Any]:
    """The parts of the spec a component's processes read (operator-only fields excluded)."""
    spec = run.spec.to_wire()
    daemons = {k: v for k, v in spec["daemons"].items() if k != "autoscaling"}
    actors = {k: v for k, v in spec["actors"].items() if k not in ("replicas", "perDaemon")}
    shared = {k: spec.get(k) for k in ("redis", "checkpoints", "rewardShaping", "seed")}
    if component == "daemon":
        return {"daemons": daemons}
    if component == "actor":
        network = spec["learner"]["network"]
        return {
            "decks": spec["decks"],
            "matchups": spec["matchups"],
            **{k: spec[k] for k in ("deckPools", "curriculum") if k in spec},
            "actors": actors,
            "network": network,
            **shared,
        }
    if component == "learner":
        return {"learner": spec["learner"], "evaluation": spec["evaluation"], **shared}
    if component == "evaluator":
        return {
            "decks": spec["decks"],
            "matchups": spec["matchups"],
            **{k: spec[k] for k in ("deckPools", "curriculum") if k in spec},
            "evaluation": spec["evaluation"],
            "network": spec["learner"]["network"],
            "targetBaseline": spec["stop"]["targetBaseline"],
            **shared,
        }
    if component == "redis":
        return {"redis": spec["redis"]}
    raise ValueError(f"unknown component {component!r}; expected one of {', '.join(COMPONENTS)}")


def _digest(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def config_hash(run: TrainingRun, component: str) -> str:
    return _digest(_sections(run, component))


def extra_pod_annotations(run: TrainingRun) -> dict[str, str]:
    raw = run.metadata.annotations.get(POD_ANNOTATIONS_ANNOTATION)
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as e:
        raise PodAnnotationsError(
            f"annotation {POD_ANNOTATIONS_ANNOTATION} is not valid JSON: {e.msg}"
        ) from e
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise PodAnnotationsError(
            f"annotation {POD_ANNOTATIONS_ANNOTATION} must be a JSON object of string values, such as"
            ' {"example.com/key": "value"}'
        )
    return value


def _pod_metadata(run: TrainingRun, component: str) -> dict[str, Any]:
    return {
        "labels": component_labels(run, component),
        "annotations": {**extra_pod_annotations(run), CONFIG_HASH_ANNOTATION: config_hash(run, component)},
    }


# ---------------------------------------------------------------------------------------
# Shared pieces of pods


def redis_url(run: TrainingRun) -> str:
    """The URL pods reach the run's Redis at (the managed Service, or the external URL)."""
    if run.spec.redis.url is not None:
        return run.spec.redis.url
    return f"redis://{child_name(run, 'redis')}.{run.metadata.namespace}.svc:{REDIS_PORT}/0"


def redis_password_ref(run: TrainingRun) -> SecretKeyRef | None:
    """The Secret key holding the run's Redis password: the spec's `passwordSecret`, else for a
    managed Redis the one the operator generates; None for an external Redis without one."""
    if run.spec.redis.password_secret is not None:
        return run.spec.redis.password_secret
    if run.spec.redis.managed:
        return SecretKeyRef(name=child_name(run, "redis-auth"), key=GENERATED_PASSWORD_KEY)
    return None


def _resources(resources: ResourceRequirements, gpus: int = 0) -> dict[str, Any]:
    requests = {k: str(v) for k, v in resources.requests.items()}
    limits = {k: str(v) for k, v in resources.limits.items()}
    if gpus:
        # Extended resources are set in limits; requests must equal them.
        requests["nvidia.com/gpu"] = limits["nvidia.com/gpu"] = str(gpus)
    out: dict[str, Any] = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def _run_env(run: TrainingRun) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "TOLARIA_RUN_NAME", "value": run.metadata.name},
        {"name": "TOLARIA_RUN_NAMESPACE", "value": run.metadata.namespace},
        {"name": "TOLARIA_SPEC", "value": SPEC_PATH},
        {"name": "TOLARIA_REDIS_URL", "value": redis_url(run)},
    ]
    secret = redis_password_ref(run)
    if secret is not None:
        env.append(
            {
                "name": REDIS_PASSWORD_ENV,
                "valueFrom": {"secretKeyRef": {"name": secret.name, "key": secret.key}},
            }
        )
    if run.spec.checkpoints.endpoint_url is not None:
        env.append({"name": "TOLARIA_S3_ENDPOINT", "value": run.spec.checkpoints.endpoint_url})
    return env


def _checkpoint_env_from(run: TrainingRun) -> list[dict[str, Any]]:
    """AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from the checkpoints' credentials Secret."""
    return [{"secretRef": {"name": run.spec.checkpoints.credentials_secret}}]


def _container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
    }


# Where processes may write in a child pod (the root filesystem is read-only): temporary files,
# and the caches of torch.compile and Triton (the learner with `compile: true`).
_TMP_MOUNT = {"name": "tmp", "mountPath": "/tmp"}
_CACHE_ENV = [
    {"name": "TRITON_CACHE_DIR", "value": "/tmp/triton"},
    {"name": "TORCHINDUCTOR_CACHE_DIR", "value": "/tmp/torchinductor"},
]


def _sealed(pod_spec: dict[str, Any], service_account: str | None = None) -> dict[str, Any]:
    """A child pod as every child runs: no API token (no child talks to the API server; a cloud
    identity's webhook projects a token of its own) and a writable /tmp beside the read-only root
    filesystem; `service_account` for the pods that reach the checkpoint store."""
    if service_account is not None:
        pod_spec["serviceAccountName"] = service_account
    pod_spec["automountServiceAccountToken"] = False
    pod_spec.setdefault("volumes", []).append({"name": "tmp", "emptyDir": {}})
    for container in pod_spec["containers"]:
        container.setdefault("volumeMounts", []).append(dict(_TMP_MOUNT))
    return pod_spec


def _pod_security(uid: int | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    if uid is not None:
        context.update(runAsUser=uid, runAsGroup=uid, fsGroup=uid)
    return context


def _config_volume(run: TrainingRun) -> dict[str, Any]:
    return {"name": "config", "configMap": {"name": config_map_name(run)}}


_CONFIG_MOUNT = {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}


def pod_checkpoint_uri(run: TrainingRun) -> str | None:
    """Where a pod finds a file:// store: the spec's path taken on the checkpoint volume
    (relative and absolute paths alike). None for s3://, which pods reach directly."""
    scheme, _, path = parse_checkpoint_uri(run.spec.checkpoints.uri)
    if scheme != "file":
        return None
    return f"file://{CHECKPOINT_MOUNT}/{path.strip('/')}".rstrip("/")


def checkpoints_persist(run: TrainingRun) -> bool:
    """False for a file:// store without a volume claim: it lives and dies with each pod."""
    return run.spec.checkpoints.uri.startswith("s3://") or run.spec.checkpoints.volume_claim is not None


def _with_checkpoints(run: TrainingRun, pod_spec: dict[str, Any]) -> dict[str, Any]:
    """Mount a file:// store (the claim, or an emptyDir so that the read-only root filesystem
    is not where it goes) and point the container at it; s3:// pods get the credentials."""
    container = pod_spec["containers"][0]
    if run.spec.checkpoints.credentials_secret is not None:
        container["envFrom"] = _checkpoint_env_from(run)
    uri = pod_checkpoint_uri(run)
    if uri is None:
        return pod_spec
    claim = run.spec.checkpoints.volume_claim
    source = {"persistentVolumeClaim": {"claimName": claim}} if claim else {"emptyDir": {}}
    pod_spec["volumes"].append({"name": "checkpoints", **source})
    container["volumeMounts"].append({"name": "checkpoints", "mountPath": CHECKPOINT_MOUNT})
    container["args"] += ["--checkpoint-uri", uri]
    # A fresh volume is root's; the group lets the trainer image's user write to it.
    pod_spec["securityContext"]["fsGroup"] = TRAINER_UID
    return pod_spec


# ---------------------------------------------------------------------------------------
# Daemons


def daemon_deployment(run: TrainingRun, replicas: int) -> dict[str, Any]:
    spec = run.spec.daemons
    container: dict[str, Any] = {
        "name": "daemon",
        "image": spec.image,
        "ports": [{"name": "game", "containerPort": DAEMON_PORT, "protocol": "TCP"}],
        "resources": _resources(spec.resources),
        "readinessProbe": {"tcpSocket": {"port": "game"}, "periodSeconds": 5},
        "securityContext": _container_security(),
    }
    volumes: list[dict[str, Any]] = []
    if spec.engine == "builtin":
        # Appended to the image's `tolaria daemon --port 17171 --decks ...` entrypoint.
        container["args"] = [
            "--max-games",
            str(spec.games_per_daemon),
            "--metrics-port",
            str(METRICS_PORT),
            "--grace",
            str(DAEMON_DRAIN_SECONDS),
        ]
        container["ports"].append({"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"})
    else:
        _as_forge_daemon(container, spec.resources)
        volumes.append({"name": "forge-home", "emptyDir": {}})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": child_metadata(run, child_name(run, "daemon"), "daemon"),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector_labels(run, "daemon")},
            # Never below the desired count during a rollout: actors keep their games.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
            "template": {
                "metadata": _pod_metadata(run, "daemon"),
                "spec": _sealed(
                    {
                        "terminationGracePeriodSeconds": DAEMON_DRAIN_SECONDS + 10,
                        "securityContext": _pod_security(),
                        "containers": [container],
                        "volumes": volumes,
                    }
                ),
            },
        },
    }


def forge_heap_mb(resources: ResourceRequirements) -> int:
    """The fixed heap (-Xms = -Xmx) of a Forge daemon in a pod with these resources: 3/4 of its
    memory limit (or request) in MiB, leaving the rest to the JVM's own memory, at least 256."""
    memory = resources.limits.get("memory", resources.requests.get("memory"))
    value = quantity_value(str(memory)) if memory is not None else None
    if value is None:
        return FORGE_DEFAULT_HEAP_MB
    return max(256, int(float(value) * FORGE_HEAP_FRACTION / 2**20))


def _as_forge_daemon(container: dict[str, Any], resources: ResourceRequirements) -> None:
    """The Forge image (Dockerfile.daemon, ENGINE=forge) keeps its entrypoint; the pod gives it
    its heap, a writable home for the user data and caches its forge.profile.properties points
    at, and probes that understand Forge: listening (its card database takes seconds to load),
    then answering STATUS in Forge's format. Forge serves STATUS from the thread pool of its
    games, so a daemon running all of them answers only when one ends: the probe waits long."""
    container["env"] = [{"name": "FORGE_HEAP", "value": f"{forge_heap_mb(resources)}m"}]
    container["volumeMounts"] = [{"name": "forge-home", "mountPath": FORGE_HOME}]
    container["startupProbe"] = {"tcpSocket": {"port": "game"}, "periodSeconds": 2, "failureThreshold": 90}
    container["readinessProbe"] = {
        "exec": {"command": [FORGE_STATUS_PROBE]},
        "periodSeconds": 15,
        "timeoutSeconds": FORGE_STATUS_TIMEOUT_SECONDS,
        "failureThreshold": 3,
    }


def daemon_service(run: TrainingRun) -> dict[str, Any]:
    """Headless: actors resolve every daemon pod's address and spread games over them."""
    ports = [{"name": "game", "port": DAEMON_PORT, "targetPort": "game", "protocol": "TCP"}]
    if run.spec.daemons.engine == "builtin":
        ports.append({"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics", "protocol": "TCP"})
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": child_metadata(run, child_name(run, "daemon"), "daemon"),
        "spec": {"clusterIP": "None", "selector": selector_labels(run, "daemon"), "ports": ports},
    }


def daemons_endpoint(run: TrainingRun) -> str:
    return f"{child_name(run, 'daemon')}.{run.metadata.namespace}.svc:{DAEMON_PORT}"


# ---------------------------------------------------------------------------------------
# Actors


def actor_replicas(run: TrainingRun, daemons: int) -> int:
    """A fixed count, or `perDaemon` actors for every daemon (rounded up).

    None without daemons, in both modes: they would have nothing to play against, and a
    suspended or ended run (no daemons) must release the actors' compute too.
    """
    spec = run.spec.actors
    if daemons == 0:
        return 0
    if spec.replicas is not None:
        return spec.replicas
    assert spec.per_daemon is not None
    # Rounded first so that 3 x 0.1 is 0.3 and not 0.30000000000000004 (4 actors).
    return math.ceil(round(daemons * spec.per_daemon, 6))


def _player_deployment(run: TrainingRun, component: str, replicas: int, grace: int) -> dict[str, Any]:
    """Actors and the evaluator: trainer-image pods that play games against the daemons."""
    spec = run.spec.actors
    container: dict[str, Any] = {
        "name": component,
        "image": spec.image,
        "args": [
            component,
            "--spec",
            SPEC_PATH,
            "--daemons",
            daemons_endpoint(run),
            "--metrics-port",
            str(METRICS_PORT),
        ],
        "env": [*_run_env(run), {"name": "TOLARIA_DAEMONS", "value": daemons_endpoint(run)}],
        "ports": [{"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}],
        "resources": _resources(spec.resources),
        "volumeMounts": [_CONFIG_MOUNT],
        "securityContext": _container_security(),
    }
    pod_spec = {
        "terminationGracePeriodSeconds": grace,
        "securityContext": _pod_security(),
        "containers": [container],
        "volumes": [_config_volume(run)],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": child_metadata(run, child_name(run, component), component),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector_labels(run, component)},
            "template": {
                "metadata": _pod_metadata(run, component),
                "spec": _sealed(_with_checkpoints(run, pod_spec), spec.service_account_name),
            },
        },
    }


def actor_deployment(run: TrainingRun, replicas: int) -> dict[str, Any]:
    return _player_deployment(run, "actor", replicas, ACTOR_GRACE_SECONDS)


def evaluator_deployment(run: TrainingRun, replicas: int) -> dict[str, Any]:
    """One evaluator (with the actors' image and resources); none while the run is stopped."""
    return _player_deployment(run, "evaluator", replicas, ACTOR_GRACE_SECONDS)


# ---------------------------------------------------------------------------------------
# Learner


def learner_job(run: TrainingRun, suspend: bool) -> dict[str, Any]:
    spec = run.spec.learner
    container: dict[str, Any] = {
        "name": "learner",
        "image": spec.image,
        "args": [
            "learner",
            "--spec",
            SPEC_PATH,
            "--metrics-port",
            str(METRICS_PORT),
        ],
        "env": _run_env(run) + _warm_start_env(run) + _CACHE_ENV,
        "ports": [{"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}],
        "resources": _resources(spec.resources, gpus=spec.gpus),
        "volumeMounts": [_CONFIG_MOUNT],
        "securityContext": _container_security(),
    }
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": LEARNER_GRACE_SECONDS,
        "securityContext": _pod_security(),
        "containers": [container],
        "volumes": [_config_volume(run)],
    }
    _sealed(_with_checkpoints(run, pod_spec), spec.service_account_name)
    if spec.node_selector:
        pod_spec["nodeSelector"] = dict(spec.node_selector)
    if spec.tolerations:
        pod_spec["tolerations"] = [t.to_wire() for t in spec.tolerations]
    template = {"metadata": _pod_metadata(run, "learner"), "spec": pod_spec}
    metadata = child_metadata(run, child_name(run, "learner"), "learner")
    # The template of a Job is immutable: this hash on the Job tells when it must be replaced.
    metadata["annotations"] = {TEMPLATE_HASH_ANNOTATION: _digest(template)}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {
            "backoffLimit": spec.max_restarts,
            "suspend": suspend,
            # Evictions and preemptions are not the learner's fault: retried without counting.
            "podFailurePolicy": {
                "rules": [
                    {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}
                ]
            },
            "template": template,
        },
    }


def _warm_start_env(run: TrainingRun) -> list[dict[str, Any]]:
    # Only with a warm start: the variable would otherwise change the learner's template hash,
    # and so restart the learners of every existing run, for nothing.
    if not run.spec.learner.warm_start.games:
        return []
    return [{"name": "TOLARIA_DAEMONS", "value": daemons_endpoint(run)}]


# ---------------------------------------------------------------------------------------
# Managed Redis


# The password reaches redis-server on its standard input, as a config directive: never in its
# argv (readable in /proc by every process of the node) and never in a file. `printf` is a shell
# builtin, so the value is in no process's argv on the way either. Redis's config parser takes a
# double-quoted string with backslash escapes; a newline cannot be written there and is refused.
_REDIS_START = r"""
case "$REDIS_PASSWORD" in
  "") echo "redis: the password Secret's key is empty" >&2; exit 1 ;;
  *'
'*) echo "redis: the password in the Secret contains a newline, which Redis cannot take" >&2; exit 1 ;;
esac
escaped=$(printf '%s' "$REDIS_PASSWORD" | sed -e 's/[\\"]/\\&/g')
exec redis-server "$@" - <<EOF
requirepass "$escaped"
EOF
""".strip()


def redis_maxmemory(resources: ResourceRequirements) -> int | None:
    """Bytes of dataset the managed Redis may hold: a share of its memory limit (else request)."""
    memory = resources.limits.get("memory", resources.requests.get("memory"))
    value = None if memory is None else quantity_value(str(memory))
    if value is None:
        return None
    return int(value * Decimal(REDIS_DATASET_SHARE))


def redis_args(run: TrainingRun) -> list[str]:
    args = [
        "--port", str(REDIS_PORT),
        "--dir", REDIS_DATA_DIR,
        # Every write is logged and fsynced each second: a restarted pod on the same volume
        # loses at most a second of the run's state. No RDB snapshots besides.
        "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
        # A full Redis refuses writes (the actors back off and retry) rather than evicting the
        # run's weights or counters.
        "--maxmemory-policy", "noeviction",
    ]  # fmt: skip
    maxmemory = redis_maxmemory(run.spec.redis.resources)
    if maxmemory is not None:
        args += ["--maxmemory", str(maxmemory)]
    return args


def redis_deployment(run: TrainingRun, persistent: bool) -> dict[str, Any]:
    """`persistent`: the data volume is the run's claim (`redis_volume_claim`), else an emptyDir."""
    spec = run.spec.redis
    secret = redis_password_ref(run)
    assert secret is not None  # a managed Redis always has one
    data = (
        {"persistentVolumeClaim": {"claimName": child_name(run, "redis")}} if persistent else {"emptyDir": {}}
    )
    container: dict[str, Any] = {
        "name": "redis",
        "image": spec.image,
        "command": ["sh", "-c", _REDIS_START, "redis"],
        "args": redis_args(run),
        "env": [
            {
                "name": "REDIS_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": secret.name, "key": secret.key}},
            }
        ],
        "ports": [{"name": "redis", "containerPort": REDIS_PORT, "protocol": "TCP"}],
        "resources": _resources(spec.resources),
        "readinessProbe": {"tcpSocket": {"port": "redis"}, "periodSeconds": 5},
        "securityContext": _container_security(),
        "volumeMounts": [{"name": "data", "mountPath": REDIS_DATA_DIR}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": child_metadata(run, child_name(run, "redis"), "redis"),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector_labels(run, "redis")},
            # Two Redis pods would split the run's streams between them.
            "strategy": {"type": "Recreate"},
            "template": {
                "metadata": _pod_metadata(run, "redis"),
                "spec": _sealed(
                    {
                        "securityContext": _pod_security(REDIS_UID),
                        "containers": [container],
                        "volumes": [{"name": "data", **data}],
                    }
                ),
            },
        },
    }


def redis_volume_claim(run: TrainingRun) -> dict[str, Any]:
    storage = run.spec.redis.storage
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": str(storage.size)}},
    }
    if storage.storage_class_name is not None:
        spec["storageClassName"] = storage.storage_class_name
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": child_metadata(run, child_name(run, "redis"), "redis"),
        "spec": spec,
    }


def redis_disruption_budget(run: TrainingRun) -> dict[str, Any]:
    """Drains and the cluster autoscaler wait for the run's only Redis instead of evicting it
    (eviction loses the rollout queue, and without a claim the whole state); spot reclaims and
    node failures are not voluntary and are not held back."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": child_metadata(run, child_name(run, "redis"), "redis"),
        "spec": {"minAvailable": 1, "selector": {"matchLabels": selector_labels(run, "redis")}},
    }


def redis_password_secret(run: TrainingRun, password: str) -> dict[str, Any]:
    """The generated password of a managed Redis; created once (see the module docstring)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": child_metadata(run, child_name(run, "redis-auth"), "redis"),
        "type": "Opaque",
        "stringData": {GENERATED_PASSWORD_KEY: password},
    }


def redis_service(run: TrainingRun) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": child_metadata(run, child_name(run, "redis"), "redis"),
        "spec": {
            "selector": selector_labels(run, "redis"),
            "ports": [{"name": "redis", "port": REDIS_PORT, "targetPort": "redis", "protocol": "TCP"}],
        },
    }


# ---------------------------------------------------------------------------------------
# The whole set


def desired_children(
    run: TrainingRun,
    daemon_replicas: int,
    actor_count: int,
    stopped: bool,
    *,
    redis_persistent: bool,
    released: bool = False,
) -> list[dict[str, Any]]:
    """Every child of the run, in the order they should be applied (config and Redis first).

    `stopped` (the run is suspended or has ended) suspends the learner Job and stops the evaluator.
    `redis_persistent`: the managed Redis keeps its data on a claim (the cluster has a StorageClass).
    `released`: the run finished `ttlSecondsAfterFinished` ago; its managed Redis goes too (its
    claim stays, with the data, until the run is deleted).
    """
    children = [config_map(run)]
    if run.spec.redis.managed:
        if redis_persistent:
            children.append(redis_volume_claim(run))
        children.append(redis_service(run))
        if not released:
            children += [redis_deployment(run, redis_persistent), redis_disruption_budget(run)]
    children += [
        daemon_service(run),
        daemon_deployment(run, daemon_replicas),
        actor_deployment(run, actor_count),
        learner_job(run, stopped),
    ]
    if run.spec.evaluation.enabled:
        children.append(evaluator_deployment(run, 0 if stopped else 1))
    return children
