"""The FlexSCADA Q5 integration: Q5 devices push encrypted uploads into Home Assistant."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.helpers.typing import ConfigType

from .const import CONF_KEY, CONF_UID, DOMAIN
from .device import Q5Device, device_store
from .discovery import async_forget_uploads, async_setup_discovery
from .issues import async_clear_issues
from .statistics import statistics_store
from .views import async_register_views

# An empty `flexscada:` in configuration.yaml loads the integration before any Q5 is added, so
# the first device is discovered from its uploads; devices themselves are only set up in the UI.
CONFIG_SCHEMA = cv.empty_config_schema(DOMAIN)

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
    async_setup_discovery(hass)
    async_register_views(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: FlexscadaConfigEntry) -> bool:
    """Set up one Q5 from its stored config, before it uploads again."""
    device = Q5Device(hass, entry, bytes.fromhex(entry.data[CONF_KEY]))
    async_forget_uploads(hass, device.uid)
    await device.async_load()
    # The device exists from the start, even before the Q5 has sent its config.
    dr.async_get(hass).async_get_or_create(config_entry_id=entry.entry_id, **device.device_info)
    device.async_remove_stale_entities()
    entry.runtime_data = device
    entry.async_on_unload(device.async_shutdown)
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    device.statistics.async_start()  # issue 13 hook: import hours HA has compiled
    return True


async def async_unload_entry(hass: HomeAssistant, entry: FlexscadaConfigEntry) -> bool:
    """Unload a Q5; uploads from it get 404 until it is loaded again."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: FlexscadaConfigEntry) -> None:
    """Delete the stored config, readings and repair issues of a removed Q5."""
    async_clear_issues(hass, int(entry.data[CONF_UID]))
    await device_store(hass, int(entry.data[CONF_UID])).async_remove()
    await statistics_store(hass, int(entry.data[CONF_UID])).async_remove()


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: FlexscadaConfigEntry, device_entry: dr.DeviceEntry
) -> bool:
    """Allow removing only a device that is not this entry's Q5.

    The entry is the Q5: its own device comes back at the next setup, so removing it would
    achieve nothing; deleting the entry is how a Q5 is removed.
    """
    return (DOMAIN, str(entry.data[CONF_UID])) not in device_entry.identifiers
