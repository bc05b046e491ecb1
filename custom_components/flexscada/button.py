"""Buttons: pulse a relay, or reset its fuse/HVD/LVD trip."""

from __future__ import annotations

from typing import override

from homeassistant.components.button import ButtonEntity
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .device import FlexscadaConfigEntry
from .entity import Q5ControlEntity
from .entity_set import async_add_platform_entities
from .entity_specs import Q5RelayButtonEntityDescription

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: FlexscadaConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the relay buttons of a Q5, now and whenever its config brings new ones."""
    async_add_platform_entities(
        hass, entry, Q5RelayButtonEntityDescription, async_add_entities, Q5RelayButton
    )


class Q5RelayButton(Q5ControlEntity, ButtonEntity):
    """Pulse a relay (`pulse_relay`) or reset its trips (`reset_relay`)."""

    entity_description: Q5RelayButtonEntityDescription

    @override
    def _written_from(self) -> object:
        """Return availability (a button's state is when it was last pressed)."""
        return (self.available,)

    @override
    async def async_press(self) -> None:
        """Queue the pulse or reset."""
        await self.async_queue_command(self.entity_description.command(self.command_channel))
