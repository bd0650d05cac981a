"""Policy inference throughput (decisions/s) per network preset, device and batch size.

What an actor's inference batcher does per batch: encode the DECISION payloads, move them to
the device, run the policy's `act` under inference mode and read the actions back. Decisions
come from real engine games (`bench/learner_throughput.py`'s); the encoding is timed apart from
the network, since it runs on the CPU whatever the device.

    python bench/inference_throughput.py --presets small,medium,large --batches 1,16,256
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from learner_throughput import game_payloads

from tolaria.trainer.config import NetworkConfig
from tolaria.trainer.encoding import Encoder
from tolaria.trainer.policy import PolicyNetwork, to_tensors


def measure(preset: str, device: torch.device, batch: int, payloads: list[dict], seconds: float) -> dict:
    network = NetworkConfig.from_preset(preset)
    encoder, model = Encoder(network), PolicyNetwork(network).to(device).eval()
    batches = [payloads[i : i + batch] for i in range(0, len(payloads) - batch + 1, batch)]
    encoded = [encoder.encode(b) for b in batches]
    with torch.inference_mode():
        for arrays in encoded[:3]:
            model.act(to_tensors(arrays, device))[0].cpu()
        decisions, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            for arrays in encoded:
                model.act(to_tensors(arrays, device))[0].cpu()
                decisions += batch
        network_s = time.perf_counter() - start
    # Encoded a second time: the first pass filled the encoder's feature caches, which an actor's
    # games keep warm.
    start = time.perf_counter()
    for b in batches:
        encoder.encode(b)
    encode_s = time.perf_counter() - start
    return {
        "preset": preset,
        "device": device.type,
        "batch": batch,
        "network_decisions_per_s": round(decisions / network_s, 1),
        "encode_decisions_per_s": round(len(batches) * batch / encode_s, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--presets", default="small,medium,large")
    parser.add_argument("--batches", default="1,16,256")
    parser.add_argument("--devices", default="cpu,cuda", help="cuda is skipped where there is none")
    parser.add_argument("--games", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=3.0, help="timed network calls per row")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    payloads = [p for trajectory in game_payloads(args.games) for p in trajectory]
    devices = [d for d in args.devices.split(",") if d != "cuda" or torch.cuda.is_available()]
    rows = []
    for preset in args.presets.split(","):
        for device in devices:
            for batch in (int(b) for b in args.batches.split(",")):
                if batch > len(payloads):
                    raise SystemExit(
                        f"--batches {batch} is more than the {len(payloads)} decisions of --games {args.games}"
                    )
                row = measure(preset, torch.device(device), batch, payloads, args.seconds)
                print(json.dumps(row), flush=True)
                rows.append(row)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
