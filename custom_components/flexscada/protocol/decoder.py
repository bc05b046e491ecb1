"""Vectorised decoding of queued measurements against a compiled layout (numpy).

All rows are decoded at once. Each float32 is read as the little-endian uint64 window starting at
its first byte (an unaligned strided view of the packed rows, no copy), shifted right by its bit
shift and truncated to 32 bits; one fancy-indexing gather serves every float column. Bits are one
byte gather, a shift and a mask. Results stay as arrays; dicts are built only on request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import BadLengthError, LayoutMismatchError
from .model import FieldKind, Layout
from .packets import MeasurementPacket
from .readings import TIMESTAMP_SIZE

type Value = float | bool
_TIMESTAMP_BITS = 8 * TIMESTAMP_SIZE
_WINDOW = 8  # bytes in the uint64 window a float32 is cut from


@dataclass(frozen=True, slots=True)
class _Plan:
    """Per-layout precomputation: which column of which matrix holds each field."""

    keys: tuple[str, ...]
    float_keys: tuple[str, ...]
    bit_keys: tuple[str, ...]
    columns: dict[str, tuple[bool, int]]
    float_offsets: npt.NDArray[np.int64]  # bit offset within a row, timestamp included
    bit_bytes: npt.NDArray[np.intp]
    bit_shifts: npt.NDArray[np.uint8]
    # Maps floats + bits (concatenated per row) back to walk order.
    reorder: Callable[[list[Any]], tuple[Any, ...]]


def _reorderer(order: list[int]) -> Callable[[list[Any]], tuple[Any, ...]]:
    """Return a function picking `order` out of a list as a tuple, fast for the common case."""
    if len(order) >= 2:
        return itemgetter(*order)
    # itemgetter needs an index and, with one, returns the item instead of a tuple.
    return lambda values: tuple(values[i] for i in order)


def _make_plan(layout: Layout) -> _Plan:
    floats = [f for f in layout.fields if f.kind is FieldKind.FLOAT]
    bits = [f for f in layout.fields if f.kind is FieldKind.BIT]
    columns = {f.key: (True, i) for i, f in enumerate(floats)}
    columns |= {f.key: (False, i) for i, f in enumerate(bits)}
    position = {key: (i if is_float else len(floats) + i) for key, (is_float, i) in columns.items()}
    order = [position[f.key] for f in layout.fields]
    bit_offsets = np.array([f.bit_offset + _TIMESTAMP_BITS for f in bits], dtype=np.intp)
    return _Plan(
        keys=tuple(f.key for f in layout.fields),
        float_keys=tuple(f.key for f in floats),
        bit_keys=tuple(f.key for f in bits),
        columns=columns,
        float_offsets=np.array([f.bit_offset + _TIMESTAMP_BITS for f in floats], dtype=np.int64),
        bit_bytes=bit_offsets // 8,
        bit_shifts=(bit_offsets % 8).astype(np.uint8),
        reorder=_reorderer(order),
    )


def _plan(layout: Layout) -> _Plan:
    # Memoised on the layout itself: hashing a Layout (~100 fields) for a global cache would cost
    # more than decoding a one-row upload. A race only computes the same plan twice.
    plan = layout.derived.get(__name__)
    if not isinstance(plan, _Plan):
        plan = layout.derived[__name__] = _make_plan(layout)
    return plan


class DecodedRows:
    """The decoded measurements of one packet, as arrays, with dict accessors."""

    __slots__ = ("_plan", "bits", "floats", "layout", "timestamps")

    def __init__(
        self,
        layout: Layout,
        timestamps: npt.NDArray[np.uint32],
        floats: npt.NDArray[np.float32],
        bits: npt.NDArray[np.bool_],
    ) -> None:
        self.layout = layout
        #: Unix timestamps, oldest first, shape (n,).
        self.timestamps = timestamps
        #: Float32 values, shape (n, float fields), NaN/inf kept as they came.
        self.floats = floats
        #: Bit values, shape (n, bit fields).
        self.bits = bits
        self._plan = _plan(layout)

    def __len__(self) -> int:
        return len(self.timestamps)

    def __repr__(self) -> str:
        return f"DecodedRows(version={self.layout.version}, rows={len(self)})"

    @property
    def keys(self) -> tuple[str, ...]:
        """Return the value keys in walk order."""
        return self._plan.keys

    def row(self, index: int) -> dict[str, Value]:
        """Return one row's values by key, in walk order (negative indexes count from the end)."""
        values = self.floats[index].tolist() + self.bits[index].tolist()
        return dict(zip(self._plan.keys, self._plan.reorder(values), strict=True))

    def timestamp(self, index: int) -> int:
        """Return one row's unix timestamp."""
        return int(self.timestamps[index])

    def latest(self) -> dict[str, Value]:
        """Return the newest row's values ({} when the packet queued no measurement)."""
        return self.row(-1) if len(self) else {}

    def rows(self) -> Iterator[tuple[int, dict[str, Value]]]:
        """Yield (timestamp, values) for every row, oldest first."""
        keys, reorder = self._plan.keys, self._plan.reorder
        floats, bits = self.floats.tolist(), self.bits.tolist()
        for timestamp, float_row, bit_row in zip(
            self.timestamps.tolist(), floats, bits, strict=True
        ):
            yield timestamp, dict(zip(keys, reorder(float_row + bit_row), strict=True))

    def column(self, key: str) -> npt.NDArray[np.float32] | npt.NDArray[np.bool_]:
        """Return one field's values over all rows (a view)."""
        try:
            is_float, index = self._plan.columns[key]
        except KeyError:
            raise KeyError(f"config version {self.layout.version} logs no {key!r}") from None
        return self.floats[:, index] if is_float else self.bits[:, index]


def decode_rows(
    layout: Layout, packet: MeasurementPacket, *, check_version: bool = True
) -> DecodedRows:
    """Decode every row of `packet`; LayoutMismatchError if `layout` cannot be the one it used."""
    # A packet of another config version would decode to plausible garbage, hence the default check.
    count, stride = packet.meta.measurement_count, packet.row_stride
    if check_version and packet.meta.cfg_version != layout.version:
        raise LayoutMismatchError(
            f"the packet was recorded with device config version {packet.meta.cfg_version}, "
            f"the layout is of version {layout.version}"
        )
    available = (stride - TIMESTAMP_SIZE) * 8
    if layout.payload_bits > available:
        raise LayoutMismatchError(
            f"device config version {layout.version} needs {layout.payload_bits} payload bits "
            f"per measurement, the packet's rows carry {available} ({stride}-byte rows)"
        )
    if len(packet.rows) != count * stride:
        raise BadLengthError(f"{len(packet.rows)} row bytes are not {count} rows of {stride} bytes")
    plan = _plan(layout)
    if count == 0:
        return DecodedRows(
            layout,
            np.empty(0, np.uint32),
            np.empty((0, len(plan.float_keys)), np.float32),
            np.empty((0, len(plan.bit_keys)), np.bool_),
        )
    rows = packet.rows
    timestamps = np.ndarray((count,), "<u4", rows, strides=(stride,)).astype(np.uint32)
    if plan.float_keys:
        # Cut each float from the 8-byte window at its first byte; windows that would run past the
        # row end start earlier instead (a float spans at most 5 bytes; a row with one has >= 8).
        first = plan.float_offsets // 8
        start = np.minimum(first, stride - _WINDOW)
        shift = ((first - start) * 8 + plan.float_offsets % 8).astype(np.uint64)
        windows = np.ndarray((count, stride - _WINDOW + 1), "<u8", rows, strides=(stride, 1))
        gathered = windows[:, start]
        gathered >>= shift
        floats = gathered.astype("<u4").view("<f4")
    else:
        floats = np.empty((count, 0), np.float32)
    if plan.bit_keys:
        matrix = np.ndarray((count, stride), np.uint8, rows)
        picked = matrix[:, plan.bit_bytes] >> plan.bit_shifts
        picked &= 1
        bits = picked.view(np.bool_)
    else:
        bits = np.empty((count, 0), np.bool_)
    return DecodedRows(layout, timestamps, floats, bits)
