"""Binary encoding of trajectory segments, shared by actors (writers) and learners (readers).

A segment is T consecutive decisions of one seat in one game: the encoder's arrays (leading
dimension T), the action, the behaviour log-probability, value and policy version of each step,
reward and done flags, the value to bootstrap from when the segment ends before the game does,
and small metadata (matchup, opponent kind, ...).

Wire format (little-endian), version 1:

    magic  b"TLRS"   4 bytes
    format version   u8
    flags            u8   (bit 0: body is zlib-compressed)
    reserved         u16  (0)
    header length    u32
    body length      u32  (as stored, after compression)
    crc32            u32  (of header + stored body)
    header           JSON: steps, bootstrap_value, meta, encoder shape, and per array
                     [name, stored dtype, shape, offset, nbytes] -- descriptors, never data
    body             the arrays' raw bytes back to back, each in the narrowest integer type that
                     holds its values (bools as u1, floats stay float32), optionally zlib'd

A rollout stream entry (`stream_entry`) holds the encoded segment in its `segment` field, and
beside it, readable without decoding anything, the policy version of the segment's oldest step
(`policy_version`, decimal) and its number of steps (`steps`): the learner drops a stale entry
on the first field alone. Readers treat entries without them (older actors) by decoding.

`decode_segment` checks everything (magic, version, lengths, checksum, dtypes from a fixed
list, array names, shapes, offsets, finite floats) and raises SegmentError naming the problem;
it never evaluates anything from the input. The values of the observation arrays (index ranges,
masks) are checked by `Encoder.validate`, which knows what they mean.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MAGIC = b"TLRS"
FORMAT_VERSION = 1
STREAM_FIELD = b"segment"  # field of a rollout stream entry that holds the encoded segment
VERSION_FIELD = b"policy_version"  # ... the policy version of the segment's oldest step
STEPS_FIELD = b"steps"  # ... the segment's steps
_FLAG_ZLIB = 1
_PREFIX = struct.Struct("<4sBBHIII")
_MAX_HEADER = 1 << 20
_MAX_BODY = 1 << 30

# canonical in-memory dtypes of the per-step arrays besides the observation arrays
STEP_DTYPES: dict[str, np.dtype] = {
    "action": np.dtype(np.int32),
    "log_prob": np.dtype(np.float32),
    "value": np.dtype(np.float32),
    "reward": np.dtype(np.float32),
    "done": np.dtype(np.bool_),
    "policy_version": np.dtype(np.int64),
}
_STORED_DTYPES = frozenset({"|b1", "|u1", "|i1", "<i2", "<u2", "<i4", "<i8", "<f4"})


class SegmentError(ValueError):
    """Input that is not a valid encoded segment (corrupt, truncated, or from another encoder)."""


@dataclass
class Segment:
    observations: dict[str, np.ndarray]
    action: np.ndarray
    log_prob: np.ndarray
    value: np.ndarray
    reward: np.ndarray
    done: np.ndarray
    policy_version: np.ndarray
    bootstrap_value: float = 0.0
    encoder: dict[str, int] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        return int(self.reward.shape[0])

    def step_arrays(self) -> dict[str, np.ndarray]:
        return {
            "action": self.action,
            "log_prob": self.log_prob,
            "value": self.value,
            "reward": self.reward,
            "done": self.done,
            "policy_version": self.policy_version,
        }


def _narrow(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.bool_:
        return array.astype(np.uint8)
    if array.dtype.kind in "iu":
        if array.size == 0:
            return array.astype(np.int8)
        low, high = int(array.min()), int(array.max())
        for candidate in (np.uint8, np.int8, np.uint16, np.int16, np.int32, np.int64):
            info = np.iinfo(candidate)
            if info.min <= low and high <= info.max:
                return array.astype(candidate)
    if array.dtype.kind == "f":
        return array.astype(np.float32)
    raise SegmentError(f"cannot encode array of dtype {array.dtype}")


def stream_entry(segment: Segment, compress: bool = True) -> dict[bytes, bytes]:
    """The fields of the segment's rollout stream entry (see the module)."""
    return {
        STREAM_FIELD: encode_segment(segment, compress),
        VERSION_FIELD: str(int(segment.policy_version.min())).encode(),
        STEPS_FIELD: str(segment.steps).encode(),
    }


def entry_version(fields: dict[bytes, bytes]) -> int | None:
    """The oldest step's policy version an entry announces; None when it announces none (or
    nothing readable: the decoded segment then says)."""
    raw = fields.get(VERSION_FIELD)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        return None


def encode_segment(segment: Segment, compress: bool = True, level: int = 3) -> bytes:
    arrays = {**{f"obs/{k}": v for k, v in segment.observations.items()}, **segment.step_arrays()}
    steps = segment.steps
    descriptors, chunks, offset = [], [], 0
    for name, array in arrays.items():
        array = np.asarray(array)
        if array.ndim == 0 or array.shape[0] != steps:
            raise SegmentError(f"array {name} has shape {array.shape}, expected {steps} steps first")
        stored = _narrow(array)
        stored = np.ascontiguousarray(stored.astype(stored.dtype.newbyteorder("<"), copy=False))
        data = stored.tobytes()
        descriptors.append([name, stored.dtype.str, list(stored.shape), offset, len(data)])
        chunks.append(data)
        offset += len(data)
    body = b"".join(chunks)
    flags = 0
    if compress:
        body = zlib.compress(body, level)
        flags |= _FLAG_ZLIB
    header = json.dumps(
        {
            "steps": steps,
            "raw_body": offset,
            "bootstrap_value": float(segment.bootstrap_value),
            "encoder": segment.encoder,
            "meta": segment.meta,
            "arrays": descriptors,
        },
        separators=(",", ":"),
        allow_nan=False,
    ).encode()
    crc = zlib.crc32(body, zlib.crc32(header))
    return _PREFIX.pack(MAGIC, FORMAT_VERSION, flags, 0, len(header), len(body), crc) + header + body


def decode_segment(
    data: bytes,
    observation_dtypes: dict[str, np.dtype] | None = None,
    expect_encoder: dict[str, int] | None = None,
) -> Segment:
    """Bytes -> Segment, validated; `observation_dtypes` (name -> dtype, e.g. from
    `Encoder.dtypes()`) fixes which observation arrays must be present and their in-memory types;
    `expect_encoder` refuses segments encoded with other slot counts."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise SegmentError(f"segment must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < _PREFIX.size:
        raise SegmentError(f"segment of {len(data)} bytes is shorter than its {_PREFIX.size}-byte prefix")
    magic, version, flags, _, header_len, body_len, crc = _PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise SegmentError(f"not a rollout segment (magic {magic!r}, expected {MAGIC!r})")
    if version != FORMAT_VERSION:
        raise SegmentError(f"segment format version {version} is not supported (expected {FORMAT_VERSION})")
    if header_len > _MAX_HEADER or body_len > _MAX_BODY:
        raise SegmentError(f"segment header/body lengths {header_len}/{body_len} exceed the limits")
    if len(data) != _PREFIX.size + header_len + body_len:
        raise SegmentError(
            f"segment is {len(data)} bytes, its prefix announces "
            f"{_PREFIX.size + header_len + body_len} (truncated or padded)"
        )
    header_bytes = data[_PREFIX.size : _PREFIX.size + header_len]
    body = data[_PREFIX.size + header_len :]
    if zlib.crc32(body, zlib.crc32(header_bytes)) != crc:
        raise SegmentError("segment checksum mismatch (corrupt data)")
    try:
        header = json.loads(header_bytes)
        steps = int(header["steps"])
        raw_body = int(header["raw_body"])
        descriptors = header["arrays"]
        bootstrap = float(header["bootstrap_value"])
        encoder = {str(k): int(v) for k, v in dict(header["encoder"]).items()}
        meta = dict(header["meta"])
    except (ValueError, KeyError, TypeError) as e:
        raise SegmentError(f"segment header is malformed: {e!r}") from e
    if steps < 1 or not math.isfinite(bootstrap):
        raise SegmentError(f"segment has {steps} steps and bootstrap value {bootstrap}")
    if raw_body > _MAX_BODY:
        raise SegmentError(f"segment body of {raw_body} bytes exceeds the limit")
    if expect_encoder is not None and encoder != expect_encoder:
        raise SegmentError(f"segment was encoded with {encoder}, this learner expects {expect_encoder}")
    if flags & _FLAG_ZLIB:
        try:
            inflater = zlib.decompressobj()
            body = inflater.decompress(body, raw_body + 1)
        except zlib.error as e:
            raise SegmentError(f"segment body does not decompress: {e}") from e
    if len(body) != raw_body:
        raise SegmentError(f"segment body is {len(body)} bytes, header says {raw_body}")

    arrays: dict[str, np.ndarray] = {}
    expected_offset = 0
    for descriptor in descriptors:
        try:
            name, dtype_str, shape, offset, nbytes = descriptor
            shape = tuple(int(s) for s in shape)
        except (ValueError, TypeError) as e:
            raise SegmentError(f"bad array descriptor {descriptor!r}") from e
        if dtype_str not in _STORED_DTYPES:
            raise SegmentError(f"array {name!r} has unsupported dtype {dtype_str!r}")
        dtype = np.dtype(dtype_str)
        if not shape or shape[0] != steps or any(s < 0 for s in shape):
            raise SegmentError(f"array {name!r} has shape {shape}, expected {steps} steps first")
        if offset != expected_offset or nbytes != math.prod(shape) * dtype.itemsize:
            raise SegmentError(f"array {name!r} descriptor is inconsistent (offset {offset}, {nbytes} bytes)")
        if name in arrays:
            raise SegmentError(f"array {name!r} appears twice")
        arrays[name] = np.frombuffer(body, dtype=dtype, count=math.prod(shape), offset=offset).reshape(shape)
        expected_offset += nbytes
    if expected_offset != raw_body:
        raise SegmentError(f"arrays cover {expected_offset} of {raw_body} body bytes")

    step_arrays = {}
    for name, dtype in STEP_DTYPES.items():
        if name not in arrays:
            raise SegmentError(f"segment lacks array {name!r}")
        step_arrays[name] = arrays.pop(name).astype(dtype)
    observations = {}
    for name in list(arrays):
        if not name.startswith("obs/"):
            raise SegmentError(f"segment has unknown array {name!r}")
        observations[name[4:]] = arrays.pop(name)
    if observation_dtypes is not None:
        missing = set(observation_dtypes) - set(observations)
        extra = set(observations) - set(observation_dtypes)
        if missing or extra:
            raise SegmentError(
                f"segment observation arrays differ: missing {sorted(missing)}, unknown {sorted(extra)}"
            )
        observations = {k: observations[k].astype(observation_dtypes[k]) for k in observation_dtypes}
    for name in ("log_prob", "value", "reward"):
        if not np.isfinite(step_arrays[name]).all():
            raise SegmentError(f"segment array {name!r} holds non-finite values")
    if step_arrays["log_prob"].max() > 1e-3:
        raise SegmentError("segment log-probabilities must be <= 0")
    action = step_arrays["action"]
    if action.ndim != 2:
        raise SegmentError(f"segment actions have shape {action.shape}, expected (steps, options)")
    if expect_encoder is not None:
        slots = expect_encoder.get("max_options", action.shape[1])
        limit = max(slots, expect_encoder.get("max_block_targets", 0))
        if action.shape[1] != slots or action.min() < 0 or action.max() >= limit:
            raise SegmentError(
                f"segment actions (shape {action.shape}, values {action.min()}..{action.max()}) "
                f"do not fit {slots} option slots"
            )
    return Segment(
        observations=observations, bootstrap_value=bootstrap, encoder=encoder, meta=meta, **step_arrays
    )
