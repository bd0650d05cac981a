"""The learner process: rollout stream -> PPO updates -> published weights and checkpoints.

Delivery: the learners' consumer group reads `...:rollouts` at least once. Entries are
acknowledged only after the update that used them (or at once when they are corrupt, trimmed
away, or too stale to use), so a learner that dies re-reads what it had not used: on start it
first claims entries other (dead) consumers left pending for a while, then re-reads its own
pending entries from ID 0, and only then asks for new ones (`>`). When Redis fails (restart,
failover) the learner waits, recreates the group and its published weights if Redis came back
empty, and re-reads its pending entries: delivery is at least once, so an update that trained
but could not publish may see some of its entries again.

Versions: `...:policy:version` only grows. Each update publishes the weights and the new version
in one MULTI/EXEC guarded by WATCH, with version = max(learner's, Redis's) + 1. A learner
restored from a checkpoint whose version Redis already holds publishes nothing until its next
update, so it continues at the same step and version. Versions are reserved in the checkpoint
store in blocks before they are published (`CheckpointStore.reserve_versions`), and a stopping
learner gives back what it did not use: a learner that resumes after a crash continues above
every version its predecessor could have published, even when Redis lost them all.

Staleness: a segment is dropped (acknowledged, counted in `stale_segments`) when its oldest
step is more than `ppo.max_policy_lag` versions behind the version the actors are told to play:
the newest published version, or, while the evaluator's promotion gate holds a promoted version
(`...:policy:promoted:version`), that one; the entry's `policy_version` field decides before the
segment is decoded (`tolaria.rollouts`). With the gate the actors deliberately play a version
that may be many updates behind the learner; measuring lag against the learner's own version
would then drop every segment. `max_policy_lag` thus bounds how late actors follow the version
they are told to play, and PPO's importance ratio against the recorded behaviour
log-probabilities, with the dual clip, keeps updates on data far behind the learner bounded
(see `tolaria.trainer.ppo`, which also says how lag in versions becomes lag in seconds). The
`policy_lag` and `policy_age_seconds` metrics report the lag behind the learner.

Batches: an update takes the oldest held segments that make up `ppo.batch_size` samples; on a
GPU, when the held entries already make up the next batch too, that one is built while the update
trains (`tolaria.trainer.prefetch`).

Warm start: a learner that finds no checkpoint and has a `WarmStart` first clones the daemons'
built-in AI (`tolaria.trainer.warm_start`), then publishes the copy as its first version and
checkpoints it at step 0 before the first PPO update. A stop during the warm start saves the
games watched and the fit's progress in the checkpoint store (`tolaria.trainer.warm_progress`),
and the next start continues from them, so repeated preemptions still get through it.

Checkpoints: every `checkpoint_every_updates` updates, every `checkpoint_every_minutes` minutes
(when something changed), and at once on stop (SIGTERM), but never of the random initial
weights. A stop during an update abandons it at the next minibatch (`PPOTrainer.update`), so the
checkpoint follows SIGTERM within one minibatch's time on every network preset. A checkpoint
holds everything the next update reads (weights, optimiser, schedule, gradient scaler, the
numpy and torch random states), and the entries of the abandoned update stay unacknowledged:
a learner resumed from it makes exactly the update the stopped one would have made. After each one, and after resuming from one, the `...:stats` hash gets its
`checkpoint_uri` and `checkpoint_time` (unix seconds), which the operator shows as
status.lastCheckpoint.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import redis
import torch

from tolaria.keys import LEARNER_GROUP, RunKeys, StatsField
from tolaria.rollouts import STREAM_FIELD, Segment, SegmentError, decode_segment, entry_version
from tolaria.trainer.checkpoint import Checkpoint, CheckpointStore
from tolaria.trainer.config import TrainerConfig
from tolaria.trainer.encoding import KIND_NAMES, Encoder, EncodingError
from tolaria.trainer.imitation import clone
from tolaria.trainer.metrics import LearnerMetrics
from tolaria.trainer.policy import PolicyNetwork, load_weights
from tolaria.trainer.ppo import KIND_TERMS, LOSS_TERMS, PPOTrainer, policy_lag
from tolaria.trainer.prefetch import BatchPrefetcher
from tolaria.trainer.warm_progress import WarmStartProgress
from tolaria.trainer.warm_start import WarmStart
from tolaria.trainer.weights import encode_weights

log = logging.getLogger(__name__)

PUBLISH_TIMES_KEPT = 1000  # versions whose publish time is remembered (for policy_age_seconds)
COUNTERS = ("samples", "segments", "stale_segments", "corrupt_entries", "trimmed_entries")
CLAIM_IDLE_MS = 30_000
# Versions reserved in the checkpoint store per write: one small object every this many versions;
# a learner that crashes skips at most this many.
VERSION_RESERVATION_BLOCK = 100


@dataclass
class _Held:
    ids: list[bytes] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    samples: int = 0


def _split_batch(held: _Held, batch_size: int) -> tuple[_Held, _Held]:
    """-> (the oldest segments that make up one batch, the rest, which wait for a later update)."""
    batch, rest = _Held(), _Held()
    for entry_id, segment in zip(held.ids, held.segments, strict=True):
        target = batch if batch.samples < batch_size else rest
        target.ids.append(entry_id)
        target.segments.append(segment)
        target.samples += segment.steps
    return batch, rest


class Learner:
    def __init__(
        self,
        config: TrainerConfig,
        client: redis.Redis,
        keys: RunKeys,
        store: CheckpointStore | None,
        consumer: str = "learner",
        metrics: LearnerMetrics | None = None,
        warm_start: WarmStart | None = None,
    ):
        self.config = config
        self.redis = client
        self.keys = keys
        self.store = store
        self.consumer = consumer
        self.metrics = metrics or LearnerMetrics()
        self.warm_start = warm_start
        torch.manual_seed(config.learner.seed)
        self.encoder = Encoder(config.network)
        self.trainer = PPOTrainer(
            PolicyNetwork(config.network), config.ppo, config.learner, seed=config.learner.seed
        )
        cuda = self.trainer.device.type == "cuda"
        self._prefetcher = BatchPrefetcher(config.ppo, background=cuda, pin_memory=cuda)
        self.step = 0
        self.version = 0
        self.counters: dict[str, float] = dict.fromkeys(COUNTERS, 0.0)
        self.last_stats: dict[str, float] = {}
        self._held = _Held()
        self._dtypes = self.encoder.dtypes()
        self._last_checkpoint_step = -1
        self._last_checkpoint_time = time.monotonic()
        self._last_depth_check = 0.0
        self._pending_cursor: str | None = "0"
        self._updates_this_run = 0
        self._played_version = 0  # what the actors are told to play (see `_read_played_version`)
        self._trained = False  # whether the weights are more than their random initialisation
        self._reserved_versions = 0  # see `CheckpointStore.reserve_versions`
        self._counters_written: dict[str, int] = {}
        self._published_at: dict[int, float] = {}  # version -> unix time this learner published it
        self._version_interval: float | None = None  # seconds between versions, moving average

    # ---- start-up -------------------------------------------------------------------------
    def start(self, stop: threading.Event | None = None) -> bool:
        """Restore or warm-start, then publish; False when `stop` was set during a warm start
        (nothing was published or checkpointed; the next start continues the warm start from the
        progress it saved)."""
        restored = self._restore()
        if not restored and self.warm_start is not None and not self._warm_start(stop or threading.Event()):
            return False
        self._skip_reserved_versions()
        self._ensure_group()
        self._claim_abandoned()
        current = int(self.redis.get(self.keys.policy_version) or 0)
        if current != self.version or not self.redis.exists(self.keys.policy):
            self._publish()
        if self._trained and self._last_checkpoint_step < 0:
            self.checkpoint()  # the warm start's copy: a restarted learner resumes from it
            if self._warm_progress is not None:
                self._warm_progress.clear()
        self.metrics.policy_version.set(self.version)
        log.info("learner %s at step %d, policy version %d", self.consumer, self.step, self.version)
        return True

    def _warm_start(self, stop: threading.Event) -> bool:
        """Watches and clones (resuming what a stopped warm start saved); False when `stop` was
        set first, with the progress saved (`tolaria.trainer.warm_progress`)."""
        assert self.warm_start is not None
        cfg = self.config.warm_start
        progress = self._warm_progress
        watched = progress.load_games() if progress is not None else {}
        watched_before = len(watched)
        log.info(
            "warm start: observing %d games of the built-in AI (%d watched before)", cfg.games, watched_before
        )
        observation = self.warm_start.observe(
            self.encoder,
            stop,
            lambda games: self._report_warm_start(StatsField.WARM_START_GAMES, games),
            watched,
        )
        del watched  # its games are the observation's now; take_games releases them as it joins them
        taken = observation.take_games(self.encoder.empty(0))
        games = len(taken.games)
        if progress is not None and (not observation.complete or games > watched_before):
            progress.save_games(taken)
        if not observation.complete:
            log.info("warm start: stopped while watching games (%d of %d watched)", games, cfg.games)
            return False
        demos = taken.demonstrations
        log.info(
            "warm start: %d decisions from %d games (%d failed) in %.0fs; cloning for %d epochs",
            len(demos),
            games,
            observation.failed,
            observation.seconds,
            cfg.epochs,
        )
        started = time.monotonic()
        saved = progress.load_clone() if progress is not None else None
        if saved is not None:
            load_weights(self.trainer.model, saved.model_state, "the saved warm-start fit")
        with torch_threads(self.config.learner.warm_start_threads):
            fit = clone(
                self.trainer.model,
                demos,
                cfg.epochs,
                cfg.minibatch_size,
                cfg.learning_rate,
                seed=self.config.learner.seed,
                on_epoch=self._cloned_epoch,
                stop=stop,
                progress=saved.progress if saved is not None else None,
                compiled=self.config.learner.compile,
            )
        if not fit.finished(cfg.epochs):
            if progress is not None:
                progress.save_clone(self.trainer.model.state_dict(), fit)
            log.info("warm start: stopped while cloning (epoch %d of %d)", fit.epochs + 1, cfg.epochs)
            return False
        log.info("warm start: cloned in %.0fs", time.monotonic() - started)
        self._trained = True
        return True

    @property
    def _warm_progress(self) -> WarmStartProgress | None:
        if self.store is None or self.warm_start is None:
            return None
        config = self.config.to_dict()
        identity = {
            "network": config["network"],
            "warm_start": config["warm_start"],
            "seed": self.config.learner.seed,
            "schedule": self.warm_start.fingerprint(),
        }
        return WarmStartProgress(self.store, json.dumps(identity, sort_keys=True))

    def _cloned_epoch(self, epoch: int, nll: float) -> None:
        log.info("warm start: epoch %d, policy NLL %.3f", epoch, nll)
        self._report_warm_start(StatsField.WARM_START_EPOCHS, epoch)

    def _report_warm_start(self, field: str, value: int) -> None:
        """The warm start's progress in the stats hash (local mode's progress line shows it)."""
        try:
            self.redis.hset(self.keys.stats, field, value)
        except (redis.ConnectionError, redis.TimeoutError) as e:
            log.warning("warm-start progress not written to Redis: %s", e)

    def _restore(self) -> bool:
        if self.store is None:
            return False
        checkpoint = self.store.latest()
        if checkpoint is None:
            log.info("no checkpoint in %s: starting fresh", self.store.uri)
            return False
        saved_network = checkpoint.config.get("network")
        if saved_network != self.config.to_dict()["network"]:
            raise ValueError(
                f"checkpoint {checkpoint.name} was trained with network {saved_network}, "
                f"the spec asks for {self.config.to_dict()['network']}"
            )
        trainer = self.trainer
        load_weights(trainer.model, checkpoint.model_state, f"checkpoint {checkpoint.name}")
        if checkpoint.optimizer_state is not None:
            trainer.load_optimizer_state(checkpoint.optimizer_state)
        if checkpoint.scheduler_state is not None:
            trainer.load_schedule(checkpoint.scheduler_state)
        if checkpoint.scaler_state and trainer.scaler.is_enabled():
            trainer.scaler.load_state_dict(checkpoint.scaler_state)
        if checkpoint.random_state is not None:
            # the shuffle of the next update's minibatches continues where the saved learner was
            trainer.generator.bit_generator.state = checkpoint.random_state["numpy"]
            torch.set_rng_state(checkpoint.random_state["torch"])
            cuda = checkpoint.random_state["cuda"]
            if cuda and trainer.device.type == "cuda" and len(cuda) == torch.cuda.device_count():
                torch.cuda.set_rng_state_all(cuda)
        self.step, self.version = checkpoint.step, checkpoint.policy_version
        self.counters.update(checkpoint.counters)
        self._last_checkpoint_step = self.step
        self.metrics.checkpoint_written(checkpoint.created_at)
        self._announce_checkpoint(self.store.object_uri(checkpoint.name), checkpoint.created_at)
        log.info(
            "resumed from %s/%s: step %d, version %d",
            self.store.uri,
            checkpoint.name,
            self.step,
            self.version,
        )
        self._trained = True
        return True

    def _skip_reserved_versions(self) -> None:
        """A predecessor that died without a last checkpoint may have published versions above
        the one restored; whether or not Redis still shows them, continue above all of them."""
        if self.store is None:
            return
        self._reserved_versions = self.store.reserved_versions()
        if self._reserved_versions > self.version:
            log.info(
                "versions up to %d may have been published after the checkpoint at version %d; "
                "the next version is above them",
                self._reserved_versions,
                self.version,
            )
            self.version = self._reserved_versions

    def _ensure_group(self) -> None:
        try:
            self.redis.xgroup_create(self.keys.rollouts, LEARNER_GROUP, id="0", mkstream=True)
        except redis.ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    def _claim_abandoned(self) -> None:
        """Entries a previous learner (another consumer name) read but never acknowledged."""
        cursor = "0-0"
        while True:
            reply = self.redis.xautoclaim(
                self.keys.rollouts, LEARNER_GROUP, self.consumer, CLAIM_IDLE_MS, start_id=cursor, count=1000
            )
            cursor = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
            if cursor in ("0-0", "0"):
                return

    # ---- main loop ------------------------------------------------------------------------
    def run(self, stop: threading.Event, max_updates: int = 0) -> None:
        """Consume and train until `stop` is set (or `max_updates` updates), then checkpoint."""
        self._pending_cursor = "0"  # first our own unacknowledged entries, then new ones
        self._updates_this_run = 0
        try:
            while not stop.is_set() and not (max_updates and self._updates_this_run >= max_updates):
                try:
                    self._iteration(stop, max_updates)
                except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError) as e:
                    if isinstance(e, redis.ResponseError) and "NOGROUP" not in str(e):
                        raise
                    # Redis restarting, or back empty (NOGROUP): wait, recreate what is needed,
                    # and re-read our pending entries, which may not all have been acknowledged
                    log.warning("redis failed (%s); retrying", e)
                    stop.wait(1.0)
                    self._reconnect()
                    self._pending_cursor = "0"
        finally:
            if self.checkpoint() is not None:
                # Nothing above the checkpoint's version was published: give the rest back, so
                # that a clean stop and resume does not skip versions.
                self.store.reserve_versions(self.version)

    def _iteration(self, stop: threading.Event, max_updates: int) -> None:
        cfg = self.config.learner
        reading_pending = self._pending_cursor is not None
        reply = self.redis.xreadgroup(
            LEARNER_GROUP,
            self.consumer,
            {self.keys.rollouts: self._pending_cursor or ">"},
            count=cfg.read_count,
            block=None if reading_pending else cfg.read_block_ms,
        )
        entries = reply[0][1] if reply else []
        if entries:
            self._played_version = self._read_played_version()
        if reading_pending:
            self._pending_cursor = entries[-1][0].decode() if entries else None
        held_ids = set(self._held.ids)
        for entry_id, fields in entries:
            if entry_id not in held_ids:  # a re-read after a Redis failure
                self._take(entry_id, fields)
        # SIGTERM between updates: checkpoint now rather than after every held batch; during
        # one, the update is abandoned at the next minibatch (`PPOTrainer.update`).
        while (
            self._held.samples >= self.config.ppo.batch_size
            and not stop.is_set()
            and not (max_updates and self._updates_this_run >= max_updates)
        ):
            if not self._update(stop):
                return
            self._updates_this_run += 1
        if not stop.is_set():  # stopping, `run` writes the stop's checkpoint: not two at one step
            self._maybe_checkpoint()
        self._observe_queue()

    def _read_played_version(self) -> int:
        """The version the actors are told to play: the promoted one while the evaluator's
        promotion gate holds one, else the newest this learner published."""
        promoted = self.redis.get(self.keys.policy_promoted_version)
        return self.version if promoted is None else int(promoted)

    def _reconnect(self) -> None:
        try:
            self._ensure_group()
            if not self.redis.exists(self.keys.policy):
                self._publish()
        except (redis.ConnectionError, redis.TimeoutError) as e:
            log.warning("redis still unavailable: %s", e)

    def _take(self, entry_id: bytes, fields: dict[bytes, bytes] | None) -> None:
        if not fields:  # trimmed from the stream (MAXLEN) while pending
            self.counters["trimmed_entries"] += 1
            self.redis.xack(self.keys.rollouts, LEARNER_GROUP, entry_id)
            return
        announced = entry_version(fields)
        if announced is not None and self._played_version - announced > self.config.ppo.max_policy_lag:
            self._drop_stale(entry_id)  # without decoding it
            return
        try:
            data = fields.get(STREAM_FIELD)
            if data is None:
                raise SegmentError(f"entry has no {STREAM_FIELD.decode()!r} field (fields: {sorted(fields)})")
            segment = decode_segment(data, self._dtypes, self.encoder.shape)
            self.encoder.validate(segment.observations)
        except (SegmentError, EncodingError) as e:
            self.counters["corrupt_entries"] += 1
            self.metrics.corrupt_entries.inc()
            log.warning("skipping corrupt rollout entry %s: %s", entry_id.decode(), e)
            self.redis.xack(self.keys.rollouts, LEARNER_GROUP, entry_id)
            return
        if policy_lag(segment, self._played_version) > self.config.ppo.max_policy_lag:
            self._drop_stale(entry_id)
            return
        self._held.ids.append(entry_id)
        self._held.segments.append(segment)
        self._held.samples += segment.steps

    def _drop_stale(self, entry_id: bytes) -> None:
        self.counters["stale_segments"] += 1
        self.metrics.stale_segments.inc()
        self.redis.xack(self.keys.rollouts, LEARNER_GROUP, entry_id)

    def _update(self, stop: threading.Event) -> bool:
        """One update on the oldest held segments; False when `stop` abandoned it (the segments
        stay held and unacknowledged, the trainer as it was)."""
        batch_size = self.config.ppo.batch_size
        held, rest = _split_batch(self._held, batch_size)
        batch = self._prefetcher.batch(held.ids, held.segments)
        if rest.samples >= batch_size:  # the next batch is held already: built while this one trains
            upcoming, _ = _split_batch(rest, batch_size)
            self._prefetcher.prefetch(upcoming.ids, upcoming.segments)
        versions = np.concatenate([s.policy_version for s in held.segments])
        stats = self.trainer.update(batch, stop)
        if stats is None:
            log.info("update %d abandoned: stopping", self.step + 1)
            return False
        self._held = rest
        self.step += 1
        self._trained = True
        self.counters["samples"] += len(batch)
        self.counters["segments"] += len(held.segments)
        trained_version = self.version
        self._publish()
        # acknowledged only now: the update that used them is done and its weights are out
        self.redis.xack(self.keys.rollouts, LEARNER_GROUP, *held.ids)
        self._trim_acknowledged()
        self.last_stats = stats
        m = self.metrics
        m.samples.inc(len(batch))
        m.updates.inc()
        samples_per_second = len(batch) * self.config.ppo.epochs / max(stats["seconds"], 1e-9)
        m.samples_per_second.set(samples_per_second)
        for term in LOSS_TERMS:
            m.loss.labels(term).set(stats[term])
        m.learning_rate.set(stats["learning_rate"])
        m.grad_norm.set(stats["grad_norm"])
        for term in KIND_TERMS:
            for kind in KIND_NAMES:
                if not math.isnan(value := stats[f"{term}:{kind}"]):
                    m.loss_by_kind.labels(term, kind).set(value)
        # lag behind the version these samples trained (the one just replaced), in versions and
        # in seconds since their behaviour version was published
        m.policy_lag.set(float(np.mean(trained_version - versions)))
        now = time.time()
        ages = [now - self._published_at[v] for v in versions.tolist() if v in self._published_at]
        if ages:
            m.policy_age.set(float(np.mean(ages)))
        if stats["skipped_minibatches"]:
            m.skipped_minibatches.inc(stats["skipped_minibatches"])
            log.warning(
                "update %d: skipped %d minibatches whose loss or gradient was not finite",
                self.step,
                stats["skipped_minibatches"],
            )
        self.redis.hset(
            self.keys.stats,
            mapping={
                StatsField.LEARNER_STEP: self.step,
                StatsField.LEARNER_POLICY_VERSION: self.version,
                **{StatsField.learner_counter(k): int(v) for k, v in self.counters.items()},
            },
        )
        by_kind = ", ".join(
            f"{kind} {stats[f'approx_kl:{kind}']:.4f}/{stats[f'clip_fraction:{kind}']:.3f}"
            for kind in KIND_NAMES
            if not math.isnan(stats[f"approx_kl:{kind}"])
        )
        log.info(
            "update %d: %d samples, %.0f samples/s, loss %.4f, value loss %.4f, explained variance %.3f,"
            " entropy %.3f, kl %.4f, clipped %.3f (kl/clipped by kind: %s), grad norm %.3f,"
            " learning rate %.2e, lag %.1f -> version %d",
            self.step,
            len(batch),
            samples_per_second,
            stats["loss"],
            stats["value_loss"],
            stats["explained_variance"],
            stats["entropy"],
            stats["approx_kl"],
            stats["clip_fraction"],
            by_kind,
            stats["grad_norm"],
            stats["learning_rate"],
            float(np.mean(trained_version - versions)),
            self.version,
        )
        return True

    def _publish(self) -> None:
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(self.keys.policy_version)
                    current = int(pipe.get(self.keys.policy_version) or 0)
                    version = max(self.version, current) + 1
                    self._reserve_through(version)
                    data = encode_weights(self.trainer.model, self.config.network, version)
                    pipe.multi()
                    pipe.set(self.keys.policy, data)
                    pipe.set(self.keys.policy_version, version)
                    pipe.publish(self.keys.policy_announce, version)  # actors switch at once
                    pipe.execute()
                    break
                except redis.WatchError:
                    continue
        self.version = version
        self.metrics.policy_version.set(version)
        now = time.time()
        if self._published_at:
            interval = now - max(self._published_at.values())
            self._version_interval = (
                interval if self._version_interval is None else 0.8 * self._version_interval + 0.2 * interval
            )
            self.metrics.version_interval.set(self._version_interval)
        self._published_at[version] = now
        for old in [v for v in self._published_at if v < version - PUBLISH_TIMES_KEPT]:
            del self._published_at[old]

    def _reserve_through(self, version: int) -> None:
        if self.store is None or version <= self._reserved_versions:
            return
        self._reserved_versions = version + VERSION_RESERVATION_BLOCK
        self.store.reserve_versions(self._reserved_versions)

    # ---- checkpoints and observation ------------------------------------------------------
    def _maybe_checkpoint(self) -> None:
        cfg = self.config.learner
        if self.store is None or self.step == self._last_checkpoint_step:
            return
        by_updates = cfg.checkpoint_every_updates and self.step % cfg.checkpoint_every_updates == 0
        minutes = (time.monotonic() - self._last_checkpoint_time) / 60
        by_time = cfg.checkpoint_every_minutes and minutes >= cfg.checkpoint_every_minutes
        if by_updates or by_time:
            self.checkpoint()

    def checkpoint(self) -> str | None:
        """Saves the learner's state; nothing while the weights are still random (a checkpoint
        of them would keep a restarted learner from its warm start)."""
        if self.store is None or not self._trained:
            return None
        state = self.trainer.state()
        checkpoint = Checkpoint(
            step=self.step,
            policy_version=self.version,
            counters=dict(self.counters),
            config=self.config.to_dict(),
            model_state=state.model,
            optimizer_state=state.optimizer,
            scheduler_state=state.scheduler,
            scaler_state=state.scaler or None,
            random_state={
                "numpy": state.numpy_random,
                "torch": state.torch_random,
                "cuda": state.cuda_random,
            },
        )
        name = self.store.save(checkpoint)
        self._last_checkpoint_step = self.step
        self._last_checkpoint_time = time.monotonic()
        self.metrics.checkpoint_written()
        log.info("checkpoint %s/%s at step %d, version %d", self.store.uri, name, self.step, self.version)
        self._announce_checkpoint(self.store.object_uri(name), checkpoint.created_at)
        return name

    def _announce_checkpoint(self, uri: str, created_at: float) -> None:
        """Tell the operator (status.lastCheckpoint) where the newest checkpoint is."""
        try:
            self.redis.hset(
                self.keys.stats,
                mapping={
                    StatsField.CHECKPOINT_URI: uri,
                    StatsField.CHECKPOINT_TIME: round(created_at, 3),
                },
            )
        except (redis.ConnectionError, redis.TimeoutError) as e:
            # the checkpoint is safe in the store; only the operator's display of it waits
            log.warning("checkpoint %s not announced in Redis: %s", uri, e)

    def _observe_queue(self) -> None:
        """Once a second: the queue depth metric, the counters in the stats hash (stale drops
        count even while no update runs: the operator's autoscaler reads them), and the trim of
        what the group has acknowledged."""
        now = time.monotonic()
        if now - self._last_depth_check < 1.0:
            return
        self._last_depth_check = now
        group = self._group()
        if group is None:
            return
        lag = group.get("lag")
        depth = (lag if lag is not None else self.redis.xlen(self.keys.rollouts)) + group["pending"]
        self.metrics.queue_depth.set(depth)
        counters = {StatsField.learner_counter(k): int(v) for k, v in self.counters.items()}
        if counters != self._counters_written:
            self.redis.hset(self.keys.stats, mapping=counters)
            self._counters_written = counters
        self._trim_acknowledged(group)

    def _group(self) -> dict | None:
        """The learners' group; None while Redis, back empty, has no stream yet (the next read
        meets NOGROUP and recreates both)."""
        try:
            groups = self.redis.xinfo_groups(self.keys.rollouts)
        except redis.ResponseError as e:
            if "no such key" not in str(e):
                raise
            return None
        for group in groups:
            if group["name"] in (LEARNER_GROUP, LEARNER_GROUP.encode()):
                return group
        return None

    def _trim_acknowledged(self, group: dict | None = None) -> None:
        """Deletes the entries before the oldest one the group still needs (pending, or not yet
        delivered), so that the stream holds the queue and no more: its memory is what the
        actors' back-pressure caps (`tolaria.actor.backpressure`). The stream belongs to the
        learners' group; nothing else reads it."""
        group = group or self._group()
        if group is None:
            return
        pending = self.redis.xpending(self.keys.rollouts, LEARNER_GROUP)
        if pending["pending"]:
            first_needed = pending["min"]
        else:
            last = group["last-delivered-id"]
            ms, seq = (last.decode() if isinstance(last, bytes) else str(last)).split("-")
            first_needed = f"{ms}-{int(seq) + 1}"
        self.redis.xtrim(self.keys.rollouts, minid=first_needed, approximate=False)


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Torch's CPU threads set to `threads` (None: unchanged) inside the block."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
