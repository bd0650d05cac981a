"""Where a policy runs: the device a `--device` flag or `learner.device` names."""

from __future__ import annotations

import torch


def resolve_device(name: str) -> torch.device:
    """`auto` is the GPU when there is one, else the CPU; any other name is torch's."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
