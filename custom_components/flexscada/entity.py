"""Base entities: every FlexSCADA entity reads from its device's runtime and follows its config."""

from __future__ import annotations

import math
from typing import Any, override

from homeassistant.core import callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.entity import Entity

from .const import DOMAIN
from .device import Q5Device
from .entity_set import entity_set_of
from .entity_specs import EntitySpec
from .metrics import channel_name, metric_translation_key
from .store import Reading


class Q5Entity(Entity):
    """An entity of one Q5, built from an `EntitySpec` that changes with the device config."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, device: Q5Device, spec: EntitySpec) -> None:
        """Initialize from the device runtime and the entity's spec."""
        self.device = device
        self.spec = spec
        self._attr_unique_id = spec.unique_id
        self._attr_device_info = device.device_info
        self._apply_spec(spec)

    def _apply_spec(self, spec: EntitySpec) -> None:
        """Set the attributes that come from the spec (names, units, ...)."""

    @override
    async def async_added_to_hass(self) -> None:
        """Listen to the device's updates, and follow its config through the entity set."""
        await super().async_added_to_hass()
        self.async_on_remove(self.device.async_add_listener(self.async_handle_device_update))
        entity_set = entity_set_of(self.hass, self.device.entry)
        self.async_on_remove(entity_set.async_follow(self.spec.unique_id, self))

    #: What the state was last written from (see `_written_from`); None: write on every update.
    _last_written_from: object = None

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

    @callback
    def async_set_spec(self, spec: EntitySpec) -> None:
        """Follow a changed device config (a relabelled channel, a new unit)."""
        self.spec = spec
        self._apply_spec(spec)
        # Entity caches its translated name; assigning and deleting `_attr_name` is Entity's own
        # way to drop that cache, so the new label shows without re-creating the entity.
        self._attr_name = None
        del self._attr_name
        self._last_written_from = self._written_from()
        self.async_write_ha_state()

    @property
    @override
    def available(self) -> bool:
        """Return True while the device keeps uploading."""
        return self.device.available


class Q5MetricEntity(Q5Entity):
    """An entity showing one logged metric of one channel."""

    @override
    def _apply_spec(self, spec: EntitySpec) -> None:
        """Name the entity after its channel and metric."""
        assert spec.field is not None
        assert spec.channel is not None
        self._attr_translation_key = metric_translation_key(spec.field)
        self._attr_translation_placeholders = {
            "channel": channel_name(spec.channel),
            "metric": spec.field.metric,
        }

    @property
    def reading(self) -> Reading | None:
        """Return the newest reading, None if unknown (never received, NaN or infinite)."""
        value = self.device.values.get(self.spec.key)
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value


class Q5ControlEntity(Q5Entity):
    """An entity whose actions queue commands for the device's next upload."""

    async def async_queue_command(self, cmd: str, params: dict[str, Any]) -> None:
        """Queue a command, refusing when the channel left the device's config."""
        # Control entities only exist while the device has a config, so the one way an action
        # can miss is a channel removed by a config that arrived after the action was started.
        if self.spec.unique_id not in entity_set_of(self.hass, self.device.entry).specs:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="unknown_channel",
                translation_placeholders={"device": self.device.name, "channel": self.spec.key},
            )
        await self.device.async_queue_command(cmd, params)

    @property
    def channel_number(self) -> int:
        """Return the device's number for this channel (relay `ch`, mfeed index)."""
        assert self.spec.number is not None
        return self.spec.number
