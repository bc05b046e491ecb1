"""Shared fixtures for the FlexSCADA Q5 tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from http import HTTPStatus
from unittest.mock import PropertyMock, patch

from aiohttp.test_utils import TestClient
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion

# Import our package before Home Assistant loads integrations: the harness ships its own
# testing_config/custom_components, which would otherwise shadow ours ("Integration not found").
import custom_components.flexscada  # noqa: F401

from .common import Q5Uploads, make_entry


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/flexscada in every test."""


@pytest.fixture
def config_entry() -> MockConfigEntry:
    """Return the config entry of the example device."""
    return make_entry()


@pytest.fixture
async def setup_entry(hass: HomeAssistant, config_entry: MockConfigEntry) -> MockConfigEntry:
    """Set up the example device's entry."""
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    return config_entry


@pytest.fixture
def client_factory(
    hass_client_no_auth: ClientSessionGenerator,
) -> Callable[[], Awaitable[TestClient]]:
    """Return a factory for an HTTP client without Home Assistant login (as the device)."""
    return hass_client_no_auth


@pytest.fixture
async def client(
    setup_entry: MockConfigEntry, hass_client_no_auth: ClientSessionGenerator
) -> TestClient:
    """Return an HTTP client posting as the device, with the device's entry set up."""
    return await hass_client_no_auth()


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Return snapshot assertion fixture with the Home Assistant extension (stable ids).

    Not a duplicate: pytest-homeassistant-custom-component's own `snapshot` fixture is shadowed
    by syrupy's here (plugin order), and without the extension the snapshots are not found.
    """
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


@pytest.fixture
def q5(client: TestClient) -> Q5Uploads:
    """Return the example device, set up but not yet heard from."""
    return Q5Uploads(client)


@pytest.fixture
async def configured_q5(q5: Q5Uploads) -> Q5Uploads:
    """Return the example device after it sent its config (stored, entities created)."""
    assert await q5.send_config() == HTTPStatus.OK
    return q5


@pytest.fixture
async def reporting_q5(configured_q5: Q5Uploads) -> Q5Uploads:
    """Return the example device after its config and one upload of `values()` at DEVICE_EPOCH."""
    assert (await configured_q5.upload())[0] == HTTPStatus.OK
    return configured_q5


@pytest.fixture
def entity_registry_enabled_by_default() -> Generator[None]:
    """Enable the entities that are disabled by default, as Home Assistant core's tests do."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        return_value=True,
        new_callable=PropertyMock,
    ):
        yield
