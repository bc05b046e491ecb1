"""Tests of the diagnostics: what they hold, and that no secret is in them."""

from __future__ import annotations

import json

from homeassistant.components.switch import DOMAIN as SWITCH_DOMAIN
from homeassistant.const import ATTR_ENTITY_ID, SERVICE_TURN_ON
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
    get_diagnostics_for_device,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from custom_components.flexscada.const import DOMAIN

from .common import (
    DEVICE_EPOCH,
    KEY,
    PASSPHRASE,
    UID,
    WRONG_KEY,
    Q5Uploads,
    entity_id_of,
    layout_of,
)

SECRET_PASSWORD = "s3cret-wifi-pass"


@pytest.fixture(autouse=True)
async def setup_diagnostics(hass: HomeAssistant) -> None:
    """Set up diagnostics before the HTTP server starts (its router is frozen after)."""
    assert await async_setup_component(hass, "diagnostics", {})


async def test_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    q5: Q5Uploads,
    setup_entry: MockConfigEntry,
    snapshot: SnapshotAssertion,
) -> None:
    """Config, layout, last upload, queue, counters and availability; secrets redacted."""
    config = q5.config
    # Key-like fields a device JSON may carry, anywhere in it.
    config["key"] = KEY.hex()
    config["wifi"] = {"ssid": "site", "password": SECRET_PASSWORD, "aes_key": KEY.hex()}
    config["relays"]["1"]["pass"] = SECRET_PASSWORD
    assert await q5.send_config() == 200
    values = q5.values()
    status, _ = await q5.upload_rows([(DEVICE_EPOCH, values), (DEVICE_EPOCH + 60, values)])
    assert status == 200
    await hass.services.async_call(
        SWITCH_DOMAIN,
        SERVICE_TURN_ON,
        {ATTR_ENTITY_ID: entity_id_of(hass, f"{UID}_relays_2_state")},
        blocking=True,
    )
    assert (await q5.upload_rows([], key=WRONG_KEY))[0] == 403

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, setup_entry)
    # These follow the wall clock.
    assert diagnostics == snapshot(exclude=props("received", "clock_offset", "queued_at"))

    text = json.dumps(diagnostics)
    for secret in (KEY.hex(), SECRET_PASSWORD, PASSPHRASE, config["cloud"]):
        assert secret not in text
    device = diagnostics["device"]
    assert device["config"]["wifi"]["ssid"] == "site"
    assert device["layout"]["fields"] == len(layout_of(config).fields)
    assert device["queue"]["pending"][0]["params"] == {"ch": 2, "state": 1}
    assert device["counters"] == {
        "rows_total": 2,
        "rows_in_last_upload": 2,
        "integrity_failures_in_a_row": 1,
        "rows_duplicate": 0,
        "uploads_duplicate": 0,
        "configs_ignored": 0,
    }

    device_entry = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, str(UID)), setup_entry.entry_id
    )
    assert device_entry is not None
    assert (
        await get_diagnostics_for_device(hass, hass_client, setup_entry, device_entry)
        == diagnostics
    )


async def test_diagnostics_before_any_upload(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    setup_entry: MockConfigEntry,
    snapshot: SnapshotAssertion,
) -> None:
    """A device that has not uploaded yet has empty sections, not errors."""
    assert await get_diagnostics_for_config_entry(hass, hass_client, setup_entry) == snapshot
