"""Learner throughput (PPO samples/s) per network preset, and rollout bytes per decision.

Decisions come from real engine games (both seats played by the heuristic player, payloads
encoded as the actor would); actions, log-probabilities and values come from the policy itself.
One PPO update = `--epochs` passes over `--batch` samples in minibatches of `--minibatch`;
samples/s counts samples x epochs per second of update time, as the learner's metric does.

CPU: at each thread count, wall-clock samples/s and samples per CPU-second of the process (the
rate one fully used core gives, however loaded the machine is). CUDA (when present): fp32 and
bf16 autocast, optionally torch.compile.

    python bench/learner_throughput.py --presets small,medium,large --threads 1,2 --json out.json
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


def measure(
    network: NetworkConfig,
    segments: list[Segment],
    args,
    device: str,
    precision: str,
    compile_: bool,
    threads: int,
) -> dict:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    ppo = PPOConfig(batch_size=args.batch, minibatch_size=args.minibatch, epochs=args.epochs)
    learner = LearnerConfig(device=device, mixed_precision=precision, compile=compile_, threads=threads)
    trainer = PPOTrainer(PolicyNetwork(network), ppo, learner)
    batch = build_batch(segments, ppo)
    idx = np.arange(args.batch) % len(batch)
    batch = dataclasses.replace(
        batch,
        observations={k: v[idx] for k, v in batch.observations.items()},
        actions=batch.actions[idx],
        log_probs=batch.log_probs[idx],
        values=batch.values[idx],
        advantages=batch.advantages[idx],
        returns=batch.returns[idx],
    )
    for _ in range(args.warmup):
        trainer.update(batch)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(args.updates):
        trainer.update(batch)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    samples = args.updates * args.batch * args.epochs
    return {
        "preset": network.preset,
        "parameters": count_parameters(trainer.model),
        "device": device,
        "precision": precision if device.startswith("cuda") else "fp32",
        "compile": compile_,
        "threads": threads,
        "samples_per_s": round(samples / wall, 1),
        "samples_per_cpu_s": round(samples / cpu, 1) if not device.startswith("cuda") else None,
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
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--updates", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--cpu", action=argparse.BooleanOptionalAction, default=True, help="measure on CPU")
    parser.add_argument("--cuda-batch", type=int, default=65536, help="--batch for the CUDA runs")
    parser.add_argument("--cuda-minibatch", type=int, default=8192)
    parser.add_argument("--compile", action="store_true", help="also measure torch.compile on CUDA")
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
        runs = []
        if args.cpu:
            runs += [
                ("cpu", "fp32", False, int(t), args.batch, args.minibatch) for t in args.threads.split(",")
            ]
        if torch.cuda.is_available():
            for precision in ("none", "bf16"):
                runs.append(("cuda", precision, False, 1, args.cuda_batch, args.cuda_minibatch))
                if args.compile:
                    runs.append(("cuda", precision, True, 1, args.cuda_batch, args.cuda_minibatch))
        for device, precision, compile_, threads, batch, minibatch in runs:
            run_args = argparse.Namespace(**{**vars(args), "batch": batch, "minibatch": minibatch})
            row = measure(network, segments, run_args, device, precision, compile_, threads)
            results["throughput"].append(row)
            print(json.dumps(row), flush=True)
    if torch.cuda.is_available():
        results["gpu"] = torch.cuda.get_device_name(0)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
