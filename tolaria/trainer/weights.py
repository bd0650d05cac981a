"""Policy weights as published in Redis (`...:policy`): safetensors bytes, never pickle.

The bytes carry their own policy version and network config in the safetensors metadata, so a
reader that GETs `...:policy` knows exactly which version it holds even if `...:policy:version`
moved on between two reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from tolaria.trainer.config import NetworkConfig
from tolaria.trainer.policy import PolicyNetwork, load_weights

_META_KEY = "tolaria_policy"
_PICKLE_PROTOCOL_BYTE = 0x80
_ZIP_MAGIC = b"PK\x03\x04"


class UnsafeWeightsError(ValueError):
    """Bytes offered as policy weights that are not Tolaria safetensors weights."""


@dataclass
class PolicyWeights:
    version: int
    network: NetworkConfig
    state_dict: dict[str, torch.Tensor]

    def model(self, device: torch.device | str = "cpu") -> PolicyNetwork:
        """A network of the published shape holding these weights, in eval mode."""
        network = PolicyNetwork(self.network)
        load_weights(network, self.state_dict, f"policy weights v{self.version}")
        return network.to(device).eval()


def encode_weights(model: torch.nn.Module, network: NetworkConfig, version: int) -> bytes:
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    meta = {"version": version, "network": network.__dict__}
    return save_safetensors(state, metadata={_META_KEY: json.dumps(meta)})


def decode_weights(data: bytes) -> PolicyWeights:
    """Parse published weights; anything but safetensors (a pickle, a torch.save zip) is refused
    before any of it is interpreted."""
    if not isinstance(data, bytes | bytearray):
        raise UnsafeWeightsError(f"policy weights must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if data[:1] == bytes([_PICKLE_PROTOCOL_BYTE]) or data[:4] == _ZIP_MAGIC:
        kind = "a pickle" if data[:1] == bytes([_PICKLE_PROTOCOL_BYTE]) else "a torch.save/zip archive"
        raise UnsafeWeightsError(
            f"refusing policy weights: the payload is {kind}, not safetensors; "
            "pickled weights can run code and are never loaded"
        )
    try:
        state = load_safetensors(data)
        header_len = int.from_bytes(data[:8], "little")
        meta = json.loads(json.loads(data[8 : 8 + header_len])["__metadata__"][_META_KEY])
        return PolicyWeights(int(meta["version"]), NetworkConfig(**meta["network"]), state)
    except (SafetensorError, ValueError, KeyError, TypeError) as e:
        raise UnsafeWeightsError(f"refusing policy weights: not Tolaria safetensors weights ({e})") from e
