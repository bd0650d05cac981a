"""The test bed is a real cluster: controllers, the scheduler, kwok's fake kubelets and the garbage
collector all do their part."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from .conftest import ControlPlane, find_bin_dir

pytestmark = pytest.mark.e2e

# Never pulled: kwok runs no containers, it only reports them.
IMAGE = "registry.invalid/tolaria/testbed-probe:1"


@pytest.fixture(scope="module")
def api(testbed):
    with testbed.api_client() as api_client:
        yield api_client


@pytest.fixture
def namespace(testbed, api):
    name = testbed.create_namespace("testbed")
    yield name
    client.CoreV1Api(api).delete_namespace(name)


def container(requests: dict[str, str] | None = None) -> client.V1Container:
    resources = client.V1ResourceRequirements(requests=requests, limits=requests)
    return client.V1Container(name="main", image=IMAGE, resources=resources)


def job(name: str, annotations: dict[str, str] | None = None) -> client.V1Job:
    return client.V1Job(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1JobSpec(
            backoff_limit=0,
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(annotations=annotations),
                spec=client.V1PodSpec(restart_policy="Never", containers=[container()]),
            ),
        ),
    )


def job_condition(api, namespace: str, name: str, condition: str) -> bool:
    status = client.BatchV1Api(api).read_namespaced_job_status(name, namespace).status
    return any(c.type == condition and c.status == "True" for c in status.conditions or [])


def test_control_plane_reports_the_pinned_versions(testbed):
    versions = json.loads(testbed.kubectl("version", "-o", "json").stdout)
    assert versions["serverVersion"]["gitVersion"].startswith("v1.")
    assert versions["serverVersion"]["gitVersion"] == versions["clientVersion"]["gitVersion"]
    assert int(versions["serverVersion"]["minor"]) >= 30
    assert testbed.helm("version", "--short").stdout.startswith("v3.")


def test_deployment_pods_run_on_cpu_nodes(testbed, api, namespace):
    labels = {"app": "probe"}
    deployment = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="probe"),
        spec=client.V1DeploymentSpec(
            replicas=3,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[container({"cpu": "500m", "memory": "1Gi"})]),
            ),
        ),
    )
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment(namespace, deployment)

    testbed.wait_for(
        lambda: apps.read_namespaced_deployment_status("probe", namespace).status.available_replicas == 3,
        "3 available replicas of deployment probe",
    )
    pods = client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector="app=probe").items
    assert len(pods) == 3
    assert all(pod.status.phase == "Running" for pod in pods)
    # The GPU node is tainted: pods that ask for no GPU stay on the CPU nodes.
    assert {pod.spec.node_name for pod in pods} <= set(testbed.cpu_nodes)
    assert all(pod.status.pod_ip for pod in pods)


def test_job_completes(testbed, api, namespace):
    client.BatchV1Api(api).create_namespaced_job(namespace, job("finishes"))
    testbed.wait_for(
        lambda: job_condition(api, namespace, "finishes", "Complete"), "job finishes to complete"
    )
    assert client.BatchV1Api(api).read_namespaced_job_status("finishes", namespace).status.succeeded == 1


def test_job_fails_when_its_pod_is_told_to_fail(testbed, api, namespace):
    client.BatchV1Api(api).create_namespaced_job(
        namespace, job("breaks", annotations={"testbed.tolaria.dev/outcome": "fail"})
    )
    testbed.wait_for(lambda: job_condition(api, namespace, "breaks", "Failed"), "job breaks to fail")
    pods = client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector="job-name=breaks").items
    assert [pod.status.phase for pod in pods] == ["Failed"]


def test_job_pod_keeps_running_when_told_to_run(testbed, api, namespace):
    batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
    batch.create_namespaced_job(namespace, job("lingers", annotations={"testbed.tolaria.dev/outcome": "run"}))
    batch.create_namespaced_job(namespace, job("finishes"))
    # Both pods go through the same stages; once the plain one has completed, the other had its chance.
    testbed.wait_for(
        lambda: job_condition(api, namespace, "finishes", "Complete"), "job finishes to complete"
    )

    pods = core.list_namespaced_pod(namespace, label_selector="job-name=lingers").items
    assert [pod.status.phase for pod in pods] == ["Running"]
    status = batch.read_namespaced_job_status("lingers", namespace).status
    assert status.active == 1
    assert not status.succeeded
    assert not status.failed


def test_gpu_pod_lands_on_the_gpu_node(testbed, api, namespace):
    core = client.CoreV1Api(api)
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="learner"),
        spec=client.V1PodSpec(containers=[container({"nvidia.com/gpu": "2"})]),
    )
    core.create_namespaced_pod(namespace, pod)
    testbed.wait_for(
        lambda: core.read_namespaced_pod("learner", namespace).status.phase == "Running",
        "the GPU pod to run",
    )
    assert core.read_namespaced_pod("learner", namespace).spec.node_name == testbed.gpu_node


def test_pod_asking_for_more_gpus_than_a_node_has_stays_pending(testbed, api, namespace):
    core = client.CoreV1Api(api)
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="greedy"),
        spec=client.V1PodSpec(containers=[container({"nvidia.com/gpu": "9"})]),
    )
    core.create_namespaced_pod(namespace, pod)

    def unschedulable() -> bool:
        conditions = core.read_namespaced_pod("greedy", namespace).status.conditions or []
        return any(c.type == "PodScheduled" and c.reason == "Unschedulable" for c in conditions)

    testbed.wait_for(unschedulable, "the scheduler to refuse the pod")
    assert core.read_namespaced_pod("greedy", namespace).status.phase == "Pending"


def test_deleting_an_owner_deletes_its_dependents(testbed, api, namespace):
    core = client.CoreV1Api(api)
    owner = core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="owner"))
    )
    reference = client.V1OwnerReference(
        api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid
    )
    core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="dependent", owner_references=[reference])),
    )
    core.delete_namespaced_config_map("owner", namespace)

    def dependent_gone() -> bool:
        try:
            core.read_namespaced_config_map("dependent", namespace)
        except ApiException as error:
            if error.status == 404:
                return True
            raise
        return False

    testbed.wait_for(dependent_gone, "the garbage collector to delete the dependent ConfigMap")


def test_deleting_a_deployment_deletes_its_pods(testbed, api, namespace):
    labels = {"app": "doomed"}
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.create_namespaced_deployment(
        namespace,
        client.V1Deployment(
            metadata=client.V1ObjectMeta(name="doomed"),
            spec=client.V1DeploymentSpec(
                replicas=2,
                selector=client.V1LabelSelector(match_labels=labels),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels),
                    spec=client.V1PodSpec(containers=[container()]),
                ),
            ),
        ),
    )
    testbed.wait_for(
        lambda: apps.read_namespaced_deployment_status("doomed", namespace).status.ready_replicas == 2,
        "deployment doomed to be ready",
    )
    apps.delete_namespaced_deployment("doomed", namespace)
    testbed.wait_for(
        lambda: (
            not apps.list_namespaced_replica_set(namespace).items
            and not core.list_namespaced_pod(namespace, label_selector="app=doomed").items
        ),
        "the ReplicaSet and pods of deployment doomed to be deleted",
    )


def test_kubectl_and_helm_see_the_cluster(testbed):
    nodes = json.loads(testbed.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    gpus = {node["metadata"]["name"]: node["status"]["allocatable"].get("nvidia.com/gpu") for node in nodes}
    assert gpus == {**dict.fromkeys(testbed.cpu_nodes), testbed.gpu_node: "8"}
    assert testbed.helm("list", "--all-namespaces", "-o", "json").stdout.strip() == "[]"


def process_groups() -> set[int]:
    groups = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name in parentheses may hold spaces; the fields after it do not.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        groups.add(int(fields[2]))
    return groups


def test_missing_binaries_fail_with_the_command_that_builds_them(tmp_path, monkeypatch):
    (tmp_path / "kubectl").write_text("#!/bin/sh\n")
    (tmp_path / "kubectl").chmod(0o755)
    monkeypatch.setenv("TOLARIA_TESTBED", str(tmp_path))
    with pytest.raises(pytest.fail.Exception, match=r"lacks etcd, kube-apiserver, .*scripts/testbed build"):
        find_bin_dir()


@pytest.mark.slow
def test_stopping_a_control_plane_leaves_no_process_behind(tmp_path):
    plane = ControlPlane(find_bin_dir(), tmp_path)
    try:
        plane.start()
    finally:
        plane.stop()
    leaders = {component.proc.pid for component in plane.components}
    assert len(leaders) == 5
    assert not leaders & process_groups()
