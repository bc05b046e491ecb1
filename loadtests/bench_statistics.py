"""Benchmark (not a test): a 10,000-row backlog of the 110-metric site into hourly statistics.

Run through scripts/bench_statistics. In one run, with the pytest-homeassistant harness and an
in-memory SQLite recorder:

1. full path: `DeviceStatistics.async_add_rows` (aggregation in the executor, the store saved)
   plus the import pass (metadata, energy offsets, rows built, `async_import_statistics` in
   chunks) until the recorder has written everything;
2. floor: the same statistics, precomputed, handed to `async_import_statistics` and written;
3. the longest event-loop stall during each (a ticker task sleeping 1 ms; target <= 20 ms).
"""

from __future__ import annotations

import asyncio
import logging

from homeassistant.components.recorder.core import Recorder
from homeassistant.components.recorder.models import StatisticData, StatisticMetaData
from homeassistant.components.recorder.statistics import async_import_statistics
from homeassistant.components.recorder.tasks import StatisticsTask
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.json import json_bytes
from homeassistant.helpers.recorder import get_instance
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import numpy as np
import pytest
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from pytest_homeassistant_custom_component.typing import RecorderInstanceGenerator

from custom_components.flexscada.const import DOMAIN
from custom_components.flexscada.protocol import DecodedRows, FieldKind, parse_config
from custom_components.flexscada.statistics import DeviceStatistics
from custom_components.flexscada.statistics_store import day_as_stored

from .sites import big_config, layout_of
from .stalls import measure_stall

ROWS = 10_000
UID = 1535235511


@pytest.fixture
def mock_recorder_before_hass(async_setup_recorder_instance: RecorderInstanceGenerator) -> None:
    """Set the recorder up before Home Assistant (as core's recorder tests do)."""


async def test_bench_statistics(recorder_mock: Recorder, hass: HomeAssistant) -> None:
    """Print the figures (the assertions are sanity checks, never thresholds)."""
    asyncio.get_running_loop().set_debug(False)  # the harness's debug mode slows every callback
    # The harness echoes every SQL statement; logging them would be most of what is measured.
    for name in ("sqlalchemy.engine", "homeassistant.components.recorder"):
        logging.getLogger(name).setLevel(logging.WARNING)
    await hass.config.async_set_time_zone("UTC")
    assert await async_setup_component(hass, "sensor", {})
    config = parse_config(big_config())
    layout = layout_of(big_config())
    statistics = DeviceStatistics(hass, UID)
    statistics.async_set_sources(config, layout)
    sources = statistics.sources

    # Every statistic exists in HA (its entity was compiled once), as on a running installation.
    registry = er.async_get(hass)
    attributes: dict[str, dict[str, str | None]] = {
        source.unique_id: {"state_class": "measurement", "unit_of_measurement": source.unit}
        for source in sources.means
    }
    attributes |= {
        spec.unique_id: {
            "state_class": "total_increasing",
            "unit_of_measurement": "kWh",
            "device_class": "energy",
        }
        for spec in sources.energy
    }
    for unique_id, attrs in attributes.items():
        entity_id = registry.async_get_or_create("sensor", DOMAIN, unique_id).entity_id
        hass.states.async_set(entity_id, "1.0", attrs)
    await async_wait_recording_done(hass)
    now = dt_util.utcnow()
    period = now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0)
    # The period in progress holds the states: compiling it now gives every sensor its metadata
    # (the benchmark only imports hours that ended long before).
    get_instance(hass).queue_task(StatisticsTask(period, False))
    await async_wait_recording_done(hass)

    # 10,000 rows, one a minute, ending two hours ago: every hour is complete and compiled.
    end = int(now.timestamp()) // 3600 * 3600 - 7200
    rng = np.random.default_rng(5)
    floats = [f for f in layout.fields if f.kind is FieldKind.FLOAT]
    bits = [f for f in layout.fields if f.kind is FieldKind.BIT]
    rows = DecodedRows(
        layout,
        np.arange(end - ROWS * 60, end, 60, dtype=np.uint32),
        rng.uniform(-50, 500, (ROWS, len(floats))).astype(np.float32),
        rng.random((ROWS, len(bits))) < 0.5,
    )

    captured: list[tuple[StatisticMetaData, list[StatisticData]]] = []
    original = async_import_statistics

    def capture(
        hass: HomeAssistant, metadata: StatisticMetaData, stats: list[StatisticData]
    ) -> None:
        captured.append((metadata, list(stats)))
        original(hass, metadata, stats)

    async def add_rows() -> None:
        await statistics.async_add_rows(rows)

    async def import_pass() -> None:
        statistics.async_start()
        await hass.async_block_till_done(wait_background_tasks=True)
        await async_wait_recording_done(hass)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("custom_components.flexscada.statistics.async_import_statistics", capture)
        add = await measure_stall(add_rows)
        add_ms, add_stall = add.request_ms, add.max_gap_ms
        written = await measure_stall(import_pass)
        import_ms, import_stall = written.request_ms, written.max_gap_ms
    statistics.async_stop()
    full_ms, full_stall = add_ms + import_ms, max(add_stall, import_stall)

    async def floor() -> None:
        for metadata, stats in captured:
            async_import_statistics(hass, metadata, stats)
        await async_wait_recording_done(hass)

    floor_result = await measure_stall(floor)
    floor_ms, floor_stall = floor_result.request_ms, floor_result.max_gap_ms
    imported = sum(len(stats) for _, stats in captured)
    assert imported > 0
    print()
    print(
        f"Statistics benchmark: {ROWS} rows x {len(sources.means)} measurement sensors "
        f"+ {len(sources.energy)} energy counters ({len(layout.fields)} metrics logged), "
        f"{imported} hourly rows in {len(captured)} import jobs"
    )
    print(
        f"  aggregate + persist + import: {full_ms:8.1f} ms, longest loop stall {full_stall:.1f} ms"
    )
    floor_line = f"{floor_ms:8.1f} ms, longest loop stall {floor_stall:.1f} ms"
    print(f"    aggregate + persist (before the 200): {add_ms:.1f} ms, stall {add_stall:.1f} ms")
    print(f"    import until written: {import_ms:.1f} ms, stall {import_stall:.1f} ms")
    print(f"  floor: import precomputed:    {floor_line}")
    print(
        "  (the recorder thread writing holds the GIL in turns: the floor stalls the loop too;"
        " only the aggregate+persist stall is this integration's alone)"
    )
    print(f"  ratio full / floor: {full_ms / floor_ms:.2f}")
    # An upload of the hour in progress rewrites the small store and the day store of today.
    small, _ = statistics._stored_data()
    aggregates = statistics.aggregates
    days = {day: json_bytes(day_as_stored(aggregates, day)) for day in aggregates.days()}
    upload_bytes = len(json_bytes(small)) + len(days[max(days)])
    print(
        f"  statistics written per upload: {upload_bytes / 1e6:.2f} MB "
        f"(all {len(days)} days: {sum(map(len, days.values())) / 1e6:.2f} MB)"
    )
