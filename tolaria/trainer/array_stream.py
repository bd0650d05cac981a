"""Numpy arrays read as one safetensors file, straight from the arrays' memory.

`safetensors.numpy.save` copies every array into bytes and then joins the copies into one more:
for a warm start's watched decisions, gigabytes, that is three times the decisions held at once
(BENCHMARKS.md). `SafetensorsStream` is a seekable binary file whose bytes are that format, the
header first, then each array's bytes read from the array itself, so a store can write or upload
it in chunks while the arrays stay the only copy. What it yields loads with safetensors' own
readers.
"""

from __future__ import annotations

import io
import json

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
