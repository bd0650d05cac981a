"""The TrainingRun's status from what the operator observed: pure functions.

Phases: Pending (children starting, the learner has not run yet), Running, Suspended,
Succeeded (a stop criterion was met, or the learner finished by itself) and Failed (the
learner Job failed more than maxRestarts times). Succeeded and Failed are final: once
reached they are kept whatever happens to the children afterwards. maxWallClock counts from
startTime (the first time the run was Running), time spent suspended excluded.

Every condition type is always present, so `kubectl wait --for=condition=X=false` works as
well as `=true`, and each carries a CamelCase reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tolaria.matchmaking.curriculum import current_index, stage_label
from tolaria.operator.observe import RedisSample
from tolaria.spec import (
    CheckpointRef,
    CurriculumStatus,
    DaemonsStatus,
    LearnerStatus,
    TrainingRun,
    TrainingRunSpec,
    TrainingRunStatus,
)

TERMINAL_PHASES = ("Succeeded", "Failed")


@dataclass(frozen=True)
class LearnerObservation:
    """The learner Job as the API reports it (None fields: no Job)."""

    exists: bool = False
    suspended: bool = False
    terminating: bool = False
    active: int = 0
    ready: int = 0
    failed: int = 0
    succeeded: int = 0
    complete: bool = False
    failed_condition: tuple[str, str] | None = None
    """(reason, message) of the Job's Failed condition."""
    last_failure: str | None = None
    """Why the newest failed learner pod failed (`pod_failure`), when the operator looked."""

    @classmethod
    def from_job(cls, job: dict[str, Any] | None) -> LearnerObservation:
        if job is None:
            return cls()
        status = job.get("status") or {}
        conditions = {c.get("type"): c for c in status.get("conditions") or [] if c.get("status") == "True"}
        failed = conditions.get("Failed")
        return cls(
            exists=True,
            suspended=bool((job.get("spec") or {}).get("suspend")),
            terminating=bool(job["metadata"].get("deletionTimestamp")),
            active=int(status.get("active") or 0),
            ready=int(status.get("ready") or 0),
            failed=int(status.get("failed") or 0),
            succeeded=int(status.get("succeeded") or 0),
            complete="Complete" in conditions,
            failed_condition=(failed.get("reason") or "Failed", failed.get("message") or "")
            if failed
            else None,
        )

    @property
    def state(self) -> str:
        """Pending, Running, Restarting, Checkpointing (stopping after SIGTERM), Stopped, Succeeded, Failed."""
        if self.failed_condition is not None:
            return "Failed"
        if self.complete:
            return "Succeeded"
        if not self.exists:
            return "Pending"
        if self.suspended or self.terminating:
            return "Checkpointing" if self.active else "Stopped"
        if self.ready:
            return "Running"
        if self.failed:
            return "Restarting"
        return "Pending"


def pod_failure(pod: dict[str, Any], memory_limit: str | None) -> str | None:
    """Why a failed pod's container ended, in words that name the fix; None when it did not."""
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = (container.get("state") or {}).get("terminated") or (
            container.get("lastState") or {}
        ).get("terminated")
        if not terminated or terminated.get("exitCode") == 0:
            continue
        name = pod["metadata"]["name"]
        if terminated.get("reason") == "OOMKilled":
            limit = (
                f"its memory limit {memory_limit}"
                if memory_limit
                else "the node's memory (no memory limit set)"
            )
            return (
                f"pod {name} was OOMKilled: the learner needed more than {limit};"
                " raise spec.learner.resources.limits.memory or use a smaller network"
            )
        reason = terminated.get("reason") or "Error"
        return f"pod {name} exited with code {terminated.get('exitCode')} ({reason}); its log says why"
    return None


@dataclass(frozen=True)
class Observation:
    """Everything one reconcile saw, with the replica counts it asked for."""

    daemons_ready: int
    daemons_desired: int
    actors_ready: int
    actors_desired: int
    learner: LearnerObservation
    redis: RedisSample | None
    redis_error: str | None = None
    problem: tuple[str, str] | None = None
    """(reason, message) of a reconcile problem, such as a child the API server refused."""
    risks: tuple[tuple[str, str], ...] = ()
    """(reason, message) of what the run would lose to one lost pod, such as state kept in an
    emptyDir: Degraded until the spec or the cluster changes."""


@dataclass(frozen=True)
class Outcome:
    """A final phase and why; phase None while the run goes on."""

    phase: str | None = None
    reason: str = ""
    message: str = ""


def run_outcome(
    previous: TrainingRunStatus | None,
    spec: TrainingRunSpec,
    learner: LearnerObservation,
    sample: RedisSample | None,
    now: datetime,
) -> Outcome:
    """Whether the run has ended: Failed (learner over maxRestarts) or Succeeded (a stop criterion)."""
    if previous is not None and previous.phase in TERMINAL_PHASES:
        kept = previous.condition("Complete" if previous.phase == "Succeeded" else "Failed")
        return Outcome(previous.phase, kept.reason if kept else previous.phase, kept.message if kept else "")
    if learner.failed_condition is not None:
        reason, message = learner.failed_condition
        cause = f"; last failure: {learner.last_failure}" if learner.last_failure else ""
        return Outcome(
            "Failed",
            "LearnerFailed",
            f"learner Job failed after {learner.failed} failures (maxRestarts {spec.learner.max_restarts}):"
            f" {reason}: {message}".rstrip(": ")
            + cause,
        )
    stop = spec.stop
    games = sample.games if sample is not None else None
    if stop.max_games is not None and games is not None and games >= stop.max_games:
        return Outcome("Succeeded", "MaxGamesReached", f"{games} games played (maxGames {stop.max_games})")
    if stop.target_win_rate is not None and sample is not None:
        win_rate = sample.win_rates.get(stop.target_baseline)
        if win_rate is not None and win_rate >= stop.target_win_rate:
            return Outcome(
                "Succeeded",
                "TargetWinRateReached",
                f"win rate {win_rate:.3f} against {stop.target_baseline} (targetWinRate {stop.target_win_rate})",
            )
    start = previous.start_time if previous is not None else None
    limit = stop.max_wall_clock_seconds
    if limit is not None and start is not None and previous is not None:
        suspended = suspended_seconds(previous, now)
        if (now - start).total_seconds() - suspended >= limit:
            return Outcome(
                "Succeeded",
                "MaxWallClockReached",
                f"running since {start.isoformat()}, {suspended:.0f}s of it suspended"
                f" (maxWallClock {stop.max_wall_clock})",
            )
    if learner.complete:
        return Outcome("Succeeded", "LearnerCompleted", "the learner finished by itself")
    return Outcome()


def suspended_seconds(status: TrainingRunStatus, now: datetime) -> float:
    """Time spent suspended since the start, the suspension going on included."""
    total = float(status.suspended_seconds or 0)
    if status.suspended_since is not None:
        total += max(0.0, (now - status.suspended_since).total_seconds())
    return total


def next_phase(
    previous: TrainingRunStatus | None, spec: TrainingRunSpec, outcome: Outcome, learner_state: str
) -> str:
    if outcome.phase is not None:
        return outcome.phase
    if spec.suspend:
        return "Suspended"
    if learner_state == "Running" or (previous is not None and previous.start_time is not None):
        return "Running"
    return "Pending"


def build_status(
    run: TrainingRun, observation: Observation, outcome: Outcome, now: datetime
) -> TrainingRunStatus:
    """The new status: the previous one (kept where Redis was not read) updated with this observation."""
    previous = run.status or TrainingRunStatus()
    status = previous.model_copy(deep=True)
    generation = run.metadata.generation
    learner = observation.learner
    phase = next_phase(run.status, run.spec, outcome, learner.state)

    status.phase = phase
    status.observed_generation = generation
    status.daemons = DaemonsStatus(ready=observation.daemons_ready, desired=observation.daemons_desired)
    status.daemons_summary = f"{observation.daemons_ready}/{observation.daemons_desired}"
    status.actors_ready = observation.actors_ready
    # The failure that exceeds maxRestarts is not followed by a restart.
    restarts = min(learner.failed, run.spec.learner.max_restarts)
    status.learner = LearnerStatus(state=learner.state, restarts=restarts)
    if phase == "Running" and status.start_time is None:
        status.start_time = status.last_progress_time = now
    if phase in TERMINAL_PHASES and status.completion_time is None:
        status.completion_time = now
    if phase == "Suspended" and status.start_time is not None and status.suspended_since is None:
        status.suspended_since = now
    elif phase != "Suspended" and status.suspended_since is not None:
        status.suspended_seconds = round(suspended_seconds(status, now))
        status.suspended_since = None
        status.last_progress_time = now

    sample = observation.redis
    if sample is not None:
        status.queue_depth = sample.queue_depth
        if sample.games is not None:
            status.games_played = sample.games
        if sample.policy_version is not None:
            if previous.policy_version is None or sample.policy_version > previous.policy_version:
                status.last_progress_time = now
            status.policy_version = sample.policy_version
        if sample.win_rate is not None and sample.baseline is not None:
            status.win_rate = round(sample.win_rate, 3)
            status.baseline = sample.baseline
        if sample.elo is not None:
            status.elo = round(sample.elo)
        if sample.evaluated_version is not None:
            status.evaluated_policy_version = sample.evaluated_version
        if sample.checkpoint_uri and sample.checkpoint_time is not None:
            status.last_checkpoint = CheckpointRef(uri=sample.checkpoint_uri, time=sample.checkpoint_time)
    _set_curriculum(status, run.spec, sample, now)

    _set_conditions(status, run, observation, outcome, now)
    return status


def _set_curriculum(
    status: TrainingRunStatus, spec: TrainingRunSpec, sample: RedisSample | None, now: datetime
) -> None:
    """The stage the operator keeps in Redis (recorded, so that it survives losing Redis)."""
    curriculum = spec.curriculum
    if curriculum is None:
        status.curriculum = status.stage = None
        return
    recorded = status.curriculum
    index = recorded.stage if recorded is not None else 0
    start_games = recorded.stage_start_games if recorded is not None else 0
    if sample is not None and sample.stage is not None:
        index, start_games = sample.stage, sample.stage_start_games or 0
    index = current_index(curriculum, index)
    if recorded is None or recorded.stage != index:
        started = now if recorded is not None or status.start_time is None else status.start_time
        recorded = CurriculumStatus(stage=index, stage_start_time=started)
    recorded.name = curriculum.stages[index].name
    recorded.stage_start_games = start_games
    status.curriculum = recorded
    status.stage = stage_label(curriculum, index)


def _set_conditions(
    status: TrainingRunStatus, run: TrainingRun, observation: Observation, outcome: Outcome, now: datetime
) -> None:
    generation = run.metadata.generation
    phase = status.phase
    learner = observation.learner

    def put(type_: str, value: bool, reason: str, message: str = "") -> None:
        status.set_condition(type_, "True" if value else "False", reason, message, generation, now)

    # Ready: every component up to its desired size and the learner training.
    if phase in TERMINAL_PHASES:
        put("Ready", False, f"Run{phase}", outcome.message)
    elif phase == "Suspended":
        put("Ready", False, "Suspended", "the run is suspended")
    elif learner.state != "Running":
        put("Ready", False, "LearnerNotRunning", f"learner is {learner.state}")
    elif observation.daemons_ready < observation.daemons_desired:
        put(
            "Ready",
            False,
            "DaemonsNotReady",
            f"{observation.daemons_ready}/{observation.daemons_desired} daemons ready",
        )
    elif observation.actors_ready < observation.actors_desired:
        put(
            "Ready",
            False,
            "ActorsNotReady",
            f"{observation.actors_ready}/{observation.actors_desired} actors ready",
        )
    else:
        put("Ready", True, "AllComponentsReady", "daemons, actors and learner are ready")

    # Progressing: the run is moving towards its goal.
    if phase == "Running":
        games = status.games_played if status.games_played is not None else 0
        version = status.policy_version if status.policy_version is not None else 0
        stalled = stalled_for(status, run.spec, now)
        if stalled is not None:
            put(
                "Progressing",
                False,
                "NoNewPolicy",
                f"no new policy version for {stalled / 60:.0f} min (progressDeadline {run.spec.progress_deadline});"
                f" {games} games played, policy version {version}",
            )
        else:
            put("Progressing", True, "Training", f"{games} games played, policy version {version}")
    elif phase == "Pending":
        put("Progressing", True, "Starting", "creating daemons, actors and the learner")
    elif phase == "Suspended":
        put("Progressing", False, "Suspended", "the run is suspended")
    else:
        put("Progressing", False, f"Run{phase}", outcome.message)

    # Degraded: something is wrong that the operator or Kubernetes is working around.
    problems: list[tuple[str, str]] = []
    if observation.problem is not None:
        problems.append(observation.problem)
    if observation.redis_error is not None and phase not in TERMINAL_PHASES:
        problems.append(("RedisUnavailable", observation.redis_error))
    if phase not in TERMINAL_PHASES:
        problems.extend(observation.risks)
    if learner.state == "Restarting" and phase not in TERMINAL_PHASES:
        problems.append(
            (
                "LearnerRestarting",
                f"learner failed {learner.failed} time(s) of maxRestarts {run.spec.learner.max_restarts};"
                " it resumes from its newest checkpoint"
                + (f"; last failure: {learner.last_failure}" if learner.last_failure else ""),
            )
        )
    if problems:
        put("Degraded", True, problems[0][0], "; ".join(message for _, message in problems))
    else:
        put("Degraded", False, "AsExpected")

    if phase == "Suspended":
        stopping = learner.state == "Checkpointing"
        message = (
            "learner is checkpointing before it stops" if stopping else "daemons, actors and learner stopped"
        )
        put("Suspended", True, "SuspendedBySpec", message)
    else:
        put("Suspended", False, "NotSuspended")

    if phase == "Succeeded":
        put("Complete", True, outcome.reason, outcome.message)
    else:
        put("Complete", False, "NotComplete")
    if phase == "Failed":
        put("Failed", True, outcome.reason, outcome.message)
    else:
        put("Failed", False, "NotFailed")


def stalled_for(status: TrainingRunStatus, spec: TrainingRunSpec, now: datetime) -> float | None:
    """Seconds since the last progress (a new policy version, the start, a resume) when that
    is past the progress deadline; None while the run progresses."""
    if status.last_progress_time is None:
        return None
    quiet = (now - status.last_progress_time).total_seconds()
    return quiet if quiet >= spec.progress_deadline_seconds else None


def status_patch(previous: dict[str, Any] | None, status: TrainingRunStatus) -> dict[str, Any] | None:
    """A JSON merge patch of `.status` that turns `previous` into `status`; None when nothing changes.

    Fields written by others (kopf keeps nothing in this status) are left alone: only fields the
    status model knows are compared.
    """
    wanted = status.to_wire()
    before = {k: v for k, v in (previous or {}).items() if k in _STATUS_FIELDS}
    if before == wanted:
        return None
    patch: dict[str, Any] = dict(wanted)
    for key in before:
        if key not in wanted:
            patch[key] = None
    return patch


_STATUS_FIELDS = frozenset(field.alias or name for name, field in TrainingRunStatus.model_fields.items())
