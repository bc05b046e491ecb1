"""The FlexSCADA Q5 integration: Q5 devices push encrypted uploads into Home Assistant."""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.helpers.typing import ConfigType

from .const import CONF_KEY, CONF_UID, DOMAIN
from .device import FlexscadaConfigEntry, Q5Device
from .discovery import async_forget_uploads, async_setup_discovery
from .entity_set import async_setup_entity_set
from .issues import async_clear_issues, async_update_shared_key_issues
from .registry import async_follow_device_registry
from .services import async_setup_services
from .store import async_remove_stores
from .views import async_register_views

# An empty `flexscada:` in configuration.yaml loads the integration before any Q5 is added, so
# the first device is discovered from its uploads; devices themselves are only set up in the UI.
CONFIG_SCHEMA = cv.empty_config_schema(DOMAIN)

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.NUMBER,
    Platform.SELECT,
    Platform.SENSOR,
    Platform.SWITCH,
]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the upload views (once per process: views cannot be removed) and the actions."""
    async_setup_discovery(hass)
    async_register_views(hass)
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: FlexscadaConfigEntry) -> bool:
    """Set up one Q5 from its stored config, before it uploads again."""
    device = Q5Device(hass, entry, bytes.fromhex(entry.data[CONF_KEY]))
    async_forget_uploads(hass, device.uid)
    async_update_shared_key_issues(hass)
    await device.async_load()
    await device.statistics.async_load()
    entry.runtime_data = device
    async_follow_device_registry(hass, entry)
    entry.async_on_unload(_async_statistics_follow_config(device))
    async_setup_entity_set(hass, entry)
    entry.async_on_unload(device.async_shutdown)
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    # Import the hours Home Assistant has compiled, once the entities exist.
    device.statistics.async_start()
    entry.async_on_unload(device.statistics.async_stop)
    return True


@callback
def _async_statistics_follow_config(device: Q5Device) -> CALLBACK_TYPE:
    """Let the statistics know which fields feed which sensors, now and after a new config."""

    @callback
    def config_changed() -> None:
        device.statistics.async_set_sources(device.config, device.layout)

    config_changed()
    return device.async_add_config_listener(config_changed)


async def async_unload_entry(hass: HomeAssistant, entry: FlexscadaConfigEntry) -> bool:
    """Unload a Q5; uploads from it get 404 until it is loaded again."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: FlexscadaConfigEntry) -> None:
    """Delete the stores and repair issues of a removed Q5.

    The unload ran first and awaited the runtime's last write, so no save lands after this.
    """
    async_clear_issues(hass, int(entry.data[CONF_UID]))
    async_update_shared_key_issues(hass, removed=entry.entry_id)
    await async_remove_stores(hass, int(entry.data[CONF_UID]))


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: FlexscadaConfigEntry, device_entry: dr.DeviceEntry
) -> bool:
    """Allow removing only a device that is not this entry's Q5.

    The entry is the Q5: its own device comes back at the next setup, so removing it would
    achieve nothing; deleting the entry is how a Q5 is removed.
    """
    return (DOMAIN, str(entry.data[CONF_UID])) not in device_entry.identifiers
