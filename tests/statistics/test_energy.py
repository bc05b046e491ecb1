"""Energy integrated from the device's power rows: counters, hourly statistics, entities."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime, timedelta
import logging

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import numpy as np
import pytest
from pytest_homeassistant_custom_component.common import MockEntityPlatform

from custom_components.flexscada.energy import (
    EnergySensorSpec,
    Q5EnergySensor,
    energy_sensor_specs,
    integrate_power,
)
from custom_components.flexscada.protocol import compile_layout, parse_config
from custom_components.flexscada.statistics import DeviceStatistics

from .harness import (
    CONFIG_DOC,
    ENERGY_ID,
    HOUR,
    LAYOUT,
    MINUTE,
    POWER,
    RETURNED_ID,
    T0,
    UID,
    Site,
    decoded,
    hourly,
    run_clock,
    settle,
)

BLOCKED = "Blocked attempt to insert duplicated statistic rows"
KWH_PER_WATT_MINUTE = 60 / 3_600_000


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


def energy_in(site: Site, hour: datetime, *, returned: bool = False) -> float:
    """kWh of the rows in one hour: each row covers the minute that ends at its timestamp."""
    sign = -1 if returned else 1
    return sum(
        max(sign * values[POWER], 0) * KWH_PER_WATT_MINUTE
        for ts, values in site.measured.items()
        if hour < ts <= hour + HOUR and (site.sent_until is None or ts <= site.sent_until)
    )


async def test_energy_lands_in_the_hour_it_was_used(
    site: Site,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """(5) Each hour's change is the integral of its rows, across an outage, without jumps."""
    site.measure(T0, T0 + 11 * HOUR)
    events = {T0 + h * HOUR + 2 * MINUTE: site.upload for h in (0, 1, 2, 7, 8, 9, 10)}
    await run_clock(hass, freezer, T0 + 10 * HOUR + 6 * MINUTE, events)
    # No upload at 11:02: HA compiles hour 10 by itself, from the live counter.
    await run_clock(hass, freezer, T0 + 11 * HOUR + MINUTE)

    stats = await hourly(hass, ENERGY_ID, T0 - HOUR, T0 + 11 * HOUR)
    assert sorted(stats) == [T0 + h * HOUR for h in range(-1, 11)]
    for h in range(10):
        hour = T0 + h * HOUR
        assert stats[hour]["change"] == pytest.approx(energy_in(site, hour), rel=0.01), hour
    assert all(row["change"] >= 0 for row in stats.values())
    # HA's own compile continues the imported sums: the last sum is the counter, no jump.
    total = site.statistics.energy_total(f"{UID}_relays_1_energy")
    assert total is not None
    assert stats[T0 + 10 * HOUR]["sum"] == pytest.approx(total)
    assert stats[T0 + 10 * HOUR]["change"] >= 0
    returned = site.statistics.energy_total(f"{UID}_relays_1_returned_energy")
    assert returned == pytest.approx(
        sum(energy_in(site, T0 + h * HOUR, returned=True) for h in range(-1, 11))
    )
    assert returned > 0
    # The returned-energy entity is disabled: HA compiled its states, we wrote nothing.
    assert T0 - HOUR not in await hourly(hass, RETURNED_ID, T0 - HOUR, T0 + 11 * HOUR)
    assert BLOCKED not in caplog.text


def test_integration_splits_rows_at_hour_boundaries_and_never_bridges_gaps() -> None:
    """A row covers the interval before it, cut at the hour; a long gap adds nothing."""
    start = int(T0.timestamp())
    timestamps = np.array([start + 30, start + 90, start + 3600 + 600], dtype=np.int64)
    power = np.array([1000.0, -2000.0, np.nan], dtype=np.float32)
    energy = integrate_power(timestamps, power, 60, 1 / 3_600_000)
    assert energy.hours.tolist() == [start - 3600, start, start + 3600]
    # 30 s of the first row before midnight, 30 s after; the second row is all export; the
    # third (a disconnected meter, 8 minutes later) covers one minute and counts nothing.
    assert energy.used.tolist() == pytest.approx([1000 * 30 / 3.6e6, 1000 * 30 / 3.6e6, 0.0])
    assert energy.returned.tolist() == pytest.approx([0.0, 2000 * 60 / 3.6e6, 0.0])
    close = integrate_power(np.array([start, start + 20]), np.array([600.0, 600.0]), 60, 1.0)
    assert close.used.sum() == pytest.approx(600 * (60 + 20))


def test_energy_sensors_follow_the_power_metrics() -> None:
    """power avg wins over power inst; relay and input power count; other units do not."""
    config = parse_config(
        {
            "version": 1,
            "power_metrics": [
                {"label": "Mains", "logging": ["power inst", "power avg"]},
                {"label": "Solar", "logging": ["power inst", "freq"]},
            ],
            "relays": {"1": {"label": "Radio", "logging": ["power", "amperage"]}},
            "inputs": {
                "1": {"label": "Heater", "unit": "Watts", "type": 0, "logging": ["power"]},
                "2": {"label": "Tank", "unit": "PSI", "type": 0, "logging": ["power"]},
            },
        }
    )
    specs = energy_sensor_specs(7, config, compile_layout(config))
    assert sorted((spec.unique_id, spec.power_key) for spec in specs if not spec.returned) == [
        ("7_inputs_1_energy", "inputs.1.power"),
        ("7_power_metrics_0_energy", "power_metrics.0.power avg"),
        ("7_power_metrics_1_energy", "power_metrics.1.power inst"),
        ("7_relays_1_energy", "relays.1.power"),
    ]
    assert len(specs) == 8
    assert energy_sensor_specs(7, None, None) == []


async def test_energy_sensor_entity_without_recorder(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """The counter entity follows the rows; without a recorder nothing is imported or logged."""
    caplog.set_level(logging.WARNING)
    freezer.move_to(T0 + 2 * HOUR)
    statistics = DeviceStatistics(hass, UID)
    await statistics.async_load()
    statistics.async_set_sources(CONFIG_DOC, LAYOUT)
    statistics.async_start()
    spec = next(s for s in statistics.sources.energy if not s.returned)
    returned_spec = next(s for s in statistics.sources.energy if s.returned)
    sensors = [
        Q5EnergySensor(statistics, spec, {"identifiers": {("flexscada", str(UID))}}),
        Q5EnergySensor(statistics, returned_spec, {"identifiers": {("flexscada", str(UID))}}),
    ]
    assert isinstance(spec, EnergySensorSpec)
    assert not sensors[1].entity_registry_enabled_default
    await MockEntityPlatform(hass).async_add_entities(sensors)
    entity_id = sensors[0].entity_id
    assert hass.states.get(entity_id).state == "unknown"

    await statistics.async_add_rows(
        decoded([(T0 + k * MINUTE, {POWER: 600.0}) for k in range(1, 61)])
    )
    await hass.async_block_till_done()
    state = hass.states.get(entity_id)
    assert float(state.state) == pytest.approx(0.6)
    assert state.attributes["unit_of_measurement"] == "kWh"
    assert state.attributes["state_class"] == "total_increasing"
    assert state.attributes["device_class"] == "energy"
    # Rows 00:01-01:00: the 01:00 row's value belongs to hour 01, its energy to hour 00.
    assert statistics.diagnostics()["hours_pending"] == 2
    assert statistics.diagnostics()["recorder"] is False

    # Rows older than the window still count, but keep no hour.
    freezer.move_to(T0 + 40 * timedelta(days=1))
    await statistics.async_add_rows(decoded([(T0 + 2 * HOUR, {POWER: 600.0})]))
    assert float(hass.states.get(entity_id).state) == pytest.approx(0.61)
    assert statistics.diagnostics()["hours_pending"] == 0

    # Persisted: a new runtime starts from the same counter.
    statistics.async_stop()
    await hass.async_block_till_done()
    restored = DeviceStatistics(hass, UID)
    await restored.async_load()
    assert restored.energy_total(spec.unique_id) == pytest.approx(0.61)
    assert not [r for r in caplog.records if r.name.startswith("custom_components.flexscada")]


async def test_only_new_rows_count(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """With a mask of new rows, rows the pipeline has seen before add nothing."""
    freezer.move_to(T0 + 2 * HOUR)
    statistics = DeviceStatistics(hass, UID)
    statistics.async_set_sources(CONFIG_DOC, LAYOUT)
    rows = decoded([(T0 + k * MINUTE, {POWER: 600.0}) for k in range(1, 61)])
    await statistics.async_add_rows(rows, np.arange(60) >= 30)
    assert statistics.energy_total(f"{UID}_relays_1_energy") == pytest.approx(0.3)
    await statistics.async_add_rows(rows, np.zeros(60, dtype=np.bool_))
    assert statistics.energy_total(f"{UID}_relays_1_energy") == pytest.approx(0.3)
    assert statistics.diagnostics()["hours_pending"] == 2
