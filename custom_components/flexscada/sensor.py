"""Sensors: every float32 metric of a Q5, and diagnostics about its uploads."""

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
from homeassistant.const import EntityCategory, Platform, UnitOfTime
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from . import FlexscadaConfigEntry
from .device import Q5Device
from .entity import Q5Entity, Q5MetricEntity
from .entity_specs import (
    CLOCK_OFFSET,
    CONFIG_VERSION,
    FIRMWARE,
    LAST_UPLOAD,
    ROWS_IN_LAST_UPLOAD,
    EntitySpec,
    SpecKind,
)
from .metrics import float_measure

# Entities only read the device runtime; nothing here does I/O.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class Q5DiagnosticSensorEntityDescription(SensorEntityDescription):
    """Describes a diagnostic sensor about the device's uploads."""

    value_fn: Callable[[Q5Device], str | int | datetime | None]


DIAGNOSTIC_SENSORS: dict[str, Q5DiagnosticSensorEntityDescription] = {
    description.key: description
    for description in (
        Q5DiagnosticSensorEntityDescription(
            key=LAST_UPLOAD,
            translation_key=LAST_UPLOAD,
            # Disabled by default: every upload changes it, and Home Assistant's logbook records
            # each change of a sensor without a unit or state class (a timestamp can have
            # neither). The connectivity sensor says whether uploads keep arriving.
            entity_registry_enabled_default=False,
            device_class=SensorDeviceClass.TIMESTAMP,
            value_fn=lambda device: device.last_upload,
        ),
        Q5DiagnosticSensorEntityDescription(
            key=FIRMWARE,
            translation_key=FIRMWARE,
            entity_registry_enabled_default=False,
            value_fn=lambda device: device.firmware_version,
        ),
        Q5DiagnosticSensorEntityDescription(
            key=CONFIG_VERSION,
            translation_key=CONFIG_VERSION,
            entity_registry_enabled_default=False,
            value_fn=lambda device: device.config.version if device.config else None,
        ),
        Q5DiagnosticSensorEntityDescription(
            key=ROWS_IN_LAST_UPLOAD,
            translation_key=ROWS_IN_LAST_UPLOAD,
            entity_registry_enabled_default=False,
            state_class=SensorStateClass.MEASUREMENT,
            value_fn=lambda device: device.rows_in_last_upload if device.last_upload else None,
        ),
        Q5DiagnosticSensorEntityDescription(
            key=CLOCK_OFFSET,
            translation_key=CLOCK_OFFSET,
            entity_registry_enabled_default=False,
            device_class=SensorDeviceClass.DURATION,
            native_unit_of_measurement=UnitOfTime.SECONDS,
            state_class=SensorStateClass.MEASUREMENT,
            value_fn=lambda device: device.clock_offset,
        ),
    )
}


async def async_setup_entry(
    hass: HomeAssistant,
    entry: FlexscadaConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the sensors of a Q5, now and whenever its config brings new ones."""
    entry.runtime_data.async_register_platform(Platform.SENSOR, async_add_entities, _make_sensor)


def _make_sensor(device: Q5Device, spec: EntitySpec) -> SensorEntity:
    """Return the sensor for a spec: a metric, or a diagnostic about the device."""
    if spec.kind is SpecKind.METRIC:
        return Q5MetricSensor(device, spec)
    return Q5DiagnosticSensor(device, spec)


class Q5MetricSensor(Q5MetricEntity, SensorEntity):
    """A float32 metric: the device's value, unscaled."""

    _attr_state_class = SensorStateClass.MEASUREMENT
    # Home Assistant's per-class defaults round volts to whole numbers; a 12.6 V battery and a
    # 0.97 power factor need their decimals.
    _attr_suggested_display_precision = 2

    @override
    def _written_from(self) -> object:
        """Return availability and the reading: the state and attributes follow from them."""
        return (self.available, self.reading)

    @override
    def _apply_spec(self, spec: EntitySpec) -> None:
        """Take the name, device class and unit from the channel and metric."""
        super()._apply_spec(spec)
        assert spec.field is not None
        assert spec.channel is not None
        measure = float_measure(spec.field, spec.channel)
        self._attr_device_class = measure.device_class
        self._attr_native_unit_of_measurement = measure.unit
        if spec.field.section == "inputs":
            # The installer chose this unit for the gauge (PSI, mV): show it as chosen rather
            # than converted to the unit system. Users can still pick another unit.
            self._attr_suggested_unit_of_measurement = measure.unit

    @property
    @override
    def native_value(self) -> float | None:
        """Return the newest reading."""
        value = self.reading
        return None if value is None else float(value)


class Q5DiagnosticSensor(Q5Entity, SensorEntity):
    """A diagnostic sensor about the device and its uploads."""

    _attr_entity_category = EntityCategory.DIAGNOSTIC
    entity_description: Q5DiagnosticSensorEntityDescription

    @override
    def _written_from(self) -> object:
        """Return the value (these stay available)."""
        return (self.native_value,)

    @override
    def _apply_spec(self, spec: EntitySpec) -> None:
        """Take the description of this diagnostic."""
        self.entity_description = DIAGNOSTIC_SENSORS[spec.key]

    @property
    @override
    def available(self) -> bool:
        """Stay available: when the device went silent is exactly what these tell."""
        return True

    @property
    @override
    def native_value(self) -> str | int | datetime | None:
        """Return the diagnostic value."""
        return self.entity_description.value_fn(self.device)
