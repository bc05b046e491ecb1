"""Buttons: pulse a relay, or reset its fuse/HVD/LVD trip."""

from __future__ import annotations

from typing import override

from homeassistant.components.button import ButtonEntity
from homeassistant.const import EntityCategory, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .commands import PULSE_RELAY, RESET_RELAY
from .device import FlexscadaConfigEntry
from .entity import Q5ControlEntity
from .entity_set import async_add_platform_entities
from .entity_specs import EntitySpec, SpecKind
from .metrics import channel_name

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: FlexscadaConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the relay buttons of a Q5, now and whenever its config brings new ones."""
    async_add_platform_entities(hass, entry, Platform.BUTTON, async_add_entities, Q5RelayButton)


class Q5RelayButton(Q5ControlEntity, ButtonEntity):
    """Pulse a relay (`pulse_relay`) or reset its trips (`reset_relay`)."""

    @override
    def _written_from(self) -> object:
        """Return availability (a button's state is when it was last pressed)."""
        return (self.available,)

    @override
    def _apply_spec(self, spec: EntitySpec) -> None:
        """Name the button after its relay."""
        assert spec.channel is not None
        self._attr_translation_key = f"relay_{spec.kind}"
        self._attr_translation_placeholders = {"channel": channel_name(spec.channel)}
        self._attr_entity_category = EntityCategory.CONFIG if spec.kind is SpecKind.RESET else None

    @override
    async def async_press(self) -> None:
        """Queue the pulse or reset."""
        cmd = PULSE_RELAY if self.spec.kind is SpecKind.PULSE else RESET_RELAY
        await self.async_queue_command(cmd, {"ch": self.channel_number})
