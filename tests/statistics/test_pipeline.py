"""The statistics wired into the upload pipeline: which rows count, and life without a recorder."""

from __future__ import annotations

from http import HTTPStatus
import logging
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.flexscada.device import Q5Device
from custom_components.flexscada.statistics_store import statistics_store

from ..common import entity_id_of, post_config
from .harness import (
    CONFIG,
    ENERGY_UNIQUE_ID,
    POWER,
    RETURNED_UNIQUE_ID,
    UID,
    Site,
    upload_body,
)

KWH_PER_600_WATT_MINUTE = 600 * 60 / 3_600_000


def power_rows(start: int, count: int, watts: float = 600.0) -> list[Any]:
    """Return `count` rows a minute apart from `start` (unix), drawing `watts`."""
    return [
        (dt_util.utc_from_timestamp(start + 60 * k), {POWER: watts, "relays.1.state": True})
        for k in range(count)
    ]


def now_minute() -> int:
    """Return the current time rounded down to the minute."""
    now = int(dt_util.utcnow().timestamp())
    return now - now % 60


async def test_without_recorder_the_energy_counter_works_and_nothing_alarming_is_logged(
    hass: HomeAssistant, plain_site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    """No recorder: the counter entity follows the rows, persists, and nothing is logged."""
    assert "recorder" not in hass.config.components
    start = now_minute() - 3600
    await plain_site.send(power_rows(start + 60, 60))
    await hass.async_block_till_done()
    state = hass.states.get(plain_site.energy_id)
    assert state is not None
    assert float(state.state) == pytest.approx(60 * KWH_PER_600_WATT_MINUTE)
    assert state.attributes["unit_of_measurement"] == "kWh"
    assert state.attributes["state_class"] == "total_increasing"
    assert state.attributes["device_class"] == "energy"
    returned = er.async_get(hass).async_get(entity_id_of(hass, RETURNED_UNIQUE_ID))
    assert returned is not None
    assert returned.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    diagnostics = plain_site.statistics.diagnostics()
    assert diagnostics["recorder"] is False
    assert diagnostics["hours_pending"] >= 1
    assert diagnostics["hours_written"] == 0

    # Persisted: after a reload the counter goes on from where it was.
    assert await hass.config_entries.async_reload(plain_site.entry.entry_id)
    await hass.async_block_till_done()
    assert plain_site.statistics.energy_total(ENERGY_UNIQUE_ID) == pytest.approx(
        60 * KWH_PER_600_WATT_MINUTE
    )
    await plain_site.send(power_rows(start + 3660, 1))
    await hass.async_block_till_done()
    assert float(hass.states.get(plain_site.energy_id).state) == pytest.approx(
        61 * KWH_PER_600_WATT_MINUTE
    )
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_only_rows_not_seen_before_count(hass: HomeAssistant, plain_site: Site) -> None:
    """An upload repeating half its rows (a retried backlog) adds only the other half."""
    start = now_minute() - 7200
    rows = power_rows(start, 60)
    await plain_site.send(rows[:30])
    await plain_site.send(rows)
    await plain_site.send(rows)
    assert plain_site.statistics.energy_total(ENERGY_UNIQUE_ID) == pytest.approx(
        60 * KWH_PER_600_WATT_MINUTE
    )


async def test_rows_of_an_unset_clock_count_at_their_restamped_time(
    hass: HomeAssistant, plain_site: Site
) -> None:
    """A device whose clock was reset to 2000: its rows fill the hours they were measured in."""
    device_start = 946_684_800  # 2000-01-01, the reset clock
    rows = power_rows(device_start, 30)
    await plain_site.post(upload_body(rows))
    received = now_minute()
    diagnostics = plain_site.statistics.diagnostics()
    # Re-stamped to now: the rows land in the last hour (not 26 years back, outside the window).
    oldest = dt_util.parse_datetime(diagnostics["oldest_pending"])
    assert oldest is not None
    assert received - 3 * 3600 <= oldest.timestamp() <= received
    assert diagnostics["hours_pending"] >= 1


async def test_energy_sensors_follow_the_config_and_survive_the_startup_cleanup(
    hass: HomeAssistant, plain_site: Site, hass_storage: dict[str, Any]
) -> None:
    """A config without the relay removes its energy sensors; removing the entry, its store."""
    registry = er.async_get(hass)
    assert await hass.config_entries.async_reload(plain_site.entry.entry_id)
    await hass.async_block_till_done()
    assert registry.async_get(plain_site.energy_id) is not None  # kept by the clean-up

    await plain_site.send(power_rows(now_minute() - 600, 5))
    device: Q5Device = plain_site.entry.runtime_data
    assert f"flexscada.{UID}.statistics" in hass_storage
    without_relay = {key: value for key, value in CONFIG.items() if key != "relays"}
    assert await post_config(plain_site.client, without_relay | {"version": 4}) == HTTPStatus.OK
    await hass.async_block_till_done()
    assert registry.async_get(plain_site.energy_id) is None
    assert device.statistics.sources.energy == ()

    assert await hass.config_entries.async_remove(plain_site.entry.entry_id)
    await hass.async_block_till_done()
    assert f"flexscada.{UID}.statistics" not in hass_storage


async def test_statistics_store_is_encoded_off_the_event_loop(hass: HomeAssistant) -> None:
    """Megabytes of aggregates: the statistics store's JSON is encoded in the executor."""
    store = statistics_store(hass, UID)
    assert store._serialize_in_event_loop is False  # HA's Store has no public accessor


async def test_next_upload_continues_from_the_last_integrated_row(
    hass: HomeAssistant, plain_site: Site, hass_storage: dict[str, Any]
) -> None:
    """An alarm upload 10 s after the last row covers 10 s, not a whole interval; kept on disk."""
    start = now_minute() - 3600
    await plain_site.send(power_rows(start, 10))  # the first row covers its whole minute
    await plain_site.send(power_rows(start + 9 * 60 + 10, 1))  # 10 s after the last row
    expected = (10 * 60 + 10) * 600 / 3_600_000
    assert plain_site.statistics.energy_total(ENERGY_UNIQUE_ID) == pytest.approx(expected)

    # Persisted: after a reload the next row again covers only the time since the last one.
    assert await hass.config_entries.async_reload(plain_site.entry.entry_id)
    await hass.async_block_till_done()
    await plain_site.send(power_rows(start + 9 * 60 + 40, 1))
    expected += 30 * 600 / 3_600_000
    assert plain_site.statistics.energy_total(ENERGY_UNIQUE_ID) == pytest.approx(expected)

    # A store written before the field existed still loads; its next row covers an interval.
    stored = hass_storage[f"flexscada.{UID}.statistics"]["data"]
    del stored["last_integrated"]
    assert await hass.config_entries.async_reload(plain_site.entry.entry_id)
    await hass.async_block_till_done()
    assert plain_site.statistics.energy_total(ENERGY_UNIQUE_ID) == pytest.approx(expected)
    await plain_site.send(power_rows(start + 11 * 60, 1))
    expected += 60 * 600 / 3_600_000
    assert plain_site.statistics.energy_total(ENERGY_UNIQUE_ID) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("version", "data"),
    [
        (1, {"means": {}, "energy": {}}),  # keys missing
        (1, {"means": 5, "energy": {}, "totals": {}}),  # wrong type
        (1, {"means": {"x": 5}, "energy": {}, "totals": {}}),  # wrong type inside
        (2, {}),  # a newer storage version
        (0, {}),  # an older one without migration
    ],
)
async def test_damaged_statistics_store_is_set_aside(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    hass_storage: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    version: int,
    data: dict[str, Any],
) -> None:
    """An unusable statistics store: one warning, set aside, the entry still sets up."""
    key = f"flexscada.{UID}.statistics"
    hass_storage[key] = {"version": version, "minor_version": 1, "key": key, "data": data}
    site = await Site.async_set_up(hass, hass_client_no_auth)  # asserts the setup worked
    assert key not in hass_storage
    warnings = [
        r
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith("custom_components.flexscada")
    ]
    assert len(warnings) == 1
    assert "set aside" in warnings[0].getMessage()
    assert "its statistics start empty" in warnings[0].getMessage()
    await site.send(power_rows(now_minute() - 600, 5))
    assert site.statistics.energy_total(ENERGY_UNIQUE_ID) == pytest.approx(
        5 * KWH_PER_600_WATT_MINUTE
    )


async def test_statistics_store_of_a_newer_minor_version_loads(
    hass: HomeAssistant, hass_client_no_auth: ClientSessionGenerator, hass_storage: dict[str, Any]
) -> None:
    """A newer minor version only adds keys: the counters are kept, nothing is set aside."""
    key = f"flexscada.{UID}.statistics"
    data = {
        "means": {},
        "energy": {},
        "totals": {ENERGY_UNIQUE_ID: 1.5},
        "pending": [],
        "deferred": {},
        "written": [],
        "last_import": None,
        "added_later": True,
    }
    hass_storage[key] = {"version": 1, "minor_version": 2, "key": key, "data": data}
    site = await Site.async_set_up(hass, hass_client_no_auth)
    assert site.statistics.energy_total(ENERGY_UNIQUE_ID) == 1.5
