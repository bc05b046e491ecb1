"""The statistics on disk: a small store, and one store per UTC day that an upload rewrites."""

from __future__ import annotations

import logging
from typing import Any

from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.flexscada.checked_store import CheckedStore

from .harness import ENERGY_UNIQUE_ID, UID, VOLTS, VOLTS_UNIQUE_ID, Site
from .test_pipeline import now_minute, power_rows

DAY = 86_400
MAIN = f"flexscada.{UID}.statistics"


def day_key(day: int) -> str:
    """Return the key of one day's store."""
    return f"{MAIN}.{day}"


def today() -> int:
    """Return the start of the current UTC day."""
    now = now_minute()
    return now - now % DAY


async def test_an_upload_rewrites_only_the_days_it_changed(
    hass: HomeAssistant,
    plain_site: Site,
    hass_storage: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rows two days back and now: two day stores; the next upload of now leaves the old one."""
    old_day = today() - 2 * DAY
    await plain_site.send(power_rows(old_day + 3600, 5))
    recent = now_minute() - 600
    await plain_site.send(power_rows(recent, 5))
    assert hass_storage[MAIN]["data"]["days"] == [old_day, recent - recent % DAY]
    assert hass_storage[MAIN]["data"]["means"] == {}
    assert hass_storage[day_key(old_day)]["data"]["energy"][ENERGY_UNIQUE_ID]

    written: list[str] = []
    original = CheckedStore._async_write_data

    async def record(self: CheckedStore[Any], data: dict[str, Any]) -> None:
        written.append(self.key)
        await original(self, data)

    monkeypatch.setattr(CheckedStore, "_async_write_data", record)
    await plain_site.send(power_rows(now_minute() - 60, 1))
    assert day_key(old_day) not in written
    assert MAIN in written
    assert {key for key in written if key.startswith(f"{MAIN}.")} <= {
        day_key(today()),
        day_key(today() - DAY),
    }

    # Removing the device removes every day store too.
    assert await hass.config_entries.async_remove(plain_site.entry.entry_id)
    await hass.async_block_till_done()
    assert not [key for key in hass_storage if key.startswith(MAIN)]


async def test_single_file_store_still_loads_and_is_split(
    hass: HomeAssistant, hass_client_no_auth: ClientSessionGenerator, hass_storage: dict[str, Any]
) -> None:
    """A store written before the day stores: its hours load, the next save splits them out."""
    hour = today() - DAY + 5 * 3600
    hass_storage[MAIN] = {
        "version": 1,
        "minor_version": 1,
        "key": MAIN,
        "data": {
            "means": {VOLTS_UNIQUE_ID: [[hour, 2, 25.0, 12.0, 13.0]]},
            "energy": {ENERGY_UNIQUE_ID: [[hour, 0.5]]},
            "totals": {ENERGY_UNIQUE_ID: 0.5},
            "pending": [hour],
            "deferred": {},
            "written": [],
            "last_import": None,
        },
    }
    site = await Site.async_set_up(hass, hass_client_no_auth)
    assert site.statistics.aggregates.means[VOLTS_UNIQUE_ID] == {hour: [2, 25.0, 12.0, 13.0]}
    await site.send([(row[0], {**row[1], VOLTS: 12.5}) for row in power_rows(hour + 60, 1)])
    assert hass_storage[MAIN]["data"]["means"] == {}
    assert hass_storage[MAIN]["data"]["days"] == [today() - DAY]
    day = hass_storage[day_key(today() - DAY)]["data"]
    assert day["means"][VOLTS_UNIQUE_ID] == [[hour, 3, 37.5, 12.0, 13.0]]
    assert site.statistics.energy_total(ENERGY_UNIQUE_ID) == pytest.approx(0.5 + 0.01)


async def test_damaged_day_store_is_set_aside_alone(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    hass_storage: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One unusable day store: one warning, that day starts empty, the other day loads."""
    good, bad = today() - DAY, today() - 2 * DAY
    hass_storage[MAIN] = {
        "version": 1,
        "minor_version": 1,
        "key": MAIN,
        "data": {
            "means": {},
            "energy": {},
            "totals": {ENERGY_UNIQUE_ID: 0.5},
            "pending": [],
            "deferred": {},
            "written": [],
            "last_import": None,
            "days": [bad, good],
        },
    }
    for day, means in ((good, {VOLTS_UNIQUE_ID: [[good, 1, 12.0, 12.0, 12.0]]}), (bad, 5)):
        key = day_key(day)
        hass_storage[key] = {
            "version": 1,
            "minor_version": 1,
            "key": key,
            "data": {"means": means, "energy": {}},
        }
    site = await Site.async_set_up(hass, hass_client_no_auth)
    assert site.statistics.aggregates.means == {VOLTS_UNIQUE_ID: {good: [1, 12.0, 12.0, 12.0]}}
    assert site.statistics.energy_total(ENERGY_UNIQUE_ID) == 0.5
    assert day_key(bad) not in hass_storage
    warnings = [
        r
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith("custom_components.flexscada")
    ]
    assert len(warnings) == 1
    assert "the statistics of that day start empty" in warnings[0].getMessage()


async def test_a_day_that_left_the_window_loses_its_store(
    hass: HomeAssistant, plain_site: Site, hass_storage: dict[str, Any]
) -> None:
    """Hours dropped out of the 30-day window: their day store is removed at the next save."""
    old_day = today() - 2 * DAY
    await plain_site.send(power_rows(old_day + 3600, 5))
    assert day_key(old_day) in hass_storage
    plain_site.statistics.aggregates.drop_before(old_day + DAY)  # as 30 days later
    await plain_site.statistics.async_save_or_raise()
    assert day_key(old_day) not in hass_storage
    assert hass_storage[MAIN]["data"]["days"] == []
