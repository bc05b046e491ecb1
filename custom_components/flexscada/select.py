"""Selects: device settings changed with a config push (intervals, relay power-up states).

A select shows the value being pushed while the device has not adopted it yet (attribute
`pending` true), and the device's own value otherwise; choosing an option queues a config with
`version` + 1 for the device's next upload (see `config_push`).
"""

from __future__ import annotations

from typing import Any, override

from homeassistant.components.select import SelectEntity
from homeassistant.const import EntityCategory, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from . import FlexscadaConfigEntry
from .config_push import async_push_config_changes, wanted_config
from .entity import Q5Entity
from .entity_specs import EntitySpec
from .metrics import channel_name
from .protocol.config_edit import INTERVAL_CHOICES, config_value

PARALLEL_UPDATES = 0

#: Relay power-up states: the option shown for each value of the relay's `default` key.
POWER_UP_OPTIONS: dict[int, str] = {0: "off", 1: "on"}


async def async_setup_entry(
    hass: HomeAssistant,
    entry: FlexscadaConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the setting selects of a Q5, now and whenever its config brings new ones."""
    entry.runtime_data.async_register_platform(Platform.SELECT, async_add_entities, Q5SettingSelect)


class Q5SettingSelect(Q5Entity, SelectEntity):
    """One device setting; options are the device's own choices."""

    _attr_entity_category = EntityCategory.CONFIG

    @override
    def _apply_spec(self, spec: EntitySpec) -> None:
        """Name the select after its setting (and relay)."""
        if spec.channel is not None:  # a relay's power-up state
            self._attr_translation_key = "relay_power_up"
            self._attr_translation_placeholders = {"channel": channel_name(spec.channel)}
            self._attr_options = list(POWER_UP_OPTIONS.values())
        else:
            self._attr_translation_key = spec.key
            self._attr_options = [str(seconds) for seconds in INTERVAL_CHOICES]

    @override
    def _written_from(self) -> object:
        """Return availability, the shown option and whether it is pending."""
        return (self.available, self.current_option, self.extra_state_attributes["pending"])

    def _option_of(self, value: object) -> str | None:
        """Return the option showing a config value; None for a value the options lack."""
        if isinstance(value, bool) or not isinstance(value, int):
            return None
        option = POWER_UP_OPTIONS.get(value) if self.spec.channel is not None else str(value)
        return option if option in self.options else None

    def _value_of(self, option: str) -> int:
        """Return the config value of an option."""
        if self.spec.channel is not None:
            return next(value for value, name in POWER_UP_OPTIONS.items() if name == option)
        return int(option)

    @property
    @override
    def current_option(self) -> str | None:
        """Return the value being pushed while it is pending, else the device's."""
        config = wanted_config(self.device)
        return None if config is None else self._option_of(config_value(config.raw, self.spec.key))

    @property
    @override
    def extra_state_attributes(self) -> dict[str, Any]:
        """Say whether the shown value waits for the device to adopt it."""
        current = self.device.config
        shown = wanted_config(self.device)
        pending = (
            current is not None
            and shown is not None
            and config_value(current.raw, self.spec.key) != config_value(shown.raw, self.spec.key)
        )
        return {"pending": pending}

    @override
    async def async_select_option(self, option: str) -> None:
        """Queue a config with the new value for the device's next upload."""
        await async_push_config_changes(self.device, {self.spec.key: self._value_of(option)})
