from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import torch

from tolaria.rollouts import Segment, SegmentError, decode_segment, encode_segment
from tolaria.trainer.config import NetworkConfig
from tolaria.trainer.encoding import Encoder
from tolaria.trainer.policy import PolicyNetwork
from tolaria.trainer.synthetic import PayloadFactory, synthetic_segment

CONFIG = NetworkConfig.from_preset("small")
ENCODER = Encoder(CONFIG)


@pytest.fixture(scope="module")
def segment() -> Segment:
    torch.manual_seed(0)
    return synthetic_segment(
        ENCODER, PolicyNetwork(CONFIG), PayloadFactory(2), steps=40, policy_version=3, outcome=-1.0
    )


@pytest.mark.parametrize("compress", [True, False])
def test_roundtrip_is_exact(segment, compress):
    data = encode_segment(segment, compress=compress)
    back = decode_segment(data, ENCODER.dtypes(), ENCODER.shape)
    assert back.steps == 40 and back.meta == segment.meta and back.encoder == ENCODER.shape
    for name, array in segment.observations.items():
        assert back.observations[name].dtype == array.dtype
        np.testing.assert_array_equal(back.observations[name], array)
    for name, array in segment.step_arrays().items():
        np.testing.assert_array_equal(getattr(back, name), array)
    ENCODER.validate(back.observations)


def test_compressed_segments_are_small(segment):
    per_decision = len(encode_segment(segment)) / segment.steps
    raw = sum(a.nbytes for a in segment.observations.values()) / segment.steps
    assert per_decision < raw / 5, (per_decision, raw)


def _flip(data: bytes, position: int) -> bytes:
    return data[:position] + bytes([data[position] ^ 0x40]) + data[position + 1 :]


def test_corrupt_input_raises_segment_error(segment):
    data = encode_segment(segment)
    with pytest.raises(SegmentError, match="magic"):
        decode_segment(b"\x80\x04\x95" + data[3:])
    with pytest.raises(SegmentError, match="truncated"):
        decode_segment(data[:-10])
    with pytest.raises(SegmentError, match="shorter"):
        decode_segment(b"TL")
    for position in (30, len(data) // 2, len(data) - 1):
        with pytest.raises(SegmentError, match="checksum"):
            decode_segment(_flip(data, position))
    with pytest.raises(SegmentError, match="expects"):
        decode_segment(data, ENCODER.dtypes(), dict(ENCODER.shape, max_cards=90))
    with pytest.raises(SegmentError, match="version"):
        decode_segment(data[:4] + b"\x09" + data[5:])


def test_consistent_but_lying_header_is_refused(segment):
    """A well-formed envelope (right checksum) around descriptors that do not add up."""
    data = encode_segment(segment, compress=False)
    prefix = struct.Struct("<4sBBHIII")
    magic, version, flags, _, header_len, body_len, _ = prefix.unpack_from(data)
    header = data[prefix.size : prefix.size + header_len].replace(b'"steps":40', b'"steps":41')
    body = data[prefix.size + header_len :]
    forged = prefix.pack(
        magic, version, flags, 0, len(header), body_len, zlib.crc32(body, zlib.crc32(header))
    )
    with pytest.raises(SegmentError, match="steps first"):
        decode_segment(forged + header + body)
