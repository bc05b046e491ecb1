"""The device config: tolerant parsing, and compiling its walk into a typed bit layout.

Only what decides the walk is strict (section shapes, `logging` arrays, `enabled`, mfeed types):
a wrong guess there would shift every later field. Informative keys (`name`, intervals, labels,
units) fall back to a default when they have an unexpected type.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
import functools
from typing import Any

from .config_json import check_storable, load_json, short_int
from .errors import BadConfigError
from .model import Channel, DeviceConfig, Field, FieldKind, Layout
from .readings import (
    BIT_WIDTH,
    DUPLICATE_METRIC_OCCUPIES_BITS,
    INPUT_ENABLED_DEFAULT,
    MAX_CHANNEL_KEY_DIGITS,
    MAX_CHANNELS,
    MAX_INTERVAL_SECONDS,
    MAX_LABEL_CHARS,
    MAX_METRIC_NAME_CHARS,
    MAX_METRICS_PER_CHANNEL,
    MAX_WALK_PER_CHANNEL,
    MFEED_TYPE_METRICS,
    RESERVED_METRIC_NAMES,
    SECTIONS,
    array_channel_key,
    command_number,
    is_canonical_channel_key,
    metric_width,
    object_channel_order,
)

_MAX_U32 = 0xFFFFFFFF


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
            f"the config's {name!r} is {short_int(value)} s, not 1 to {MAX_INTERVAL_SECONDS} s"
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
        if metric.replace(" ", "_") in RESERVED_METRIC_NAMES:
            raise BadConfigError(
                f"{where} names {metric!r}, the name of the channel's own button, setting or "
                "energy counter"
            )
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
    doc = raw if isinstance(raw, Mapping) else load_json(raw)
    if not isinstance(doc, Mapping):
        raise BadConfigError(f"the config is a JSON {type(doc).__name__}, not an object")
    check_storable(doc)
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
