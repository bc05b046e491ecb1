"""The FlexSCADA Q5 integration: Q5 devices push encrypted uploads into Home Assistant."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.helpers.typing import ConfigType

from .const import CONF_KEY, DOMAIN
from .device import Q5Device
from .views import async_register_views

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.NUMBER,
    Platform.SENSOR,
    Platform.SWITCH,
]

type FlexscadaConfigEntry = ConfigEntry[Q5Device]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the upload views once per Home Assistant process (views cannot be removed)."""
    async_register_views(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: FlexscadaConfigEntry) -> bool:
    """Set up one Q5 from its stored config, before it uploads again."""
    device = Q5Device(hass, entry, bytes.fromhex(entry.data[CONF_KEY]))
    await device.async_load()
    # The device exists from the start, even before the Q5 has sent its config.
    dr.async_get(hass).async_get_or_create(config_entry_id=entry.entry_id, **device.device_info)
    device.async_remove_stale_entities()
    entry.runtime_data = device
    entry.async_on_unload(device.async_shutdown)
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: FlexscadaConfigEntry) -> bool:
    """Unload a Q5; uploads from it get 404 until it is loaded again."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: FlexscadaConfigEntry) -> None:
    """Delete the stored config and readings of a removed Q5."""
    await Q5Device(hass, entry, bytes.fromhex(entry.data[CONF_KEY])).async_remove_store()
