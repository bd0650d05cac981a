"""The control loop of one TrainingRun: observe, decide, apply, report.

One `RunLoop` per run, driven by a kopf daemon. Each step reads the run and its children
from kopf's watches (the run through `cache.RunView`, the children from indexes), so a step
costs no reads from the API server; the run's Redis password is read once and kept
(`cache.PasswordCache`). It samples Redis when the autoscaling interval is due, decides the
daemon pool size and the run's outcome with the pure functions of `autoscale` and `status`,
applies only the children that are missing or drifted, and writes the status when it changed.
A step is triggered by the interval, by a change of the run's spec, or by any change to one of
its children (a child deleted or edited by hand is restored within a step).

All state a step needs survives an operator restart in the cluster itself: the pool size is
the daemon Deployment's replicas, the phase and start time are in the status. Only the
stabilisation history of the autoscaler is in memory; after a restart it starts from the
current pool size (`autoscale.decide`), so a restart delays a scaling step by at most one
window and never shortens one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from tolaria.keys import RunKeys
from tolaria.matchmaking.curriculum import StageState, advance
from tolaria.operator import children as build
from tolaria.operator.autoscale import AutoscalePolicy, ScalingState, decide
from tolaria.operator.cache import PasswordCache, RunView, SecretPresence
from tolaria.operator.drift import drifted
from tolaria.operator.kube import Kube, KubeError
from tolaria.operator.metrics import OperatorMetrics
from tolaria.operator.network_policies import OperatorPods, network_policies
from tolaria.operator.observe import (
    RedisAuthFailed,
    RedisSample,
    RedisUnavailable,
    RunRedis,
    queue_observation,
    state_lost,
)
from tolaria.operator.status import (
    TERMINAL_PHASES,
    LearnerObservation,
    Observation,
    build_status,
    pod_failure,
    run_outcome,
    status_patch,
)
from tolaria.spec import API_VERSION, KIND, SpecError, TrainingRun, TrainingRunStatus, load_trainingrun

log = logging.getLogger(__name__)

# (type, reason, message) -> None: posts a Kubernetes Event on the TrainingRun.
EventSink = Callable[[dict[str, Any], str, str, str], None]
# () -> the TrainingRun as its watch last saw it (a copy the step may keep); None once it is gone.
RunSource = Callable[[], dict[str, Any] | None]
# () -> {(kind, name): live object} of the run's children.
ChildrenSource = Callable[[], Mapping[tuple[str, str], dict[str, Any]]]

# Seconds before a step is retried after it failed unexpectedly.
ERROR_RETRY_SECONDS = 5.0
DEFAULT_STORAGE_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


class RunLoop:
    def __init__(
        self,
        kube: Kube,
        namespace: str,
        name: str,
        watched: RunSource,
        children: ChildrenSource,
        metrics: OperatorMetrics,
        emit: EventSink,
        operator_pods: OperatorPods | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.watched = watched
        self.view = RunView()
        self.children = children
        self.metrics = metrics
        self.emit = emit
        self.operator_pods = operator_pods
        self.clock = clock
        self.scaling = ScalingState()
        self.sample: RedisSample | None = None
        self.previous_sample: RedisSample | None = None
        self.redis_error: str | None = None
        self.redis: RunRedis | None = None
        self.redis_target: tuple[str, str | None] | None = None
        self.last_tick: float | None = None
        self.daemons: int | None = None
        self.missing_secret: str | None = None
        self.secret_presence = SecretPresence()
        self.passwords = PasswordCache()
        self.redis_password_ensured = False
        self.learner_failures_seen = 0
        self.learner_last_failure: str | None = None
        self.password_problem: tuple[str, str] | None = None
        self.saw_redis_mark = False  # this process has read its mark in the run's Redis

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.close()
            self.redis = None

    # -- one step

    async def step(self) -> float | None:
        """Reconcile once; seconds until the next autoscaling tick, None when the run is gone."""
        started = self.clock()
        try:
            return await self._step()
        finally:
            self.metrics.reconcile_duration.observe(self.clock() - started)

    async def _step(self) -> float | None:
        watched = self.watched()
        if watched is None or watched["metadata"].get("deletionTimestamp"):
            return None
        body = self.view.current(watched)
        try:
            run = load_trainingrun(body)
        except SpecError as e:
            # The API server validates specs; this is a CRD older than the operator's models.
            self.metrics.errors.labels("spec").inc()
            await self._write_invalid(body, str(e))
            return ERROR_RETRY_SECONDS
        spec = run.spec
        policy = AutoscalePolicy.from_spec(spec.daemons.autoscaling)
        interval = spec.daemons.autoscaling.poll_interval_seconds
        now = datetime.now(UTC)
        mono = self.clock()
        previous = run.status
        terminal = previous is not None and previous.phase in TERMINAL_PHASES
        live = dict(self.children())
        learner_job = live.get(("Job", build.child_name(run, "learner")))
        learner = await self._with_last_failure(run, LearnerObservation.from_job(learner_job))

        tick = not terminal and (self.last_tick is None or mono - self.last_tick >= interval)
        if terminal:
            await self.close()  # an ended run's numbers are final: nothing more to read
        elif tick:
            self.last_tick = mono
            await self._ensure_redis_password(run, body)
            await self._sample(run, mono)
            self.missing_secret = await self._missing_secret(run)

        outcome = run_outcome(previous, spec, learner, self.sample, now)
        stopped = outcome.phase is not None or spec.suspend
        desired = self._daemons(run, body, policy, live, stopped, tick, mono)
        actors = build.actor_replicas(run, desired)

        redis_persistent, risks = await self._storage(run, live)
        problem = await self._apply_children(
            run,
            body,
            live,
            desired,
            actors,
            stopped,
            outcome.phase is not None,
            redis_persistent,
            released(run, now),
        )
        if self.missing_secret is not None and not stopped:
            problem = problem or ("SecretMissing", self.missing_secret)

        daemon = live.get(("Deployment", build.child_name(run, "daemon"))) or {}
        actor = live.get(("Deployment", build.child_name(run, "actor"))) or {}
        observation = Observation(
            daemons_ready=int((daemon.get("status") or {}).get("readyReplicas") or 0),
            daemons_desired=desired,
            actors_ready=int((actor.get("status") or {}).get("readyReplicas") or 0),
            actors_desired=actors,
            learner=learner,
            redis=self.sample,
            redis_error=self.redis_error,
            problem=problem,
            risks=risks,
        )
        status = build_status(run, observation, outcome, now)
        await self._write_status(body, status)
        self._announce_phase(body, previous, status, outcome.message)
        self.metrics.daemons_desired.labels(self.namespace, self.name).set(desired)
        if self.sample is not None:
            self.metrics.queue_depth.labels(self.namespace, self.name).set(self.sample.queue_depth)
        if terminal:
            return interval  # nothing is sampled any more; child events still wake the loop
        elapsed = self.clock() - (self.last_tick if self.last_tick is not None else mono)
        return max(0.0, interval - elapsed)

    # -- Redis

    async def _sample(self, run: TrainingRun, mono: float) -> None:
        was_unavailable = self.redis_error is not None
        try:
            client, cached = await self._redis_client(run)
            try:
                sample = await client.sample(mono)
            except RedisAuthFailed:
                self.passwords.forget()
                if not cached:
                    raise
                # Refused the password kept from an earlier reading: it was rotated.
                client, _ = await self._redis_client(run)
                sample = await client.sample(mono)
            sample = await self._restore_lost_games(run, client, sample)
            sample = await self._keep_curriculum(run, client, sample)
        except (RedisUnavailable, KubeError) as e:
            self.metrics.errors.labels("redis").inc()
            self.redis_error = str(e)
            if not was_unavailable:
                log.warning("%s/%s: %s", self.namespace, self.name, e)
                self.emit(run_ref(run), "Warning", "RedisUnavailable", f"{e}; autoscaling paused")
            return
        self.previous_sample, self.sample = self.sample, sample
        if was_unavailable:
            self.previous_sample = None  # a rate across the outage would mean nothing
            self.emit(
                run_ref(run), "Normal", "RedisRecovered", "Redis can be read again; autoscaling resumes"
            )
        self.redis_error = None

    async def _restore_lost_games(
        self, run: TrainingRun, client: RunRedis, sample: RedisSample
    ) -> RedisSample:
        """When Redis lost the run's state (`state_lost`: a Redis pod restarted without its
        data, an external Redis flushed), the status kept the games count: it goes back into
        Redis, so GAMES and maxGames carry on (the games finished between the last reading and
        the loss are not counted). Either way the operator's mark is in Redis afterwards."""
        recorded = run.status.games_played if run.status is not None else None
        reason = state_lost(sample, recorded, self.saw_redis_mark)
        if reason is None:
            if not sample.marked:
                await client.mark()
            self.saw_redis_mark = True  # only once the mark is surely there
            return dataclasses.replace(sample, marked=True)
        assert recorded  # only a recorded count can be lost
        # The counter started again from zero when the state was lost: what it shows now was
        # played since, on top of what the status recorded before.
        seen = sample.games or 0
        await client.mark(restored_games=recorded)
        self.saw_redis_mark = True
        self.metrics.redis_state_lost.labels(self.namespace, self.name).inc()
        message = (
            f"Redis lost the run's state: {reason}. The games counter is restored to "
            f"{recorded + seen}; the learner republishes its weights above every version published "
            "before, and the evaluator restores its record from the checkpoint store"
        )
        log.warning("%s/%s: %s", self.namespace, self.name, message)
        self.emit(run_ref(run), "Warning", "RedisStateLost", message)
        return dataclasses.replace(sample, games=recorded + seen, marked=True)

    async def _keep_curriculum(self, run: TrainingRun, client: RunRedis, sample: RedisSample) -> RedisSample:
        """The curriculum's keeper (`tolaria.matchmaking.curriculum`): puts back the stage the
        status recorded when Redis lost it (stages only move forward, so one behind the status is
        a loss), then moves to the next stage when the current one's `until` is met."""
        curriculum = run.spec.curriculum
        if curriculum is None:
            return sample
        recorded = run.status.curriculum if run.status is not None else None
        state = StageState(sample.stage or 0, sample.stage_start_games or 0)
        if recorded is not None and (sample.stage is None or sample.stage < recorded.stage):
            state = StageState(recorded.stage, recorded.stage_start_games)
            await client.set_stage(state.index, state.start_games)
            if sample.stage is not None or recorded.stage > 0:
                had = "no curriculum stage" if sample.stage is None else f"curriculum stage {sample.stage}"
                message = (
                    f"Redis had {had}, behind the stage {recorded.stage} recorded in the status: it lost "
                    f"the run's state; stage {recorded.stage} is restored"
                )
                log.warning("%s/%s: %s", self.namespace, self.name, message)
                self.emit(run_ref(run), "Warning", "RedisStateLost", message)
        elif sample.stage is None:
            await client.set_stage(0, 0)  # the first stage began with the run
        moved = advance(curriculum, state, sample.games, sample.evaluated_stage, sample.win_rates)
        if moved is not None:
            state = moved.state
            await client.set_stage(state.index, state.start_games)
            log.info("%s/%s: %s", self.namespace, self.name, moved.reason)
            self.emit(run_ref(run), "Normal", "CurriculumStage", moved.reason)
        return dataclasses.replace(sample, stage=state.index, stage_start_games=state.start_games)

    async def _redis_client(self, run: TrainingRun) -> tuple[RunRedis, bool]:
        """The client of the run's Redis, and whether its password is one kept from before."""
        url = build.redis_url(run)
        secret = build.redis_password_ref(run)
        password = None
        cached = False
        if secret is not None:
            reference = (secret.name, secret.key)
            password = self.passwords.get(reference)
            cached = password is not None
            if password is None:
                # The one Secret value the operator reads: without the password it cannot read
                # the queue depth it scales the daemons by. Read once per reference and kept in
                # memory (read again when Redis refuses it); the operator watches no Secrets, so
                # no other Secret value ever reaches it.
                password = await asyncio.to_thread(
                    self.kube.secret_value, self.namespace, secret.name, secret.key
                )
                if password is None:
                    raise RedisUnavailable(
                        f"the Redis password is not there: Secret {secret.name} is missing or has no key {secret.key}"
                    )
                self.passwords.put(reference, password)
        if self.redis is None or self.redis_target != (url, password):
            await self.close()
            self.redis = RunRedis(url, password, RunKeys(self.namespace, self.name))
            self.redis_target = (url, password)
            self.previous_sample = self.sample = None
        return self.redis, cached

    async def _missing_secret(self, run: TrainingRun) -> str | None:
        """Which referenced Secret pods would fail to start without, as a message; None if all exist.
        Checked at every tick while one is missing, then only every `cache.SECRET_RECHECK_SECONDS`."""
        references = []
        if run.spec.redis.password_secret is not None:
            references.append((run.spec.redis.password_secret.name, "spec.redis.passwordSecret"))
        if run.spec.checkpoints.credentials_secret is not None:
            references.append((run.spec.checkpoints.credentials_secret, "spec.checkpoints.credentialsSecret"))
        checked = tuple(references)
        now = self.clock()
        if not self.secret_presence.due(checked, now):
            return None
        missing = await self._first_missing_secret(references)
        self.secret_presence.checked(checked, now, all_present=missing is None)
        return missing

    async def _first_missing_secret(self, references: list[tuple[str, str]]) -> str | None:
        for name, field in references:
            try:
                found = await asyncio.to_thread(self.kube.exists, "v1", "Secret", self.namespace, name)
            except KubeError as e:
                return f"cannot read Secret {name} ({field}): {e.message or e.reason}"
            if not found:
                return (
                    f"Secret {name} ({field}) does not exist in namespace {self.namespace}; pods cannot start"
                )
        return None

    # -- the learner

    async def _with_last_failure(self, run: TrainingRun, learner: LearnerObservation) -> LearnerObservation:
        """The learner with why its newest failed pod failed; the pods are listed only when the
        Job counts a new failure (evictions and preemptions are not failures)."""
        if learner.failed and learner.failed != self.learner_failures_seen:
            try:
                listed = await asyncio.to_thread(
                    self.kube.list, "v1", "Pod", self.namespace,
                    f"{build.RUN_LABEL}={run.metadata.name},{build.COMPONENT_LABEL}=learner",
                )  # fmt: skip
            except KubeError as e:
                log.warning("%s/%s: cannot list the learner's pods: %s", self.namespace, self.name, e)
                return learner
            failed = sorted(
                (p for p in listed if (p.get("status") or {}).get("phase") == "Failed"),
                key=lambda p: p["metadata"].get("creationTimestamp") or "",
            )
            memory = run.spec.learner.resources.limits.get("memory")
            self.learner_last_failure = (
                pod_failure(failed[-1], None if memory is None else str(memory)) if failed else None
            )
            self.learner_failures_seen = learner.failed
        return dataclasses.replace(learner, last_failure=self.learner_last_failure)

    # -- where state lives

    async def _storage(
        self, run: TrainingRun, live: Mapping[tuple[str, str], dict[str, Any]]
    ) -> tuple[bool, tuple[tuple[str, str], ...]]:
        """Whether the managed Redis keeps its data on a claim, and what one lost pod would lose."""
        risks: list[tuple[str, str]] = []
        if not build.checkpoints_persist(run):
            risks.append(
                (
                    "CheckpointsNotPersistent",
                    f"checkpoints.uri {run.spec.checkpoints.uri} has no checkpoints.volumeClaim: the "
                    "checkpoints, the league and the evaluation record live only as long as each pod, "
                    "so a restarted learner starts over; set checkpoints.volumeClaim or use an s3:// URI",
                )
            )
        persistent = False
        if run.spec.redis.managed:
            persistent, why_not = await self._redis_persistent(run, live)
            if not persistent:
                risks.append(
                    (
                        "RedisNotPersistent",
                        f"the managed Redis keeps its data in an emptyDir ({why_not}): losing its pod "
                        "loses the rollout queue and resets the run's counters, which are then restored "
                        "from the status and the checkpoint store; set spec.redis.storage.storageClassName "
                        "or give the cluster a default StorageClass",
                    )
                )
        return persistent, tuple(risks)

    async def _redis_persistent(
        self, run: TrainingRun, live: Mapping[tuple[str, str], dict[str, Any]]
    ) -> tuple[bool, str]:
        # Decided once, when the Redis is created, and kept: switching a running Redis between
        # an emptyDir and a claim would restart it empty.
        name = build.child_name(run, "redis")
        if ("PersistentVolumeClaim", name) in live:
            return True, ""
        deployment = live.get(("Deployment", name))
        if deployment is not None:
            volumes = deployment["spec"]["template"]["spec"].get("volumes") or []
            on_claim = any("persistentVolumeClaim" in v for v in volumes if v.get("name") == "data")
            return on_claim, "it was created without a claim"
        if run.spec.redis.storage.storage_class_name is not None:
            return True, ""
        try:
            classes = await asyncio.to_thread(self.kube.storage_classes)
        except KubeError as e:
            return False, f"StorageClasses cannot be listed: {e.message or e.reason}"
        if any(
            (c["metadata"].get("annotations") or {}).get(DEFAULT_STORAGE_CLASS_ANNOTATION) == "true"
            for c in classes
        ):
            return True, ""
        return (
            False,
            "the cluster has no default StorageClass and spec.redis.storage.storageClassName is unset",
        )

    # -- the daemon pool

    def _daemons(
        self,
        run: TrainingRun,
        body: dict[str, Any],
        policy: AutoscalePolicy,
        live: Mapping[tuple[str, str], dict[str, Any]],
        stopped: bool,
        tick: bool,
        mono: float,
    ) -> int:
        deployment = live.get(("Deployment", build.child_name(run, "daemon")))
        if deployment is not None:
            current = int(deployment["spec"].get("replicas", 0))
        elif self.daemons is not None:
            current = self.daemons
        elif run.status is not None and run.status.daemons is not None:
            current = run.status.daemons.desired
        else:
            current = policy.min_replicas
        if stopped:
            self.scaling = ScalingState()
            already_stopped, self.daemons = self.daemons == 0, 0
            if current and not already_stopped:
                why = "the run is suspended" if run.spec.suspend else "the run has ended"
                self.metrics.scaling_decisions.labels(self.namespace, self.name, "down").inc()
                self.emit(body, "Normal", "ScaledDaemons", f"daemons {current} -> 0: {why}")
            return 0
        if not tick:
            self.daemons = policy.clamp(self.daemons if self.daemons is not None else current)
            return self.daemons
        observation = None
        if self.redis_error is None and self.sample is not None:
            observation = queue_observation(self.previous_sample, self.sample)
        decision = decide(policy, current, observation, self.scaling, mono)
        self.scaling = decision.state
        self.daemons = decision.replicas
        if decision.replicas != current:
            direction = "up" if decision.replicas > current else "down"
            self.metrics.scaling_decisions.labels(self.namespace, self.name, direction).inc()
            log.info("%s/%s: %s", self.namespace, self.name, decision.message)
            self.emit(body, "Normal", "ScaledDaemons", decision.message)
        return decision.replicas

    # -- children

    async def _apply_children(
        self,
        run: TrainingRun,
        body: dict[str, Any],
        live: Mapping[tuple[str, str], dict[str, Any]],
        daemons: int,
        actors: int,
        stopped: bool,
        ended: bool,
        redis_persistent: bool,
        released: bool,
    ) -> tuple[str, str] | None:
        """Apply what is missing or drifted; (reason, message) of the first problem, if any."""
        try:
            manifests = build.desired_children(
                run, daemons, actors, stopped=stopped, redis_persistent=redis_persistent, released=released
            ) + network_policies(run, self.operator_pods)
        except build.PodAnnotationsError as e:
            self.metrics.errors.labels("spec").inc()
            return "InvalidPodAnnotations", str(e)
        problem: tuple[str, str] | None = None
        try:
            await self._ensure_redis_password(run, body)
        except KubeError as e:
            self.metrics.errors.labels("apply").inc()
            problem = (
                "ApplyFailed",
                f"Secret {build.child_name(run, 'redis-auth')}: {e.message or e.reason}",
            )
        for manifest in manifests:
            kind, name = manifest["kind"], manifest["metadata"]["name"]
            current = live.get((kind, name))
            try:
                if kind == "Job":
                    await self._reconcile_learner(run, body, manifest, current, ended)
                elif drifted(manifest, current):
                    await self._apply(manifest)
            except KubeError as e:
                self.metrics.errors.labels("apply").inc()
                log.warning("%s/%s: applying %s %s failed: %s", self.namespace, self.name, kind, name, e)
                problem = problem or ("ApplyFailed", f"{kind} {name}: {e.message or e.reason}")
        wanted = {(m["kind"], m["metadata"]["name"]) for m in manifests}
        for (kind, name), child in live.items():
            if (kind, name) in wanted or child["metadata"].get("deletionTimestamp"):
                continue
            if not controlled_by(child, run.metadata.uid):
                continue  # labelled like ours, but someone else's
            try:
                await asyncio.to_thread(self.kube.delete, child["apiVersion"], kind, self.namespace, name)
            except KubeError as e:
                self.metrics.errors.labels("apply").inc()
                problem = problem or ("DeleteFailed", f"{kind} {name}: {e.message or e.reason}")
                continue
            self.emit(body, "Normal", "RemovedChild", f"{kind} {name} is no longer part of the spec")
        return problem

    async def _ensure_redis_password(self, run: TrainingRun, body: dict[str, Any]) -> None:
        """Generate a managed Redis's password into a Secret of the run, once: creating never
        overwrites, so the Redis, its clients and a restarted operator all keep the same one."""
        if self.redis_password_ensured or not run.spec.redis.managed or run.spec.redis.password_secret:
            return
        manifest = build.redis_password_secret(run, secrets.token_urlsafe(32))
        if await asyncio.to_thread(self.kube.create, manifest):
            name = manifest["metadata"]["name"]
            self.emit(
                body, "Normal", "GeneratedRedisPassword", f"Secret {name} holds the run's Redis password"
            )
        self.redis_password_ensured = True

    async def _apply(self, manifest: dict[str, Any]) -> None:
        await asyncio.to_thread(self.kube.apply, manifest)
        self.metrics.child_applies.labels(manifest["kind"]).inc()

    async def _reconcile_learner(
        self,
        run: TrainingRun,
        body: dict[str, Any],
        manifest: dict[str, Any],
        current: dict[str, Any] | None,
        ended: bool,
    ) -> None:
        if current is None:
            if not ended:
                await self._apply(manifest)
            return
        learner = LearnerObservation.from_job(current)
        if learner.terminating or learner.complete or learner.failed_condition is not None:
            return  # finished Jobs are kept as they are, for their logs and conditions
        wanted_hash = manifest["metadata"]["annotations"][build.TEMPLATE_HASH_ANNOTATION]
        live_hash = (current["metadata"].get("annotations") or {}).get(build.TEMPLATE_HASH_ANNOTATION)
        if live_hash != wanted_hash and not ended:
            # A Job's pod template is immutable: replace the Job. Foreground deletion keeps the
            # Job until its pod has exited (SIGTERM: the learner checkpoints), so two learners
            # never consume the same stream at once; the next step creates the new Job.
            await asyncio.to_thread(
                self.kube.delete,
                "batch/v1",
                "Job",
                self.namespace,
                manifest["metadata"]["name"],
                "Foreground",
            )
            self.emit(
                body,
                "Normal",
                "ReplacingLearner",
                "learner configuration changed; it restarts from its checkpoint",
            )
            return
        if drifted(manifest, current):
            await self._apply(manifest)

    # -- status and events

    async def _write_status(self, body: dict[str, Any], status: TrainingRunStatus) -> None:
        patch = status_patch(body.get("status"), status)
        if patch is None:
            return
        try:
            written = await asyncio.to_thread(self.kube.patch_status, self.namespace, self.name, patch)
        except KubeError as e:
            if e.status == 404:
                return
            self.metrics.errors.labels("status").inc()
            raise
        self.view.wrote(written)

    async def _write_invalid(self, body: dict[str, Any], message: str) -> None:
        generation = body["metadata"].get("generation")
        status = TrainingRunStatus.model_validate(body.get("status") or {})
        status.observed_generation = generation
        status.set_condition("Degraded", "True", "InvalidSpec", message, generation)
        await self._write_status(body, status)

    def _announce_phase(
        self,
        body: dict[str, Any],
        previous: TrainingRunStatus | None,
        status: TrainingRunStatus,
        message: str,
    ) -> None:
        before = previous.phase if previous is not None else None
        if status.phase == before:
            return
        kind = "Warning" if status.phase == "Failed" else "Normal"
        text = message or f"phase {before or 'none'} -> {status.phase}"
        self.emit(body, kind, f"Run{status.phase}", text)


def released(run: TrainingRun, now: datetime) -> bool:
    """Whether a finished run's ttlSecondsAfterFinished has passed."""
    ttl = run.spec.ttl_seconds_after_finished
    status = run.status
    if ttl is None or status is None or status.phase not in TERMINAL_PHASES or status.completion_time is None:
        return False
    return (now - status.completion_time).total_seconds() >= ttl


def controlled_by(child: dict[str, Any], uid: str | None) -> bool:
    return any(
        ref.get("controller") and ref.get("uid") == uid
        for ref in child["metadata"].get("ownerReferences") or []
    )


def run_ref(run: TrainingRun) -> dict[str, Any]:
    """The minimal body kopf needs to address an Event to the run."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": run.metadata.name, "namespace": run.metadata.namespace, "uid": run.metadata.uid},
    }
