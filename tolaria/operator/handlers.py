"""kopf handlers: thin wiring between kopf and the per-run control loops.

- Indexes of the runs' children (Deployments, Jobs, Services, ConfigMaps labelled
  `tolaria.dev/run`), fed by kopf's watches: the control loops read children from them.
- A daemon per TrainingRun runs its `RunLoop` until the run is deleted. The loop reads the run
  from kopf's live body of it (kept current by kopf's watch), never from the API server.
- Watch events wake a run's loop at once: a spec change (new generation) of the run, or any
  change to one of its children (so a child deleted or edited by hand is restored promptly).

The operator-wide objects (API client, metrics, wake-up events) travel in kopf's memo,
which the command builds (`tolaria.operator.cli`).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from dataclasses import dataclass, field
from typing import Any

import kopf

from tolaria.operator.children import RUN_LABEL
from tolaria.operator.kube import Kube
from tolaria.operator.metrics import OperatorMetrics
from tolaria.operator.network_policies import OperatorPods
from tolaria.operator.reconcile import ERROR_RETRY_SECONDS, RunLoop
from tolaria.spec import GROUP, PLURAL, VERSION

log = logging.getLogger(__name__)

# Steps of one run are at least this far apart, so a burst of child events makes one step.
MIN_STEP_SPACING_SECONDS = 0.25

RunKey = tuple[str, str]


@dataclass
class OperatorContext:
    """What every handler shares (kopf passes a shallow copy of it as `memo`)."""

    kube: Kube
    metrics: OperatorMetrics
    operator_pods: OperatorPods | None = None
    wakeups: dict[RunKey, asyncio.Event] = field(default_factory=dict)

    def wake(self, key: RunKey) -> None:
        event = self.wakeups.get(key)
        if event is not None:
            event.set()


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.persistence.finalizer = "tolaria.dev/operator"
    # Events are posted deliberately (scaling decisions, phase changes), not for every log line.
    settings.posting.level = logging.WARNING
    # Watches are re-established regularly, so a silently dropped connection cannot stall them.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10


# -- indexes of children


def _child_entry(
    api_version: str, kind: str, namespace: str, labels: kopf.Labels, body: kopf.Body
) -> dict[RunKey, dict[str, Any]]:
    raw = copy.deepcopy(dict(body))
    raw.get("metadata", {}).pop("managedFields", None)
    # Objects from the initial listing carry no apiVersion and kind of their own.
    raw.update(apiVersion=api_version, kind=kind)
    return {(namespace, labels[RUN_LABEL]): raw}


_CHILDREN = {"labels": {RUN_LABEL: kopf.PRESENT}}


@kopf.index("apps", "v1", "deployments", id="child_deployments", **_CHILDREN)
def child_deployments(namespace: str, labels: kopf.Labels, body: kopf.Body, **_: Any) -> dict:
    return _child_entry("apps/v1", "Deployment", namespace, labels, body)


@kopf.index("batch", "v1", "jobs", id="child_jobs", **_CHILDREN)
def child_jobs(namespace: str, labels: kopf.Labels, body: kopf.Body, **_: Any) -> dict:
    return _child_entry("batch/v1", "Job", namespace, labels, body)


@kopf.index("v1", "services", id="child_services", **_CHILDREN)
def child_services(namespace: str, labels: kopf.Labels, body: kopf.Body, **_: Any) -> dict:
    return _child_entry("v1", "Service", namespace, labels, body)


@kopf.index("v1", "configmaps", id="child_configmaps", **_CHILDREN)
def child_configmaps(namespace: str, labels: kopf.Labels, body: kopf.Body, **_: Any) -> dict:
    return _child_entry("v1", "ConfigMap", namespace, labels, body)


@kopf.index("v1", "persistentvolumeclaims", id="child_claims", **_CHILDREN)
def child_claims(namespace: str, labels: kopf.Labels, body: kopf.Body, **_: Any) -> dict:
    return _child_entry("v1", "PersistentVolumeClaim", namespace, labels, body)


@kopf.index("policy", "v1", "poddisruptionbudgets", id="child_disruption_budgets", **_CHILDREN)
def child_disruption_budgets(namespace: str, labels: kopf.Labels, body: kopf.Body, **_: Any) -> dict:
    return _child_entry("policy/v1", "PodDisruptionBudget", namespace, labels, body)


@kopf.index("networking.k8s.io", "v1", "networkpolicies", id="child_network_policies", **_CHILDREN)
def child_network_policies(namespace: str, labels: kopf.Labels, body: kopf.Body, **_: Any) -> dict:
    return _child_entry("networking.k8s.io/v1", "NetworkPolicy", namespace, labels, body)


# -- wake-ups


@kopf.on.event("apps", "v1", "deployments", **_CHILDREN)
@kopf.on.event("batch", "v1", "jobs", **_CHILDREN)
@kopf.on.event("v1", "services", **_CHILDREN)
@kopf.on.event("v1", "configmaps", **_CHILDREN)
@kopf.on.event("v1", "persistentvolumeclaims", **_CHILDREN)
@kopf.on.event("policy", "v1", "poddisruptionbudgets", **_CHILDREN)
@kopf.on.event("networking.k8s.io", "v1", "networkpolicies", **_CHILDREN)
def child_changed(namespace: str, labels: kopf.Labels, memo: OperatorContext, **_: Any) -> None:
    memo.wake((namespace, labels[RUN_LABEL]))


@kopf.on.event(GROUP, VERSION, PLURAL)
def run_changed(
    namespace: str, name: str, meta: kopf.Meta, status: kopf.Status, memo: OperatorContext, **_: Any
) -> None:
    if meta.get("generation") != status.get("observedGeneration"):
        memo.wake((namespace, name))


# -- the control loop of each run


@kopf.daemon(GROUP, VERSION, PLURAL, id="control_loop", cancellation_timeout=10.0)
async def control_loop(
    namespace: str,
    name: str,
    body: kopf.Body,
    memo: OperatorContext,
    child_deployments: kopf.Index,
    child_jobs: kopf.Index,
    child_services: kopf.Index,
    child_configmaps: kopf.Index,
    child_claims: kopf.Index,
    child_disruption_budgets: kopf.Index,
    child_network_policies: kopf.Index,
    **_: Any,
) -> None:
    key = (namespace, name)
    indexes = (
        child_deployments,
        child_jobs,
        child_services,
        child_configmaps,
        child_claims,
        child_disruption_budgets,
        child_network_policies,
    )

    def children() -> dict[tuple[str, str], dict[str, Any]]:
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for index in indexes:
            for body in index.get(key, ()):
                found[(body["kind"], body["metadata"]["name"])] = body
        return found

    def watched() -> dict[str, Any]:
        # kopf replaces what `body` shows with every watch event: a step works on a copy.
        return copy.deepcopy(dict(body))

    def emit(about: dict[str, Any], type_: str, reason: str, message: str) -> None:
        kopf.event(about, type=type_, reason=reason, message=message)

    wake = memo.wakeups.setdefault(key, asyncio.Event())
    loop = RunLoop(memo.kube, namespace, name, watched, children, memo.metrics, emit, memo.operator_pods)
    try:
        while True:
            wake.clear()
            try:
                delay = await loop.step()
            except Exception:
                memo.metrics.errors.labels("reconcile").inc()
                log.exception(
                    "%s/%s: reconcile failed; retrying in %ss", namespace, name, ERROR_RETRY_SECONDS
                )
                delay = ERROR_RETRY_SECONDS
            if delay is None:
                return
            await asyncio.sleep(MIN_STEP_SPACING_SECONDS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=max(0.0, delay - MIN_STEP_SPACING_SECONDS))
    finally:
        await loop.close()
        if memo.wakeups.get(key) is wake:
            del memo.wakeups[key]
        memo.metrics.forget_run(namespace, name)
