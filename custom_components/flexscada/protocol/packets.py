"""Measurement and config upload packets: opening them (server side) and building them (device)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
import json
import math
from typing import Any

from .config import parse_config
from .config_json import MAX_CONFIG_BYTES
from .crypto import seal, unseal
from .errors import BadLengthError, TruncatedPacketError
from .model import DeviceConfig, FieldKind, Layout
from .readings import (
    AES_HEADER_SIZE,
    F32,
    MEASUREMENT_META,
    TIMESTAMP_SIZE,
    U32,
    UID_SIZE,
    measurement_row_stride,
)

#: Largest measurement upload we open (a 10,000-row backlog of ~110 metrics is ~3.4 MB).
MAX_MEASUREMENT_PACKET_BYTES = 16 * 1024 * 1024
#: Largest config upload we open: the AES header plus the largest config text we parse.
MAX_CONFIG_PACKET_BYTES = AES_HEADER_SIZE + MAX_CONFIG_BYTES
#: Bytes of meta fields at the start of a measurement packet's plaintext.
MEASUREMENT_META_SIZE = MEASUREMENT_META.size


@dataclass(frozen=True, slots=True)
class MeasurementMeta:
    """The seven uint32 meta fields of a measurement upload."""

    flags: int
    fw_version: int
    cfg_version: int
    measurement_count: int
    measurement_size: int
    epoch: int
    last_cmd_id_ack: int


@dataclass(frozen=True, slots=True)
class MeasurementPacket:
    """An opened measurement upload: the queued rows are still packed bytes."""

    uid: int
    meta: MeasurementMeta
    #: Exactly measurement_count * row_stride bytes, oldest row first.
    rows: bytes
    #: Bytes per row, the 4-byte timestamp included (see readings.measurement_row_stride).
    row_stride: int

    def __len__(self) -> int:
        return self.meta.measurement_count


def _check_size(data: bytes | memoryview, limit: int, what: str) -> None:
    if len(data) > limit:
        raise BadLengthError(f"a {what} of {len(data)} bytes is over the {limit}-byte limit")


def peek_uid(data: bytes | memoryview) -> int:
    """Return the clear uid of a measurement upload (no key needed), to find the device."""
    if len(data) < UID_SIZE:
        raise TruncatedPacketError(f"{len(data)} bytes cannot hold the {UID_SIZE}-byte uid")
    uid: int = U32.unpack_from(data)[0]
    return uid


def open_measurement_packet(key: bytes, data: bytes | memoryview) -> MeasurementPacket:
    """Verify and decrypt a measurement upload and split it into meta fields and packed rows."""
    _check_size(data, MAX_MEASUREMENT_PACKET_BYTES, "measurement packet")
    uid = peek_uid(data)
    plaintext = unseal(key, memoryview(data)[UID_SIZE:])
    if len(plaintext) < MEASUREMENT_META_SIZE:
        raise TruncatedPacketError(
            f"{len(plaintext)} decrypted bytes cannot hold the {MEASUREMENT_META_SIZE} bytes "
            "of meta fields"
        )
    meta = MeasurementMeta(*MEASUREMENT_META.unpack_from(plaintext))
    body = memoryview(plaintext)[MEASUREMENT_META_SIZE:]
    count, size = meta.measurement_count, meta.measurement_size
    stride = measurement_row_stride(count, size, body)
    if stride is None:
        raise BadLengthError(
            f"measurementCount {count} x measurementSize {size} (or {size + TIMESTAMP_SIZE} with "
            f"the timestamp) does not account for the {len(body)} bytes after the meta fields "
            "(rows, then fewer than 16 bytes of NUL/space padding)"
        )
    rows = plaintext[MEASUREMENT_META_SIZE : MEASUREMENT_META_SIZE + count * stride]
    return MeasurementPacket(uid=uid, meta=meta, rows=rows, row_stride=stride)


def _float_bits(value: float) -> int:
    """Return the IEEE-754 single bits of `value`; out-of-range values become +-inf (a C cast)."""
    try:
        packed = F32.pack(value)
    except OverflowError:
        packed = F32.pack(math.copysign(math.inf, value))
    bits: int = U32.unpack(packed)[0]
    return bits


def encode_payload(layout: Layout, values: Mapping[str, float | bool]) -> bytes:
    """Return one measurement's bit-packed payload (device side); missing values are 0/False."""
    unknown = values.keys() - set(layout.keys)
    if unknown:
        raise ValueError(f"config version {layout.version} logs no {sorted(unknown)}")
    packed = 0
    for field in layout.fields:
        value = values.get(field.key)
        if value is None:
            continue
        bits = (1 if value else 0) if field.kind is FieldKind.BIT else _float_bits(float(value))
        packed |= bits << field.bit_offset
    return packed.to_bytes(layout.payload_bytes, "little")


def build_measurement_packet(
    key: bytes,
    uid: int,
    layout: Layout,
    rows: Sequence[tuple[int, Mapping[str, float | bool]]],
    *,
    flags: int = 0,
    fw_version: int = 0,
    cfg_version: int | None = None,
    epoch: int,
    last_cmd_id_ack: int = 0,
    measurement_size: int | None = None,
) -> bytes:
    """Return a sealed measurement upload as the device sends it (for the simulator and tests)."""
    # measurement_size overrides the header field (default: row bytes incl. the timestamp), to
    # imitate a device that does not count the timestamp.
    stride = TIMESTAMP_SIZE + layout.payload_bytes
    body = bytearray(
        MEASUREMENT_META.pack(
            flags,
            fw_version,
            layout.version if cfg_version is None else cfg_version,
            len(rows),
            stride if measurement_size is None else measurement_size,
            epoch,
            last_cmd_id_ack,
        )
    )
    for timestamp, values in rows:
        body += U32.pack(timestamp)
        body += encode_payload(layout, values)
    return U32.pack(uid) + seal(key, bytes(body))


def open_config_packet(key: bytes, data: bytes | memoryview) -> DeviceConfig:
    """Verify and decrypt a config upload and parse the JSON; BadConfigError if unusable."""
    _check_size(data, MAX_CONFIG_PACKET_BYTES, "config packet")
    return parse_config(unseal(key, data))


def build_config_packet(key: bytes, config: Mapping[str, Any] | str) -> bytes:
    """Return a sealed config upload as the device sends it to /Q5/cfg/<uid>."""
    text = config if isinstance(config, str) else json.dumps(config, separators=(",", ":"))
    return seal(key, text.encode())
