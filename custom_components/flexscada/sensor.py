"""Sensors: every float32 metric of a Q5, energy from its power rows, and diagnostics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import override

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import UnitOfTime
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .device import FlexscadaConfigEntry, Q5Device
from .entity import Q5ChannelEntity, Q5DiagnosticEntity, Q5MetricEntity
from .entity_set import async_add_platform_entities
from .entity_specs import Q5EnergySensorEntityDescription, Q5MetricSensorEntityDescription

# Entities only read the device runtime; nothing here does I/O.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class Q5DiagnosticSensorEntityDescription(SensorEntityDescription):
    """Describes a diagnostic sensor about the device's uploads."""

    value_fn: Callable[[Q5Device], str | int | datetime | None]


DIAGNOSTIC_SENSORS: tuple[Q5DiagnosticSensorEntityDescription, ...] = (
    Q5DiagnosticSensorEntityDescription(
        key="last_upload",
        translation_key="last_upload",
        # Disabled by default: every upload changes it, and Home Assistant's logbook records
        # each change of a sensor without a unit or state class (a timestamp can have
        # neither). The connectivity sensor says whether uploads keep arriving.
        entity_registry_enabled_default=False,
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda device: device.last_upload,
    ),
    Q5DiagnosticSensorEntityDescription(
        key="firmware",
        translation_key="firmware",
        entity_registry_enabled_default=False,
        value_fn=lambda device: device.firmware_version,
    ),
    Q5DiagnosticSensorEntityDescription(
        key="config_version",
        translation_key="config_version",
        entity_registry_enabled_default=False,
        value_fn=lambda device: device.config.version if device.config else None,
    ),
    Q5DiagnosticSensorEntityDescription(
        key="rows_in_last_upload",
        translation_key="rows_in_last_upload",
        entity_registry_enabled_default=False,
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda device: device.rows_in_last_upload if device.last_upload else None,
    ),
    Q5DiagnosticSensorEntityDescription(
        key="clock_offset",
        translation_key="clock_offset",
        entity_registry_enabled_default=False,
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda device: device.clock_offset,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: FlexscadaConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the sensors of a Q5: its diagnostics, and its metrics now and as its config changes."""
    device = entry.runtime_data
    async_add_entities(
        Q5DiagnosticSensor(device, description) for description in DIAGNOSTIC_SENSORS
    )
    async_add_platform_entities(
        hass, entry, Q5MetricSensorEntityDescription, async_add_entities, Q5MetricSensor
    )
    async_add_platform_entities(
        hass, entry, Q5EnergySensorEntityDescription, async_add_entities, Q5EnergySensor
    )


class Q5MetricSensor(Q5MetricEntity, SensorEntity):
    """A float32 metric: the device's value, unscaled."""

    entity_description: Q5MetricSensorEntityDescription

    @property
    @override
    def native_value(self) -> float | None:
        """Return the newest value."""
        value = self.measured_value
        return None if value is None else float(value)


class Q5EnergySensor(Q5ChannelEntity, SensorEntity):
    """A never-decreasing kWh counter integrated from a power metric's rows (statistics.py)."""

    entity_description: Q5EnergySensorEntityDescription

    @override
    def _written_from(self) -> object:
        """Return availability and the counter."""
        return (self.available, self.native_value)

    @property
    @override
    def native_value(self) -> float | None:
        """Return the counter in kWh, None before any power row was integrated."""
        return self.device.statistics.energy_total(self.entity_description.unique_id)


class Q5DiagnosticSensor(Q5DiagnosticEntity, SensorEntity):
    """A diagnostic sensor about the device and its uploads."""

    entity_description: Q5DiagnosticSensorEntityDescription

    @override
    def _written_from(self) -> object:
        """Return the value (these stay available)."""
        return (self.native_value,)

    @property
    @override
    def native_value(self) -> str | int | datetime | None:
        """Return the diagnostic value."""
        return self.entity_description.value_fn(self.device)
