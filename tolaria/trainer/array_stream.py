"""Numpy arrays streamed to and from one safetensors file, straight from and into the arrays'
memory.

`safetensors.numpy.save` copies every array into bytes and then joins the copies into one more:
for a warm start's watched decisions, gigabytes, that is three times the decisions held at once
(BENCHMARKS.md). `SafetensorsStream` is a seekable binary file whose bytes are that format, the
header first, then each array's bytes read from the array itself, so a store can write or upload
it in chunks while the arrays stay the only copy. What it yields loads with safetensors' own
readers.

Reading back, `safetensors.numpy.load` needs the file's bytes whole and copies each array out of
them: the decisions held twice. `SafetensorsReader` reads the header from a binary stream (a
file, an S3 object's body), then each array's bytes straight into an array of its own, a chunk at
a time.
"""

from __future__ import annotations

import io
import json
import math
from typing import BinaryIO

import numpy as np

# The safetensors names of the dtypes the encoder and the warm start use.
_DTYPES = {
    np.dtype(np.float16): "F16",
    np.dtype(np.float32): "F32",
    np.dtype(np.float64): "F64",
    np.dtype(np.int8): "I8",
    np.dtype(np.int16): "I16",
    np.dtype(np.int32): "I32",
    np.dtype(np.int64): "I64",
    np.dtype(np.uint8): "U8",
    np.dtype(np.bool_): "BOOL",
}
_NUMPY_DTYPES = {name: dtype for dtype, name in _DTYPES.items()}
_CHUNK = 16 << 20  # bytes read at a time from a stream without readinto
# A header names each array with its dtype, shape and offsets: kilobytes. A larger length is not
# a safetensors file (or a truncated one's data), and would be allocated before being refused.
_HEADER_LIMIT = 100 << 20


class SafetensorsStream(io.RawIOBase):
    """`arrays` (C-contiguous, little-endian) and string `metadata` as a safetensors file."""

    def __init__(self, arrays: dict[str, np.ndarray], metadata: dict[str, str]):
        super().__init__()
        header: dict[str, object] = {"__metadata__": metadata}
        parts: list[memoryview] = []
        offset = 0
        for name, array in arrays.items():
            if array.dtype not in _DTYPES or not array.flags.c_contiguous or array.dtype.byteorder == ">":
                raise ValueError(f"array {name!r} ({array.dtype}) cannot be streamed as safetensors")
            header[name] = {
                "dtype": _DTYPES[array.dtype],
                "shape": list(array.shape),
                "data_offsets": [offset, offset + array.nbytes],
            }
            parts.append(memoryview(array.reshape(-1)).cast("B"))
            offset += array.nbytes
        text = json.dumps(header, separators=(",", ":")).encode()
        text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned, as safetensors writes it
        parts.insert(0, memoryview(len(text).to_bytes(8, "little") + text))
        self._parts = [part for part in parts if len(part)]
        self._starts = np.cumsum([0] + [len(part) for part in self._parts])
        self._position = 0

    @property
    def size(self) -> int:
        return int(self._starts[-1])

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self._position = base + offset
        return self._position

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        target = memoryview(buffer).cast("B")
        written = 0
        while written < len(target) and self._position < self.size:
            part = int(np.searchsorted(self._starts, self._position, side="right")) - 1
            within = self._position - int(self._starts[part])
            chunk = self._parts[part][within : within + len(target) - written]
            target[written : written + len(chunk)] = chunk
            written += len(chunk)
            self._position += len(chunk)
        return written


class SafetensorsReader:
    """A safetensors file read from a binary `stream`: `metadata` from its header at once, then
    `arrays()` reads each array into memory of its own. Raises ValueError, naming the array where
    one is at fault, when the stream is not such a file or ends early."""

    def __init__(self, stream: BinaryIO):
        self._stream = stream
        length = int.from_bytes(_read(stream, 8, "the header's length"), "little")
        if length > _HEADER_LIMIT:
            raise ValueError(f"a header of {length} bytes: not a safetensors file")
        header = json.loads(_read(stream, length, "the header"))
        if not isinstance(header, dict):
            raise ValueError("the header is not a JSON object")
        metadata = header.pop("__metadata__", None) or {}
        if not isinstance(metadata, dict):
            raise ValueError("the header's __metadata__ is not a JSON object")
        self.metadata: dict[str, str] = metadata
        for name, entry in header.items():
            _check_entry(name, entry)
        self._entries = sorted(header.items(), key=lambda item: item[1]["data_offsets"][0])

    def arrays(self) -> dict[str, np.ndarray]:
        arrays, position = {}, 0
        for name, entry in self._entries:
            if entry["dtype"] not in _NUMPY_DTYPES:
                raise ValueError(f"array {name!r}: dtype {entry['dtype']!r} is not one Tolaria writes")
            start, end = entry["data_offsets"]
            if start != position:
                raise ValueError(f"array {name!r} starts at byte {start} of the data, not {position}")
            dtype = _NUMPY_DTYPES[entry["dtype"]]
            # checked before allocating: a corrupt shape must not ask for terabytes
            if math.prod(entry["shape"]) * dtype.itemsize != end - start:
                raise ValueError(f"array {name!r}: {end - start} bytes for shape {entry['shape']}")
            array = np.empty(entry["shape"], dtype)
            _read_into(self._stream, memoryview(array.reshape(-1)).cast("B"), f"array {name!r}")
            arrays[name] = array
            position = end
        return arrays


def _check_entry(name: str, entry: object) -> None:
    """ValueError naming `name` unless `entry` is a header's description of an array."""
    if not (
        isinstance(entry, dict)
        and isinstance(entry.get("dtype"), str)
        and isinstance(shape := entry.get("shape"), list)
        and all(isinstance(size, int) and size >= 0 for size in shape)
        and isinstance(offsets := entry.get("data_offsets"), list)
        and len(offsets) == 2
        and all(isinstance(offset, int) and offset >= 0 for offset in offsets)
    ):
        raise ValueError(f"array {name!r}: {entry!r} is not a dtype, a shape and two data offsets")


def _read(stream: BinaryIO, size: int, what: str) -> bytes:
    buffer = bytearray(size)
    _read_into(stream, memoryview(buffer), what)
    return bytes(buffer)


def _read_into(stream: BinaryIO, target: memoryview, what: str) -> None:
    """Fills `target` from `stream` (readinto where the stream has it: no chunk copied)."""
    readinto = getattr(stream, "readinto", None)
    filled = 0
    while filled < len(target):
        if readinto is not None:
            count = readinto(target[filled : filled + _CHUNK])
        else:
            chunk = stream.read(min(_CHUNK, len(target) - filled))
            count = len(chunk)
            target[filled : filled + count] = chunk
        if not count:
            raise ValueError(f"the file ends within {what}")
        filled += count
