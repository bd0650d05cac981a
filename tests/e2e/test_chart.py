"""The Helm chart against the test bed: lint, a server-side dry run of what it renders, install (the
operator pod runs on a fake node, the CRD is established, RBAC is least privilege), and uninstall
(users' TrainingRuns stay unless asked)."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest
import yaml

from tolaria import crd as crd_module

from .test_crd import CRD_NAME, install_crd, wait_established

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "tolaria"
RUN = {
    "apiVersion": "tolaria.dev/v1alpha1",
    "kind": "TrainingRun",
    "metadata": {"name": "precious"},
    "spec": {"decks": ["red_aggro", "white_weenie"]},
}


def render(testbed, namespace: str, *values: str) -> list[dict]:
    args = [f"--set={v}" for v in values]
    out = testbed.helm("template", "tolaria", str(CHART), "-n", namespace, *args).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def find(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def crd_exists(testbed) -> bool:
    return testbed.kubectl("get", "crd", CRD_NAME, check=False).returncode == 0


def crd_terminating(testbed) -> bool:
    found = testbed.kubectl("get", "crd", CRD_NAME, "-o", "json", check=False)
    return found.returncode == 0 and "deletionTimestamp" in json.loads(found.stdout)["metadata"]


def adopt_crd(testbed, release: str, namespace: str) -> None:
    """Let `release` take over a CRD applied earlier by other means, as Helm documents for adoption."""
    if crd_exists(testbed):
        testbed.kubectl("label", "crd", CRD_NAME, "app.kubernetes.io/managed-by=Helm", "--overwrite")
        testbed.kubectl(
            "annotate",
            "crd",
            CRD_NAME,
            f"meta.helm.sh/release-name={release}",
            f"meta.helm.sh/release-namespace={namespace}",
            "--overwrite",
        )


@pytest.fixture
def namespace(testbed):
    name = testbed.create_namespace("chart")
    yield name
    testbed.kubectl("delete", "namespace", name, "--wait=false")


def install(testbed, namespace: str, *values: str) -> str:
    release = f"tolaria-{uuid.uuid4().hex[:6]}"
    if "crds.install=false" not in values:
        adopt_crd(testbed, release, namespace)
    testbed.helm("install", release, str(CHART), "-n", namespace, *[f"--set={v}" for v in values])
    return release


def operator_pods(testbed, namespace: str, release: str) -> list[dict]:
    listed = testbed.kubectl(
        "get",
        "pods",
        "-n",
        namespace,
        "-o",
        "json",
        "-l",
        f"app.kubernetes.io/instance={release},app.kubernetes.io/component=operator",
    )
    return [p for p in json.loads(listed.stdout)["items"] if "deletionTimestamp" not in p["metadata"]]


def operator_pod(testbed, namespace: str, release: str) -> dict | None:
    pods = operator_pods(testbed, namespace, release)
    return pods[0] if pods else None


def wait_for_running_operator(testbed, namespace: str, release: str) -> dict:
    def running() -> bool:
        pod = operator_pod(testbed, namespace, release)
        return pod is not None and pod["status"].get("phase") == "Running"

    testbed.wait_for(running, f"the operator pod of {release} Running", timeout=90)
    return operator_pod(testbed, namespace, release)


def can(testbed, service_account: str, verb: str, resource: str, namespace: str) -> bool:
    """`resource/sub` asks about a subresource (kubectl would read the part after / as a name)."""
    resource, _, subresource = resource.partition("/")
    extra = [f"--subresource={subresource}"] if subresource else []
    done = testbed.kubectl(
        "auth", "can-i", verb, resource, *extra, f"--as={service_account}", "-n", namespace, check=False
    )
    return done.stdout.strip() == "yes"


def test_lint(testbed):
    testbed.helm("lint", "--strict", str(CHART))
    testbed.helm(
        "lint",
        "--strict",
        str(CHART),
        "--set=namespaced=true",
        "--set=redis.enabled=true",
        "--set=peering.enabled=true",
        "--set=metrics.serviceMonitor.enabled=true",
    )


@pytest.mark.parametrize(
    "values",
    [
        ["namespaced=yes"],
        ["crds.instal=true"],
        ["operator.healthPort=0"],
        ["watchNamespaces[0]=Not_A_Namespace"],
        ["replicas=2"],
    ],
    ids=["not-a-boolean", "misspelt-key", "port-out-of-range", "bad-namespace", "standby-without-peering"],
)
def test_values_schema_refuses_bad_values(testbed, values):
    refused = testbed.helm("lint", str(CHART), *[f"--set={v}" for v in values], check=False)
    assert refused.returncode != 0, refused.stdout


@pytest.mark.parametrize(
    "values",
    [
        [],
        ["namespaced=true"],
        ["redis.enabled=true", "peering.enabled=true", "replicas=2"],
        ["crds.install=false"],
    ],
    ids=["cluster-wide", "namespaced", "redis-peering-and-a-standby", "without-crds"],
)
def test_rendered_chart_passes_a_server_side_dry_run(testbed, namespace, values):
    # Hooks (the kopf peering object) need CRDs that only the install creates; test_peering covers them.
    rendered = testbed.helm(
        "template", "tolaria", str(CHART), "-n", namespace, "--no-hooks", *[f"--set={v}" for v in values]
    ).stdout
    testbed.kubectl(
        "apply",
        "--server-side",
        "--dry-run=server",
        "--force-conflicts",
        "--field-manager=helm-dry-run",
        "-f",
        "-",
        input=rendered,
    )


def test_chart_crd_is_the_generated_one(testbed):
    docs = render(testbed, "default")
    (crd,) = find(docs, "CustomResourceDefinition")
    assert crd["spec"] == crd_module.build_crd()["spec"]
    assert crd["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    (crd,) = find(render(testbed, "default", "crds.keepOnUninstall=false"), "CustomResourceDefinition")
    assert "annotations" not in crd["metadata"]
    assert find(render(testbed, "default", "crds.install=false"), "CustomResourceDefinition") == []


def test_operator_deployment_is_locked_down(testbed):
    (deployment,) = find(render(testbed, "ops"), "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    assert "command" not in container  # the image's entrypoint: tini, then `tolaria`
    assert container["args"][0] == "operator"
    assert "--all-namespaces" in container["args"] and "--standalone" in container["args"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"health": 8080, "metrics": 9090}
    (service,) = [
        s for s in find(render(testbed, "ops"), "Service") if s["metadata"]["name"].endswith("-metrics")
    ]
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}
    ]


def test_service_monitor_scrapes_the_metrics_service(testbed):
    docs = render(testbed, "ops", "metrics.serviceMonitor.enabled=true")
    (monitor,) = find(docs, "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0] == {"port": "metrics", "path": "/metrics", "interval": "30s"}
    (service,) = [s for s in find(docs, "Service") if s["metadata"]["name"].endswith("-metrics")]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()


def test_install_runs_the_operator_with_least_privilege(testbed, namespace):
    release = install(testbed, namespace)
    try:
        pod = wait_for_running_operator(testbed, namespace, release)
        assert pod["spec"]["nodeName"] in testbed.cpu_nodes
        wait_established(testbed)
        stored = json.loads(testbed.kubectl("get", "crd", CRD_NAME, "-o", "json").stdout)
        assert stored["spec"]["versions"] == crd_module.build_crd()["spec"]["versions"]
        account = f"system:serviceaccount:{namespace}:{release}"
        elsewhere = "default"
        for verb, resource in [
            ("watch", "trainingruns.tolaria.dev"),
            ("patch", "trainingruns.tolaria.dev"),
            ("patch", "trainingruns.tolaria.dev/status"),
            ("update", "trainingruns.tolaria.dev/finalizers"),
            ("create", "deployments.apps"),
            ("delete", "jobs.batch"),
            ("create", "services"),
            ("create", "configmaps"),
            ("create", "persistentvolumeclaims"),
            ("patch", "poddisruptionbudgets.policy"),
            ("patch", "networkpolicies.networking.k8s.io"),
            ("get", "secrets"),
            ("create", "secrets"),
            ("list", "pods"),
            ("list", "storageclasses.storage.k8s.io"),
            ("create", "events"),
        ]:
            assert can(testbed, account, verb, resource, elsewhere), (verb, resource)
        # Only what the operator uses: no PUT anywhere but the finalizers, no Secret listing.
        for verb, resource in [
            ("create", "trainingruns.tolaria.dev"),
            ("delete", "trainingruns.tolaria.dev"),
            ("update", "trainingruns.tolaria.dev"),
            ("update", "trainingruns.tolaria.dev/status"),
            ("update", "deployments.apps"),
            ("update", "jobs.batch"),
            ("list", "secrets"),
            ("watch", "secrets"),
            ("delete", "secrets"),
            ("get", "pods"),
            ("watch", "pods"),
            ("create", "pods"),
            ("delete", "pods"),
            ("create", "roles.rbac.authorization.k8s.io"),
            ("delete", "customresourcedefinitions.apiextensions.k8s.io"),
        ]:
            assert not can(testbed, account, verb, resource, elsewhere), (verb, resource)
    finally:
        testbed.helm("uninstall", release, "-n", namespace, check=False)


def test_namespaced_install_grants_nothing_outside_its_namespace(testbed, namespace):
    install_crd(testbed)
    release = install(testbed, namespace, "namespaced=true", "crds.install=false")
    try:
        pod = wait_for_running_operator(testbed, namespace, release)
        assert f"--namespace={namespace}" in pod["spec"]["containers"][0]["args"]
        assert testbed.kubectl("get", "clusterrole", f"{release}-operator", check=False).returncode != 0
        assert testbed.kubectl("get", "role", f"{release}-operator", "-n", namespace).returncode == 0
        account = f"system:serviceaccount:{namespace}:{release}"
        assert can(testbed, account, "patch", "trainingruns.tolaria.dev", namespace)
        assert can(testbed, account, "create", "deployments.apps", namespace)
        assert not can(testbed, account, "patch", "trainingruns.tolaria.dev", "default")
        assert not can(testbed, account, "create", "deployments.apps", "default")
        assert not can(testbed, account, "get", "secrets", "default")
        # Cluster-wide, a namespaced install may only list StorageClasses.
        assert can(testbed, account, "list", "storageclasses.storage.k8s.io", "default")
        assert not can(testbed, account, "list", "persistentvolumes", "default")
    finally:
        testbed.helm("uninstall", release, "-n", namespace, check=False)


def test_uninstall_leaves_trainingruns_alone(testbed, namespace):
    release = install(testbed, namespace)
    wait_for_running_operator(testbed, namespace, release)
    testbed.kubectl("apply", "--server-side", "-n", namespace, "-f", "-", input=yaml.safe_dump(RUN))
    testbed.helm("uninstall", release, "-n", namespace, "--wait")
    assert (
        testbed.kubectl("get", "deployment", f"{release}-operator", "-n", namespace, check=False).returncode
        != 0
    )
    assert testbed.kubectl("get", "clusterrole", f"{release}-operator", check=False).returncode != 0
    assert crd_exists(testbed)
    assert testbed.kubectl("get", "trainingrun", "precious", "-n", namespace).returncode == 0


def test_uninstall_deletes_crd_and_runs_when_asked(testbed, namespace):
    release = install(testbed, namespace, "crds.keepOnUninstall=false")
    try:
        wait_established(testbed)
        testbed.kubectl("apply", "--server-side", "-n", namespace, "-f", "-", input=yaml.safe_dump(RUN))
        testbed.helm("uninstall", release, "-n", namespace, "--wait")
        testbed.wait_for(lambda: not crd_exists(testbed), "the CRD deleted by helm uninstall", timeout=90)
        assert "trainingruns" not in testbed.kubectl("api-resources", "--api-group=tolaria.dev").stdout
    finally:
        # Other tests in the session expect the CRD: put it back once any deletion has finished.
        testbed.wait_for(lambda: not crd_terminating(testbed), "the CRD deletion to finish", timeout=90)
        install_crd(testbed)


def test_peering_objects_and_permissions(testbed, namespace):
    release = install(testbed, namespace, "peering.enabled=true", "peering.name=tolaria-e2e")
    try:
        pod = wait_for_running_operator(testbed, namespace, release)
        assert "--peering=tolaria-e2e" in pod["spec"]["containers"][0]["args"]
        peering = json.loads(testbed.kubectl("get", "clusterkopfpeering", "tolaria-e2e", "-o", "json").stdout)
        assert peering["kind"] == "ClusterKopfPeering"
        account = f"system:serviceaccount:{namespace}:{release}"
        assert can(testbed, account, "patch", "clusterkopfpeerings.kopf.dev", "default")
        assert not can(testbed, account, "delete", "clusterkopfpeerings.kopf.dev", "default")
    finally:
        testbed.helm("uninstall", release, "-n", namespace, check=False)
        testbed.kubectl("delete", "crd", "clusterkopfpeerings.kopf.dev", "--ignore-not-found")


def older_chart(tmp_path: Path) -> Path:
    """A copy of the chart whose CRD is an older one: no `spec.suspend`, no AGE column."""
    chart = tmp_path / "tolaria-older"
    shutil.copytree(CHART, chart)
    crd_file = chart / "files" / "trainingrun.yaml"
    crd = yaml.safe_load(crd_file.read_text())
    (version,) = crd["spec"]["versions"]
    del version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["suspend"]
    version["additionalPrinterColumns"] = [
        c for c in version["additionalPrinterColumns"] if c["name"] != "Age"
    ]
    crd_file.write_text(yaml.safe_dump(crd))
    return chart


def test_upgrade_from_an_older_chart_updates_the_crd_and_rolls_out_a_standby(testbed, namespace, tmp_path):
    """`helm upgrade` from an older chart brings the CRD up to date (the new field is kept, not
    pruned) and rolls the operator out anew with a standby and peering; a further upgrade goes back
    to one standalone operator; the users' runs stay throughout."""
    release = f"tolaria-{uuid.uuid4().hex[:6]}"
    adopt_crd(testbed, release, namespace)
    testbed.helm("install", release, str(older_chart(tmp_path)), "-n", namespace)
    try:
        wait_for_running_operator(testbed, namespace, release)
        testbed.kubectl("apply", "--server-side", "-n", namespace, "-f", "-", input=yaml.safe_dump(RUN))
        upgrade = ("upgrade", release, str(CHART), "-n", namespace, "--reuse-values")
        testbed.helm(*upgrade, "--set=replicas=2,peering.enabled=true,peering.name=tolaria-upgrade")
        stored = json.loads(testbed.kubectl("get", "crd", CRD_NAME, "-o", "json").stdout)
        assert stored["spec"]["versions"] == crd_module.build_crd()["spec"]["versions"]
        wait_established(testbed)
        suspended = {**RUN, "metadata": {"name": "suspended"}, "spec": {**RUN["spec"], "suspend": True}}
        testbed.kubectl("apply", "--server-side", "-n", namespace, "-f", "-", input=yaml.safe_dump(suspended))
        kept = json.loads(
            testbed.kubectl("get", "trainingrun", "suspended", "-n", namespace, "-o", "json").stdout
        )
        assert kept["spec"]["suspend"] is True

        def pods_with(flag: str, count: int) -> bool:
            pods = operator_pods(testbed, namespace, release)
            return len(pods) == count and all(
                p["status"].get("phase") == "Running" and flag in p["spec"]["containers"][0]["args"]
                for p in pods
            )

        testbed.wait_for(lambda: pods_with("--peering=tolaria-upgrade", 2), "two peering operators", 120)
        assert testbed.kubectl("get", "clusterkopfpeering", "tolaria-upgrade").returncode == 0
        history = json.loads(testbed.helm("history", release, "-n", namespace, "-o", "json").stdout)
        assert [(h["revision"], h["status"]) for h in history] == [(1, "superseded"), (2, "deployed")]

        testbed.helm(*upgrade, "--set=replicas=1,peering.enabled=false")
        testbed.wait_for(lambda: pods_with("--standalone", 1), "one standalone operator again", 120)
        assert testbed.kubectl("get", "trainingrun", "precious", "-n", namespace).returncode == 0
    finally:
        testbed.helm("uninstall", release, "-n", namespace, check=False)
        testbed.kubectl("delete", "crd", "clusterkopfpeerings.kopf.dev", "--ignore-not-found")
        install_crd(testbed)
