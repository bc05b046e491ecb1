"""Snapshot tests of the entities generated from the example device config."""

from __future__ import annotations

from unittest.mock import patch

from aiohttp.test_utils import TestClient
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion

from custom_components.flexscada import PLATFORMS

from .common import (
    DEVICE_EPOCH,
    distinct_values,
    example_config,
    layout_of,
    measurement_packet,
    post_config,
    post_measurement,
)


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.freeze_time("2026-11-25 12:00:00+00:00")
@pytest.mark.parametrize(
    "platform",
    PLATFORMS,
)
async def test_entities(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    hass_client_no_auth: ClientSessionGenerator,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    platform: Platform,
) -> None:
    """Every entity of the example config, its registry entry and its state."""
    config_entry.add_to_hass(hass)
    with patch("custom_components.flexscada.PLATFORMS", [platform]):
        assert await hass.config_entries.async_setup(config_entry.entry_id)
        client: TestClient = await hass_client_no_auth()
        config = example_config()
        await post_config(client, config)
        values = distinct_values(layout_of(config))
        await post_measurement(
            client, measurement_packet(config, [(DEVICE_EPOCH, values)], epoch=DEVICE_EPOCH)
        )
        await hass.async_block_till_done()
    await snapshot_platform(hass, entity_registry, snapshot, config_entry.entry_id)
