"""The few Kubernetes API calls the operator makes, on plain dicts.

Children are written with server-side apply under one field manager (`tolaria-operator`,
with force): it creates a missing child and patches an existing one by name in one idempotent
request, so a retried or restarted reconcile never duplicates anything, and it takes back
fields someone edited by hand (including `replicas`: the operator is the only autoscaler of
its Deployments, so no HPA should target them).

Calls are blocking (the official client); the async control loops run them in threads.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from kubernetes import client, config

from tolaria.spec import API_VERSION, KIND, PLURAL

FIELD_MANAGER = "tolaria-operator"
REQUEST_TIMEOUT = 30.0

_PLURALS = {
    ("v1", "ConfigMap"): "configmaps",
    ("v1", "Service"): "services",
    ("v1", "Secret"): "secrets",
    ("v1", "Pod"): "pods",
    ("apps/v1", "Deployment"): "deployments",
    ("batch/v1", "Job"): "jobs",
    ("v1", "PersistentVolumeClaim"): "persistentvolumeclaims",
    ("policy/v1", "PodDisruptionBudget"): "poddisruptionbudgets",
    ("networking.k8s.io/v1", "NetworkPolicy"): "networkpolicies",
    (API_VERSION, KIND): PLURAL,
}


class KubeError(Exception):
    """A refused or failed API request: HTTP status and the API server's message."""

    def __init__(self, status: int, reason: str, message: str):
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


def object_path(api_version: str, kind: str, namespace: str, name: str | None = None) -> str:
    try:
        plural = _PLURALS[(api_version, kind)]
    except KeyError:
        raise ValueError(f"the operator does not manage {kind} of {api_version}") from None
    root = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    path = f"{root}/namespaces/{namespace}/{plural}"
    return f"{path}/{name}" if name else path


def load_api_client() -> client.ApiClient:
    """In-cluster credentials when running in a pod, else the kubeconfig ($KUBECONFIG)."""
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return client.ApiClient()


class Kube:
    def __init__(self, api_client: client.ApiClient):
        self.api = api_client

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> dict[str, Any]:
        headers = {"Accept": accept, "Content-Type": content_type}
        serialized = self.api.param_serialize(
            method,
            path,
            query_params=query or [],
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self.api.call_api(*serialized, _request_timeout=REQUEST_TIMEOUT)
        response.read()
        data = response.data or b""
        try:
            payload = json.loads(data) if data else {}
        except json.JSONDecodeError:
            payload = {"message": data[:500].decode(errors="replace")}
        if not 200 <= response.status < 300:
            raise KubeError(response.status, payload.get("reason") or "", payload.get("message") or "")
        return payload

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self.request("GET", object_path(api_version, kind, namespace, name))
        except KubeError as e:
            if e.status == 404:
                return None
            raise

    def list(self, api_version: str, kind: str, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        path = object_path(api_version, kind, namespace)
        return self.request("GET", path, query=[("labelSelector", label_selector)]).get("items", [])

    def exists(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        """Whether an object exists, from its metadata alone: the API server sends no body, so
        checking a Secret this way never brings its values into the operator."""
        try:
            self.request(
                "GET",
                object_path(api_version, kind, namespace, name),
                accept="application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
            )
        except KubeError as e:
            if e.status == 404:
                return False
            raise
        return True

    def create(self, manifest: dict[str, Any]) -> bool:
        """Create an object unless one of that name exists (then leave it as it is): False then."""
        meta = manifest["metadata"]
        path = object_path(manifest["apiVersion"], manifest["kind"], meta["namespace"])
        try:
            self.request("POST", path, body=manifest, query=[("fieldManager", FIELD_MANAGER)])
        except KubeError as e:
            if e.status == 409:
                return False
            raise
        return True

    def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        meta = manifest["metadata"]
        path = object_path(manifest["apiVersion"], manifest["kind"], meta["namespace"], meta["name"])
        return self.request(
            "PATCH",
            path,
            body=manifest,
            query=[("fieldManager", FIELD_MANAGER), ("force", "true")],
            content_type="application/apply-patch+yaml",
        )

    def delete(
        self, api_version: str, kind: str, namespace: str, name: str, propagation: str = "Background"
    ) -> bool:
        """Delete an object; False when it was already gone."""
        try:
            self.request(
                "DELETE",
                object_path(api_version, kind, namespace, name),
                body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation},
            )
        except KubeError as e:
            if e.status == 404:
                return False
            raise
        return True

    def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
        path = object_path(API_VERSION, KIND, namespace, name) + "/status"
        return self.request(
            "PATCH", path, body={"status": status}, content_type="application/merge-patch+json"
        )

    def storage_classes(self) -> list[dict[str, Any]]:
        return self.request("GET", "/apis/storage.k8s.io/v1/storageclasses").get("items", [])

    def secret_value(self, namespace: str, name: str, key: str) -> str | None:
        """One key of a Secret, decoded; None when the Secret or the key does not exist.
        The one read of a Secret's value the operator makes: the run's Redis password, without
        which it cannot read the queue depth it scales the daemons by."""
        secret = self.get("v1", "Secret", namespace, name)
        if secret is None or key not in (secret.get("data") or {}):
            return None
        return base64.b64decode(secret["data"][key]).decode()
