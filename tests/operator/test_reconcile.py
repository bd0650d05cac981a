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


def test_a_finished_run_is_released_after_its_ttl():
    from datetime import UTC, datetime, timedelta

    from tolaria.operator.reconcile import released

    done = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    def run(ttl: int | None, phase: str = "Succeeded"):
        return load_trainingrun(
            {
                "apiVersion": "tolaria.dev/v1alpha1",
                "kind": "TrainingRun",
                "metadata": {"name": "r", "namespace": "n", "uid": "u"},
                "spec": {"decks": ["a"], **({} if ttl is None else {"ttlSecondsAfterFinished": ttl})},
                "status": {"phase": phase, "completionTime": "2026-11-25T12:00:00Z"},
            }
        )

    assert not released(run(60), done + timedelta(seconds=59))
    assert released(run(60), done + timedelta(seconds=60))
    assert released(run(0, "Failed"), done)
    assert not released(run(None), done + timedelta(days=30))
    assert not released(run(0, "Running"), done)
