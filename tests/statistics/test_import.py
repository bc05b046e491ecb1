"""Every measured row reaches the hourly statistics, only after Home Assistant compiled the hour."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime, timedelta
import logging

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest

from .harness import (
    HOUR,
    MINUTE,
    OTHER_ATTRS,
    OTHER_ID,
    POWER,
    POWER_ID,
    RETURNED_ID,
    T0,
    VOLTS,
    VOLTS_ID,
    Site,
    hourly,
    run_clock,
    settle,
)

BLOCKED = "Blocked attempt to insert duplicated statistic rows"


@pytest.fixture
async def site(
    recorder_mock: Recorder, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> AsyncGenerator[Site]:
    """A device whose statistics are running, the clock just before midnight UTC."""
    await hass.config.async_set_time_zone("UTC")
    freezer.move_to(T0 - timedelta(seconds=30))
    assert await async_setup_component(hass, "sensor", {})
    site = Site(hass)
    await site.async_start()
    await settle(hass)
    yield site
    site.statistics.async_stop()


def assert_hour_matches_rows(stats: dict[str, object], rows: list[float]) -> None:
    """Mean within 0.5 %, min and max exact."""
    assert stats["mean"] == pytest.approx(sum(rows) / len(rows), rel=0.005)
    assert stats["min"] == min(rows)
    assert stats["max"] == max(rows)


async def test_hourly_uploads_give_every_rows_statistics(
    site: Site, hass: HomeAssistant, freezer: FrozenDateTimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """(1) Uploads every hour with 60 rows: each complete hour's mean/min/max are the rows'."""
    site.measure(T0, T0 + 6 * HOUR)
    uploads = {T0 + h * HOUR + 2 * MINUTE: site.upload for h in range(6)}
    await run_clock(hass, freezer, T0 + 5 * HOUR + 6 * MINUTE, uploads)

    for statistic_id, key in ((VOLTS_ID, VOLTS), (POWER_ID, POWER)):
        stats = await hourly(hass, statistic_id, T0, T0 + 5 * HOUR)
        assert sorted(stats) == [T0 + h * HOUR for h in range(5)]
        for hour, row in stats.items():
            rows = site.rows_in(key, hour)
            assert len(rows) == 60
            assert_hour_matches_rows(row, rows)
    assert BLOCKED not in caplog.text
    diagnostics = site.statistics.diagnostics()
    # Hours 00-04, and 23:00 the day before: the first row covers its last minute.
    assert diagnostics["hours_written"] == 6
    assert diagnostics["hours_pending"] == 1  # hour 05 waits for its compile
    assert diagnostics["last_import"] is not None
