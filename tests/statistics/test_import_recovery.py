"""What an import pass costs and how it recovers: deferred sensors, offset corrections, failures."""

from __future__ import annotations

import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder.models import StatisticMeanType, StatisticMetaData
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.recorder import get_instance
import pytest

from custom_components.flexscada import statistics, statistics_import
from custom_components.flexscada.statistics_import import Target, async_energy_offsets

from .harness import HOUR, MINUTE, T0, VOLTS, VOLTS_UNIQUE_ID, Site, hourly, run_clock, settle


async def test_sensor_that_cannot_be_written_costs_no_pass_per_upload(
    site: Site, hass: HomeAssistant, freezer: FrozenDateTimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sensor HA never compiled keeps its hours deferred; uploads do not retry them."""
    passes: list[tuple[Any, ...]] = []
    real_targets = statistics.async_import_targets

    async def targets_without_volts(*args: Any) -> tuple[dict[str, Target], list[str]]:
        passes.append(args)
        targets, eligible = await real_targets(*args)
        targets.pop(VOLTS_UNIQUE_ID, None)  # as if HA had never compiled the battery sensor
        return targets, eligible

    monkeypatch.setattr(statistics, "async_import_targets", targets_without_volts)
    site.measure(T0, T0 + 2 * HOUR)
    first = {T0 + 30 * MINUTE: site.upload, T0 + HOUR + 2 * MINUTE: site.upload}
    await run_clock(hass, freezer, T0 + HOUR + 10 * MINUTE, first)
    diagnostics = site.statistics.diagnostics()
    deferred = diagnostics["hours_deferred"]
    assert list(deferred) == [VOLTS_UNIQUE_ID]
    last_import = diagnostics["last_import"]
    assert last_import is not None
    before = len(passes)

    # Uploads for the hour in progress: no import pass, nothing imported or stamped.
    uploads = {T0 + HOUR + m * MINUTE: site.upload for m in (20, 30, 40)}
    await run_clock(hass, freezer, T0 + HOUR + 50 * MINUTE, uploads)
    assert len(passes) == before
    # A retry that still cannot write anything does not stamp an import (nor save the store).
    site.statistics.async_schedule_import()
    await settle(hass)
    assert len(passes) == before + 1
    assert site.statistics.diagnostics()["last_import"] == last_import
    assert site.statistics.diagnostics()["hours_deferred"] == deferred


async def test_negative_offset_is_corrected_once_per_row(
    site: Site, hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Until HA ran the queued correction, passes read the same row: it is not queued again."""
    newest = {"start": 1000.0, "state": 5.0, "sum": 2.0}
    monkeypatch.setattr(
        statistics_import,
        "get_last_short_term_statistics",
        lambda _hass, _count, statistic_id, _convert, _types: {statistic_id: [dict(newest)]},
    )
    adjustments: list[tuple[str, float]] = []
    monkeypatch.setattr(
        get_instance(hass),
        "async_adjust_statistics",
        lambda statistic_id, _start, change, _unit: adjustments.append((statistic_id, change)),
    )
    metadata = StatisticMetaData(
        mean_type=StatisticMeanType.NONE,
        has_sum=True,
        name=None,
        source="recorder",
        statistic_id=site.energy_id,
        unit_class="energy",
        unit_of_measurement="kWh",
    )
    targets = {site.energy_unique_id: Target(site.energy_id, metadata, float, [])}
    sources = site.statistics.sources
    corrected: dict[str, float] = {}
    for _ in range(3):
        offsets = await async_energy_offsets(hass, sources, targets, corrected)
        assert offsets == {site.energy_unique_id: 0.0}
    assert adjustments == [(site.energy_id, 3.0)]
    # A later row that is again below zero (HA saw the counter restart) is corrected too.
    newest["start"] = 1300.0
    await async_energy_offsets(hass, sources, targets, corrected)
    assert adjustments == [(site.energy_id, 3.0), (site.energy_id, 3.0)]


async def test_failed_import_is_tried_again(
    site: Site,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An import the recorder refuses puts its hours back: the next compiled hour writes them."""
    real_import = statistics.async_import_statistics
    refused: list[str] = []

    def refuse_volts_once(hass: HomeAssistant, metadata: StatisticMetaData, rows: Any) -> None:
        if metadata["statistic_id"] == site.volts_id and not refused:
            refused.append(metadata["statistic_id"])
            raise HomeAssistantError("Invalid statistics")
        real_import(hass, metadata, rows)

    monkeypatch.setattr(statistics, "async_import_statistics", refuse_volts_once)
    site.measure(T0, T0 + 2 * HOUR)
    # Hour 00 arrives before it ends; no later upload touches it again.
    events = {T0 + 59 * MINUTE + MINUTE / 2: site.upload}
    events[T0 + HOUR + 30 * MINUTE] = site.upload
    await run_clock(hass, freezer, T0 + 2 * HOUR + 6 * MINUTE, events)
    assert refused == [site.volts_id]
    warnings = [r for r in caplog.records if "could not import statistics" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING

    stats = await hourly(hass, site.volts_id, T0, T0 + 2 * HOUR)
    rows = site.rows_in(VOLTS, T0)
    assert len(rows) == 60
    assert stats[T0]["mean"] == pytest.approx(sum(rows) / len(rows), rel=0.005)
    assert (stats[T0]["min"], stats[T0]["max"]) == (min(rows), max(rows))
