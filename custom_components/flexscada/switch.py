"""Switches: Q5 relays and BIT custom feeds, driven through the device's command queue."""

from __future__ import annotations

from typing import Any, override

from homeassistant.components.switch import SwitchEntity
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .device import FlexscadaConfigEntry
from .entity import Q5ControlEntity, Q5MetricEntity
from .entity_set import async_add_platform_entities
from .entity_specs import Q5SwitchEntityDescription
from .protocol import SetFeed, SetRelay

# Turning a switch only queues a command (no I/O), so no limit is needed.
PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: FlexscadaConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the switches of a Q5, now and whenever its config brings new ones."""
    async_add_platform_entities(
        hass, entry, Q5SwitchEntityDescription, async_add_entities, Q5Switch
    )


class Q5Switch(Q5MetricEntity, Q5ControlEntity, SwitchEntity):
    """A relay (`set_relay`) or a BIT custom feed (`set_feed`).

    The state is what the device reports. While a command waits for the device, the switch
    shows the requested state and says so in its `pending` attribute; once the device has
    acknowledged the command, its own report counts again, also if it disagrees.
    """

    entity_description: Q5SwitchEntityDescription

    @override
    def _written_from(self) -> object:
        """Return availability, the shown state and whether a command waits."""
        return (self.available, self.is_on, self._pending() is not None)

    @property
    def _is_relay(self) -> bool:
        """Return True for a relay, False for a custom feed."""
        return self.entity_description.channel.section == "relays"

    def _pending(self) -> SetRelay | SetFeed | None:
        """Return the command waiting for this switch, if any."""
        if self._is_relay:
            return self.device.commands.pending_relay(self.command_channel)
        return self.device.commands.pending_feed(self.command_channel)

    @property
    @override
    def is_on(self) -> bool | None:
        """Return the requested state while a command waits, else the reported state."""
        if (pending := self._pending()) is not None:
            return pending.on if isinstance(pending, SetRelay) else bool(pending.value)
        value = self.measured_value
        return None if value is None else bool(value)

    @property
    @override
    def extra_state_attributes(self) -> dict[str, Any]:
        """Say whether a command is waiting for the device's next upload."""
        return {"pending": self._pending() is not None}

    @override
    async def async_turn_on(self, **kwargs: Any) -> None:
        """Queue switching on."""
        await self._async_set(True)

    @override
    async def async_turn_off(self, **kwargs: Any) -> None:
        """Queue switching off."""
        await self._async_set(False)

    async def _async_set(self, on: bool) -> None:
        """Queue the command that sets this relay or feed."""
        if self._is_relay:
            await self.async_queue_command(SetRelay(self.command_channel, on))
        else:
            await self.async_queue_command(SetFeed(self.command_channel, int(on)))
