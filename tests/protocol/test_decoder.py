"""Decoding queued measurements: known answers, NaN/inf, mismatches, random round trips."""

from __future__ import annotations

import math
import struct
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st
import numpy as np
import pytest

from custom_components.flexscada.protocol import (
    BadLengthError,
    DecodedRows,
    Layout,
    LayoutMismatchError,
    MeasurementMeta,
    MeasurementPacket,
    build_measurement_packet,
    compile_layout,
    decode_rows,
    open_measurement_packet,
    parse_config,
    readings,
    seal,
)
from custom_components.flexscada.protocol.model import FieldKind

from .conftest import UID
from .strategies import CONFIGS


def _f32(value: float) -> int:
    return struct.unpack("<I", struct.pack("<f", value))[0]


def _packet(key: bytes, rows: bytes, count: int, stride: int, version: int) -> bytes:
    """Frame hand-made rows, independently of build_measurement_packet."""
    meta = struct.pack("<7I", 0, 1, version, count, stride, 1764000999, 0)
    return struct.pack("<I", UID) + seal(key, meta + rows)


def test_known_answer_hand_built_stream(key: bytes) -> None:
    """relay 1 [state, amperage], input 1 [avg], mfeed 0 (type 0): bits 0, 1..32, 33..64, 65."""
    raw = {
        "version": 9,
        "relays": {"1": {"logging": ["state", "amperage"]}},
        "inputs": {"1": {"logging": ["avg"]}},
        "mfeeds": [{"type": 0}],
    }
    layout = compile_layout(parse_config(raw))
    assert layout.payload_bits == 66
    # 1.0 = 0x3F800000 and -2.5 = 0xC0200000, so the payload integer is
    # 1 | 0x3F800000 << 1 | 0xC0200000 << 33 | 1 << 65, written out byte by byte (LSB first):
    #   byte 0: bit0 = 1 (state), bits 1-7 = low 7 bits of 0x3F800000 = 0      -> 0x01
    #   bytes 1-2: bits 8-23 -> bits 7-22 of 1.0 -> 0x00, 0x00
    #   byte 3: bits 24-31 -> bits 23-30 of 1.0 = 0x7F -> 0x7F
    #   byte 4: bit 32 = bit 31 of 1.0 = 0; bits 33-39 = low 7 bits of -2.5 = 0 -> 0x00
    #   bytes 5-6: bits 7-22 of -2.5 -> 0x00, 0x40 (bit 21 of -2.5 is bit 54 = byte 6 bit 6)
    #   byte 7: bits 23-30 of -2.5 = 0x80 -> 0x80
    #   byte 8: bit 64 = bit 31 of -2.5 = 1, bit 65 = mfeed state 1 -> 0x03
    payload = bytes([0x01, 0x00, 0x00, 0x7F, 0x00, 0x00, 0x40, 0x80, 0x03])
    assert payload == (1 | 0x3F800000 << 1 | 0xC0200000 << 33 | 1 << 65).to_bytes(9, "little")
    row = struct.pack("<I", 1764000000) + payload
    packet = open_measurement_packet(key, _packet(key, row, 1, 13, 9))
    decoded = decode_rows(layout, packet)
    assert decoded.latest() == {
        "relays.1.state": True,
        "relays.1.amperage": 1.0,
        "inputs.1.avg": -2.5,
        "mfeeds.0.state": True,
    }
    assert decoded.timestamps.tolist() == [1764000000]


def test_example_config_values(key: bytes, example_layout: Layout) -> None:
    values: dict[str, float | bool] = {}
    for index, field in enumerate(example_layout.fields):
        values[field.key] = index % 3 == 0 if field.kind is FieldKind.BIT else index + 0.25
    rows = [(1764000000, {}), (1764000060, values)]
    data = build_measurement_packet(key, UID, example_layout, rows, epoch=1764000100)
    decoded = decode_rows(example_layout, open_measurement_packet(key, data))
    assert len(decoded) == 2
    assert decoded.latest() == values
    assert list(decoded.latest()) == list(example_layout.keys)  # walk order
    assert decoded.row(0) == {
        key: (False if f.kind is FieldKind.BIT else 0.0)
        for key, f in ((f.key, f) for f in example_layout.fields)
    }
    assert decoded.row(-1) == values
    assert decoded.timestamp(1) == 1764000060
    assert decoded.timestamps.dtype == np.uint32
    assert list(decoded.rows()) == [(1764000000, decoded.row(0)), (1764000060, values)]
    assert decoded.column("inputs.2.avg").tolist() == [0.0, 13.25]
    assert decoded.column("relays.1.state").tolist() == [False, False]
    assert decoded.keys == example_layout.keys
    assert "rows=2" in repr(decoded)
    with pytest.raises(KeyError, match="logs no 'nope'"):
        decoded.column("nope")


def test_nan_and_inf_are_values(key: bytes, example_layout: Layout) -> None:
    values = {
        "inputs.1.avg": math.nan,
        "inputs.1.max": math.inf,
        "inputs.1.min": -math.inf,
        "mfeeds.1.value": 3.0,
    }
    data = build_measurement_packet(key, UID, example_layout, [(1, values)], epoch=2)
    latest = decode_rows(example_layout, open_measurement_packet(key, data)).latest()
    assert math.isnan(latest["inputs.1.avg"])
    assert latest["inputs.1.max"] == math.inf
    assert latest["inputs.1.min"] == -math.inf
    assert latest["mfeeds.1.value"] == 3.0


def test_float32_precision_kept(key: bytes, example_layout: Layout) -> None:
    data = build_measurement_packet(
        key, UID, example_layout, [(1, {"power_metrics.0.power factor": 0.97})], epoch=2
    )
    value = decode_rows(example_layout, open_measurement_packet(key, data)).latest()
    # The float32 nearest 0.97, unscaled and not rounded back to a "nice" double.
    assert value["power_metrics.0.power factor"] == struct.unpack("<f", struct.pack("<f", 0.97))[0]


def test_layout_needs_more_bits_than_rows_carry(key: bytes, example_layout: Layout) -> None:
    packet = open_measurement_packet(key, _packet(key, b"\0" * 2 * 80, 2, 80, 42))
    with pytest.raises(
        LayoutMismatchError, match="device config version 42 needs 617 payload bits"
    ):
        decode_rows(example_layout, packet)


def test_longer_rows_are_fine(key: bytes, example_layout: Layout) -> None:
    """Bits after the walk (plugins, padding) are ignored."""
    row = struct.pack("<I", 5) + b"\xff" * 100
    decoded = decode_rows(
        example_layout, open_measurement_packet(key, _packet(key, row, 1, 104, 42))
    )
    assert decoded.latest()["mfeeds.0.state"] is True
    assert math.isnan(decoded.latest()["inputs.1.avg"])  # all-ones is a NaN


def test_version_mismatch(key: bytes, example_layout: Layout) -> None:
    data = build_measurement_packet(key, UID, example_layout, [(1, {})], epoch=2, cfg_version=41)
    packet = open_measurement_packet(key, data)
    with pytest.raises(LayoutMismatchError, match="config version 41, the layout is of version 42"):
        decode_rows(example_layout, packet)
    assert len(decode_rows(example_layout, packet, check_version=False)) == 1


def test_empty_packet(key: bytes, example_layout: Layout) -> None:
    data = build_measurement_packet(key, UID, example_layout, [], epoch=2)
    decoded = decode_rows(example_layout, open_measurement_packet(key, data))
    assert len(decoded) == 0
    assert decoded.latest() == {}
    assert list(decoded.rows()) == []
    assert decoded.floats.shape == (0, 19)
    assert decoded.bits.shape == (0, 9)


@pytest.mark.parametrize(
    ("logging", "floats", "bits"),
    [([], 0, 0), (["state"], 0, 1), (["amperage"], 1, 0), (["power", "amperage"], 2, 0)],
)
def test_small_layouts(key: bytes, logging: list[str], floats: int, bits: int) -> None:
    layout = compile_layout(parse_config({"version": 1, "relays": {"1": {"logging": logging}}}))
    values = {f.key: (True if f.kind is FieldKind.BIT else 2.5) for f in layout.fields}
    data = build_measurement_packet(key, UID, layout, [(7, values)] * 3, epoch=9)
    decoded = decode_rows(layout, open_measurement_packet(key, data))
    assert decoded.floats.shape == (3, floats)
    assert decoded.bits.shape == (3, bits)
    assert [row for _, row in decoded.rows()] == [values] * 3


def test_inconsistent_hand_made_packet(example_layout: Layout) -> None:
    meta = MeasurementMeta(0, 0, 42, 2, 82, 0, 0)
    packet = MeasurementPacket(uid=1, meta=meta, rows=b"\0" * 100, row_stride=82)
    with pytest.raises(BadLengthError, match="100 row bytes are not 2 rows of 82 bytes"):
        decode_rows(example_layout, packet)


def test_plan_is_memoised_on_the_layout(example_layout: Layout) -> None:
    meta = MeasurementMeta(0, 0, 42, 1, 82, 0, 0)
    packet = MeasurementPacket(uid=1, meta=meta, rows=bytes(82), row_stride=82)
    first = decode_rows(example_layout, packet)
    assert len(example_layout.derived) == 1
    assert decode_rows(example_layout, packet).latest() == first.latest()
    assert len(example_layout.derived) == 1


def _reference(layout: Layout, row: bytes) -> dict[str, float | bool]:
    """Decode one row with readings.extract_field: the plain-integer reading of the notes."""
    payload = int.from_bytes(row[4:], "little")
    values: dict[str, float | bool] = {}
    for field in layout.fields:
        bits = readings.extract_field(payload, field.bit_offset, field.width)
        if field.kind is FieldKind.BIT:
            values[field.key] = bool(bits)
        else:
            values[field.key] = struct.unpack("<f", struct.pack("<I", bits))[0]
    return values


def _same(a: float | bool, b: float | bool) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return a == b and type(a) is type(b)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=CONFIGS, data=st.data())
def test_random_configs_round_trip(raw: dict[str, Any], data: st.DataObject) -> None:
    key = bytes(range(32))
    layout = compile_layout(parse_config(raw))
    count = data.draw(st.integers(0, 4), label="rows")
    rows: list[tuple[int, dict[str, float | bool]]] = []
    for _ in range(count):
        values: dict[str, float | bool] = {}
        for field in layout.fields:
            if data.draw(st.booleans()):
                values[field.key] = (
                    data.draw(st.booleans())
                    if field.kind is FieldKind.BIT
                    else data.draw(st.floats(width=32))
                )
        rows.append((data.draw(st.integers(0, 2**32 - 1)), values))
    packet = open_measurement_packet(key, build_measurement_packet(key, UID, layout, rows, epoch=0))
    decoded = decode_rows(layout, packet)
    for index, (timestamp, values) in enumerate(decoded.rows()):
        assert timestamp == rows[index][0]
        for field in layout.fields:
            sent = rows[index][1].get(field.key, False if field.kind is FieldKind.BIT else 0.0)
            assert _same(sent, values[field.key]), (field.key, sent, values[field.key])
        stride = packet.row_stride
        expected = _reference(layout, packet.rows[index * stride : (index + 1) * stride])
        assert all(_same(expected[k], values[k]) for k in expected)


@settings(max_examples=150, deadline=None)
@given(raw=CONFIGS, data=st.data())
def test_vectorised_decoder_matches_reference_on_random_bits(
    raw: dict[str, Any], data: st.DataObject
) -> None:
    """Arbitrary row bytes, wider rows than needed: the numpy path equals extract_field."""
    layout = compile_layout(parse_config(raw))
    count = data.draw(st.integers(1, 5))
    stride = 4 + layout.payload_bytes + data.draw(st.integers(0, 9))
    rows = data.draw(st.binary(min_size=count * stride, max_size=count * stride))
    meta = MeasurementMeta(0, 0, layout.version, count, stride, 0, 0)
    decoded = decode_rows(layout, MeasurementPacket(uid=1, meta=meta, rows=rows, row_stride=stride))
    assert isinstance(decoded, DecodedRows)
    for index in range(count):
        expected = _reference(layout, rows[index * stride : (index + 1) * stride])
        got = decoded.row(index)
        assert got.keys() == expected.keys()
        assert all(_same(expected[k], got[k]) for k in expected)
        assert decoded.timestamp(index) == struct.unpack_from("<I", rows, index * stride)[0]
