"""Tests for loading the integration."""

from homeassistant.core import HomeAssistant
from homeassistant.loader import async_get_integration
from homeassistant.setup import async_setup_component

from custom_components.flexscada.const import DOMAIN


async def test_integration_loads(hass: HomeAssistant) -> None:
    """Home Assistant finds our custom integration and sets it up."""
    integration = await async_get_integration(hass, DOMAIN)
    assert integration.is_built_in is False
    assert integration.manifest["iot_class"] == "local_push"

    assert await async_setup_component(hass, DOMAIN, {})
    assert DOMAIN in hass.config.components
