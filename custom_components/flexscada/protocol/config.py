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
    MAX_CHANNEL_KEY_DIGITS,
    MAX_CHANNELS,
    MAX_CONFIG_CHARS,
    MAX_INTERVAL_SECONDS,
    MAX_JSON_DEPTH,
    MAX_JSON_INT,
    MAX_LABEL_CHARS,
    MAX_METRIC_NAME_CHARS,
    MAX_METRICS_PER_CHANNEL,
    MAX_WALK_PER_CHANNEL,
    MFEED_TYPE_METRICS,
    MIN_JSON_INT,
    RESERVED_RELAY_METRICS,
    SECTIONS,
    array_channel_key,
    canonical_metric,
    command_number,
    is_canonical_channel_key,
    metric_width,
    object_channel_order,
)

#: Largest config upload we read: the device's limit is MAX_CONFIG_CHARS characters, which UTF-8
#: may take up to 4 bytes each to send (padding aside).
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
    if len(text) > MAX_CONFIG_CHARS:
        raise BadConfigError(
            f"the config has {len(text)} characters, over the device's own {MAX_CONFIG_CHARS}"
        )
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise BadConfigError(
            f"the config JSON is nested too deeply (over {MAX_JSON_DEPTH} levels)"
        ) from None
    except ValueError as err:
        raise BadConfigError(f"the config is not valid JSON: {err}") from None


def _refuse_constant(name: str) -> object:
    """Refuse NaN and Infinity: not JSON, and not something the store can write back."""
    raise ValueError(f"{name} is not a JSON value")


def _check_storable(doc: object) -> None:
    """Raise BadConfigError unless Home Assistant's JSON store could write `doc` back.

    The store (orjson) fails on integers outside 64 bits, deep nesting, NaN/Infinity and strings
    with unpaired surrogates; a config it cannot write would be acknowledged and then lost.
    Iterative, so nesting deeper than Python's recursion limit is reported, not raised.
    """
    stack: list[tuple[object, int]] = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int):
            if not MIN_JSON_INT <= value <= MAX_JSON_INT:
                raise BadConfigError(
                    f"the config has the integer {_short(value)}, outside 64 bits (not storable)"
                )
        elif isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):  # noqa: PLR0124
                raise BadConfigError(f"the config has the number {value}, not storable as JSON")
        elif isinstance(value, str):
            _check_storable_text(value)
        elif isinstance(value, (Mapping, list)):
            if depth > MAX_JSON_DEPTH:
                raise BadConfigError(
                    f"the config JSON is nested too deeply (over {MAX_JSON_DEPTH} levels)"
                )
            stack.extend((item, depth + 1) for item in _children(value))
        else:
            raise BadConfigError(f"the config holds a {type(value).__name__}, not JSON")


def _children(container: Mapping[Any, Any] | list[Any]) -> Iterator[object]:
    """Yield a JSON container's values, checking an object's keys on the way."""
    if isinstance(container, list):
        yield from container
        return
    for key, item in container.items():
        if not isinstance(key, str):
            raise BadConfigError(f"the config has a key that is not a string: {key!r}")
        _check_storable_text(key)
        yield item


def _check_storable_text(text: str) -> None:
    try:
        text.encode()
    except UnicodeEncodeError:
        raise BadConfigError(
            "the config has text with an unpaired surrogate (not storable)"
        ) from None


def _short(value: int) -> str:
    """Return a huge integer for a log line without converting all its digits."""
    return f"of {value.bit_length()} bits" if value.bit_length() > 64 else str(value)


def _int(value: object) -> int | None:
    """Return `value` if it is a JSON integer (bools are not), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: object) -> str | None:
    """Return `value` if it is a string, cut to MAX_LABEL_CHARS (it becomes a name)."""
    return value[:MAX_LABEL_CHARS] if isinstance(value, str) else None


def _interval(doc: Mapping[Any, Any], name: str) -> int | None:
    """Return an interval in seconds; None when absent, not an integer or 0 (unknown)."""
    value = _int(doc.get(name))
    if value is None or value == 0:
        return None
    if not 1 <= value <= MAX_INTERVAL_SECONDS:
        raise BadConfigError(
            f"the config's {name!r} is {_short(value)} s, not 1 to {MAX_INTERVAL_SECONDS} s"
        )
    return value


def _entries(doc: Mapping[Any, Any], section: str) -> Iterator[tuple[str, Mapping[Any, Any]]]:
    """Yield (channel key, entry) of a section in walk order, whatever its shape."""
    value = doc.get(section)
    if value is None:
        return
    if isinstance(value, list):
        pairs = [(array_channel_key(index), entry) for index, entry in enumerate(value)]
    elif isinstance(value, Mapping):
        # Keys are strings: _check_storable refused the config otherwise.
        order = object_channel_order(value)
        if order is None:
            bad = next(key for key in value if not is_canonical_channel_key(key))
            raise BadConfigError(
                f"{section!r} is keyed by something other than channel numbers as the device "
                f"writes them (1 to {MAX_CHANNEL_KEY_DIGITS} digits, no leading zero): "
                f"{bad[:12]!r}"
            )
        pairs = [(key, value[key]) for key in order]
    else:
        raise BadConfigError(
            f"{section!r} is a {type(value).__name__}, expected an object or an array"
        )
    if len(pairs) > MAX_CHANNELS[section]:
        raise BadConfigError(
            f"{section!r} declares {len(pairs)} channels; a Q5 has at most {MAX_CHANNELS[section]}"
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
    _check_metrics(section, key, value)
    return tuple(value)


def _check_metrics(section: str, key: str, walk: list[str]) -> None:
    """Refuse a logging array no Q5 writes, or whose metrics would share an entity."""
    where = f"{section}.{key}.logging"
    if len(walk) > MAX_WALK_PER_CHANNEL:
        raise BadConfigError(f"{where} has {len(walk)} entries, over {MAX_WALK_PER_CHANNEL}")
    metrics = dict.fromkeys(walk)
    if len(metrics) > MAX_METRICS_PER_CHANNEL[section]:
        raise BadConfigError(
            f"{where} names {len(metrics)} different metrics; "
            f"at most {MAX_METRICS_PER_CHANNEL[section]} are accepted for {section}"
        )
    seen: dict[str, str] = {}
    for metric in metrics:
        if not metric or len(metric) > MAX_METRIC_NAME_CHARS:
            raise BadConfigError(
                f"{where} has a metric name of {len(metric)} characters "
                f"(1 to {MAX_METRIC_NAME_CHARS})"
            )
        if section == "relays" and metric in RESERVED_RELAY_METRICS:
            raise BadConfigError(f"{where} names {metric!r}, which is the relay's button")
        # Entities are identified by the name with spaces as underscores (metric_unique_id).
        if (other := seen.setdefault(metric.replace(" ", "_"), metric)) != metric:
            raise BadConfigError(f"{where} names both {other!r} and {metric!r}: one entity")


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
    _check_storable(doc)
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
        upload_interval=_interval(doc, "upload_interval"),
        measurement_interval=_interval(doc, "measurement_interval"),
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
