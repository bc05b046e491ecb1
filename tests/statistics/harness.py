"""A Q5 measuring every minute, its entities, and a clock that runs Home Assistant's compile.

The clock is frozen and moved from event to event; at every 5-minute boundary + 10 s the
recorder compiles the period that just ended (the task its own timer queues then, events fired),
exactly as in a running Home Assistant.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from inspect import isawaitable
import math
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.components.recorder.tasks import StatisticsTask
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.recorder import get_instance
import numpy as np
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.flexscada.const import DOMAIN
from custom_components.flexscada.protocol import (
    DecodedRows,
    FieldKind,
    Layout,
    compile_layout,
    parse_config,
)
from custom_components.flexscada.statistics import DeviceStatistics

T0 = datetime(2026, 5, 4, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
UID = 1535235511

CONFIG: dict[str, Any] = {
    "version": 3,
    "name": "Stats",
    "measurement_interval": 60,
    "upload_interval": 300,
    "inputs": {"1": {"label": "Battery", "unit": "Volts", "type": 0, "logging": ["avg"]}},
    "relays": {"1": {"label": "Radio", "logging": ["power", "state"]}},
}
CONFIG_DOC = parse_config(CONFIG)
LAYOUT: Layout = compile_layout(CONFIG_DOC)
VOLTS = "inputs.1.avg"
POWER = "relays.1.power"
VOLTS_ID = "sensor.stats_battery"
POWER_ID = "sensor.stats_radio_power"
ENERGY_ID = "sensor.stats_radio_energy"
RETURNED_ID = "sensor.stats_radio_returned_energy"
OTHER_ID = "sensor.other_temperature"

ENTITIES: dict[str, tuple[str, dict[str, str]]] = {
    # unique id: (entity id, attributes the real entity writes)
    f"{UID}_inputs_1_avg": (
        VOLTS_ID,
        {"state_class": "measurement", "unit_of_measurement": "V", "device_class": "voltage"},
    ),
    f"{UID}_relays_1_power": (
        POWER_ID,
        {"state_class": "measurement", "unit_of_measurement": "W", "device_class": "power"},
    ),
    f"{UID}_relays_1_energy": (
        ENERGY_ID,
        {"state_class": "total_increasing", "unit_of_measurement": "kWh", "device_class": "energy"},
    ),
    f"{UID}_relays_1_returned_energy": (
        RETURNED_ID,
        {"state_class": "total_increasing", "unit_of_measurement": "kWh", "device_class": "energy"},
    ),
}
OTHER_ATTRS = {"state_class": "measurement", "unit_of_measurement": "°C"}


def volts_at(ts: datetime) -> float:
    """Battery volts measured at `ts` (exact in float32)."""
    minutes = (ts - T0) / MINUTE
    return float(
        np.float32(12.5 + math.sin(2 * math.pi * minutes / 97) + 0.3 * math.cos(minutes / 7))
    )


def power_at(ts: datetime) -> float:
    """Relay watts measured at `ts`: mostly drawn, exported for a while (negative)."""
    minutes = (ts - T0) / MINUTE
    return float(np.float32(400 + 700 * math.sin(2 * math.pi * minutes / 180)))


def decoded(rows: list[tuple[datetime, dict[str, float]]]) -> DecodedRows:
    """Return rows as the decoder hands them over."""
    floats = [f for f in LAYOUT.fields if f.kind is FieldKind.FLOAT]
    bits = [f for f in LAYOUT.fields if f.kind is FieldKind.BIT]
    return DecodedRows(
        LAYOUT,
        np.array([int(ts.timestamp()) for ts, _ in rows], dtype=np.uint32),
        np.array(
            [[values.get(f.key, 0.0) for f in floats] for _, values in rows], dtype=np.float32
        ).reshape(len(rows), len(floats)),
        np.zeros((len(rows), len(bits)), dtype=np.bool_),
    )


class Site:
    """The device's rows, its entities as the integration writes them, and its statistics."""

    def __init__(self, hass: HomeAssistant, *, returned_disabled: bool = True) -> None:
        """Register the entities (the returned-energy one disabled, as by default)."""
        self.hass = hass
        self.measured: dict[datetime, dict[str, float]] = {}
        self.sent_until: datetime | None = None
        self.statistics = DeviceStatistics(hass, UID)
        registry = er.async_get(hass)
        for unique_id, (entity_id, _) in ENTITIES.items():
            registry.async_get_or_create(
                "sensor",
                DOMAIN,
                unique_id,
                suggested_object_id=entity_id.split(".")[1],
                disabled_by=er.RegistryEntryDisabler.INTEGRATION
                if returned_disabled and entity_id == RETURNED_ID
                else None,
            )
            assert registry.async_get_entity_id("sensor", DOMAIN, unique_id) == entity_id

    async def async_start(self) -> None:
        """Load and start the statistics, as the runtime does at set-up."""
        await self.statistics.async_load()
        self.statistics.async_set_sources(CONFIG_DOC, LAYOUT)
        self.statistics.async_start()

    def measure(self, start: datetime, end: datetime) -> None:
        """Let the device measure every minute in [start, end)."""
        ts = start
        while ts < end:
            self.measured[ts] = {VOLTS: volts_at(ts), POWER: power_at(ts)}
            ts += MINUTE

    async def upload(self, now: datetime) -> list[tuple[datetime, dict[str, float]]]:
        """Send the rows measured before `now` not sent yet; write the entities' states."""
        batch = sorted(
            (ts, values)
            for ts, values in self.measured.items()
            if ts < now and (self.sent_until is None or ts > self.sent_until)
        )
        if batch:
            self.sent_until = batch[-1][0]
            await self.send(batch)
        return batch

    async def send(self, batch: list[tuple[datetime, dict[str, float]]]) -> None:
        """Hand rows to the statistics and write the live states, as the runtime does."""
        await self.statistics.async_add_rows(decoded(batch))
        newest = batch[-1][1]
        self.hass.states.async_set(VOLTS_ID, str(newest[VOLTS]), ENTITIES[f"{UID}_inputs_1_avg"][1])
        self.hass.states.async_set(
            POWER_ID, str(newest[POWER]), ENTITIES[f"{UID}_relays_1_power"][1]
        )
        for unique_id in (f"{UID}_relays_1_energy", f"{UID}_relays_1_returned_energy"):
            entity_id, attributes = ENTITIES[unique_id]
            total = self.statistics.energy_total(unique_id)
            self.hass.states.async_set(entity_id, str(total), attributes)

    def offline(self) -> None:
        """Mark the measurement entities unavailable (the device went silent)."""
        for entity_id in (VOLTS_ID, POWER_ID):
            self.hass.states.async_set(entity_id, STATE_UNAVAILABLE)

    def rows_in(self, key: str, hour: datetime) -> list[float]:
        """Return what the device measured for `key` in one hour."""
        return [v[key] for ts, v in self.measured.items() if hour <= ts < hour + HOUR]


async def settle(hass: HomeAssistant) -> None:
    """Wait for the recorder, then our background import, then the recorder again."""
    await async_wait_recording_done(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    await async_wait_recording_done(hass)


async def run_clock(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    until: datetime,
    events: Mapping[datetime, Callable[[datetime], object]] | None = None,
    *,
    fire_events: bool = True,
) -> None:
    """Move the clock to `until`, stopping at every 5-minute compile (+10 s) and every event.

    `fire_events=False` compiles like `compile_missing_statistics` after a restart: silently.
    """
    now = datetime.fromtimestamp(freezer.time_to_freeze.timestamp(), UTC)  # type: ignore[attr-defined]
    stops: dict[datetime, Callable[[datetime], object] | None] = {}
    boundary = now.replace(minute=now.minute - now.minute % 5, second=10, microsecond=0)
    while boundary <= until:
        if boundary > now:
            stops[boundary] = None
        boundary += timedelta(minutes=5)
    stops |= {when: action for when, action in (events or {}).items() if now < when <= until}
    for when in sorted(stops):
        freezer.move_to(when)
        async_fire_time_changed(hass, when)
        if (action := stops[when]) is None:
            # What Recorder.async_periodic_statistics queues at this moment.
            period = when.replace(second=0) - timedelta(minutes=5)
            get_instance(hass).queue_task(StatisticsTask(period, fire_events))
        elif isawaitable(result := action(when)):
            await result
        await settle(hass)
    freezer.move_to(until)
    async_fire_time_changed(hass, until)
    await settle(hass)


async def hourly(
    hass: HomeAssistant, statistic_id: str, start: datetime, end: datetime
) -> dict[datetime, dict[str, Any]]:
    """Return the hourly statistics of one id by hour start."""
    rows = await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        start,
        end,
        {statistic_id},
        "hour",
        None,
        {"mean", "min", "max", "state", "sum", "change"},
    )
    return {
        datetime.fromtimestamp(row["start"], UTC): dict(row) for row in rows.get(statistic_id, [])
    }
