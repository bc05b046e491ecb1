"""Numbers: FLOAT custom feeds, written with `set_feed`."""

from __future__ import annotations

import math
from typing import Any, override

from homeassistant.components.number import NumberEntity, NumberMode
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import DOMAIN
from .device import FlexscadaConfigEntry
from .entity import Q5ControlEntity, Q5MetricEntity
from .entity_set import async_add_platform_entities
from .entity_specs import Q5FeedNumberEntityDescription
from .protocol import SetFeed

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
    async_add_platform_entities(
        hass, entry, Q5FeedNumberEntityDescription, async_add_entities, Q5FeedNumber
    )


class Q5FeedNumber(Q5MetricEntity, Q5ControlEntity, NumberEntity):
    """A FLOAT custom feed: shows the device's value, or the value waiting to be sent."""

    entity_description: Q5FeedNumberEntityDescription
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
        if pending := self.device.commands.pending_feed(self.command_channel):
            return float(pending.value)
        value = self.measured_value
        return None if value is None else float(value)

    @property
    @override
    def extra_state_attributes(self) -> dict[str, Any]:
        """Say whether a value is waiting for the device's next upload."""
        pending = self.device.commands.pending_feed(self.command_channel)
        return {"pending": pending is not None}

    @override
    async def async_set_native_value(self, value: float) -> None:
        """Queue writing the feed; NaN and infinity are refused (JSON cannot carry them)."""
        # NaN passes the range check of number.set_value: every comparison with it is False.
        if not math.isfinite(value):
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="feed_value_not_finite",
                translation_placeholders={"entity": self.entity_id, "value": str(value)},
            )
        await self.async_queue_command(SetFeed(self.command_channel, value))
