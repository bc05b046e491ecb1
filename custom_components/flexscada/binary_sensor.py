"""Binary sensors: relay trips, dry-contact inputs, and whether the device is online."""

from __future__ import annotations

from typing import Any, override

from homeassistant.components.binary_sensor import BinarySensorEntity
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.const import EntityCategory, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .device import FlexscadaConfigEntry, Q5Device
from .entity import Q5Entity, Q5MetricEntity
from .entity_set import async_add_platform_entities
from .entity_specs import RELAY_TRIP_METRICS, EntitySpec, SpecKind
from .metrics import contact_device_class

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: FlexscadaConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the binary sensors of a Q5, now and whenever its config brings new ones."""
    async_add_platform_entities(
        hass, entry, Platform.BINARY_SENSOR, async_add_entities, _make_binary_sensor
    )


def _make_binary_sensor(device: Q5Device, spec: EntitySpec) -> BinarySensorEntity:
    """Return the binary sensor for a spec: a 1-bit metric, or the device's connectivity."""
    if spec.kind is SpecKind.METRIC:
        return Q5MetricBinarySensor(device, spec)
    return Q5ConnectivityBinarySensor(device, spec)


class Q5MetricBinarySensor(Q5MetricEntity, BinarySensorEntity):
    """A 1-bit metric: a relay's fuse/HVD/LVD trip, or a dry-contact input."""

    @override
    def _written_from(self) -> object:
        """Return availability and the reading: the state and attributes follow from them."""
        return (self.available, self.reading)

    @override
    def _apply_spec(self, spec: EntitySpec) -> None:
        """Show a relay trip as a problem; keep a dry contact's texts as attributes."""
        super()._apply_spec(spec)
        assert spec.field is not None
        assert spec.channel is not None
        self._attr_device_class = (
            BinarySensorDeviceClass.PROBLEM
            if spec.field.section == "relays" and spec.field.metric in RELAY_TRIP_METRICS
            else contact_device_class(spec.channel.true_text, spec.channel.false_text)
        )
        attributes: dict[str, Any] = {}
        if spec.channel.true_text:
            attributes["true_text"] = spec.channel.true_text
        if spec.channel.false_text:
            attributes["false_text"] = spec.channel.false_text
        self._attr_extra_state_attributes = attributes

    @property
    @override
    def is_on(self) -> bool | None:
        """Return the newest reading."""
        value = self.reading
        return None if value is None else bool(value)


class Q5ConnectivityBinarySensor(Q5Entity, BinarySensorEntity):
    """On while the device keeps uploading within its availability window."""

    _attr_device_class = BinarySensorDeviceClass.CONNECTIVITY
    _attr_entity_category = EntityCategory.DIAGNOSTIC

    @override
    def _written_from(self) -> object:
        """Return the state (this stays available)."""
        return (self.is_on,)

    @property
    @override
    def available(self) -> bool:
        """Stay available: being offline is this entity's state, not its absence."""
        return True

    @property
    @override
    def is_on(self) -> bool:
        """Return True while the device is online."""
        return self.device.available
