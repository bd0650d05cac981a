"""Requests one client made to the test bed's API server, counted by the API server itself.

`apiserver_request_total` has no label for the client, but API Priority and Fairness tells
clients apart: a FlowSchema matches requests by their subject (and verb and resource), and
`apiserver_flowcontrol_dispatched_requests_total` counts what each FlowSchema matched. So the
operator runs as a ServiceAccount of its own (with a token from the TokenRequest API, as in a
pod), and FlowSchemas of that subject count its requests: some for the reads that should not
happen at every step (GETs of TrainingRuns and of Secrets), one for everything else. The
FlowSchemas send the requests to the `exempt` priority level, so counting never queues or
throttles them (as for the test bed's admin, whose requests are exempt too).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from .conftest import Testbed

DISPATCHED = "apiserver_flowcontrol_dispatched_requests_total"
# FlowSchema name suffix -> (verbs, apiGroups, resources); "all" matches what the others do not.
READS = {
    "get-runs": (["get"], ["tolaria.dev"], ["trainingruns"]),
    "get-secrets": (["get"], [""], ["secrets"]),
}
_SAMPLE = re.compile(r"^(\w+)\{([^}]*)\} ([0-9.e+-]+)$")


@dataclass
class ClientIdentity:
    """A ServiceAccount bound to cluster-admin, a kubeconfig that authenticates as it, and
    FlowSchemas that count its requests."""

    bed: Testbed
    namespace: str
    name: str
    kubeconfig: Path

    @property
    def schemas(self) -> dict[str, str]:
        """What is counted -> FlowSchema name."""
        return {what: f"{self.namespace}-{self.name}-{what}" for what in (*READS, "all")}

    def env(self) -> dict[str, str]:
        return {**self.bed.env, "KUBECONFIG": str(self.kubeconfig)}

    def counts(self) -> dict[str, float]:
        """Requests dispatched so far, per counted kind (`get-runs`, `get-secrets`, `all`), and
        `total`."""
        by_schema = {schema: what for what, schema in self.schemas.items()}
        found = dict.fromkeys(self.schemas, 0.0)
        text = self.bed.kubectl("get", "--raw", "/metrics").stdout
        for line in text.splitlines():
            if not line.startswith(DISPATCHED + "{"):
                continue
            match = _SAMPLE.match(line)
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2))) if match else {}
            what = by_schema.get(labels.get("flow_schema", ""))
            if what is not None:
                found[what] += float(match.group(3))
        found["total"] = sum(found.values())
        return found

    def remove(self) -> None:
        for schema in self.schemas.values():
            self.bed.kubectl("delete", "flowschema", schema, "--ignore-not-found", "--wait=false")
        binding = f"{self.namespace}-{self.name}"
        self.bed.kubectl("delete", "clusterrolebinding", binding, "--ignore-not-found", "--wait=false")


def client_identity(bed: Testbed, namespace: str, name: str, workdir: Path) -> ClientIdentity:
    """Create the ServiceAccount `name` in `namespace` (which must exist), its cluster-admin
    binding, its FlowSchemas and a kubeconfig with a token for it (valid two hours)."""
    subject = {"kind": "ServiceAccount", "serviceAccount": {"name": name, "namespace": namespace}}

    def schema(what: str, precedence: int, rules: dict) -> dict:
        return {
            "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
            "kind": "FlowSchema",
            "metadata": {"name": f"{namespace}-{name}-{what}"},
            "spec": {
                "priorityLevelConfiguration": {"name": "exempt"},
                "matchingPrecedence": precedence,
                "rules": [{"subjects": [subject], **rules}],
            },
        }

    everything = {
        "resourceRules": [
            {
                "verbs": ["*"],
                "apiGroups": ["*"],
                "resources": ["*"],
                "clusterScope": True,
                "namespaces": ["*"],
            }
        ],
        "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
    }
    manifests = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"{namespace}-{name}"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
        *(
            schema(
                what,
                100,
                {"resourceRules": [{"verbs": v, "apiGroups": g, "resources": r, "namespaces": ["*"]}]},
            )
            for what, (v, g, r) in READS.items()
        ),
        schema("all", 101, everything),
    ]
    bed.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(manifests))
    token = bed.kubectl("create", "token", name, "-n", namespace, "--duration=2h").stdout.strip()
    config = yaml.safe_load(bed.kubeconfig.read_text())
    config["users"] = [{"name": name, "user": {"token": token}}]
    config["contexts"] = [{"name": "testbed", "context": {"cluster": "testbed", "user": name}}]
    path = workdir / f"kubeconfig-{namespace}-{name}"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return ClientIdentity(bed, namespace, name, path)
