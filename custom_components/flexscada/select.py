"""Selects: device settings changed with a config push (intervals, relay power-up states).

A select shows the value being pushed while the device has not adopted it yet (attribute
`pending` true), and the device's own value otherwise; choosing an option queues a config with
`version` + 1 for the device's next upload (see `config_push`). The intervals are settings of
every Q5, declared here like the diagnostic entities; a relay's power-up state follows the
device config through the entity set.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, override

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .config_push import async_push_config_changes, wanted_config
from .device import FlexscadaConfigEntry, Q5Device
from .entity import Q5ChannelEntity, Q5Entity
from .entity_set import async_add_platform_entities
from .entity_specs import RELAY_POWER_UP_OPTIONS, Q5RelayPowerUpSelectEntityDescription
from .protocol.config_edit import INTERVAL_CHOICES, config_value

PARALLEL_UPDATES = 0

#: The option showing each interval (seconds) the device offers.
INTERVAL_OPTIONS: Final[Mapping[int, str]] = {seconds: str(seconds) for seconds in INTERVAL_CHOICES}

#: The device's intervals; `key` is the config key and the translation key.
INTERVAL_SELECTS: tuple[SelectEntityDescription, ...] = tuple(
    SelectEntityDescription(
        key=key,
        translation_key=key,
        entity_category=EntityCategory.CONFIG,
        options=list(INTERVAL_OPTIONS.values()),
    )
    for key in ("upload_interval", "measurement_interval")
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: FlexscadaConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the interval selects of a Q5, and its relays' power-up selects as its config has."""
    device = entry.runtime_data
    async_add_entities(Q5IntervalSelect(device, description) for description in INTERVAL_SELECTS)
    async_add_platform_entities(
        hass, entry, Q5RelayPowerUpSelectEntityDescription, async_add_entities, Q5PowerUpSelect
    )


class Q5SettingSelect(Q5Entity, SelectEntity):
    """One device setting: shows the pushed value while it is pending, queues a push."""

    entity_description: SelectEntityDescription
    #: The option showing each config value the setting can have.
    _option_by_value: Mapping[int, str]

    @override
    def _written_from(self) -> object:
        """Return availability, the shown option and whether it is pending."""
        return (self.available, self.current_option, self.extra_state_attributes["pending"])

    @property
    @override
    def current_option(self) -> str | None:
        """Return the value being pushed while it is pending, else the device's.

        None for a value the options lack (set elsewhere); `true` is no 1 here, as in JSON.
        """
        config = wanted_config(self.device)
        if config is None:
            return None
        value = config_value(config.raw, self.entity_description.key)
        return self._option_by_value.get(value) if type(value) is int else None

    @property
    @override
    def extra_state_attributes(self) -> dict[str, Any]:
        """Say whether the shown value waits for the device to adopt it."""
        current, shown = self.device.config, wanted_config(self.device)
        key = self.entity_description.key
        pending = (
            current is not None
            and shown is not None
            and config_value(current.raw, key) != config_value(shown.raw, key)
        )
        return {"pending": pending}

    @override
    async def async_select_option(self, option: str) -> None:
        """Queue a config with the new value for the device's next upload."""
        value = next(value for value, shown in self._option_by_value.items() if shown == option)
        await async_push_config_changes(self.device, {self.entity_description.key: value})


class Q5IntervalSelect(Q5SettingSelect):
    """The device's upload or measurement interval, in seconds."""

    _option_by_value = INTERVAL_OPTIONS

    def __init__(self, device: Q5Device, description: SelectEntityDescription) -> None:
        """Initialize from the device runtime and the setting's description."""
        super().__init__(device, f"{device.uid}_{description.key}")
        self.entity_description = description


class Q5PowerUpSelect(Q5SettingSelect, Q5ChannelEntity):
    """A relay's power-up state (its `default` config key)."""

    entity_description: Q5RelayPowerUpSelectEntityDescription
    _option_by_value = RELAY_POWER_UP_OPTIONS
