"""The run's status: learner states, outcome (stop criteria, failure), phases and conditions."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from tolaria.operator.observe import RedisSample
from tolaria.operator.status import (
    LearnerObservation,
    Observation,
    Outcome,
    build_status,
    pod_failure,
    run_outcome,
    status_patch,
)
from tolaria.spec import TrainingRun, TrainingRunStatus, load_trainingrun

NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)


def make_run(spec: dict | None = None, status: dict | None = None) -> TrainingRun:
    document = {
        "apiVersion": "tolaria.dev/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {"name": "r1", "namespace": "team", "uid": "u", "generation": 2},
        "spec": {"decks": ["a", "b"], **(spec or {})},
    }
    if status is not None:
        document["status"] = status
    return load_trainingrun(document)


def job(status: dict | None = None, suspend: bool = False, deleting: bool = False) -> dict:
    meta = {"name": "r1-learner"}
    if deleting:
        meta["deletionTimestamp"] = "2026-11-22T12:00:00Z"
    return {"metadata": meta, "spec": {"suspend": suspend}, "status": status or {}}


RUNNING = LearnerObservation.from_job(job({"active": 1, "ready": 1}))


def observation(**overrides) -> Observation:
    values = dict(
        daemons_ready=2, daemons_desired=2, actors_ready=2, actors_desired=2, learner=RUNNING, redis=None
    )
    values.update(overrides)
    return Observation(**values)


def sample(**fields) -> RedisSample:
    return RedisSample(at=0.0, **fields)


# -- learner states from the Job


@pytest.mark.parametrize(
    ("body", "state"),
    [
        (None, "Pending"),
        (job(), "Pending"),
        (job({"active": 1}), "Pending"),
        (job({"active": 1, "ready": 1}), "Running"),
        (job({"active": 1, "failed": 1}), "Restarting"),
        (job({"failed": 2}), "Restarting"),
        (job({"active": 1, "ready": 1, "failed": 1}), "Running"),
        (job({"active": 1}, suspend=True), "Checkpointing"),
        (job({}, suspend=True), "Stopped"),
        (job({"active": 1}, deleting=True), "Checkpointing"),
        (job({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}), "Succeeded"),
        (
            job(
                {
                    "failed": 4,
                    "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}],
                }
            ),
            "Failed",
        ),
    ],
)
def test_learner_state(body, state):
    assert LearnerObservation.from_job(body).state == state


# -- outcome


def test_no_outcome_while_running():
    assert run_outcome(None, make_run().spec, RUNNING, sample(games=10), NOW) == Outcome()


def test_max_games_ends_the_run_as_succeeded():
    spec = make_run({"stop": {"maxGames": 100}}).spec
    got = run_outcome(None, spec, RUNNING, sample(games=100), NOW)
    assert (got.phase, got.reason) == ("Succeeded", "MaxGamesReached")
    assert "100 games" in got.message
    assert run_outcome(None, spec, RUNNING, sample(games=99), NOW).phase is None


def test_max_wall_clock_counts_from_the_start_time():
    run = make_run(
        {"stop": {"maxWallClock": "2h"}}, {"phase": "Running", "startTime": "2026-11-22T10:00:01Z"}
    )
    assert run_outcome(run.status, run.spec, RUNNING, None, NOW).phase is None
    later = NOW + timedelta(seconds=1)
    got = run_outcome(run.status, run.spec, RUNNING, None, later)
    assert (got.phase, got.reason) == ("Succeeded", "MaxWallClockReached")


def test_target_win_rate_against_the_target_baseline():
    spec = make_run({"stop": {"targetWinRate": 0.6, "targetBaseline": "heuristic"}}).spec
    below = sample(win_rates={"heuristic": 0.55, "random": 0.99})
    assert run_outcome(None, spec, RUNNING, below, NOW).phase is None
    got = run_outcome(None, spec, RUNNING, sample(win_rates={"heuristic": 0.61}), NOW)
    assert (got.phase, got.reason) == ("Succeeded", "TargetWinRateReached")


def test_learner_over_max_restarts_fails_the_run_with_the_reason():
    failed = LearnerObservation.from_job(
        job(
            {
                "failed": 4,
                "conditions": [
                    {
                        "type": "Failed",
                        "status": "True",
                        "reason": "BackoffLimitExceeded",
                        "message": "Job has reached the specified backoff limit",
                    }
                ],
            }
        )
    )
    got = run_outcome(None, make_run({"learner": {"maxRestarts": 3}}).spec, failed, sample(games=1), NOW)
    assert (got.phase, got.reason) == ("Failed", "LearnerFailed")
    assert "BackoffLimitExceeded" in got.message and "maxRestarts 3" in got.message
    run = make_run({"learner": {"maxRestarts": 3}}, {"phase": "Running", "startTime": "2026-11-22T11:00:00Z"})
    status = build_status(run, observation(learner=failed), got, NOW)
    assert status.learner.restarts == 3  # the fourth failure was not followed by a restart


def test_learner_that_finished_by_itself_succeeds():
    done = LearnerObservation.from_job(
        job({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]})
    )
    assert run_outcome(None, make_run().spec, done, None, NOW).reason == "LearnerCompleted"


def test_final_phases_stick():
    run = make_run(
        status={
            "phase": "Succeeded",
            "conditions": [
                {
                    "type": "Complete",
                    "status": "True",
                    "reason": "MaxGamesReached",
                    "message": "done",
                    "lastTransitionTime": "2026-11-22T11:00:00Z",
                }
            ],
        }
    )
    got = run_outcome(run.status, run.spec, LearnerObservation(), None, NOW)
    assert got == Outcome("Succeeded", "MaxGamesReached", "done")


# -- the status


def condition(status: TrainingRunStatus, type_: str) -> tuple[str, str]:
    c = status.condition(type_)
    assert c is not None, f"missing condition {type_}"
    return c.status, c.reason


def test_running_status_fills_every_column():
    run = make_run()
    redis = sample(
        stream_length=50,
        group_exists=True,
        group_lag=30,
        group_pending=5,
        games=1234,
        policy_version=17,
        win_rates={"heuristic": 0.625, "random": 0.9},
        evaluated_version=15,
        baseline="heuristic",
        win_rate=0.62549,
        elo=1312.6,
        checkpoint_uri="s3://b/r1/17",
        checkpoint_time=NOW,
    )
    status = build_status(run, observation(redis=redis), Outcome(), NOW)
    assert status.phase == "Running"
    assert status.observed_generation == 2
    assert (status.games_played, status.queue_depth, status.policy_version) == (1234, 35, 17)
    # WINRATE and ELO are the evaluator's headline of the version it evaluated last
    assert (status.win_rate, status.baseline, status.elo) == (0.625, "heuristic", 1313)
    assert status.evaluated_policy_version == 15
    assert status.daemons_summary == "2/2" and status.actors_ready == 2
    assert status.learner.state == "Running" and status.learner.restarts == 0
    assert status.last_checkpoint.uri == "s3://b/r1/17"
    assert status.start_time == NOW and status.completion_time is None
    assert condition(status, "Ready") == ("True", "AllComponentsReady")
    assert condition(status, "Progressing") == ("True", "Training")
    assert condition(status, "Degraded") == ("False", "AsExpected")
    assert condition(status, "Suspended") == ("False", "NotSuspended")
    assert condition(status, "Complete") == ("False", "NotComplete")
    assert condition(status, "Failed") == ("False", "NotFailed")
    assert {c.observed_generation for c in status.conditions} == {2}
    wire = status.to_wire()
    assert wire["daemonsSummary"] == "2/2" and wire["startTime"] == "2026-11-22T12:00:00Z"


def test_pending_until_the_learner_runs():
    status = build_status(
        make_run(), observation(learner=LearnerObservation(), daemons_ready=0), Outcome(), NOW
    )
    assert status.phase == "Pending"
    assert status.start_time is None
    assert condition(status, "Ready") == ("False", "LearnerNotRunning")
    assert condition(status, "Progressing") == ("True", "Starting")


def test_daemons_not_ready():
    status = build_status(make_run(), observation(daemons_ready=1, daemons_desired=3), Outcome(), NOW)
    assert condition(status, "Ready") == ("False", "DaemonsNotReady")
    assert status.daemons_summary == "1/3"


def test_redis_down_is_degraded_and_keeps_the_last_numbers():
    run = make_run(
        status={
            "phase": "Running",
            "startTime": "2026-11-22T11:00:00Z",
            "gamesPlayed": 50,
            "queueDepth": 7,
            "policyVersion": 3,
        }
    )
    obs = observation(redis=None, redis_error="cannot read Redis at redis://h:6379/0: ConnectionError")
    status = build_status(run, obs, Outcome(), NOW)
    assert condition(status, "Degraded") == ("True", "RedisUnavailable")
    assert "redis://h:6379/0" in status.condition("Degraded").message
    assert (status.games_played, status.queue_depth, status.policy_version) == (50, 7, 3)
    assert status.phase == "Running"


def test_restarting_learner_is_degraded_but_running():
    run = make_run(status={"phase": "Running", "startTime": "2026-11-22T11:00:00Z"})
    learner = LearnerObservation.from_job(job({"active": 1, "failed": 1}))
    status = build_status(run, observation(learner=learner), Outcome(), NOW)
    assert status.phase == "Running"
    assert condition(status, "Degraded") == ("True", "LearnerRestarting")
    assert status.learner.restarts == 1


def test_suspended_run():
    run = make_run({"suspend": True}, {"phase": "Running", "startTime": "2026-11-22T11:00:00Z"})
    learner = LearnerObservation.from_job(job({"active": 1}, suspend=True))
    status = build_status(
        run, observation(learner=learner, daemons_desired=0, actors_desired=0), Outcome(), NOW
    )
    assert status.phase == "Suspended"
    assert condition(status, "Suspended") == ("True", "SuspendedBySpec")
    assert "checkpointing" in status.condition("Suspended").message
    assert condition(status, "Ready") == ("False", "Suspended")
    assert condition(status, "Progressing") == ("False", "Suspended")


def test_succeeded_run_has_completion_time_and_complete_condition():
    outcome = Outcome("Succeeded", "MaxGamesReached", "100 games played (maxGames 100)")
    status = build_status(make_run(status={"phase": "Running"}), observation(), outcome, NOW)
    assert status.phase == "Succeeded" and status.completion_time == NOW
    assert condition(status, "Complete") == ("True", "MaxGamesReached")
    assert condition(status, "Ready") == ("False", "RunSucceeded")
    assert condition(status, "Failed") == ("False", "NotFailed")


def test_failed_run():
    outcome = Outcome("Failed", "LearnerFailed", "learner Job failed")
    status = build_status(make_run(), observation(), outcome, NOW)
    assert status.phase == "Failed"
    assert condition(status, "Failed") == ("True", "LearnerFailed")
    assert condition(status, "Degraded")[0] == "False"


def test_apply_problem_is_degraded():
    status = build_status(
        make_run(), observation(problem=("ApplyFailed", "Job r1-learner: forbidden")), Outcome(), NOW
    )
    assert condition(status, "Degraded") == ("True", "ApplyFailed")


def test_transition_times_move_only_on_change():
    first = build_status(make_run(), observation(), Outcome(), NOW)
    run = make_run(status=first.to_wire())
    later = NOW + timedelta(minutes=5)
    second = build_status(run, observation(daemons_ready=1, daemons_desired=2), Outcome(), later)
    assert second.condition("Ready").last_transition_time == later
    assert second.condition("Progressing").last_transition_time == NOW
    assert second.start_time == NOW


def test_status_patch_is_none_when_nothing_changed_and_clears_vanished_fields():
    status = build_status(make_run(), observation(), Outcome(), NOW)
    wire = status.to_wire()
    assert status_patch(wire, status) is None
    assert status_patch({**wire, "kopf": {"x": 1}}, status) is None  # not ours
    stale = {**wire, "winRate": 0.5}
    assert status_patch(stale, status)["winRate"] is None
    assert status_patch(None, status) == wire


# -- week-long runs: suspension, stalls


def test_max_wall_clock_does_not_count_suspended_time():
    start = {"phase": "Running", "startTime": "2026-11-22T10:00:00Z"}
    run = make_run({"stop": {"maxWallClock": "3h"}, "suspend": True}, start)
    suspended = build_status(run, observation(), Outcome(), NOW)  # at 12:00, after 2h of running
    assert suspended.phase == "Suspended" and suspended.suspended_since == NOW
    assert run_outcome(suspended, run.spec, RUNNING, None, NOW + timedelta(hours=5)).phase is None

    resumed_run = make_run({"stop": {"maxWallClock": "3h"}}, suspended.to_wire())
    resumed = build_status(resumed_run, observation(), Outcome(), NOW + timedelta(hours=3))
    assert resumed.phase == "Running" and resumed.suspended_since is None
    assert resumed.suspended_seconds == 3 * 3600
    # At 16:00, 6h after the start with 3h of them suspended: 3h of running, the limit.
    one_hour_later = NOW + timedelta(hours=4)
    assert run_outcome(resumed, run.spec, RUNNING, None, one_hour_later - timedelta(seconds=1)).phase is None
    got = run_outcome(resumed, run.spec, RUNNING, None, one_hour_later)
    assert (got.phase, got.reason) == ("Succeeded", "MaxWallClockReached")
    assert "10800s of it suspended" in got.message


def test_progressing_turns_false_when_no_new_policy_appears_for_the_deadline():
    run = make_run(
        {"progressDeadline": "30m"},
        {
            "phase": "Running",
            "startTime": "2026-11-22T11:00:00Z",
            "lastProgressTime": "2026-11-22T11:00:00Z",
            "policyVersion": 7,
        },
    )
    moving = build_status(run, observation(redis=sample(policy_version=8)), Outcome(), NOW)
    assert condition(moving, "Progressing") == ("True", "Training") and moving.last_progress_time == NOW

    stuck_run = make_run({"progressDeadline": "30m"}, moving.to_wire())
    later = NOW + timedelta(minutes=29)
    assert condition(
        build_status(stuck_run, observation(redis=sample(policy_version=8)), Outcome(), later), "Progressing"
    ) == ("True", "Training")
    stuck = build_status(
        stuck_run, observation(redis=sample(policy_version=8)), Outcome(), NOW + timedelta(minutes=31)
    )
    assert condition(stuck, "Progressing") == ("False", "NoNewPolicy")
    assert "no new policy version for 31 min (progressDeadline 30m)" in stuck.condition("Progressing").message
    recovered = build_status(
        make_run({"progressDeadline": "30m"}, stuck.to_wire()),
        observation(redis=sample(policy_version=9)),
        Outcome(),
        NOW + timedelta(minutes=32),
    )
    assert condition(recovered, "Progressing") == ("True", "Training")


def test_a_resume_restarts_the_progress_clock():
    run = make_run(
        {"progressDeadline": "30m", "suspend": True},
        {"phase": "Running", "startTime": "2026-11-22T10:00:00Z", "lastProgressTime": "2026-11-22T10:00:00Z"},
    )
    suspended = build_status(run, observation(), Outcome(), NOW)
    resumed = build_status(
        make_run({"progressDeadline": "30m"}, suspended.to_wire()),
        observation(),
        Outcome(),
        NOW + timedelta(hours=2),
    )
    assert resumed.last_progress_time == NOW + timedelta(hours=2)
    assert condition(resumed, "Progressing") == ("True", "Training")


def test_an_oom_killed_learner_is_reported_with_the_fix():
    pod = {
        "metadata": {"name": "r1-learner-x"},
        "status": {
            "phase": "Failed",
            "containerStatuses": [{"state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}],
        },
    }
    said = pod_failure(pod, "4Gi")
    assert "pod r1-learner-x was OOMKilled" in said and "memory limit 4Gi" in said
    assert "raise spec.learner.resources.limits.memory" in said
    crashed = {
        "metadata": {"name": "p"},
        "status": {"containerStatuses": [{"lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}]},
    }
    assert pod_failure(crashed, None) == "pod p exited with code 1 (Error); its log says why"
    assert pod_failure({"metadata": {"name": "p"}, "status": {}}, None) is None

    learner = dataclasses.replace(
        LearnerObservation.from_job(job({"active": 1, "failed": 1})), last_failure=said
    )
    status = build_status(make_run(), observation(learner=learner), Outcome(), NOW)
    assert condition(status, "Degraded") == ("True", "LearnerRestarting")
    assert "OOMKilled" in status.condition("Degraded").message
    failed = LearnerObservation.from_job(
        job(
            {
                "failed": 2,
                "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}],
            }
        )
    )
    outcome = run_outcome(None, make_run().spec, dataclasses.replace(failed, last_failure=said), None, NOW)
    assert (
        outcome.reason == "LearnerFailed"
        and "last failure: pod r1-learner-x was OOMKilled" in outcome.message
    )
