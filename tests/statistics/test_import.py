"""Every measured row reaches the hourly statistics, only after Home Assistant compiled the hour.

The device uploads through the views; the statistics are read back from the recorder. Each test
also passes the conftest's check that no compile ever hit a row we imported.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder.db_schema import StatisticsRuns
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.recorder import get_instance, session_scope
import pytest

from .harness import (
    HOUR,
    MINUTE,
    OTHER_ATTRS,
    OTHER_ID,
    POWER,
    T0,
    VOLTS,
    Site,
    hourly,
    run_clock,
    settle,
)


def assert_hour_matches_rows(stats: dict[str, object], rows: list[float]) -> None:
    """Mean within 0.5 %, min and max exact."""
    assert stats["mean"] == pytest.approx(sum(rows) / len(rows), rel=0.005)
    assert stats["min"] == min(rows)
    assert stats["max"] == max(rows)


async def test_hourly_uploads_give_every_rows_statistics(
    site: Site, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """(1) Uploads every hour with 60 rows: each complete hour's mean/min/max are the rows'."""
    site.measure(T0, T0 + 6 * HOUR)
    uploads = {T0 + h * HOUR + 2 * MINUTE: site.upload for h in range(6)}
    await run_clock(hass, freezer, T0 + 5 * HOUR + 6 * MINUTE, uploads)

    for statistic_id, key in ((site.volts_id, VOLTS), (site.power_id, POWER)):
        stats = await hourly(hass, statistic_id, T0, T0 + 5 * HOUR)
        assert sorted(stats) == [T0 + h * HOUR for h in range(5)]
        for hour, row in stats.items():
            rows = site.rows_in(key, hour)
            assert len(rows) == 60
            assert_hour_matches_rows(row, rows)
    # The live state is still the newest row.
    assert float(hass.states.get(site.volts_id).state) == pytest.approx(
        site.rows_in(VOLTS, T0 + 5 * HOUR)[1]
    )
    diagnostics = site.statistics.diagnostics()
    # Hours 00-04, and 23:00 the day before: the first row's energy covers its last minute.
    assert diagnostics["hours_written"] == 6
    assert diagnostics["hours_pending"] == 1  # hour 05 waits for its compile
    # Hour 04 was written at 05:00:10, then again with the rest of its rows from 05:02's upload.
    assert diagnostics["last_import"] == (T0 + 5 * HOUR + 2 * MINUTE).isoformat()


async def test_outage_backlog_fills_the_offline_hours(
    site: Site, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """(2) A 6-hour outage, then one backlog upload: every hour is filled, offline ones too."""
    site.measure(T0, T0 + 10 * HOUR)
    events = {T0 + h * HOUR + 2 * MINUTE: site.upload for h in (0, 1, 2, 8, 9)}
    await run_clock(hass, freezer, T0 + 7 * HOUR + 30 * MINUTE, events)
    assert hass.states.get(site.volts_id).state == "unavailable"
    before = await hourly(hass, site.volts_id, T0, T0 + 9 * HOUR)
    assert not [hour for hour in before if T0 + 3 * HOUR <= hour < T0 + 8 * HOUR]

    await run_clock(hass, freezer, T0 + 9 * HOUR + 6 * MINUTE, events)
    for statistic_id, key in ((site.volts_id, VOLTS), (site.power_id, POWER)):
        stats = await hourly(hass, statistic_id, T0, T0 + 9 * HOUR)
        assert sorted(stats) == [T0 + h * HOUR for h in range(9)]
        for hour, row in stats.items():
            assert_hour_matches_rows(row, site.rows_in(key, hour))


async def test_backlog_sent_again_changes_nothing(
    site: Site, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """(3) The same backlog re-sent (a retransmission): 200, identical statistics, no duplicate."""
    site.measure(T0, T0 + 5 * HOUR)
    sent: list[list[tuple[datetime, dict[str, float | bool]]]] = []

    async def upload(now: datetime) -> None:
        sent.append(await site.upload(now))

    # The device's first upload: HA compiles its sensors once (05:00) before any hour is written.
    events: dict[datetime, Callable[[datetime], object]] = {T0 + 4 * HOUR + 2 * MINUTE: upload}
    await run_clock(hass, freezer, T0 + 5 * HOUR + 6 * MINUTE, events)
    written = await hourly(hass, site.volts_id, T0, T0 + 4 * HOUR)
    energy = await hourly(hass, site.energy_id, T0 - HOUR, T0 + 4 * HOUR)
    assert sorted(written) == [T0 + h * HOUR for h in range(4)]
    for hour, row in written.items():
        assert_hour_matches_rows(row, site.rows_in(VOLTS, hour))
    assert len(energy) == 5
    counter = site.statistics.energy_total(site.energy_unique_id)
    rows_total = site.entry.runtime_data.rows_total

    events = {T0 + 5 * HOUR + 20 * MINUTE: lambda _now: site.send(sent[0])}
    await run_clock(hass, freezer, T0 + 6 * HOUR + 6 * MINUTE, events)
    assert await hourly(hass, site.volts_id, T0, T0 + 4 * HOUR) == written
    assert await hourly(hass, site.energy_id, T0 - HOUR, T0 + 4 * HOUR) == energy
    assert site.statistics.energy_total(site.energy_unique_id) == counter
    assert site.entry.runtime_data.rows_total == rows_total
    assert site.statistics.diagnostics()["hours_pending"] == 0


async def test_upload_in_the_middle_of_an_hour_waits_for_the_compile(
    site: Site, hass: HomeAssistant, freezer: FrozenDateTimeFactory
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
    assert T0 + 2 * HOUR not in await hourly(hass, site.volts_id, T0, T0 + 3 * HOUR)
    assert site.statistics.diagnostics()["oldest_pending"] == (T0 + 2 * HOUR).isoformat()

    await run_clock(hass, freezer, T0 + 3 * HOUR + 1 * MINUTE, events)
    # Compiled by HA at 03:00:10, then rewritten from the 20 rows the device had sent.
    stats = await hourly(hass, site.volts_id, T0, T0 + 3 * HOUR)
    assert_hour_matches_rows(stats[T0 + 2 * HOUR], site.rows_in(VOLTS, T0 + 2 * HOUR)[:20])
    await run_clock(hass, freezer, T0 + 4 * HOUR + 6 * MINUTE, events)
    stats = await hourly(hass, site.volts_id, T0, T0 + 4 * HOUR)
    assert_hour_matches_rows(stats[T0 + 2 * HOUR], site.rows_in(VOLTS, T0 + 2 * HOUR))

    other = await hourly(hass, OTHER_ID, T0, T0 + 4 * HOUR)
    assert sorted(other) == [T0 + h * HOUR for h in range(4)]
    runs = await get_instance(hass).async_add_executor_job(compiled_periods, hass)
    assert {run for run in runs if run < T0 + 4 * HOUR} == {
        T0 + k * timedelta(minutes=5) for k in range(4 * 12)
    }


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
    assert await hass.config_entries.async_reload(site.entry.entry_id)
    await settle(hass)

    await run_clock(hass, freezer, T0 + 2 * HOUR + MINUTE)
    stats = await hourly(hass, site.volts_id, T0, T0 + 2 * HOUR)
    rows = site.rows_in(VOLTS, T0 + HOUR)[:40]  # sent at 01:02 and 01:40
    assert_hour_matches_rows(stats[T0 + HOUR], rows)


async def test_disabled_entity_gets_no_statistics(
    site: Site, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """A disabled sensor HA knows (its states were recorded before) gets nothing imported."""
    site.measure(T0, T0 + 3 * HOUR)
    events = {T0 + h * HOUR + 2 * MINUTE: site.upload for h in (0, 1, 2)}
    events[T0 + 10 * MINUTE] = lambda _now: er.async_get(hass).async_update_entity(
        site.power_id, disabled_by=er.RegistryEntryDisabler.USER
    )
    await run_clock(hass, freezer, T0 + 2 * HOUR + 6 * MINUTE, events)
    stats = await hourly(hass, site.power_id, T0, T0 + 2 * HOUR)
    # HA's own row of hour 00, compiled from the one state it had: not every row's.
    assert sorted(stats) == [T0]
    rows = site.rows_in(POWER, T0)
    assert (stats[T0]["min"], stats[T0]["max"]) != (min(rows), max(rows))


async def test_excluded_sensor_stored_unit_and_unsorted_rows(
    site: Site, hass: HomeAssistant, freezer: FrozenDateTimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Excluded sensors get nothing; values follow the unit HA stored; row order does not matter."""
    # The user shows the battery in millivolts: HA's statistics of it are in mV.
    er.async_get(hass).async_update_entity_options(
        site.volts_id, "sensor", {"unit_of_measurement": "mV"}
    )
    site.measure(T0, T0 + 3 * HOUR)

    async def upload_reversed(now: datetime) -> None:
        batch = [(ts, v) for ts, v in sorted(site.measured.items()) if now - HOUR <= ts < now]
        await site.send(batch[::-1])

    def exclude_power(_now: datetime) -> None:
        # After HA compiled it once (it has metadata), the user excludes it from the recorder.
        monkeypatch.setattr(get_instance(hass), "entity_filter", lambda eid: eid != site.power_id)

    events: dict[datetime, Callable[[datetime], object]] = {
        T0 + h * HOUR + 2 * MINUTE: upload_reversed for h in (1, 2, 3)
    }
    events[T0 + HOUR + 30 * MINUTE] = exclude_power
    await run_clock(hass, freezer, T0 + 3 * HOUR + 6 * MINUTE, events)

    volts = await hourly(hass, site.volts_id, T0, T0 + 3 * HOUR)
    for hour in (T0 + HOUR, T0 + 2 * HOUR):  # complete hours (hour 00 lacks 00:00-00:01)
        row = volts[hour]
        rows = [1000 * value for value in site.rows_in(VOLTS, hour)]
        assert row["mean"] == pytest.approx(sum(rows) / len(rows), rel=0.005)
        assert (row["min"], row["max"]) == pytest.approx((min(rows), max(rows)))
    # Only HA's own rows, from the one state of each upload: flat, not the rows' range.
    power = await hourly(hass, site.power_id, T0, T0 + 3 * HOUR)
    assert power
    assert all(row["min"] == row["max"] for row in power.values())


async def test_hour_is_written_after_the_margin_when_no_event_comes(
    site: Site, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """Compiles that fire no event (after a restart) still let the hour in, 5 minutes late."""
    site.measure(T0, T0 + 3 * HOUR)
    events = {T0 + h * HOUR + 2 * MINUTE: site.upload for h in (1, 2)}
    events[T0 + 2 * HOUR + 40 * MINUTE] = site.upload
    await run_clock(hass, freezer, T0 + 3 * HOUR + 4 * MINUTE, events, fire_events=False)
    rows = site.rows_in(VOLTS, T0 + 2 * HOUR)[:40]  # sent at 02:02 and 02:40
    stats = await hourly(hass, site.volts_id, T0, T0 + 3 * HOUR)
    assert (stats[T0 + 2 * HOUR]["min"], stats[T0 + 2 * HOUR]["max"]) != (min(rows), max(rows))

    await run_clock(hass, freezer, T0 + 3 * HOUR + 6 * MINUTE, fire_events=False)
    stats = await hourly(hass, site.volts_id, T0, T0 + 3 * HOUR)
    assert_hour_matches_rows(stats[T0 + 2 * HOUR], rows)
