"""Tests of the entity set a device config calls for, and of the device's own entities."""

from __future__ import annotations

from aiohttp.test_utils import TestClient
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from custom_components.flexscada.binary_sensor import DIAGNOSTIC_BINARY_SENSORS
from custom_components.flexscada.entity_specs import build_entity_specs, is_config_unique_id
from custom_components.flexscada.protocol import compile_layout, parse_config
from custom_components.flexscada.sensor import DIAGNOSTIC_SENSORS

from .common import UID, entity_id_of, example_config, post_config


def test_config_entities_and_diagnostics_are_told_apart() -> None:
    """Every entity the config calls for is recognised as such; no diagnostic is."""
    config = parse_config(example_config())
    specs = build_entity_specs(UID, config, compile_layout(config))
    assert specs
    assert all(is_config_unique_id(UID, unique_id) for unique_id in specs)
    diagnostics = [*DIAGNOSTIC_SENSORS, *DIAGNOSTIC_BINARY_SENSORS]
    assert not any(is_config_unique_id(UID, f"{UID}_{d.key}") for d in diagnostics)
    assert build_entity_specs(UID, None, None) == {}


async def test_diagnostics_are_never_removed_as_stale(
    hass: HomeAssistant, client: TestClient, setup_entry: MockConfigEntry
) -> None:
    """A config change and a restart neither remove nor re-create a diagnostic's entry."""
    config = example_config()
    await post_config(client, config)
    changes = async_capture_events(hass, er.EVENT_ENTITY_REGISTRY_UPDATED)
    config["version"] += 1
    await post_config(client, config)
    await hass.async_block_till_done()
    assert await hass.config_entries.async_reload(setup_entry.entry_id)
    await hass.async_block_till_done()

    # A removed entry would come back re-created (settings restored, but a new entity).
    assert [e.data for e in changes if e.data["action"] in ("create", "remove")] == []
    assert hass.states.get(entity_id_of(hass, f"{UID}_connectivity")) is not None
