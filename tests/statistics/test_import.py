"""Every measured row reaches the hourly statistics, only after Home Assistant compiled the hour."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from datetime import UTC, datetime, timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.db_schema import StatisticsRuns
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.recorder import get_instance, session_scope
from homeassistant.setup import async_setup_component
import pytest

from custom_components.flexscada.statistics import DeviceStatistics

from .harness import (
    ENTITIES,
    HOUR,
    MINUTE,
    OTHER_ATTRS,
    OTHER_ID,
    POWER,
    POWER_ID,
    T0,
    UID,
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
    site: Site,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
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


async def test_outage_backlog_fills_the_offline_hours(
    site: Site,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """(2) A 6-hour outage, then one backlog upload: every hour is filled, offline ones too."""
    site.measure(T0, T0 + 10 * HOUR)
    events = {T0 + h * HOUR + 2 * MINUTE: site.upload for h in (0, 1, 2, 8, 9)}
    events[T0 + 3 * HOUR + 5 * MINUTE] = lambda _now: site.offline()
    await run_clock(hass, freezer, T0 + 7 * HOUR + 30 * MINUTE, events)
    before = await hourly(hass, VOLTS_ID, T0, T0 + 9 * HOUR)
    assert not [hour for hour in before if T0 + 3 * HOUR <= hour < T0 + 8 * HOUR]

    await run_clock(hass, freezer, T0 + 9 * HOUR + 6 * MINUTE, events)
    for statistic_id, key in ((VOLTS_ID, VOLTS), (POWER_ID, POWER)):
        stats = await hourly(hass, statistic_id, T0, T0 + 9 * HOUR)
        assert sorted(stats) == [T0 + h * HOUR for h in range(9)]
        for hour, row in stats.items():
            assert_hour_matches_rows(row, site.rows_in(key, hour))
    assert BLOCKED not in caplog.text


async def test_upload_in_the_middle_of_an_hour_waits_for_the_compile(
    site: Site,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """(4) Nothing is imported for an hour before HA compiled it; no one loses statistics."""
    site.measure(T0, T0 + 4 * HOUR)
    events: dict[datetime, Callable[[datetime], object]] = {
        T0 + h * HOUR + 2 * MINUTE: site.upload for h in (0, 1, 2, 3)
    }
    events[T0 + 2 * HOUR + 20 * MINUTE] = site.upload
    for minute in range(0, 4 * 60, 7):  # an unrelated sensor, changing on its own
        events[T0 + minute * MINUTE + timedelta(seconds=30)] = lambda now: hass.states.async_set(
            OTHER_ID, str(now.minute), OTHER_ATTRS
        )
    await run_clock(hass, freezer, T0 + 2 * HOUR + 59 * MINUTE, events)
    assert T0 + 2 * HOUR not in await hourly(hass, VOLTS_ID, T0, T0 + 3 * HOUR)
    assert site.statistics.diagnostics()["oldest_pending"] == (T0 + 2 * HOUR).isoformat()

    await run_clock(hass, freezer, T0 + 3 * HOUR + 1 * MINUTE, events)
    # Compiled by HA at 03:00:10, then rewritten from the 20 rows the device had sent.
    stats = await hourly(hass, VOLTS_ID, T0, T0 + 3 * HOUR)
    assert_hour_matches_rows(stats[T0 + 2 * HOUR], site.rows_in(VOLTS, T0 + 2 * HOUR)[:20])
    await run_clock(hass, freezer, T0 + 4 * HOUR + 6 * MINUTE, events)
    stats = await hourly(hass, VOLTS_ID, T0, T0 + 4 * HOUR)
    assert_hour_matches_rows(stats[T0 + 2 * HOUR], site.rows_in(VOLTS, T0 + 2 * HOUR))

    other = await hourly(hass, OTHER_ID, T0, T0 + 4 * HOUR)
    assert sorted(other) == [T0 + h * HOUR for h in range(4)]
    runs = await get_instance(hass).async_add_executor_job(compiled_periods, hass)
    assert {run for run in runs if run < T0 + 4 * HOUR} == {
        T0 + k * timedelta(minutes=5) for k in range(4 * 12)
    }
    assert BLOCKED not in caplog.text


def compiled_periods(hass: HomeAssistant) -> set[datetime]:
    """Return the 5-minute periods HA marked as compiled since T0."""
    with session_scope(hass=hass, read_only=True) as session:
        return {
            run.start.replace(tzinfo=UTC)
            for run in session.query(StatisticsRuns).filter(
                StatisticsRuns.start >= T0.replace(tzinfo=None)
            )
        }


async def test_restart_before_the_compile_still_writes_the_hour(
    site: Site, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """(6) A restart between an upload and its hour's compile: the hour is still written."""
    site.measure(T0, T0 + 3 * HOUR)
    events = {T0 + h * HOUR + 2 * MINUTE: site.upload for h in (0, 1)}
    events[T0 + HOUR + 40 * MINUTE] = site.upload
    await run_clock(hass, freezer, T0 + HOUR + 45 * MINUTE, events)
    site.statistics.async_stop()
    await settle(hass)

    site.statistics = DeviceStatistics(hass, UID)
    await site.async_start()
    await run_clock(hass, freezer, T0 + 2 * HOUR + MINUTE)
    stats = await hourly(hass, VOLTS_ID, T0, T0 + 2 * HOUR)
    rows = site.rows_in(VOLTS, T0 + HOUR)[:40]  # sent at 01:02 and 01:40
    assert_hour_matches_rows(stats[T0 + HOUR], rows)


async def test_disabled_entity_gets_no_statistics(
    site: Site, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """A disabled sensor HA knows (its states were recorded before) gets nothing imported."""
    site.measure(T0, T0 + 3 * HOUR)
    events = {T0 + h * HOUR + 2 * MINUTE: site.upload for h in (0, 1, 2)}
    events[T0 + 10 * MINUTE] = lambda _now: er.async_get(hass).async_update_entity(
        POWER_ID, disabled_by=er.RegistryEntryDisabler.USER
    )
    await run_clock(hass, freezer, T0 + 2 * HOUR + 6 * MINUTE, events)
    stats = await hourly(hass, POWER_ID, T0, T0 + 2 * HOUR)
    # HA's own rows, compiled from the newest row of each upload, not from every row.
    assert sorted(stats) == [T0, T0 + HOUR]
    for hour, row in stats.items():
        rows = site.rows_in(POWER, hour)
        assert (row["min"], row["max"]) != (min(rows), max(rows))


async def test_excluded_sensor_stored_unit_and_unsorted_rows(
    site: Site, hass: HomeAssistant, freezer: FrozenDateTimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Excluded sensors get nothing; values follow the unit HA stored; row order does not matter."""
    volts_attributes = {"state_class": "measurement", "unit_of_measurement": "mV"}
    monkeypatch.setitem(ENTITIES, f"{UID}_inputs_1_avg", (VOLTS_ID, volts_attributes))
    site.measure(T0, T0 + 3 * HOUR)

    async def upload_reversed(now: datetime) -> None:
        batch = [(ts, v) for ts, v in sorted(site.measured.items()) if now - HOUR <= ts < now]
        await site.send(batch[::-1])

    def exclude_power(_now: datetime) -> None:
        # After HA compiled it once (it has metadata), the user excludes it from the recorder.
        monkeypatch.setattr(get_instance(hass), "entity_filter", lambda eid: eid != POWER_ID)

    events: dict[datetime, Callable[[datetime], object]] = {
        T0 + h * HOUR + 2 * MINUTE: upload_reversed for h in (1, 2, 3)
    }
    events[T0 + HOUR + 30 * MINUTE] = exclude_power
    await run_clock(hass, freezer, T0 + 3 * HOUR + 6 * MINUTE, events)

    volts = await hourly(hass, VOLTS_ID, T0, T0 + 3 * HOUR)
    for hour in (T0 + HOUR, T0 + 2 * HOUR):  # complete hours (hour 00 lacks 00:00-00:01)
        row = volts[hour]
        rows = [1000 * value for value in site.rows_in(VOLTS, hour)]
        assert row["mean"] == pytest.approx(sum(rows) / len(rows), rel=0.005)
        assert (row["min"], row["max"]) == pytest.approx((min(rows), max(rows)))
    # Only HA's own rows, from the one state a row of each upload wrote: flat, not the rows' range.
    power = await hourly(hass, POWER_ID, T0, T0 + 3 * HOUR)
    assert all(row["min"] == row["max"] for row in power.values())


async def test_hour_is_written_after_the_margin_when_no_event_comes(
    site: Site,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Compiles that fire no event (after a restart) still let the hour in, 5 minutes late."""
    site.measure(T0, T0 + 3 * HOUR)
    events = {T0 + h * HOUR + 2 * MINUTE: site.upload for h in (1, 2)}
    events[T0 + 2 * HOUR + 40 * MINUTE] = site.upload
    await run_clock(hass, freezer, T0 + 3 * HOUR + 4 * MINUTE, events, fire_events=False)
    rows = site.rows_in(VOLTS, T0 + 2 * HOUR)[:40]  # sent at 02:02 and 02:40
    stats = await hourly(hass, VOLTS_ID, T0, T0 + 3 * HOUR)
    assert (stats[T0 + 2 * HOUR]["min"], stats[T0 + 2 * HOUR]["max"]) != (min(rows), max(rows))

    await run_clock(hass, freezer, T0 + 3 * HOUR + 6 * MINUTE, fire_events=False)
    stats = await hourly(hass, VOLTS_ID, T0, T0 + 3 * HOUR)
    assert_hour_matches_rows(stats[T0 + 2 * HOUR], rows)
    assert BLOCKED not in caplog.text
