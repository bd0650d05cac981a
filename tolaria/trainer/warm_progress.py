"""A warm start's progress in the checkpoint store, so that preemptions do not restart it.

A warm start watches games for minutes and clones for minutes more; a learner pod preempted
during it (SIGTERM, a spot reclaim) would otherwise start over, and repeated preemptions would
never get past it. Two side objects of the checkpoint store keep what was done:

- `warm-start-games.safetensors`: the demonstrations of the games watched so far, each decision
  labelled with its game's index in the schedule (`match`), so that a resumed warm start plays
  only the other games. Written when a stop interrupts the watching and once the watching is done
  (then a stop while cloning has nothing large to write within the grace period), streamed from
  the arrays (`tolaria.trainer.array_stream`) and read back array by array: gigabytes, never
  copied whole to be written or read.
- `warm-start-clone.safetensors`: the network being fitted and the fit's `CloneProgress` (Adam's
  state, epochs and minibatches done, the shuffler's state), in the checkpoint format. Written
  when a stop interrupts the fit.

Both carry a fingerprint of what they depend on (the network, the warm-start settings, the
learner's seed, the game schedule); progress with another fingerprint is ignored, never resumed
into a different warm start. Both are deleted once the warm start's copy is checkpointed.
Safetensors and JSON only: nothing is unpickled.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass

import numpy as np
import torch

from tolaria.trainer.array_stream import SafetensorsReader, SafetensorsStream
from tolaria.trainer.checkpoint import Checkpoint, CheckpointError, CheckpointStore, deserialize, serialize
from tolaria.trainer.imitation import CloneProgress, Demonstrations
from tolaria.trainer.warm_start import WatchedGames

log = logging.getLogger(__name__)

GAMES_OBJECT = "warm-start-games.safetensors"
CLONE_OBJECT = "warm-start-clone.safetensors"
_META_KEY = "tolaria_warm_start"


@dataclass
class ClonedSoFar:
    model_state: dict[str, torch.Tensor]
    progress: CloneProgress


class WarmStartProgress:
    """Reads and writes one warm start's progress (identified by `fingerprint`) in `store`."""

    def __init__(self, store: CheckpointStore, fingerprint: str):
        self.store = store
        self.fingerprint = fingerprint

    # ---- the games watched ----------------------------------------------------------------
    def save_games(self, watched: WatchedGames) -> None:
        if not watched.games:
            return
        demos = watched.demonstrations
        arrays = {f"obs/{k}": v for k, v in demos.observations.items()}
        arrays["actions"] = demos.actions
        arrays["returns"] = demos.returns
        arrays["match"] = watched.match
        # a game whose every decision was left out still counts as watched
        arrays["games"] = np.asarray(watched.games, np.int64)
        meta = {"fingerprint": self.fingerprint}
        # streamed from the arrays: the decisions are never copied whole
        self.store.put_object(GAMES_OBJECT, SafetensorsStream(arrays, {_META_KEY: json.dumps(meta)}))
        log.info("warm start: %d games watched saved to %s", len(watched.games), self.store.uri)

    def load_games(self) -> dict[int, Demonstrations]:
        """The games a stopped warm start watched, by schedule index; {} when none were saved.
        Read array by array from the store, and each game's arrays are views of those: the saved
        decisions are held once."""
        stream = self.store.open_object(GAMES_OBJECT)
        if stream is None:
            return {}
        try:
            with contextlib.closing(stream):
                reader = SafetensorsReader(stream)
                meta = json.loads(reader.metadata[_META_KEY])
                if meta.get("fingerprint") != self.fingerprint:
                    log.info("warm start: saved games belong to another warm start; ignored")
                    return {}
                arrays = reader.arrays()
            match, games = arrays.pop("match"), arrays.pop("games")
            actions, returns = arrays.pop("actions"), arrays.pop("returns")
            observations = {k[len("obs/") :]: v for k, v in arrays.items() if k.startswith("obs/")}
            if not len(match) == len(actions) == len(returns) or any(
                len(v) != len(match) for v in observations.values()
            ):
                raise ValueError("arrays of different lengths")
            if np.any(np.diff(match) < 0):
                raise ValueError("decisions not in the schedule's order")
        except (ValueError, KeyError, TypeError) as e:
            log.warning("warm start: saved games unreadable (%s); watching them again", e)
            return {}
        starts = np.searchsorted(match, games, side="left")
        ends = np.searchsorted(match, games, side="right")
        watched = {
            index: Demonstrations(
                {k: v[start:end] for k, v in observations.items()}, actions[start:end], returns[start:end]
            )
            for index, start, end in zip(games.tolist(), starts.tolist(), ends.tolist(), strict=True)
        }
        log.info("warm start: resuming with %d games already watched", len(watched))
        return watched

    # ---- the fit --------------------------------------------------------------------------
    def save_clone(self, model_state: dict[str, torch.Tensor], progress: CloneProgress) -> None:
        checkpoint = Checkpoint(
            step=0,
            policy_version=0,
            counters={
                "epochs": progress.epochs,
                "minibatches": progress.minibatches,
                "nll_sum": progress.nll_sum,
            },
            config={"fingerprint": self.fingerprint},
            model_state=model_state,
            optimizer_state=progress.optimizer_state,
            random_state={"numpy": None, "torch": progress.shuffle_state, "cuda": []},
        )
        self.store.put_object(CLONE_OBJECT, serialize(checkpoint))
        log.info("warm start: fit saved at epoch %d, minibatch %d", progress.epochs, progress.minibatches)

    def load_clone(self) -> ClonedSoFar | None:
        data = self.store.get_object(CLONE_OBJECT)
        if data is None:
            return None
        try:
            saved = deserialize(data, CLONE_OBJECT)
        except CheckpointError as e:
            log.warning("warm start: saved fit unreadable (%s); fitting from the start", e)
            return None
        if saved.config.get("fingerprint") != self.fingerprint or saved.random_state is None:
            log.info("warm start: saved fit belongs to another warm start; ignored")
            return None
        counters = saved.counters
        progress = CloneProgress(
            epochs=int(counters["epochs"]),
            minibatches=int(counters["minibatches"]),
            shuffle_state=saved.random_state["torch"],
            optimizer_state=saved.optimizer_state,
            nll_sum=float(counters["nll_sum"]),
        )
        log.info(
            "warm start: resuming the fit at epoch %d, minibatch %d", progress.epochs, progress.minibatches
        )
        return ClonedSoFar(saved.model_state, progress)

    def clear(self) -> None:
        """Forgets the progress (the warm start's copy is checkpointed)."""
        for name in (GAMES_OBJECT, CLONE_OBJECT):
            self.store.delete_object(name)
