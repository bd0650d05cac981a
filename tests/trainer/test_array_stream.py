"""Arrays streamed as a safetensors file: safetensors' own reader and ours read them back exactly."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from safetensors.numpy import load

from tolaria.trainer.array_stream import SafetensorsReader, SafetensorsStream
from tolaria.trainer.checkpoint import open_store

ARRAYS = {
    "obs/card_feat": np.arange(2 * 3 * 5, dtype=np.float16).reshape(2, 3, 5) / 10,
    "obs/card_mask": np.array([[True, False, True], [False, False, True]]),
    "obs/card_name": np.arange(6, dtype=np.int32).reshape(2, 3) - 3,
    "actions": np.array([[0, 1], [1, 0]], np.int64),
    "returns": np.array([1.0, -0.99], np.float32),
    "none": np.zeros((0, 4), np.float32),
}


def assert_read_back(data: bytes) -> None:
    back = load(data)
    assert sorted(back) == sorted(ARRAYS)
    for name, array in ARRAYS.items():
        assert back[name].dtype == array.dtype and back[name].shape == array.shape, name
        np.testing.assert_array_equal(back[name], array, err_msg=name)


def test_streamed_arrays_read_back_exactly_with_their_metadata_whatever_the_chunks():
    for chunk in (1, 7, 64, 1 << 20):
        stream = SafetensorsStream(ARRAYS, {"tolaria": json.dumps({"fingerprint": "f"})})
        data = b"".join(iter(lambda s=stream, c=chunk: s.read(c), b""))
        assert len(data) == stream.size
        assert_read_back(data)
        header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])
        assert json.loads(header["__metadata__"]["tolaria"]) == {"fingerprint": "f"}
        assert (8 + int.from_bytes(data[:8], "little")) % 8 == 0


def test_a_stream_seeks_as_a_file_does():
    stream = SafetensorsStream(ARRAYS, {})
    whole = stream.read()
    assert stream.read() == b""
    assert stream.seek(-10, io.SEEK_END) == len(whole) - 10 and stream.read() == whole[-10:]
    stream.seek(3)
    assert stream.read(20) == whole[3:23] and stream.tell() == 23
    assert stream.seek(5, io.SEEK_CUR) == 28 and stream.read(4) == whole[28:32]
    with pytest.raises(ValueError, match="negative"):
        stream.seek(-1)


def test_arrays_that_are_not_plain_memory_are_refused_by_name():
    with pytest.raises(ValueError, match="'strided'"):
        SafetensorsStream({"strided": np.zeros((4, 4), np.float32)[:, ::2]}, {})
    with pytest.raises(ValueError, match="'text'"):
        SafetensorsStream({"text": np.array(["a"])}, {})


class ChunkedBody:
    """A stream with read(n) only, giving at most `chunk` bytes a call (as an HTTP body may)."""

    def __init__(self, data: bytes, chunk: int):
        self.data, self.chunk, self.position = data, chunk, 0

    def read(self, size: int = -1) -> bytes:
        size = min(size if size >= 0 else len(self.data), self.chunk)
        part = self.data[self.position : self.position + size]
        self.position += len(part)
        return part


def assert_read_exactly(arrays: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert list(arrays) == list(expected)
    for name, array in expected.items():
        assert arrays[name].dtype == array.dtype and arrays[name].shape == array.shape, name
        np.testing.assert_array_equal(arrays[name], array, err_msg=name)
        assert arrays[name].flags.writeable and arrays[name].flags.owndata, name


def test_our_reader_reads_a_streamed_file_back_exactly_from_any_stream():
    data = SafetensorsStream(ARRAYS, {"tolaria": "meta"}).read()
    for stream in (io.BytesIO(data), ChunkedBody(data, 1), ChunkedBody(data, 7), ChunkedBody(data, 1 << 20)):
        reader = SafetensorsReader(stream)
        assert reader.metadata == {"tolaria": "meta"}
        assert_read_exactly(reader.arrays(), ARRAYS)


def test_a_file_that_is_not_one_or_ends_early_is_refused_naming_where():
    data = SafetensorsStream(ARRAYS, {}).read()
    with pytest.raises(ValueError, match="within array 'returns'"):
        SafetensorsReader(io.BytesIO(data[:-4])).arrays()
    with pytest.raises(ValueError, match="within the header"):
        SafetensorsReader(io.BytesIO(data[:20]))
    with pytest.raises(ValueError, match="not a safetensors file"):
        SafetensorsReader(io.BytesIO(b"\xff" * 64))

    def file(header: dict) -> io.BytesIO:
        text = json.dumps(header).encode()
        return io.BytesIO(len(text).to_bytes(8, "little") + text + bytes(8))

    with pytest.raises(ValueError, match="array 'x': dtype 'C64'"):
        SafetensorsReader(file({"x": {"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}})).arrays()
    with pytest.raises(ValueError, match=r"array 'x': .* is not a dtype, a shape and two data offsets"):
        SafetensorsReader(file({"x": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 8]}}))
    with pytest.raises(ValueError, match="array 'y': 3 is not"):
        SafetensorsReader(file({"y": 3}))
    with pytest.raises(ValueError, match="array 'x': 8 bytes for shape"):
        SafetensorsReader(file({"x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})).arrays()
    # a corrupt shape is refused before anything is allocated for it
    with pytest.raises(ValueError, match="array 'x': 8 bytes for shape"):
        SafetensorsReader(
            file({"x": {"dtype": "F64", "shape": [1 << 40, 1 << 20], "data_offsets": [0, 8]}})
        ).arrays()


def test_a_file_store_writes_a_streamed_object_whole_and_opens_it_to_read(tmp_path):
    store = open_store(f"file://{tmp_path}")
    store.put_object("arrays.safetensors", SafetensorsStream(ARRAYS, {}))
    assert_read_back(store.get_object("arrays.safetensors"))
    assert [p.name for p in tmp_path.iterdir()] == ["arrays.safetensors"]
    with store.open_object("arrays.safetensors") as stream:
        assert_read_exactly(SafetensorsReader(stream).arrays(), ARRAYS)
    assert store.open_object("absent.safetensors") is None


@pytest.mark.integration
def test_an_s3_store_uploads_a_streamed_object_larger_than_a_part_in_parts(s3_server):
    """Past boto3's multipart threshold (8 MB): uploaded in parts, read back whole."""
    large = {**ARRAYS, "large": np.random.default_rng(0).random((3, 1 << 20), np.float32)}
    store = open_store("s3://tolaria/runs/streamed")
    store.put_object("arrays.safetensors", SafetensorsStream(large, {}))
    head = s3_server.client().head_object(Bucket="tolaria", Key="runs/streamed/arrays.safetensors")
    assert head["ETag"].strip('"').endswith("-2")  # two parts
    back = load(store.get_object("arrays.safetensors"))
    np.testing.assert_array_equal(back["large"], large["large"])
    np.testing.assert_array_equal(back["obs/card_feat"], ARRAYS["obs/card_feat"])
    body = store.open_object("arrays.safetensors")
    try:
        assert_read_exactly(SafetensorsReader(body).arrays(), large)
    finally:
        body.close()
    assert store.open_object("absent.safetensors") is None


def test_saving_and_loading_a_warm_starts_games_holds_no_second_copy_of_them(tmp_path):
    """Measured in a process of its own: the peak resident memory while 600 MB of decisions are
    saved stays within a tenth of them above what the decisions themselves take; loaded back, in
    a fresh process, they raise the peak by themselves, within a tenth."""
    save = textwrap.dedent(
        f"""
        import numpy as np
        from tolaria.trainer.checkpoint import open_store
        from tolaria.trainer.config import NetworkConfig
        from tolaria.trainer.encoding import Encoder
        from tolaria.trainer.imitation import Demonstrations
        from tolaria.trainer.warm_progress import WarmStartProgress
        from tolaria.trainer.warm_start import WatchedGames

        encoder = Encoder(NetworkConfig.from_preset("small"))
        rows = 70_000
        observations = {{
            k: np.ones((rows, *v.shape[1:]), np.float16 if v.dtype == np.float32 else v.dtype)
            for k, v in encoder.empty(0).items()
        }}
        demos = Demonstrations(observations, np.ones((rows, encoder.max_options), np.int64), np.ones(rows, np.float32))
        watched = WatchedGames(demos, np.repeat(np.arange(rows // 100), 100), list(range(rows // 100)))
        held = sum(v.nbytes for v in observations.values()) + demos.actions.nbytes
        before = peak()
        WarmStartProgress(open_store("file://{tmp_path}"), "f").save_games(watched)
        after = peak()
        print(held, after - before)
        """
    )
    load = textwrap.dedent(
        f"""
        from tolaria.trainer.checkpoint import open_store
        from tolaria.trainer.warm_progress import WarmStartProgress

        before = peak()
        games = WarmStartProgress(open_store("file://{tmp_path}"), "f").load_games()
        after = peak()
        print(len(games), after - before)
        """
    )

    # The peak since the process's exec (VmHWM): getrusage's ru_maxrss would start from the peak of
    # the pytest process that started it, and a smaller one would read as no growth at all.
    peak = textwrap.dedent(
        """
        def peak():
            with open("/proc/self/status") as status:
                return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
        """
    )

    def measure(script: str) -> tuple[int, int]:
        done = subprocess.run(
            [sys.executable, "-c", peak + script],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ},
        )
        first, grown = map(int, done.stdout.split())
        return first, grown

    held, grown = measure(save)
    assert held > 500e6
    assert grown < 0.1 * held, (
        f"saving {held / 1e6:.0f} MB of decisions raised the peak by {grown / 1e6:.0f} MB"
    )
    games, grown = measure(load)
    assert games == 700
    assert 0.9 * held < grown < 1.1 * held, (
        f"loading {held / 1e6:.0f} MB of decisions raised the peak by {grown / 1e6:.0f} MB"
    )
