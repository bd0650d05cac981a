"""Learner throughput (PPO samples/s) per network preset, and rollout bytes per decision.

Decisions come from real engine games (both seats played by the heuristic player, payloads
encoded as the actor would); actions, log-probabilities and values come from the policy itself.
One PPO update = `--epochs` passes (the learner's default) over `--batch` samples in minibatches
of `--minibatch`; samples/s counts each sample once per update: batch samples per second of
update time, the rate at which a learner consumes rollouts. (The learner's
`tolaria_learner_samples_per_second` counts samples x epochs.)

Modes (`--modes`): fp32, bf16 (the trunk under bf16 autocast, as the learner runs on a GPU; the
CPU learner trains in fp32, so on a CPU this is for comparison only) and compiled (torch.compile of
the loss, bf16 on a GPU, fp32 on a CPU; its warmup update compiles, and the row says how many
graphs it compiled and how many graph breaks it met). On the CPU each mode runs at each thread
count (`--threads`), with wall-clock samples/s and samples per CPU-second of the process (the
rate one fully used core gives, however loaded the machine is); on CUDA, when present, with
`--cuda-batch` and `--cuda-minibatch`.

    python bench/learner_throughput.py --presets small,medium,large --threads 1,2 --json out.json
    python bench/learner_throughput.py --presets large --no-cpu   # a GPU machine
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch._dynamo.utils import counters

from tolaria.engine import CardPool, Game, HeuristicPlayer, decision_payload, find_deck, load_deck
from tolaria.rollouts import Segment, encode_segment
from tolaria.trainer.config import LearnerConfig, NetworkConfig, PPOConfig
from tolaria.trainer.encoding import Encoder
from tolaria.trainer.policy import PolicyNetwork, count_parameters, to_tensors
from tolaria.trainer.ppo import PPOTrainer, build_batch

REPO = Path(__file__).resolve().parents[1]


def game_payloads(games: int, seed: int = 0) -> list[list[dict]]:
    """Per (game, seat): the full DECISION payloads that seat answered, in order."""
    pool = CardPool.default()
    names = ["red_aggro", "white_weenie", "green_midrange", "blue_control"]
    decks = [load_deck(find_deck(n, [REPO / "decks"]), pool) for n in names]
    trajectories = []
    for g in range(games):
        pair = (decks[g % 4], decks[(g + 1 + g // 4) % 4])
        game = Game(pair, seed=seed + g, max_turns=40)
        players = (HeuristicPlayer(seed + g), HeuristicPlayer(seed + g + 1000))
        per_seat: tuple[list, list] = ([], [])
        decision = game.start()
        while decision is not None:
            if decision.expects_reply:
                per_seat[decision.seat].append(decision_payload(decision))
                decision = game.submit(players[decision.seat].choose(decision))
            else:
                decision = game.submit(None)
        trajectories += [t for t in per_seat if t]
    return trajectories


def segments_for(trajectories: list[list[dict]], network: NetworkConfig) -> list[Segment]:
    encoder, model = Encoder(network), PolicyNetwork(network)
    segments = []
    for payloads in trajectories:
        obs = encoder.encode(payloads)
        actions, log_probs, values = model.act(to_tensors(obs))
        steps = len(payloads)
        reward = np.zeros(steps, np.float32)
        reward[-1] = 1.0
        done = np.zeros(steps, np.bool_)
        done[-1] = True
        segments.append(
            Segment(
                obs,
                actions.numpy().astype(np.int32),
                log_probs.numpy(),
                values.numpy(),
                reward,
                done,
                np.ones(steps, np.int64),
                encoder=encoder.shape,
                meta={"matchup": "bench", "opponent": "heuristic"},
            )
        )
    return segments


MODES = {"fp32": ("none", False), "bf16": ("bf16", False), "compiled": ("bf16", True)}


def measure(
    network: NetworkConfig, segments: list[Segment], args, device: str, mode: str, threads: int
) -> dict:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cuda = device.startswith("cuda")
    precision, compile_ = MODES[mode]
    if compile_ and not cuda:
        precision = "none"  # the CPU learner trains in fp32
    ppo = PPOConfig(batch_size=args.batch, minibatch_size=args.minibatch, epochs=args.epochs)
    learner = LearnerConfig(device=device, mixed_precision=precision, compile=compile_, threads=threads)
    trainer = PPOTrainer(PolicyNetwork(network), ppo, learner)
    if precision == "bf16" and not cuda:
        trainer.autocast_dtype = torch.bfloat16  # what the learner runs on a GPU, here on the CPU
    batch = build_batch(segments, ppo)
    idx = np.arange(args.batch) % len(batch)

    def rows(array: np.ndarray) -> np.ndarray:
        # on a GPU in pinned memory, where the learner's prefetcher builds its batches
        return torch.from_numpy(array[idx]).pin_memory().numpy() if cuda else array[idx]

    batch = dataclasses.replace(
        batch,
        observations={k: rows(v) for k, v in batch.observations.items()},
        actions=rows(batch.actions),
        log_probs=rows(batch.log_probs),
        values=rows(batch.values),
        advantages=rows(batch.advantages),
        returns=rows(batch.returns),
    )
    torch._dynamo.reset()
    counters.clear()
    for _ in range(args.warmup):
        trainer.update(batch)
    if cuda:
        torch.cuda.synchronize()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(args.updates):
        trainer.update(batch)
    if cuda:
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    samples = args.updates * args.batch  # each sample once per update, whatever the epochs
    return {
        "preset": network.preset,
        "parameters": count_parameters(trainer.model),
        "device": device,
        "mode": mode,
        "precision": "bf16" if precision == "bf16" else "fp32",
        "compile": compile_,
        "graphs": counters["stats"]["unique_graphs"] if compile_ else None,
        "graph_breaks": sum(counters["graph_break"].values()) if compile_ else None,
        "threads": threads,
        "batch": args.batch,
        "minibatch": args.minibatch,
        "epochs": args.epochs,
        "samples_per_s": round(samples / wall, 1),
        "samples_per_cpu_s": None if cuda else round(samples / cpu, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--presets", default="small,medium,large")
    parser.add_argument("--threads", default="1,2", help="CPU thread counts to measure")
    parser.add_argument("--games", type=int, default=8)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--minibatch", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=PPOConfig.epochs)
    parser.add_argument("--updates", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--modes", default="fp32,bf16,compiled", help=f"of {', '.join(MODES)}")
    parser.add_argument("--cpu", action=argparse.BooleanOptionalAction, default=True, help="measure on CPU")
    parser.add_argument("--cuda-batch", type=int, default=65536, help="--batch for the CUDA runs")
    parser.add_argument("--cuda-minibatch", type=int, default=8192)
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    trajectories = game_payloads(args.games)
    decisions = sum(len(t) for t in trajectories)
    print(
        f"{decisions} decisions from {args.games} engine games in {time.perf_counter() - started:.1f}s",
        file=sys.stderr,
    )
    results: dict = {
        "machine": platform.node(),
        "cpu_count": torch.get_num_threads(),
        "torch": torch.__version__,
        "decisions": decisions,
        "throughput": [],
        "rollout_bytes": [],
    }
    for preset in args.presets.split(","):
        network = NetworkConfig.from_preset(preset)
        segments = segments_for(trajectories, network)
        raw = sum(
            sum(a.nbytes for a in (*s.observations.values(), *s.step_arrays().values())) for s in segments
        )
        packed = sum(len(encode_segment(s)) for s in segments)
        plain = sum(len(encode_segment(s, compress=False)) for s in segments)
        row = {
            "preset": preset,
            "bytes_per_decision_zlib": round(packed / decisions, 1),
            "bytes_per_decision_uncompressed": round(plain / decisions, 1),
            "bytes_per_decision_in_memory": round(raw / decisions, 1),
            "decisions_per_segment": round(decisions / len(segments), 1),
        }
        results["rollout_bytes"].append(row)
        print(json.dumps(row), flush=True)
        modes = args.modes.split(",")
        runs = []
        if args.cpu:
            runs += [
                ("cpu", mode, int(t), args.batch, args.minibatch)
                for mode in modes
                for t in args.threads.split(",")
            ]
        if torch.cuda.is_available():
            runs += [("cuda", mode, 1, args.cuda_batch, args.cuda_minibatch) for mode in modes]
        for device, mode, threads, batch, minibatch in runs:
            run_args = argparse.Namespace(**{**vars(args), "batch": batch, "minibatch": minibatch})
            row = measure(network, segments, run_args, device, mode, threads)
            results["throughput"].append(row)
            print(json.dumps(row), flush=True)
    if torch.cuda.is_available():
        results["gpu"] = torch.cuda.get_device_name(0)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
