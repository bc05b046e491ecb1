"""The device registry entry of a Q5, and the config entry's title, follow what the device says."""

from __future__ import annotations

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr

from .const import DOMAIN
from .device import FlexscadaConfigEntry


@callback
def async_follow_device_registry(hass: HomeAssistant, entry: FlexscadaConfigEntry) -> None:
    """Create the device's registry entry now, and keep its name and firmware up to date."""
    device = entry.runtime_data
    # The device exists from the start, even before the Q5 has sent its config.
    dr.async_get(hass).async_get_or_create(config_entry_id=entry.entry_id, **device.device_info)

    @callback
    def async_update_device_registry() -> None:
        """Follow the device's name and firmware in the device registry."""
        registry = dr.async_get(hass)
        device_entry = registry.async_get_device_by_identifier(
            (DOMAIN, str(device.uid)), entry.entry_id
        )
        if device_entry is None:
            return
        if device_entry.name != device.name or device_entry.sw_version != device.firmware_version:
            registry.async_update_device(
                device_entry.id, name=device.name, sw_version=device.firmware_version
            )
        # The entry is named after the device once its name is known, unless the user renamed it.
        if entry.title == f"Q5 {device.uid}" != device.name:
            hass.config_entries.async_update_entry(entry, title=device.name)

    entry.async_on_unload(device.async_add_listener(async_update_device_registry))
