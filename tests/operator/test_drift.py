"""Drift detection: a live object with server defaults is not drift; a hand edit is."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from tolaria.operator.drift import contains, drifted, quantity_value

DESIRED = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "r-daemon", "namespace": "ns", "labels": {"tolaria.dev/run": "r"}},
    "spec": {
        "replicas": 2,
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "daemon",
                        "image": "daemon:1",
                        "resources": {"requests": {"cpu": "0.5", "memory": "1Gi"}},
                        "envFrom": [],
                    }
                ]
            }
        },
    },
}


def live_from(desired: dict) -> dict:
    """What the API server returns: defaults added, quantities canonical, empty lists dropped."""
    live = copy.deepcopy(desired)
    live["metadata"].update(uid="u", resourceVersion="42", generation=3, managedFields=[{"manager": "x"}])
    c = live["spec"]["template"]["spec"]["containers"][0]
    c["resources"]["requests"]["cpu"] = "500m"
    c["imagePullPolicy"] = "IfNotPresent"
    del c["envFrom"]
    live["spec"]["strategy"] = {"type": "RollingUpdate"}
    live["status"] = {"readyReplicas": 2}
    return live


def test_live_object_with_server_defaults_has_not_drifted():
    assert not drifted(DESIRED, live_from(DESIRED))


def test_missing_object_has_drifted():
    assert drifted(DESIRED, None)


@pytest.mark.parametrize(
    "edit",
    [
        lambda o: o["spec"].update(replicas=5),
        lambda o: o["spec"]["template"]["spec"]["containers"][0].update(image="evil:1"),
        lambda o: o["metadata"]["labels"].pop("tolaria.dev/run"),
        lambda o: o["spec"]["template"]["spec"]["containers"].append({"name": "sidecar"}),
        lambda o: o["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"].update(
            memory="2Gi"
        ),
    ],
)
def test_hand_edits_are_drift(edit):
    live = live_from(DESIRED)
    edit(live)
    assert drifted(DESIRED, live)


def test_only_labels_annotations_and_owners_of_metadata_count():
    desired = copy.deepcopy(DESIRED)
    desired["metadata"]["namespace"] = "whatever"  # addressing, not content
    assert not drifted(desired, live_from(DESIRED))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Decimal("0.5")),
        ("0.5", Decimal("0.5")),
        ("1Gi", Decimal(2**30)),
        ("1e3", Decimal(1000)),
        ("2k", Decimal(2000)),
        ("4", Decimal(4)),
    ],
)
def test_quantities(text, value):
    assert quantity_value(text) == value


def test_non_quantities():
    assert quantity_value("daemon:1") is None
    assert quantity_value("") is None


def test_scalars_compare_by_type():
    assert not contains(1, True)
    assert not contains("1", 1)
    assert contains({"a": [1, {"b": "x"}]}, {"a": [1, {"b": "x"}]})
