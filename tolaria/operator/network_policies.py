"""The NetworkPolicies of a run: pure functions from the run to manifests.

A run's daemons and its Redis hold what other tenants must not touch (games anyone could play,
the policy and the rollouts anyone could read or poison), so each run comes with policies that
admit only its own traffic:
- its daemons take games from the run's actors, evaluator and learner (the warm start);
- its Redis takes connections from the run's pods and from the operator's pods (which sample
  the queue depth);
- the metrics port of every component takes scrapes from one monitoring namespace.
Everything else that reaches these pods is dropped, wherever a NetworkPolicy enforcer runs.
Only ingress is restricted: the pods' own connections (S3, the daemons, Redis) go out freely.

Policies select pods by label, so they keep out other namespaces and pods labelled otherwise;
whoever may create pods in the run's namespace can label one like the run's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tolaria.operator.children import (
    COMPONENT_LABEL,
    DAEMON_PORT,
    METRICS_PORT,
    REDIS_PORT,
    child_metadata,
    child_name,
    run_labels,
    selector_labels,
)
from tolaria.spec import TrainingRun

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set by the API server on every namespace
TRAINER_COMPONENTS = ("actor", "evaluator", "learner")


@dataclass(frozen=True)
class OperatorPods:
    """Where the operator runs, so that a run's Redis admits it: its namespace and pod labels."""

    namespace: str
    labels: dict[str, str]

    @classmethod
    def parse(cls, namespace: str, selector: str) -> OperatorPods:
        """From `key=value,key=value` (the chart's selector labels of the operator's pods)."""
        labels = {}
        for item in selector.split(","):
            key, sep, value = item.strip().partition("=")
            if not sep or not key or not value:
                raise ValueError(f"{selector!r} is not a label selector of the form key=value,key=value")
            labels[key] = value
        return cls(namespace, labels)


def _metrics_peer(run: TrainingRun) -> dict[str, Any]:
    namespace = run.spec.network_policies.metrics_namespace
    return {
        "from": [{"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: namespace}}}],
        "ports": [{"protocol": "TCP", "port": METRICS_PORT}],
    }


def _policy(
    run: TrainingRun, name: str, component: str, pods: dict[str, Any], ingress: list
) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": child_metadata(run, name, component),
        "spec": {"podSelector": pods, "policyTypes": ["Ingress"], "ingress": ingress},
    }


def daemon_policy(run: TrainingRun) -> dict[str, Any]:
    players = {
        "podSelector": {
            "matchLabels": run_labels(run),
            "matchExpressions": [
                {"key": COMPONENT_LABEL, "operator": "In", "values": list(TRAINER_COMPONENTS)}
            ],
        }
    }
    games = {"from": [players], "ports": [{"protocol": "TCP", "port": DAEMON_PORT}]}
    return _policy(
        run,
        child_name(run, "daemon"),
        "daemon",
        {"matchLabels": selector_labels(run, "daemon")},
        [games, _metrics_peer(run)],
    )


def redis_policy(run: TrainingRun, operator: OperatorPods | None) -> dict[str, Any]:
    peers: list[dict[str, Any]] = [{"podSelector": {"matchLabels": run_labels(run)}}]
    if operator is not None:
        peers.append(
            {
                "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: operator.namespace}},
                "podSelector": {"matchLabels": dict(operator.labels)},
            }
        )
    clients = {"from": peers, "ports": [{"protocol": "TCP", "port": REDIS_PORT}]}
    return _policy(
        run, child_name(run, "redis"), "redis", {"matchLabels": selector_labels(run, "redis")}, [clients]
    )


def trainer_policy(run: TrainingRun) -> dict[str, Any]:
    """Actors, evaluator and learner listen only for metrics."""
    pods = {
        "matchLabels": run_labels(run),
        "matchExpressions": [{"key": COMPONENT_LABEL, "operator": "In", "values": list(TRAINER_COMPONENTS)}],
    }
    return _policy(run, child_name(run, "trainer"), "learner", pods, [_metrics_peer(run)])


def network_policies(run: TrainingRun, operator: OperatorPods | None) -> list[dict[str, Any]]:
    """Every policy of the run; none when `spec.networkPolicies.enabled` is false."""
    if not run.spec.network_policies.enabled:
        return []
    policies = [daemon_policy(run), trainer_policy(run)]
    if run.spec.redis.managed:
        policies.append(redis_policy(run, operator))
    return policies
