"""Base entities: every FlexSCADA entity reads from its device's runtime and follows its config."""

from __future__ import annotations

import math
from typing import override

from homeassistant.const import EntityCategory
from homeassistant.core import callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.entity import Entity, EntityDescription
from propcache.api import cached_property

from .const import DOMAIN
from .device import Q5Device
from .entity_set import entity_set_of
from .entity_specs import (
    Q5ChannelEntityDescription,
    Q5FeedNumberEntityDescription,
    Q5MetricEntityDescription,
    Q5RelayButtonEntityDescription,
    Q5SwitchEntityDescription,
)
from .protocol import DeviceAction
from .store import MeasuredValue


class Q5Entity(Entity):
    """An entity of one Q5: reads the device runtime, writes its state when told to."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    #: What the state was last written from (see `_written_from`); None: write on every update.
    _last_written_from: object = None

    def __init__(self, device: Q5Device, unique_id: str) -> None:
        """Initialize from the device runtime."""
        self.device = device
        self._attr_unique_id = unique_id
        self._attr_device_info = device.device_info

    @override
    async def async_added_to_hass(self) -> None:
        """Listen to the device's updates."""
        await super().async_added_to_hass()
        self.async_on_remove(self.device.async_add_listener(self.async_handle_device_update))

    def _written_from(self) -> object:
        """Return what this entity's state depends on, or None when that is not known here."""
        return None

    @callback
    def async_handle_device_update(self) -> None:
        """Write the state after new readings or a change of availability.

        An upload changes only some readings; skipping entities whose state cannot have changed
        saves most of the per-upload cost (a state write costs more than decoding the upload).
        """
        written_from = self._written_from()
        if written_from is not None and written_from == self._last_written_from:
            return
        self._last_written_from = written_from
        self.async_write_ha_state()

    @property
    @override
    def available(self) -> bool:
        """Return True while the device keeps uploading."""
        return self.device.available


class Q5DiagnosticEntity(Q5Entity):
    """An entity about the device itself, declared in its platform's description tuple."""

    _attr_entity_category = EntityCategory.DIAGNOSTIC

    def __init__(self, device: Q5Device, description: EntityDescription) -> None:
        """Initialize from the device runtime and the diagnostic's description."""
        super().__init__(device, f"{device.uid}_{description.key}")
        self.entity_description = description

    @property
    @override
    def available(self) -> bool:
        """Stay available: when the device went silent is exactly what these tell."""
        return True


class Q5ChannelEntity(Q5Entity):
    """An entity the device config calls for; its description follows the config."""

    entity_description: Q5ChannelEntityDescription

    def __init__(self, device: Q5Device, description: Q5ChannelEntityDescription) -> None:
        """Initialize from the device runtime and the entity's description."""
        super().__init__(device, description.unique_id)
        self.entity_description = description

    @override
    async def async_added_to_hass(self) -> None:
        """Listen to the device, and follow its config through the entity set."""
        await super().async_added_to_hass()
        entity_set = entity_set_of(self.hass, self.device.entry)
        self.async_on_remove(entity_set.async_follow(self.entity_description.unique_id, self))

    @callback
    def async_set_spec(self, spec: Q5ChannelEntityDescription) -> None:
        """Follow a changed device config (a relabelled channel, a new unit)."""
        self.entity_description = spec
        # Entity caches what it derives from its description (name, device class, unit): drop
        # those caches, so the new label or unit shows without re-creating the entity.
        for name in [name for name in vars(self) if _is_cached_property(type(self), name)]:
            del self.__dict__[name]
        self._last_written_from = self._written_from()
        self.async_write_ha_state()


def _is_cached_property(cls: type, name: str) -> bool:
    """Return True if `name` is a cached property of `cls` (cached in the instance dict)."""
    return any(isinstance(base.__dict__.get(name), cached_property) for base in cls.__mro__)


class Q5MetricEntity(Q5ChannelEntity):
    """An entity showing one logged metric of one channel."""

    entity_description: Q5MetricEntityDescription

    @override
    def _written_from(self) -> object:
        """Return availability and the value: the state and attributes follow from them."""
        return (self.available, self.measured_value)

    @property
    def measured_value(self) -> MeasuredValue | None:
        """Return the newest value, None if unknown (never received, NaN or infinite)."""
        value = self.device.values.get(self.entity_description.key)
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value


class Q5ControlEntity(Q5ChannelEntity):
    """An entity whose actions queue commands for the device's next upload."""

    entity_description: (
        Q5SwitchEntityDescription | Q5FeedNumberEntityDescription | Q5RelayButtonEntityDescription
    )

    async def async_queue_command(self, action: DeviceAction) -> None:
        """Queue a command, refusing when the channel left the device's config."""
        # Control entities only exist while the device has a config, so the one way an action
        # can miss is a channel removed by a config that arrived after the action was started.
        if (
            self.entity_description.unique_id
            not in entity_set_of(self.hass, self.device.entry).specs
        ):
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="unknown_channel",
                translation_placeholders={
                    "device": self.device.name,
                    "channel": self.entity_description.key,
                },
            )
        await self.device.async_queue_command(action)

    @property
    def command_channel(self) -> int:
        """Return the device's number for this channel (relay `ch`, mfeed `feed`)."""
        return self.entity_description.command_channel
