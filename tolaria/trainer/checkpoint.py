"""Checkpoints of the learner in `file://dir` or `s3://bucket/prefix` stores.

A checkpoint is ONE safetensors object: the model's tensors (`model/...`), the optimiser's
tensor state (`optim/<param>/<name>`), the torch random states (`random/torch`,
`random/cuda/<device>`), and in the safetensors metadata a JSON document with step, policy
version, counters, config, the optimiser's param groups and scalar state, the scheduler and
gradient-scaler states, the numpy random state and a sha256 over the tensors. Nothing is pickled, so loading a checkpoint
cannot run code.

Writes are atomic: the object goes under a new unique name (file: temp file + fsync + rename +
directory fsync; s3: one PUT, which S3 makes visible whole or not at all), and only then the small
`latest` pointer (name + sha256 of the object) is replaced the same way. A reader therefore never
sees a torn `latest`. `latest()` returns the newest checkpoint whose tensor hash (and, when the
pointer names it, whole-object sha256) checks out, scanning older ones past any that do not.
Retention keeps the newest `keep` checkpoints. Side objects too large to hold twice (a warm
start's watched games) are written from a stream: copied in chunks to the temp file, or uploaded
to S3 in parts, which S3 also makes visible whole once the upload completes.

The store also holds the run's version reservation (`versions`): the highest policy version a
learner may have published. A learner reserves a block of versions here before it publishes
the first of them, so a learner that resumes after a crash, even with Redis wiped, continues
above every version its predecessor could have published: versions are never reused for two
sets of weights (league snapshots, Elo ratings and the learning curve are keyed by them).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlparse

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

POINTER = "latest"
VERSIONS = "versions"
_PREFIX, _SUFFIX = "ckpt-", ".safetensors"
_META_KEY = "tolaria_checkpoint"
FORMAT = 1
_CHUNK = 16 << 20  # bytes of a streamed side object read at a time
log = logging.getLogger(__name__)


class CheckpointError(ValueError):
    """A checkpoint object that is corrupt, partial or not a Tolaria checkpoint."""


@dataclass
class Checkpoint:
    step: int
    policy_version: int
    counters: dict[str, float]
    config: dict[str, Any]
    model_state: dict[str, torch.Tensor]
    optimizer_state: dict[str, Any] | None = None
    scheduler_state: dict[str, Any] | None = None
    scaler_state: dict[str, Any] | None = None
    # {"numpy": bit-generator state, "torch": CPU generator state, "cuda": [state per device]}
    random_state: dict[str, Any] | None = None
    created_at: float = field(default_factory=time.time)
    name: str = ""


def _tensor_digest(tensors: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].contiguous()
        digest.update(name.encode())
        digest.update(str(tensor.dtype).encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def serialize(checkpoint: Checkpoint) -> bytes:
    tensors = {f"model/{k}": v.detach().cpu().contiguous() for k, v in checkpoint.model_state.items()}
    optim_meta = None
    if checkpoint.optimizer_state is not None:
        scalars: dict[str, dict[str, Any]] = {}
        for param, state in checkpoint.optimizer_state["state"].items():
            for key, value in state.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optim/{param}/{key}"] = value.detach().cpu().contiguous()
                else:
                    scalars.setdefault(str(param), {})[key] = value
        optim_meta = {"param_groups": checkpoint.optimizer_state["param_groups"], "scalars": scalars}
    random_meta = None
    if checkpoint.random_state is not None:
        random = checkpoint.random_state
        tensors["random/torch"] = random["torch"].detach().cpu().contiguous()
        for device, state in enumerate(random.get("cuda") or ()):
            tensors[f"random/cuda/{device}"] = state.detach().cpu().contiguous()
        random_meta = {"numpy": random["numpy"], "cuda_devices": len(random.get("cuda") or ())}
    meta = {
        "format": FORMAT,
        "step": checkpoint.step,
        "policy_version": checkpoint.policy_version,
        "counters": checkpoint.counters,
        "config": checkpoint.config,
        "optimizer": optim_meta,
        "scheduler": checkpoint.scheduler_state,
        "scaler": checkpoint.scaler_state,
        "random": random_meta,
        "created_at": checkpoint.created_at,
        "tensors_sha256": _tensor_digest(tensors),
    }
    return save_safetensors(tensors, metadata={_META_KEY: json.dumps(meta, allow_nan=False)})


def deserialize(data: bytes, name: str = "") -> Checkpoint:
    try:
        tensors = load_safetensors(data)
        header_len = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + header_len])
        meta = json.loads(header["__metadata__"][_META_KEY])
    except (SafetensorError, ValueError, KeyError, TypeError, OSError) as e:
        raise CheckpointError(
            f"checkpoint {name or '<bytes>'} is not a valid safetensors checkpoint: {e}"
        ) from e
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {name} has format {meta.get('format')!r}, expected {FORMAT}")
    if _tensor_digest(tensors) != meta.get("tensors_sha256"):
        raise CheckpointError(f"checkpoint {name} tensors do not match their sha256 (corrupt)")
    model_state = {k[len("model/") :]: v for k, v in tensors.items() if k.startswith("model/")}
    optimizer_state = None
    if meta.get("optimizer") is not None:
        state: dict[int, dict[str, Any]] = {}
        for key, value in tensors.items():
            if key.startswith("optim/"):
                _, param, field_name = key.split("/", 2)
                state.setdefault(int(param), {})[field_name] = value
        for param, scalars in meta["optimizer"]["scalars"].items():
            state.setdefault(int(param), {}).update(scalars)
        optimizer_state = {"state": state, "param_groups": meta["optimizer"]["param_groups"]}
    random_state = None
    if meta.get("random") is not None:
        try:
            random_state = {
                "numpy": meta["random"]["numpy"],
                "torch": tensors["random/torch"],
                "cuda": [tensors[f"random/cuda/{d}"] for d in range(int(meta["random"]["cuda_devices"]))],
            }
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"checkpoint {name} has an incomplete random state: {e!r}") from e
    return Checkpoint(
        step=int(meta["step"]),
        policy_version=int(meta["policy_version"]),
        counters=dict(meta["counters"]),
        config=dict(meta["config"]),
        model_state=model_state,
        optimizer_state=optimizer_state,
        scheduler_state=meta.get("scheduler"),
        scaler_state=meta.get("scaler"),
        random_state=random_state,
        created_at=float(meta["created_at"]),
        name=name,
    )


def checkpoint_name(step: int) -> str:
    return f"{_PREFIX}{step:012d}-{time.time_ns():020d}-{os.getpid()}{_SUFFIX}"


class CheckpointStore(ABC):
    """Common logic; subclasses move bytes (`_put` must be atomic)."""

    def __init__(self, keep: int = 5):
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        self.keep = keep

    @abstractmethod
    def _put(self, name: str, data: bytes | BinaryIO) -> None: ...

    @abstractmethod
    def _open(self, name: str) -> BinaryIO | None: ...

    def _get(self, name: str) -> bytes | None:
        stream = self._open(name)
        if stream is None:
            return None
        with contextlib.closing(stream):
            return stream.read()

    @abstractmethod
    def _names(self) -> list[str]: ...

    @abstractmethod
    def _delete(self, name: str) -> None: ...

    @property
    @abstractmethod
    def uri(self) -> str: ...

    @property
    def transient_errors(self) -> tuple[type[BaseException], ...]:
        """What this store raises while it cannot be reached yet (worth waiting for)."""
        return (OSError,)

    def object_uri(self, name: str) -> str:
        """The URI of one checkpoint object of this store."""
        return self.uri.rstrip("/") + "/" + name

    def save(self, checkpoint: Checkpoint) -> str:
        data = serialize(checkpoint)
        name = checkpoint_name(checkpoint.step)
        self._put(name, data)
        pointer = {
            "name": name,
            "sha256": hashlib.sha256(data).hexdigest(),
            "step": checkpoint.step,
            "policy_version": checkpoint.policy_version,
        }
        self._put(POINTER, json.dumps(pointer).encode())
        self._apply_retention(keep_name=name)
        return name

    def put_object(self, name: str, data: bytes | BinaryIO) -> None:
        """Writes a side object (a warm start's progress) atomically; never a checkpoint's name.
        `data` may be a readable binary file, read in chunks (an object too large to hold twice)."""
        self._check_side_name(name)
        self._put(name, data)

    def get_object(self, name: str) -> bytes | None:
        self._check_side_name(name)
        return self._get(name)

    def open_object(self, name: str) -> BinaryIO | None:
        """A side object as a readable binary stream (to close), None when there is none: an object
        too large to hold twice is read in parts."""
        self._check_side_name(name)
        return self._open(name)

    def delete_object(self, name: str) -> None:
        self._check_side_name(name)
        self._delete(name)

    @staticmethod
    def _check_side_name(name: str) -> None:
        if name == POINTER or name.startswith(_PREFIX) or not name or "/" in name:
            raise ValueError(f"{name!r} is not a side-object name (it would clash with the checkpoints)")

    def checkpoints(self) -> list[str]:
        """Checkpoint object names, oldest first."""
        return sorted(n for n in self._names() if n.startswith(_PREFIX) and n.endswith(_SUFFIX))

    def load(self, name: str, sha256: str | None = None) -> Checkpoint:
        data = self._get(name)
        if data is None:
            raise CheckpointError(f"checkpoint {name} is missing from {self.uri}")
        if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
            raise CheckpointError(f"checkpoint {name} does not match the sha256 of the latest pointer")
        return deserialize(data, name)

    def latest(self) -> Checkpoint | None:
        """The newest valid checkpoint, or None when the store holds none.

        Objects are written whole before the pointer, so a learner that died between the two
        left a newer complete object than the pointer names: the newest object wins, and the
        pointer's sha256 is checked when it names that object.
        """
        pointer = self._pointer()
        for name in reversed(self.checkpoints()):
            sha256 = str(pointer["sha256"]) if pointer.get("name") == name else None
            try:
                return self.load(name, sha256)
            except CheckpointError as e:
                log.warning("%s: skipping checkpoint: %s", self.uri, e)
        return None

    def read_document(self, name: str) -> Any:
        """A JSON document kept beside the checkpoints (None when absent)."""
        raw = self._get(name)
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError as e:
            raise CheckpointError(f"{self.object_uri(name)} is not JSON: {e}") from e

    def write_document(self, name: str, value: Any) -> None:
        """Replace a JSON document kept beside the checkpoints, atomically."""
        self._put(name, json.dumps(value, separators=(",", ":")).encode())

    def reserved_versions(self) -> int:
        """The highest policy version reserved so far (0: none)."""
        document = self.read_document(VERSIONS)
        if document is None:
            return 0
        try:
            return int(document["reserved"])
        except (ValueError, KeyError, TypeError) as e:
            raise CheckpointError(
                f"{self.object_uri(VERSIONS)} is not a version reservation ({e}); a learner cannot "
                "tell which policy versions were published. Restore it or delete it if the run's "
                "Redis still holds the newest version."
            ) from e

    def reserve_versions(self, upto: int) -> None:
        """Record that versions up to `upto` may be published (or, lowered to the version a
        learner stopped at, that no version above it was)."""
        self.write_document(VERSIONS, {"reserved": upto})

    def _pointer(self) -> dict[str, Any]:
        raw = self._get(POINTER)
        if raw is None:
            return {}
        try:
            pointer = json.loads(raw)
            if isinstance(pointer, dict) and isinstance(pointer.get("name"), str) and "sha256" in pointer:
                return pointer
        except ValueError:
            pass
        log.warning("%s: latest pointer unusable; scanning checkpoints", self.uri)
        return {}

    def _apply_retention(self, keep_name: str) -> None:
        names = self.checkpoints()
        for name in names[: max(0, len(names) - self.keep)]:
            if name != keep_name:
                self._delete(name)


class FileCheckpointStore(CheckpointStore):
    def __init__(self, directory: str | Path, keep: int = 5):
        super().__init__(keep)
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    @property
    def uri(self) -> str:
        return f"file://{self.directory}"

    def _put(self, name: str, data: bytes | BinaryIO) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                if isinstance(data, bytes):
                    f.write(data)
                else:
                    shutil.copyfileobj(data, f, _CHUNK)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.directory / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _open(self, name: str) -> BinaryIO | None:
        try:
            return open(self.directory / name, "rb")
        except FileNotFoundError:
            return None

    def _names(self) -> list[str]:
        return [p.name for p in self.directory.iterdir() if p.is_file()]

    def _delete(self, name: str) -> None:
        (self.directory / name).unlink(missing_ok=True)


class S3CheckpointStore(CheckpointStore):
    """boto3 client; credentials from the environment (AWS_ACCESS_KEY_ID, ..., or an IAM role);
    `endpoint_url` (or TOLARIA_S3_ENDPOINT / AWS_ENDPOINT_URL) selects an S3-compatible store."""

    def __init__(self, bucket: str, prefix: str, keep: int = 5, endpoint_url: str | None = None):
        super().__init__(keep)
        import boto3

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        endpoint = endpoint_url or os.environ.get("TOLARIA_S3_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL")
        self.client = boto3.client(
            "s3", endpoint_url=endpoint or None, region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
        )

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    @property
    def transient_errors(self) -> tuple[type[BaseException], ...]:
        import botocore.exceptions

        # A store that does not answer yet, not one that refuses (a missing bucket, no access).
        return (OSError, botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def _put(self, name: str, data: bytes | BinaryIO) -> None:
        if isinstance(data, bytes):
            self.client.put_object(
                Bucket=self.bucket, Key=self._key(name), Body=data, ChecksumAlgorithm="SHA256"
            )
            return
        # A multipart upload of 8 MB parts (one PUT holds at most 5 GB), visible whole once completed.
        self.client.upload_fileobj(
            data, self.bucket, self._key(name), ExtraArgs={"ChecksumAlgorithm": "SHA256"}
        )

    def _open(self, name: str) -> BinaryIO | None:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(name))["Body"]
        except self.client.exceptions.NoSuchKey:
            return None

    def _names(self) -> list[str]:
        names, start = [], len(self.prefix) + 1 if self.prefix else 0
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}/" if self.prefix else ""):
            names += [obj["Key"][start:] for obj in page.get("Contents", [])]
        return [n for n in names if "/" not in n]

    def _delete(self, name: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(name))


def open_store(uri: str, keep: int = 5, endpoint_url: str | None = None) -> CheckpointStore:
    """`file:///abs/dir`, `file://rel/dir` or `s3://bucket/prefix` -> a store."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return FileCheckpointStore(Path(parsed.netloc + parsed.path), keep)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ValueError(f"checkpoint URI {uri!r} names no bucket")
        return S3CheckpointStore(parsed.netloc, parsed.path, keep, endpoint_url)
    raise ValueError(f"checkpoint URI {uri!r} must start with file:// or s3://")
