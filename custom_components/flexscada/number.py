"""Numbers: FLOAT custom feeds, written with `set_feed`."""

from __future__ import annotations

from typing import Any, override

from homeassistant.components.number import NumberEntity, NumberMode
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .commands import SET_FEED
from .device import FlexscadaConfigEntry
from .entity import Q5ControlEntity, Q5MetricEntity
from .entity_set import async_add_platform_entities

PARALLEL_UPDATES = 0

# A custom feed is a float32 on the device; these bounds keep the UI's box usable.
FEED_MIN = -1_000_000_000.0
FEED_MAX = 1_000_000_000.0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: FlexscadaConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the feed numbers of a Q5, now and whenever its config brings new ones."""
    async_add_platform_entities(hass, entry, Platform.NUMBER, async_add_entities, Q5FeedNumber)


class Q5FeedNumber(Q5MetricEntity, Q5ControlEntity, NumberEntity):
    """A FLOAT custom feed: shows the device's value, or the value waiting to be sent."""

    _attr_mode = NumberMode.BOX
    _attr_native_min_value = FEED_MIN
    _attr_native_max_value = FEED_MAX
    _attr_native_step = 0.001

    @override
    def _written_from(self) -> object:
        """Return availability, the shown value and whether a value waits."""
        return (self.available, self.native_value, self.extra_state_attributes["pending"])

    @property
    @override
    def native_value(self) -> float | None:
        """Return the requested value while it waits, else the reported one."""
        if pending := self.device.commands.pending_for(SET_FEED, "feed", self.channel_number):
            return float(pending.params["value"])
        value = self.reading
        return None if value is None else float(value)

    @property
    @override
    def extra_state_attributes(self) -> dict[str, Any]:
        """Say whether a value is waiting for the device's next upload."""
        pending = self.device.commands.pending_for(SET_FEED, "feed", self.channel_number)
        return {"pending": pending is not None}

    @override
    async def async_set_native_value(self, value: float) -> None:
        """Queue writing the feed."""
        await self.async_queue_command(SET_FEED, {"feed": self.channel_number, "value": value})
