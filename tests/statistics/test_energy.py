"""Energy integrated from the device's power rows: counters, hourly statistics, the dashboard."""

from __future__ import annotations

from datetime import datetime

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.energy.data import async_get_manager
from homeassistant.components.energy.validate import async_validate
from homeassistant.components.recorder.statistics import get_metadata
from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import get_instance
import numpy as np
import pytest

from custom_components.flexscada.energy import energy_sensor_specs, integrate_power
from custom_components.flexscada.protocol import compile_layout, parse_config

from .harness import (
    HOUR,
    MINUTE,
    POWER,
    RETURNED_UNIQUE_ID,
    T0,
    Site,
    hourly,
    run_clock,
)

KWH_PER_WATT_MINUTE = 60 / 3_600_000


def energy_in(site: Site, hour: datetime, *, returned: bool = False) -> float:
    """kWh of the rows in one hour: each row covers the minute that ends at its timestamp."""
    sign = -1 if returned else 1
    return sum(
        max(sign * float(values[POWER]), 0) * KWH_PER_WATT_MINUTE
        for ts, values in site.measured.items()
        if hour < ts <= hour + HOUR and (site.sent_until is None or ts <= site.sent_until)
    )


async def test_energy_lands_in_the_hour_it_was_used(
    site: Site, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """(5) Each hour's change is the integral of its rows, across an outage, without jumps."""
    site.measure(T0, T0 + 11 * HOUR)
    events = {T0 + h * HOUR + 2 * MINUTE: site.upload for h in (0, 1, 2, 7, 8, 9, 10)}
    await run_clock(hass, freezer, T0 + 10 * HOUR + 6 * MINUTE, events)
    # Selectable in the Energy dashboard (while the device reports): a kWh sum statistic that
    # passes HA's validation.
    metadata = await get_instance(hass).async_add_executor_job(
        lambda: get_metadata(hass, statistic_ids={site.energy_id})
    )
    assert metadata[site.energy_id][1]["has_sum"] is True
    assert metadata[site.energy_id][1]["unit_of_measurement"] == "kWh"
    manager = await async_get_manager(hass)
    await manager.async_update({"device_consumption": [{"stat_consumption": site.energy_id}]})
    validation = (await async_validate(hass)).as_dict()
    assert validation["device_consumption"] == [[]]
    # No upload at 11:02: HA compiles hour 10 by itself, from the live counter.
    await run_clock(hass, freezer, T0 + 11 * HOUR + MINUTE)

    stats = await hourly(hass, site.energy_id, T0 - HOUR, T0 + 11 * HOUR)
    assert sorted(stats) == [T0 + h * HOUR for h in range(-1, 11)]
    for h in range(10):
        hour = T0 + h * HOUR
        assert stats[hour]["change"] == pytest.approx(energy_in(site, hour), rel=0.01), hour
    assert all(row["change"] >= 0 for row in stats.values())
    # HA's own compile continues the imported sums: the last sum is the counter, no jump.
    total = site.statistics.energy_total(site.energy_unique_id)
    assert total is not None
    assert stats[T0 + 10 * HOUR]["sum"] == pytest.approx(total)
    assert stats[T0 + 10 * HOUR]["change"] >= 0
    returned = site.statistics.energy_total(RETURNED_UNIQUE_ID)
    assert returned == pytest.approx(
        sum(energy_in(site, T0 + h * HOUR, returned=True) for h in range(-1, 11))
    )
    assert returned > 0
    # The returned-energy entity is disabled by default: no state, no statistics.
    assert hass.states.get(site.returned_id) is None
    assert not await hourly(hass, site.returned_id, T0 - HOUR, T0 + 11 * HOUR)


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
