"""What a parsed device config is: its channels, and the typed bit layout its walk compiles to.

Plain frozen values, built only by config.py (parse_config, compile_layout) and read by the
decoder, the packets and the Home Assistant layer.
"""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .readings import (
    canonical_metric,
)


class FieldKind(StrEnum):
    """How a field is packed: a 32-bit IEEE-754 float or a single bit."""

    FLOAT = "float"
    BIT = "bit"


@dataclass(frozen=True, slots=True)
class Field:
    """One logged metric of one channel, at a fixed bit offset of every measurement payload."""

    section: str
    channel_key: str
    label: str
    metric: str
    kind: FieldKind
    width: int
    bit_offset: int
    unit: str = ""

    @property
    def key(self) -> str:
        """Return the field's key, `<section>.<channel key>.<metric>` as named in the config."""
        return f"{self.section}.{self.channel_key}.{self.metric}"

    @property
    def canonical_metric(self) -> str:
        """Return the metric's current name (older firmware's power-metric names mapped)."""
        return canonical_metric(self.section, self.metric)


@dataclass(frozen=True, slots=True)
class Channel:
    """One relay, input, DS18B20 sensor, power metric or manual feed of the config."""

    section: str
    key: str
    label: str
    unit: str
    input_type: int | None
    true_text: str | None
    false_text: str | None
    mfeed_type: int | None
    metrics: tuple[str, ...]
    enabled: bool = True
    input_mode: int | None = None
    sensor_id: int | None = None
    #: The logged metrics as stored, repeats included (what the device packs); () = `metrics`.
    walk: tuple[str, ...] = ()
    #: What commands call this channel (relay `ch`, feed `feed`); None: it takes no commands.
    command_number: int | None = None


@dataclass(frozen=True, slots=True)
class DeviceConfig:
    """The parts of a device config the integration needs, plus the parsed JSON itself."""

    version: int
    name: str | None
    upload_interval: int | None
    measurement_interval: int | None
    unit_system: int
    channels: tuple[Channel, ...]
    raw: Mapping[str, Any] = dataclasses.field(compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Layout:
    """The compiled walk of one config version: where each field sits in a measurement payload."""

    version: int
    fields: tuple[Field, ...]
    payload_bits: int
    _index: dict[str, Field] = dataclasses.field(init=False, repr=False, compare=False, hash=False)
    #: Memo for data derived from the layout by other modules (the decoder's plan); not compared.
    derived: dict[str, object] = dataclasses.field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {field.key: field for field in self.fields})

    @property
    def payload_bytes(self) -> int:
        """Return the payload size in whole bytes, ceil(payload_bits / 8)."""
        return (self.payload_bits + 7) // 8

    @property
    def keys(self) -> tuple[str, ...]:
        """Return every field key in walk order."""
        return tuple(self._index)

    def field(self, key: str) -> Field:
        """Return the field named `key`; KeyError if the config does not log it."""
        try:
            return self._index[key]
        except KeyError:
            raise KeyError(f"config version {self.version} logs no {key!r}") from None

    def __contains__(self, key: object) -> bool:
        return key in self._index
