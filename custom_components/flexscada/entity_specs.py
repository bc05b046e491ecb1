"""Which entities a Q5's config calls for, as entity descriptions built in one place.

One function decides the set, so the platforms, the startup clean-up and the live config updates
all agree on it. Each entity gets a description of its platform's class, with the channel (and
metric, and command channel) it is about as required fields. A unique id never contains a label:
relabelling a channel renames its entities and never duplicates them. The entities that are about
the device itself (diagnostics) do not depend on the config: their platforms declare them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, TypedDict

from homeassistant.components.binary_sensor import BinarySensorEntityDescription
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.components.button import ButtonEntityDescription
from homeassistant.components.number import NumberEntityDescription
from homeassistant.components.select import SelectEntityDescription
from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.components.switch import SwitchEntityDescription
from homeassistant.const import EntityCategory, Platform, UnitOfEnergy
from homeassistant.helpers.entity import EntityDescription

from .energy import EnergySensorSpec, energy_sensor_specs
from .metrics import channel_name, contact_device_class, float_measure, metric_translation_key
from .protocol import (
    Channel,
    DeviceConfig,
    Field,
    FieldKind,
    Layout,
    PulseRelay,
    ResetRelay,
    readings,
)
from .protocol.config_edit import RELAY_POWER_UP_STATES

#: A relay's trips (fuse, HVD, LVD): its 1-bit metrics besides its state; "reset" clears them.
RELAY_TRIP_METRICS = readings.BIT_METRICS["relays"] - {"state"}

#: Relay power-up states: the select option for each value of the relay's `default` key.
RELAY_POWER_UP_OPTIONS: dict[int, str] = dict(RELAY_POWER_UP_STATES)


@dataclass(frozen=True, kw_only=True)
class Q5ChannelEntityDescription(EntityDescription):
    """Describes an entity the device config calls for: about one channel of the config."""

    platform: ClassVar[Platform]
    unique_id: str
    channel: Channel


@dataclass(frozen=True, kw_only=True)
class Q5MetricEntityDescription(Q5ChannelEntityDescription):
    """Describes an entity showing one logged metric; `key` is the field key it reads."""

    field: Field


@dataclass(frozen=True, kw_only=True)
class Q5MetricSensorEntityDescription(Q5MetricEntityDescription, SensorEntityDescription):
    """Describes a float32 metric."""

    platform = Platform.SENSOR


@dataclass(frozen=True, kw_only=True)
class Q5EnergySensorEntityDescription(Q5ChannelEntityDescription, SensorEntityDescription):
    """Describes a kWh counter integrated from a power metric's rows (energy.py)."""

    platform = Platform.SENSOR
    energy: EnergySensorSpec


@dataclass(frozen=True, kw_only=True)
class Q5MetricBinarySensorEntityDescription(
    Q5MetricEntityDescription, BinarySensorEntityDescription
):
    """Describes a 1-bit metric: a relay trip or a dry-contact input."""

    platform = Platform.BINARY_SENSOR


@dataclass(frozen=True, kw_only=True)
class Q5SwitchEntityDescription(Q5MetricEntityDescription, SwitchEntityDescription):
    """Describes a relay's state or a BIT custom feed, set by command."""

    platform = Platform.SWITCH
    command_channel: int  # relay `ch` or feed `feed`


@dataclass(frozen=True, kw_only=True)
class Q5FeedNumberEntityDescription(Q5MetricEntityDescription, NumberEntityDescription):
    """Describes a FLOAT custom feed, set by command."""

    platform = Platform.NUMBER
    command_channel: int  # the feed's `feed`


@dataclass(frozen=True, kw_only=True)
class Q5RelayButtonEntityDescription(Q5ChannelEntityDescription, ButtonEntityDescription):
    """Describes a relay's pulse or reset button; `key` is `relays.<key>.<action>`."""

    platform = Platform.BUTTON
    command_channel: int  # the relay's `ch`
    command: type[PulseRelay | ResetRelay]


@dataclass(frozen=True, kw_only=True)
class Q5RelayPowerUpSelectEntityDescription(Q5ChannelEntityDescription, SelectEntityDescription):
    """Describes a relay's power-up state, changed with a config push; `key` is its config key."""

    platform = Platform.SELECT


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


def is_config_unique_id(uid: int, unique_id: str) -> bool:
    """Return True if a unique id is of an entity the device config calls for.

    Only those can go stale; the device's own (diagnostic) entities always exist. Every unique
    id built here starts with its section, and no diagnostic key does (a test checks both).
    """
    return unique_id.startswith(tuple(f"{uid}_{section}_" for section in readings.SECTIONS))


def build_entity_specs(
    uid: int, config: DeviceConfig | None, layout: Layout | None
) -> dict[str, Q5ChannelEntityDescription]:
    """Return the description of every entity the device config calls for, by unique id."""
    if config is None or layout is None:
        return {}
    channels = {(channel.section, channel.key): channel for channel in config.channels}
    specs: list[Q5ChannelEntityDescription] = [
        _metric_description(uid, field, channels[field.section, field.channel_key])
        for field in layout.fields
    ]
    for channel in config.channels:
        if channel.section != "relays" or (command_channel := channel.command_number) is None:
            continue
        specs.append(_relay_button(uid, channel, command_channel, "pulse", PulseRelay))
        specs.append(_relay_power_up(uid, channel))
        if RELAY_TRIP_METRICS & set(channel.metrics):
            specs.append(_relay_button(uid, channel, command_channel, "reset", ResetRelay))
    specs.extend(
        _energy_sensor(energy, channels) for energy in energy_sensor_specs(uid, config, layout)
    )
    return {spec.unique_id: spec for spec in specs}


class _MetricFields(TypedDict):
    """What every metric's description carries, whatever its platform."""

    key: str
    unique_id: str
    channel: Channel
    field: Field
    translation_key: str
    translation_placeholders: dict[str, str]


def _metric_description(uid: int, field: Field, channel: Channel) -> Q5MetricEntityDescription:
    """Return the description of a metric's entity, on the platform that shows it."""
    common = _MetricFields(
        key=field.key,
        unique_id=metric_unique_id(uid, field),
        channel=channel,
        field=field,
        translation_key=metric_translation_key(field),
        translation_placeholders={"channel": channel_name(channel), "metric": field.metric},
    )
    match metric_platform(field), channel.command_number:
        case Platform.SWITCH, int(command_channel):
            return Q5SwitchEntityDescription(**common, command_channel=command_channel)
        case Platform.NUMBER, int(command_channel):
            return Q5FeedNumberEntityDescription(**common, command_channel=command_channel)
        case _ if field.kind is FieldKind.BIT:
            return Q5MetricBinarySensorEntityDescription(
                **common,
                device_class=(
                    BinarySensorDeviceClass.PROBLEM
                    if field.section == "relays" and field.metric in RELAY_TRIP_METRICS
                    else contact_device_class(channel.true_text, channel.false_text)
                ),
            )
    measure = float_measure(field, channel)
    return Q5MetricSensorEntityDescription(
        **common,
        device_class=measure.device_class,
        native_unit_of_measurement=measure.unit,
        # The installer chose an input's unit for the gauge (PSI, mV): show it as chosen rather
        # than converted to the unit system. Users can still pick another unit.
        suggested_unit_of_measurement=measure.unit if field.section == "inputs" else None,
        state_class=SensorStateClass.MEASUREMENT,
        # Home Assistant's per-class defaults round volts to whole numbers; a 12.6 V battery and
        # a 0.97 power factor need their decimals.
        suggested_display_precision=2,
    )


def _relay_button(
    uid: int,
    channel: Channel,
    command_channel: int,
    action: str,
    command: type[PulseRelay | ResetRelay],
) -> Q5RelayButtonEntityDescription:
    """Return the description of a relay's pulse or reset button."""
    return Q5RelayButtonEntityDescription(
        key=f"relays.{channel.key}.{action}",
        unique_id=f"{uid}_relays_{channel.key}_{action}",
        channel=channel,
        command_channel=command_channel,
        command=command,
        translation_key=f"relay_{action}",
        translation_placeholders={"channel": channel_name(channel)},
        # Resetting trips is maintenance; pulsing operates the relay like its switch.
        entity_category=EntityCategory.CONFIG if command is ResetRelay else None,
    )


def _relay_power_up(uid: int, channel: Channel) -> Q5RelayPowerUpSelectEntityDescription:
    """Return the description of a relay's power-up state select (its `default` key)."""
    return Q5RelayPowerUpSelectEntityDescription(
        key=f"relays.{channel.key}.default",
        unique_id=f"{uid}_relays_{channel.key}_power_up",
        channel=channel,
        translation_key="relay_power_up",
        translation_placeholders={"channel": channel_name(channel)},
        entity_category=EntityCategory.CONFIG,
        options=list(RELAY_POWER_UP_OPTIONS.values()),
    )


def _energy_sensor(
    energy: EnergySensorSpec, channels: dict[tuple[str, str], Channel]
) -> Q5EnergySensorEntityDescription:
    """Return the description of an energy (or returned energy) counter."""
    return Q5EnergySensorEntityDescription(
        key=f"{energy.power_key}.{energy.translation_key}",
        unique_id=energy.unique_id,
        channel=channels[energy.channel],
        energy=energy,
        translation_key=energy.translation_key,
        translation_placeholders={"channel": energy.channel_label},
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=3,
        # Export is rare on the sites a Q5 watches: the counter stays out of the way until wanted.
        entity_registry_enabled_default=not energy.returned,
    )
