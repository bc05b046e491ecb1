"""The device config: tolerant parsing, and compiling its walk into a typed bit layout.

Only what decides the walk is strict (section shapes, `logging` arrays, `enabled`, mfeed types):
a wrong guess there would shift every later field. Informative keys (`name`, intervals, labels,
units) fall back to a default when they have an unexpected type.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
import dataclasses
from dataclasses import dataclass
from enum import StrEnum
import functools
import json
from typing import Any

from .errors import BadConfigError
from .readings import (
    BIT_WIDTH,
    DUPLICATE_METRIC_OCCUPIES_BITS,
    INPUT_ENABLED_DEFAULT,
    JSON_PADDING,
    MFEED_TYPE_METRICS,
    SECTIONS,
    array_channel_key,
    canonical_metric,
    command_number,
    metric_width,
    object_channel_order,
)

#: Largest config text we parse. The device's limit is 32,000 characters; we allow 8x that.
MAX_CONFIG_BYTES = 256 * 1024
_MAX_U32 = 0xFFFFFFFF


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


def _load_json(text: str | bytes | bytearray | memoryview) -> object:
    if isinstance(text, str):
        if len(text) > MAX_CONFIG_BYTES:
            raise BadConfigError(f"the config has {len(text)} characters, over {MAX_CONFIG_BYTES}")
        text = text.rstrip(JSON_PADDING.decode())
    else:
        if len(text) > MAX_CONFIG_BYTES:
            raise BadConfigError(f"the config has {len(text)} bytes, over {MAX_CONFIG_BYTES}")
        try:
            text = bytes(text).rstrip(JSON_PADDING).decode()
        except UnicodeDecodeError as err:
            raise BadConfigError(f"the config is not UTF-8 text ({err.reason})") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise BadConfigError("the config JSON is nested too deeply") from None
    except ValueError as err:
        raise BadConfigError(f"the config is not valid JSON: {err}") from None


def _int(value: object) -> int | None:
    """Return `value` if it is a JSON integer (bools are not), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _entries(doc: Mapping[Any, Any], section: str) -> Iterator[tuple[str, Mapping[Any, Any]]]:
    """Yield (channel key, entry) of a section in walk order, whatever its shape."""
    value = doc.get(section)
    if value is None:
        return
    if isinstance(value, list):
        pairs = [(array_channel_key(index), entry) for index, entry in enumerate(value)]
    elif isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            raise BadConfigError(f"{section!r} has a key that is not a string")
        order = object_channel_order(value)
        if order is None:
            raise BadConfigError(f"{section!r} is keyed by something other than channel numbers")
        pairs = [(key, value[key]) for key in order]
    else:
        raise BadConfigError(
            f"{section!r} is a {type(value).__name__}, expected an object or an array"
        )
    for key, entry in pairs:
        if not isinstance(entry, Mapping):
            raise BadConfigError(f"{section}.{key} is a {type(entry).__name__}, not an object")
        yield key, entry


def _logging(section: str, key: str, entry: Mapping[Any, Any]) -> tuple[str, ...] | None:
    """Return the channel's logging array as stored, or None if it has none."""
    value = entry.get("logging")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(metric, str) for metric in value):
        raise BadConfigError(f"{section}.{key}.logging is not an array of metric names")
    return tuple(value)


def _channel(section: str, key: str, entry: Mapping[Any, Any], keyed_by_number: bool) -> Channel:
    walk = _logging(section, key, entry)
    enabled = True
    mfeed_type = _int(entry.get("type")) if section == "mfeeds" else None
    if section == "inputs":
        flag = entry.get("enabled", INPUT_ENABLED_DEFAULT)
        if not isinstance(flag, bool) and flag not in (0, 1):
            raise BadConfigError(f"inputs.{key}.enabled is {flag!r}, not true or false")
        enabled = bool(flag)
    if section == "mfeeds" and walk is None:
        walk = MFEED_TYPE_METRICS.get(mfeed_type) if mfeed_type is not None else None
        if walk is None:
            raise BadConfigError(
                f"mfeeds.{key} has no logging array and type {entry.get('type')!r} "
                f"(known: {', '.join(map(str, MFEED_TYPE_METRICS))}), so its width is unknown"
            )
    if walk is None or not enabled:
        walk = ()
    return Channel(
        section=section,
        key=key,
        label=_text(entry.get("label")) or "",
        unit=_text(entry.get("unit")) or "",
        input_type=_int(entry.get("type")) if section == "inputs" else None,
        true_text=_text(entry.get("_t")),
        false_text=_text(entry.get("_f")),
        mfeed_type=mfeed_type,
        metrics=tuple(dict.fromkeys(walk)),
        enabled=enabled,
        input_mode=_int(entry.get("config")) if section == "inputs" else None,
        sensor_id=_int(entry.get("id")) if section == "ds18b20" else None,
        walk=walk,
        command_number=command_number(section, key, keyed_by_number),
    )


def parse_config(raw: Mapping[str, Any] | str | bytes) -> DeviceConfig:
    """Parse a device config (JSON text or already-parsed object); BadConfigError if unusable."""
    doc = raw if isinstance(raw, Mapping) else _load_json(raw)
    if not isinstance(doc, Mapping):
        raise BadConfigError(f"the config is a JSON {type(doc).__name__}, not an object")
    version = _int(doc.get("version"))
    if version is None or not 0 <= version <= _MAX_U32:
        raise BadConfigError(f"the config's 'version' is {doc.get('version')!r}, not a uint32")
    channels = tuple(
        _channel(section, key, entry, keyed_by_number=isinstance(doc.get(section), Mapping))
        for section in SECTIONS
        for key, entry in _entries(doc, section)
    )
    return DeviceConfig(
        version=version,
        name=_text(doc.get("name")),
        upload_interval=_int(doc.get("upload_interval")),
        measurement_interval=_int(doc.get("measurement_interval")),
        unit_system=_int(doc.get("unit")) or 0,
        channels=channels,
        raw=doc,
    )


@functools.lru_cache(maxsize=64)
def compile_layout(config: DeviceConfig) -> Layout:
    """Return the layout of a config's walk (cached: equal configs share one Layout)."""
    fields: list[Field] = []
    offset = 0
    for channel in config.channels:
        seen: set[str] = set()
        for metric in channel.walk or channel.metrics:
            width = metric_width(channel.section, metric)
            if metric in seen:
                offset += width if DUPLICATE_METRIC_OCCUPIES_BITS else 0
                continue
            seen.add(metric)
            fields.append(
                Field(
                    section=channel.section,
                    channel_key=channel.key,
                    label=channel.label,
                    metric=metric,
                    kind=FieldKind.BIT if width == BIT_WIDTH else FieldKind.FLOAT,
                    width=width,
                    bit_offset=offset,
                    unit=channel.unit,
                )
            )
            offset += width
    return Layout(version=config.version, fields=tuple(fields), payload_bits=offset)
