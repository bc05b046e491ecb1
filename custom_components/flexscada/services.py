"""Actions: `flexscada.update_device_config` changes a Q5's config with a config push."""

from __future__ import annotations

from typing import Final

from homeassistant.const import ATTR_DEVICE_ID
from homeassistant.core import HomeAssistant, ServiceCall, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv, device_registry as dr
import probatio

from .config_push import async_push_config_changes
from .const import DOMAIN
from .device import Q5Device, loaded_device

SERVICE_UPDATE_DEVICE_CONFIG: Final = "update_device_config"
ATTR_CHANGES: Final = "changes"

UPDATE_DEVICE_CONFIG_SCHEMA: Final = probatio.Schema(
    {
        probatio.Required(ATTR_DEVICE_ID): cv.string,
        probatio.Required(ATTR_CHANGES): probatio.All(dict, probatio.Length(min=1)),
    }
)


@callback
def _device_runtime(hass: HomeAssistant, device_id: str) -> Q5Device:
    """Return the loaded runtime of a Q5 by its device registry id."""
    device = dr.async_get(hass).async_get(device_id)
    if device is not None:
        for entry_id in device.config_entries:
            entry = hass.config_entries.async_get_entry(entry_id)
            if entry is None or entry.domain != DOMAIN:
                continue
            if (runtime := loaded_device(entry)) is None:
                raise ServiceValidationError(
                    translation_domain=DOMAIN,
                    translation_key="device_not_loaded",
                    translation_placeholders={"device": entry.title},
                )
            return runtime
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="device_not_found",
        translation_placeholders={"device_id": device_id},
    )


async def _async_update_device_config(call: ServiceCall) -> None:
    """Queue a changed config for the device's next upload; nothing is queued on an error."""
    device = _device_runtime(call.hass, call.data[ATTR_DEVICE_ID])
    await async_push_config_changes(device, call.data[ATTR_CHANGES])


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions (once, in async_setup)."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_UPDATE_DEVICE_CONFIG,
        _async_update_device_config,
        schema=UPDATE_DEVICE_CONFIG_SCHEMA,
    )
