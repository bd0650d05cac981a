"""How much of the actors' data the learner can use: fraction used vs dropped as stale.

A real redis-server and a real in-process `Learner` (small network, CPU) consume a synthetic load
equivalent to many actors: `--games` games in flight, each producing `--decisions-per-second`
/ `--games` decisions a second for `--game-steps` decisions, then starting again. Each decision
carries the policy version its simulated actor plays at that moment. Two ways of producing it,
interleaved (before, after, before, after), each phase on a fresh run:

- before (the actor of issue 23's review): every actor polls `...:policy:version` every
  `--poll-seconds` (5 s, the spec's default); a game is shipped when it ends, whole (cut in
  segments only for size); entries carry no version field, so the learner decodes stale ones
  before dropping them.
- after: versions arrive on the announcement channel (a real pub/sub subscription); games are
  shipped in `--segment-steps` segments as they go; entries carry their version, so stale ones
  are dropped undecoded.

Reported per phase: samples produced, used by PPO updates, dropped as stale, still queued, and
the fractions used/dropped of what left the queue, the versions published and the learner's mean
policy lag. `--actors` simulated actors share the games (each polls on its own phase).

    python bench/rollout_freshness.py [--seconds 45] [--decisions-per-second 1200]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace

import numpy as np
import redis
import torch

from tolaria.keys import RunKeys
from tolaria.rollouts import STEPS_FIELD, STREAM_FIELD, Segment, encode_segment, stream_entry
from tolaria.trainer.config import LearnerConfig, NetworkConfig, PPOConfig, TrainerConfig
from tolaria.trainer.encoding import Encoder
from tolaria.trainer.learner import Learner
from tolaria.trainer.policy import PolicyNetwork
from tolaria.trainer.synthetic import PayloadFactory, synthetic_segment

NETWORK = NetworkConfig.from_preset("small", d_model=32, ff_dim=64)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Game:
    actor: int
    versions: list[int] = field(default_factory=list)
    shipped: int = 0  # steps already shipped (after: segments sent while the game goes on)


class Load:
    """The simulated actors of one phase, producing into the run's stream at a fixed rate."""

    def __init__(
        self, client: redis.Redis, keys: RunKeys, mode: str, args: argparse.Namespace, pool: Segment
    ):
        self.client, self.keys, self.mode, self.args, self.pool = client, keys, mode, args, pool
        self.rng = random.Random(1)
        self.games = [Game(actor=i % args.actors) for i in range(args.games)]
        self.actor_version = [0] * args.actors
        self.next_poll = [self.rng.uniform(0, args.poll_seconds) for _ in range(args.actors)]
        self.produced = 0
        self.announced = 0  # newest version announced (after)

    def _entry(self, versions: list[int], done: bool) -> dict[bytes, bytes]:
        steps = len(versions)
        start = self.rng.randrange(len(self.pool.reward) - steps + 1)
        rows = slice(start, start + steps)
        segment = replace(
            self.pool,
            observations={k: v[rows] for k, v in self.pool.observations.items()},
            action=self.pool.action[rows],
            log_prob=self.pool.log_prob[rows],
            value=self.pool.value[rows],
            reward=np.where(np.arange(steps) == steps - 1, 1.0 if done else 0.0, 0.0).astype(np.float32),
            done=np.arange(steps) == steps - 1 if done else np.zeros(steps, bool),
            policy_version=np.asarray(versions, np.int64),
        )
        if self.mode == "after":
            return stream_entry(segment)
        return {STREAM_FIELD: encode_segment(segment), STEPS_FIELD: str(steps).encode()}

    def run(self, stop: threading.Event) -> None:
        args = self.args
        subscriber = None
        if self.mode == "after":
            subscriber = self.client.pubsub(ignore_subscribe_messages=True)
            subscriber.subscribe(self.keys.policy_announce)
            self.announced = int(self.client.get(self.keys.policy_version) or 0)
        per_game = args.decisions_per_second / args.games
        started = last = time.monotonic()
        owed = 0.0
        while not stop.is_set():
            now = time.monotonic()
            if subscriber is not None:  # every actor hears the announcement at once
                while (message := subscriber.get_message(timeout=0.0)) is not None:
                    self.announced = max(self.announced, int(message["data"]))
                self.actor_version = [self.announced] * args.actors
            else:
                for actor in range(args.actors):
                    if now - started >= self.next_poll[actor]:
                        self.actor_version[actor] = int(self.client.get(self.keys.policy_version) or 0)
                        self.next_poll[actor] += args.poll_seconds
            owed += (now - last) * per_game
            last = now
            steps, owed = int(owed), owed - int(owed)
            pipe = self.client.pipeline(transaction=False)
            for game in self.games:
                for _ in range(steps):
                    game.versions.append(self.actor_version[game.actor])
                    self.produced += 1
                    if self.mode == "after" and len(game.versions) - game.shipped > args.segment_steps:
                        cut = game.versions[game.shipped : game.shipped + args.segment_steps]
                        pipe.xadd(self.keys.rollouts, self._entry(cut, False))
                        game.shipped += args.segment_steps
                    if len(game.versions) == args.game_steps:
                        rest = game.versions[game.shipped :]
                        for i in range(0, len(rest), args.segment_steps):
                            part = rest[i : i + args.segment_steps]
                            pipe.xadd(self.keys.rollouts, self._entry(part, i + len(part) == len(rest)))
                        game.versions, game.shipped = [], 0
            pipe.execute()
            time.sleep(0.05)
        if subscriber is not None:
            subscriber.close()


def _after(entry_id: bytes, last: bytes) -> bool:
    def key(raw: bytes) -> tuple[int, int]:
        ms, seq = raw.decode().split("-")
        return int(ms), int(seq)

    return key(entry_id) > key(last)


def phase(client: redis.Redis, mode: str, index: int, args: argparse.Namespace, pool: Segment) -> dict:
    keys = RunKeys("bench", f"freshness-{index}-{mode}")
    config = TrainerConfig(
        network=NETWORK,
        ppo=PPOConfig(
            batch_size=args.batch_size,
            minibatch_size=args.batch_size,
            epochs=1,
            max_policy_lag=args.max_policy_lag,
        ),
        learner=LearnerConfig(device="cpu", threads=1, read_block_ms=100, read_count=256),
    )
    learner = Learner(config, client, keys, None)
    learner.start()
    stop = threading.Event()
    learning = threading.Thread(target=learner.run, args=(stop,), daemon=True)
    load = Load(client, keys, mode, args, pool)
    producing = threading.Thread(target=load.run, args=(stop,), daemon=True)
    first_version = learner.version
    learning.start()
    producing.start()
    time.sleep(args.seconds)
    stop.set()
    producing.join()
    learning.join()
    used = int(learner.counters["samples"])
    # the queue: entries read and held (pending) or not read yet (after the last delivered)
    (group,) = client.xinfo_groups(keys.rollouts)
    pending = {e["message_id"] for e in client.xpending_range(keys.rollouts, "learners", "-", "+", 10**6)}
    last = group["last-delivered-id"]
    queued = sum(
        int(fields[STEPS_FIELD])
        for entry_id, fields in client.xrange(keys.rollouts)
        if entry_id in pending or _after(entry_id, last)
    )
    dropped = load.produced - used - queued - sum(len(g.versions) - g.shipped for g in load.games)
    left = used + dropped
    return {
        "mode": mode,
        "produced": load.produced,
        "used": used,
        "dropped_stale": dropped,
        "queued": queued,
        "used_fraction": round(used / left, 3) if left else None,
        "stale_fraction": round(dropped / left, 3) if left else None,
        "stale_entries": int(learner.counters["stale_segments"]),
        "versions": learner.version - first_version,
        "updates": learner.step,
        "policy_lag": float(learner.metrics.policy_lag._value.get()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=45.0, help="per phase")
    parser.add_argument("--phases", default="before,after,before,after")
    parser.add_argument("--decisions-per-second", type=float, default=1200.0)
    parser.add_argument("--games", type=int, default=256)
    parser.add_argument("--actors", type=int, default=32)
    parser.add_argument("--game-steps", type=int, default=200, help="decisions of one seat in one game")
    parser.add_argument("--segment-steps", type=int, default=64)
    parser.add_argument("--poll-seconds", type=float, default=5.0)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--max-policy-lag", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    encoder, model = Encoder(NETWORK), PolicyNetwork(NETWORK)
    pool = synthetic_segment(encoder, model, PayloadFactory(0), 1024, 0)
    workdir = tempfile.mkdtemp(prefix="tolaria-freshness-")
    port = free_port()
    server = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--dir", workdir],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        client = redis.Redis(port=port)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.1)
        results = []
        for index, mode in enumerate(args.phases.split(",")):
            result = phase(client, mode, index, args, pool)
            results.append(result)
            print(json.dumps(result), flush=True)
        for mode in ("before", "after"):
            fractions = [
                r["used_fraction"] for r in results if r["mode"] == mode and r["used_fraction"] is not None
            ]
            if fractions:
                print(f"{mode}: used fraction {np.mean(fractions):.3f} (runs: {fractions})")
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
