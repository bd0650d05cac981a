"""Helpers of the control loop that need no cluster."""

from __future__ import annotations

from tolaria.operator.reconcile import controlled_by, run_ref
from tolaria.spec import load_trainingrun


def test_only_children_controlled_by_the_run_are_its_own():
    ours = {"metadata": {"ownerReferences": [{"uid": "u1", "controller": True}]}}
    theirs = {"metadata": {"ownerReferences": [{"uid": "u2", "controller": True}]}}
    not_controller = {"metadata": {"ownerReferences": [{"uid": "u1"}]}}
    orphan = {"metadata": {}}
    assert controlled_by(ours, "u1")
    assert not any(controlled_by(c, "u1") for c in (theirs, not_controller, orphan))


def test_events_address_the_run_by_uid():
    run = load_trainingrun(
        {
            "apiVersion": "tolaria.dev/v1alpha1",
            "kind": "TrainingRun",
            "metadata": {"name": "r", "namespace": "n", "uid": "u"},
            "spec": {"decks": ["a"]},
        }
    )
    assert run_ref(run) == {
        "apiVersion": "tolaria.dev/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {"name": "r", "namespace": "n", "uid": "u"},
    }
