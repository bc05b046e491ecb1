"""Tests for loading, unloading and removing the integration and its devices."""

from http import HTTPStatus
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.loader import async_get_integration
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    WebSocketGenerator,
)

from custom_components.flexscada.const import DOMAIN

from .common import (
    DEVICE_EPOCH,
    UID,
    distinct_values,
    example_config,
    layout_of,
    measurement_packet,
)


async def test_integration_loads(hass: HomeAssistant) -> None:
    """Home Assistant finds our custom integration and sets it up."""
    integration = await async_get_integration(hass, DOMAIN)
    assert integration.is_built_in is False
    assert integration.manifest["iot_class"] == "local_push"

    assert await async_setup_component(hass, DOMAIN, {})
    assert DOMAIN in hass.config.components


async def test_only_stale_devices_can_be_removed(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    setup_entry: MockConfigEntry,
) -> None:
    """The entry's own Q5 stays (delete the entry instead); another device of it may go."""
    assert await async_setup_component(hass, "config", {})
    registry = dr.async_get(hass)
    own = registry.async_get_device_by_identifier((DOMAIN, str(UID)), setup_entry.entry_id)
    assert own is not None
    stale = registry.async_get_or_create(
        config_entry_id=setup_entry.entry_id, identifiers={(DOMAIN, "12345")}
    )
    client = await hass_ws_client(hass)

    async def remove(device_id: str) -> dict[str, Any]:
        await client.send_json_auto_id(
            {
                "type": "config/device_registry/remove_config_entry",
                "config_entry_id": setup_entry.entry_id,
                "device_id": device_id,
            }
        )
        response: dict[str, Any] = await client.receive_json()
        return response

    assert not (await remove(own.id))["success"]
    assert registry.async_get(own.id) is not None
    assert (await remove(stale.id))["success"]
    assert registry.async_get(stale.id) is None


@pytest.mark.usefixtures("reporting_q5")
async def test_unload_stops_everything(hass: HomeAssistant, setup_entry: MockConfigEntry) -> None:
    """Unloading cancels the availability timer and keeps the data; nothing is left running."""
    device = setup_entry.runtime_data
    assert device.availability.timer_running
    assert await hass.config_entries.async_unload(setup_entry.entry_id)
    await hass.async_block_till_done()
    assert not device.availability.timer_running
    assert setup_entry.state is ConfigEntryState.NOT_LOADED
    assert not setup_entry.update_listeners
    assert await hass.config_entries.async_setup(setup_entry.entry_id)
    await hass.async_block_till_done()
    assert setup_entry.runtime_data.config is not None  # what it told us was saved


async def test_yaml_key_loads_views_for_discovery(
    hass: HomeAssistant, hass_client_no_auth: ClientSessionGenerator
) -> None:
    """With an empty `flexscada:` in YAML, the first Q5 is discovered before any entry exists."""
    assert await async_setup_component(hass, DOMAIN, {DOMAIN: {}})
    client = await hass_client_no_auth()
    config = example_config()
    body = measurement_packet(config, [(DEVICE_EPOCH, distinct_values(layout_of(config)))])
    response = await client.post("/Q5/m", data=body)
    assert response.status == HTTPStatus.NOT_FOUND
    await hass.async_block_till_done()
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["unique_id"] for flow in flows] == [str(UID)]
