"""Binary sensors: relay trips, dry-contact inputs, and whether the device is online."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, override

from homeassistant.components.binary_sensor import (
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .device import FlexscadaConfigEntry, Q5Device
from .entity import Q5DiagnosticEntity, Q5MetricEntity
from .entity_set import async_add_platform_entities
from .entity_specs import Q5MetricBinarySensorEntityDescription

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class Q5DiagnosticBinarySensorEntityDescription(BinarySensorEntityDescription):
    """Describes a diagnostic binary sensor about the device."""

    is_on_fn: Callable[[Q5Device], bool]


DIAGNOSTIC_BINARY_SENSORS: tuple[Q5DiagnosticBinarySensorEntityDescription, ...] = (
    # Named by its device class; on while uploads keep arriving within the availability window.
    Q5DiagnosticBinarySensorEntityDescription(
        key="connectivity",
        device_class=BinarySensorDeviceClass.CONNECTIVITY,
        is_on_fn=lambda device: device.available,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: FlexscadaConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the binary sensors of a Q5: its connectivity, and its 1-bit metrics."""
    device = entry.runtime_data
    async_add_entities(
        Q5DiagnosticBinarySensor(device, description) for description in DIAGNOSTIC_BINARY_SENSORS
    )
    async_add_platform_entities(
        hass, entry, Q5MetricBinarySensorEntityDescription, async_add_entities, Q5MetricBinarySensor
    )


class Q5MetricBinarySensor(Q5MetricEntity, BinarySensorEntity):
    """A 1-bit metric: a relay's fuse/HVD/LVD trip, or a dry-contact input."""

    entity_description: Q5MetricBinarySensorEntityDescription

    @property
    @override
    def extra_state_attributes(self) -> dict[str, Any]:
        """Keep a dry contact's texts, as typed by the installer."""
        channel = self.entity_description.channel
        attributes: dict[str, Any] = {}
        if channel.true_text:
            attributes["true_text"] = channel.true_text
        if channel.false_text:
            attributes["false_text"] = channel.false_text
        return attributes

    @property
    @override
    def is_on(self) -> bool | None:
        """Return the newest value."""
        value = self.measured_value
        return None if value is None else bool(value)


class Q5DiagnosticBinarySensor(Q5DiagnosticEntity, BinarySensorEntity):
    """A diagnostic binary sensor about the device (its connectivity)."""

    entity_description: Q5DiagnosticBinarySensorEntityDescription

    @override
    def _written_from(self) -> object:
        """Return the state (this stays available: being offline is its state, not its absence)."""
        return (self.is_on,)

    @property
    @override
    def is_on(self) -> bool:
        """Return the diagnostic state."""
        return self.entity_description.is_on_fn(self.device)
