"""Which entities a Q5 gets, derived from its device config and layout.

One place decides the set, so the platforms, the startup clean-up and the live config updates
all agree on it. A spec's unique id never contains a label: relabelling a channel renames its
entities and never duplicates them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from homeassistant.const import Platform

from .protocol import Channel, DeviceConfig, Field, FieldKind, Layout


class SpecKind(StrEnum):
    """What an entity is about."""

    METRIC = "metric"  # one logged metric of a channel
    PULSE = "pulse"  # pulse a relay
    RESET = "reset"  # reset a relay's fuse/HVD/LVD trip
    DIAGNOSTIC = "diagnostic"  # about the device and its uploads
    SETTING = "setting"  # a config key changed with a config push (issue 14)


# Diagnostic entity keys (also their translation keys).
LAST_UPLOAD = "last_upload"
FIRMWARE = "firmware"
CONFIG_VERSION = "config_version"
ROWS_IN_LAST_UPLOAD = "rows_in_last_upload"
CLOCK_OFFSET = "clock_offset"
CONNECTIVITY = "connectivity"

_DIAGNOSTIC_PLATFORMS: dict[str, Platform] = {
    LAST_UPLOAD: Platform.SENSOR,
    FIRMWARE: Platform.SENSOR,
    CONFIG_VERSION: Platform.SENSOR,
    ROWS_IN_LAST_UPLOAD: Platform.SENSOR,
    CLOCK_OFFSET: Platform.SENSOR,
    CONNECTIVITY: Platform.BINARY_SENSOR,
}

RELAY_TRIP_METRICS = frozenset({"fuse", "hvd", "lvd"})

# Device settings shown as config selects (issue 14); the key is the config key.
UPLOAD_INTERVAL = "upload_interval"
MEASUREMENT_INTERVAL = "measurement_interval"
RELAY_POWER_UP = "default"  # the relay config key of its power-up state


@dataclass(frozen=True, slots=True, kw_only=True)
class EntitySpec:
    """One entity the device config calls for."""

    unique_id: str
    platform: Platform
    kind: SpecKind
    key: str  # the field key for metrics, else the diagnostic or control key
    field: Field | None = None
    channel: Channel | None = None
    number: int | None = None  # what commands call the channel: relay `ch`, mfeed `feed`


def metric_platform(field: Field) -> Platform:
    """Return the platform that shows a metric."""
    if field.section == "relays" and field.metric == "state":
        return Platform.SWITCH
    if field.section == "mfeeds":
        return Platform.SWITCH if field.kind is FieldKind.BIT else Platform.NUMBER
    return Platform.BINARY_SENSOR if field.kind is FieldKind.BIT else Platform.SENSOR


def metric_unique_id(uid: int, field: Field) -> str:
    """Return the unique id of a metric's entity, e.g. 1535235511_power_metrics_0_power_factor."""
    return f"{uid}_{field.section}_{field.channel_key}_{field.metric.replace(' ', '_')}"


def build_entity_specs(
    uid: int, config: DeviceConfig | None, layout: Layout | None
) -> dict[str, EntitySpec]:
    """Return every entity this device should have, by unique id."""
    specs = [
        EntitySpec(unique_id=f"{uid}_{key}", platform=platform, kind=SpecKind.DIAGNOSTIC, key=key)
        for key, platform in _DIAGNOSTIC_PLATFORMS.items()
    ]
    if config is not None and layout is not None:
        channels = {(channel.section, channel.key): channel for channel in config.channels}
        specs.extend(
            EntitySpec(
                unique_id=metric_unique_id(uid, field),
                platform=metric_platform(field),
                kind=SpecKind.METRIC,
                key=field.key,
                field=field,
                channel=channels[field.section, field.channel_key],
                number=command_number(config, field.section, field.channel_key),
            )
            for field in layout.fields
        )
        for channel in config.channels:
            if channel.section != "relays":
                continue
            specs.append(_relay_button(uid, config, channel, SpecKind.PULSE))
            # config push (issue 14): the relay's power-up state
            specs.append(
                _setting(
                    f"{uid}_relays_{channel.key}_power_up",
                    f"relays.{channel.key}.{RELAY_POWER_UP}",
                    channel,
                )
            )
            if RELAY_TRIP_METRICS & set(channel.metrics):
                specs.append(_relay_button(uid, config, channel, SpecKind.RESET))
        # config push (issue 14): the intervals
        specs.extend(
            _setting(f"{uid}_{key}", key) for key in (UPLOAD_INTERVAL, MEASUREMENT_INTERVAL)
        )
    return {spec.unique_id: spec for spec in specs}


def command_number(config: DeviceConfig, section: str, channel_key: str) -> int | None:
    """Return the number commands use for a channel, if it takes commands.

    Relays are addressed by their 1-based channel number: the key of an object-shaped section,
    the index plus one of an array-shaped one. Custom feeds by their 0-based index.
    """
    if section == "relays":
        keyed_by_number = isinstance(config.raw.get("relays"), Mapping)
        return int(channel_key) if keyed_by_number else int(channel_key) + 1
    if section == "mfeeds":
        return int(channel_key)
    return None


def _relay_button(uid: int, config: DeviceConfig, channel: Channel, kind: SpecKind) -> EntitySpec:
    """Return the spec of a relay's pulse or reset button."""
    return EntitySpec(
        unique_id=f"{uid}_relays_{channel.key}_{kind}",
        platform=Platform.BUTTON,
        kind=kind,
        key=f"relays.{channel.key}.{kind}",
        channel=channel,
        number=command_number(config, "relays", channel.key),
    )


def _setting(unique_id: str, key: str, channel: Channel | None = None) -> EntitySpec:
    """Return the spec of a config select (issue 14); `key` is the dotted config key."""
    return EntitySpec(
        unique_id=unique_id,
        platform=Platform.SELECT,
        kind=SpecKind.SETTING,
        key=key,
        channel=channel,
    )
