"""Measurement and config upload packets."""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import pytest

from custom_components.flexscada.protocol import (
    MAX_CONFIG_PACKET_BYTES,
    MAX_MEASUREMENT_PACKET_BYTES,
    BadConfigError,
    BadLengthError,
    IntegrityError,
    Layout,
    MeasurementMeta,
    TruncatedPacketError,
    build_config_packet,
    build_measurement_packet,
    encode_payload,
    open_config_packet,
    open_measurement_packet,
    peek_uid,
    seal,
)

from .conftest import UID


def _meta(count: int, size: int, cfg_version: int = 42) -> bytes:
    return struct.pack("<7I", 1, 2, cfg_version, count, size, 1764000000, 9)


def test_peek_uid(key: bytes, example_layout: Layout) -> None:
    packet = build_measurement_packet(key, UID, example_layout, [], epoch=0)
    assert peek_uid(packet) == UID
    assert peek_uid(memoryview(packet)) == UID
    assert peek_uid(b"\x01\x00\x00\x00") == 1
    with pytest.raises(TruncatedPacketError, match="3 bytes cannot hold the 4-byte uid"):
        peek_uid(b"abc")


def test_round_trip_meta_and_rows(key: bytes, example_layout: Layout) -> None:
    rows = [(1764000000 + 60 * i, {"relays.1.state": i % 2 == 1}) for i in range(5)]
    data = build_measurement_packet(
        key,
        UID,
        example_layout,
        rows,
        flags=3,
        fw_version=1042,
        epoch=1764000400,
        last_cmd_id_ack=17,
    )
    packet = open_measurement_packet(key, data)
    assert packet.uid == UID
    assert packet.meta == MeasurementMeta(
        flags=3,
        fw_version=1042,
        cfg_version=42,
        measurement_count=5,
        measurement_size=82,
        epoch=1764000400,
        last_cmd_id_ack=17,
    )
    assert packet.row_stride == 4 + 78
    assert len(packet.rows) == 5 * 82
    assert len(packet) == 5
    assert packet.rows[82:86] == struct.pack("<I", 1764000060)
    # relays.1.state sits at payload bit 67: row byte 4 + 8, bit 3
    assert [packet.rows[i * 82 + 12] >> 3 & 1 for i in range(5)] == [0, 1, 0, 1, 0]


def test_cfg_version_override(key: bytes, example_layout: Layout) -> None:
    data = build_measurement_packet(key, UID, example_layout, [], epoch=0, cfg_version=7)
    assert open_measurement_packet(key, data).meta.cfg_version == 7


def test_measurement_size_without_timestamp(key: bytes, example_layout: Layout) -> None:
    rows = [(i, {}) for i in range(10)]
    data = build_measurement_packet(key, UID, example_layout, rows, epoch=0, measurement_size=78)
    packet = open_measurement_packet(key, data)
    assert packet.meta.measurement_size == 78
    assert packet.row_stride == 82
    assert len(packet.rows) == 820


@pytest.mark.parametrize(
    ("count", "size", "payload", "stride"),
    [
        (0, 0, b"", 4),  # nothing queued: a size below 4 cannot include the timestamp
        (0, 82, b"", 82),
        (2, 10, b"r" * 20, 10),
        (2, 6, b"r" * 20, 10),  # the device did not count the timestamp
        (1, 10, b"r" * 10 + b" " * 5, 10),  # the device padded with spaces, seal() with NULs
        (3, 6, b"r" * 18, 6),
        (3, 6, b"r" * 24, 10),  # 6 would leave 18 bytes: too many for padding
        (2, 6, b"r" * 12 + b"\0" * 8, 6),  # ambiguous: both fit, the notes' first reading wins
    ],
)
def test_row_stride_rule(key: bytes, count: int, size: int, payload: bytes, stride: int) -> None:
    data = struct.pack("<I", UID) + seal(key, _meta(count, size) + payload)
    packet = open_measurement_packet(key, data)
    assert packet.row_stride == stride
    assert len(packet.rows) == count * stride


@pytest.mark.parametrize(
    ("count", "size", "payload"),
    [(3, 10, b"r" * 20), (1, 10, b"r" * 30), (0, 10, b"r" * 16), (2**32 - 1, 2**32 - 1, b"")],
)
def test_row_counts_that_do_not_fit(key: bytes, count: int, size: int, payload: bytes) -> None:
    data = struct.pack("<I", UID) + seal(key, _meta(count, size) + payload)
    with pytest.raises(BadLengthError, match=f"measurementCount {count} x measurementSize {size}"):
        open_measurement_packet(key, data)


def test_meta_truncated(key: bytes) -> None:
    data = struct.pack("<I", UID) + seal(key, b"\1" * 16)
    with pytest.raises(TruncatedPacketError, match="16 decrypted bytes cannot hold the 28 bytes"):
        open_measurement_packet(key, data)


def test_wrong_key_and_oversize(key: bytes, example_layout: Layout) -> None:
    data = build_measurement_packet(key, UID, example_layout, [(1, {})], epoch=0)
    with pytest.raises(IntegrityError):
        open_measurement_packet(b"\0" * 32, data)
    with pytest.raises(BadLengthError, match="over the 16777216-byte limit"):
        open_measurement_packet(key, b"\0" * (MAX_MEASUREMENT_PACKET_BYTES + 1))


def test_encode_payload(example_layout: Layout) -> None:
    assert encode_payload(example_layout, {}) == b"\0" * 78
    payload = encode_payload(example_layout, {"relays.1.amperage": 1.0, "relays.1.fuse": True})
    assert payload[:5] == bytes.fromhex("0000803f01")
    with pytest.raises(ValueError, match=r"config version 42 logs no \['bogus'\]"):
        encode_payload(example_layout, {"bogus": 1.0})


@pytest.mark.parametrize(
    ("value", "bits"),
    [(1e39, 0x7F800000), (-1e39, 0xFF800000), (math.inf, 0x7F800000), (math.nan, 0x7FC00000)],
)
def test_encode_out_of_range_floats(example_layout: Layout, value: float, bits: int) -> None:
    payload = encode_payload(example_layout, {"relays.1.amperage": value})
    assert struct.unpack_from("<I", payload)[0] == bits


def test_config_packet_round_trip(key: bytes, example_raw: dict[str, Any]) -> None:
    config = open_config_packet(key, build_config_packet(key, example_raw))
    assert config.version == 42
    assert config.raw == example_raw
    text = json.dumps(example_raw, indent=2)
    assert open_config_packet(key, build_config_packet(key, text)).raw == example_raw


def test_config_packet_padded_with_spaces(key: bytes) -> None:
    data = seal(key, b'{"version": 3}' + b" " * 18)
    assert open_config_packet(key, data).version == 3


@pytest.mark.parametrize(
    ("plaintext", "message"),
    [(b"not json", "not valid JSON"), (b"[]", "not an object"), (b"\x80", "not UTF-8")],
)
def test_bad_config_packet(key: bytes, plaintext: bytes, message: str) -> None:
    with pytest.raises(BadConfigError, match=message):
        open_config_packet(key, seal(key, plaintext))


def test_config_packet_oversize(key: bytes) -> None:
    with pytest.raises(BadLengthError, match="config packet"):
        open_config_packet(key, b"\0" * (MAX_CONFIG_PACKET_BYTES + 1))
