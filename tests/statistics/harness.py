"""A Q5 measuring every minute, uploading through the views, and a clock running HA's compile.

The device is the real integration: a config entry, its config and measurement uploads posted
to /Q5/cfg and /Q5/m, its real entities. The clock is frozen and moved from event to event; at
every 5-minute boundary + 10 s the recorder compiles the period that just ended (the task its
own timer queues then, events fired), exactly as in a running Home Assistant.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from inspect import isawaitable
import math
from typing import Any

from aiohttp.test_utils import TestClient
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.components.recorder.tasks import StatisticsTask
from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import get_instance
import numpy as np
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.flexscada.device import Q5Device
from custom_components.flexscada.statistics import DeviceStatistics

from ..common import entity_id_of, make_entry, measurement_packet, post_config, post_measurement

T0 = datetime(2026, 5, 4, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
UID = 1535235511
BLOCKED = "Blocked attempt to insert duplicated statistic rows"

CONFIG: dict[str, Any] = {
    "version": 3,
    "name": "Stats",
    "measurement_interval": 60,
    "upload_interval": 300,
    "inputs": {"1": {"label": "Battery", "unit": "Volts", "type": 0, "logging": ["avg"]}},
    "relays": {"1": {"label": "Radio", "logging": ["power", "state"]}},
}
VOLTS = "inputs.1.avg"
POWER = "relays.1.power"
VOLTS_UNIQUE_ID = f"{UID}_inputs_1_avg"
POWER_UNIQUE_ID = f"{UID}_relays_1_power"
ENERGY_UNIQUE_ID = f"{UID}_relays_1_energy"
RETURNED_UNIQUE_ID = f"{UID}_relays_1_returned_energy"
OTHER_ID = "sensor.other_temperature"
OTHER_ATTRS = {"state_class": "measurement", "unit_of_measurement": "°C"}

type Row = tuple[datetime, dict[str, float | bool]]


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


def upload_body(batch: list[Row]) -> bytes:
    """Return the measurement upload carrying these rows, sent when the newest was measured."""
    return measurement_packet(
        CONFIG,
        [(int(ts.timestamp()), values) for ts, values in batch],
        epoch=int(max(ts for ts, _ in batch).timestamp()),
    )


class Site:
    """The device's rows, the integration that receives them, and its statistics."""

    def __init__(self, hass: HomeAssistant, entry: MockConfigEntry, client: TestClient) -> None:
        """Wrap a set-up entry whose device sent its config."""
        self.hass = hass
        self.entry = entry
        self.client = client
        self.measured: dict[datetime, dict[str, float | bool]] = {}
        self.sent_until: datetime | None = None
        self.volts_id = entity_id_of(hass, VOLTS_UNIQUE_ID)
        self.power_id = entity_id_of(hass, POWER_UNIQUE_ID)
        self.energy_id = entity_id_of(hass, ENERGY_UNIQUE_ID)
        self.returned_id = entity_id_of(hass, RETURNED_UNIQUE_ID)
        self.energy_unique_id = ENERGY_UNIQUE_ID

    @classmethod
    async def async_set_up(
        cls, hass: HomeAssistant, client_factory: ClientSessionGenerator
    ) -> Site:
        """Add and set up the device's entry, and let the device send its config."""
        entry = make_entry(UID)
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        client = await client_factory()  # http is set up with the integration
        assert await post_config(client, CONFIG) == HTTPStatus.OK
        await hass.async_block_till_done()
        return cls(hass, entry, client)

    @property
    def statistics(self) -> DeviceStatistics:
        """Return the statistics of the loaded device."""
        device: Q5Device = self.entry.runtime_data
        return device.statistics

    def measure(self, start: datetime, end: datetime) -> None:
        """Let the device measure every minute in [start, end)."""
        ts = start
        while ts < end:
            self.measured[ts] = {VOLTS: volts_at(ts), POWER: power_at(ts), "relays.1.state": True}
            ts += MINUTE

    async def upload(self, now: datetime) -> list[Row]:
        """Send the rows measured before `now` not sent yet, through the view (200 expected)."""
        batch = sorted(
            (ts, values)
            for ts, values in self.measured.items()
            if ts < now and (self.sent_until is None or ts > self.sent_until)
        )
        if batch:
            self.sent_until = batch[-1][0]
            await self.send(batch)
        return batch

    async def send(self, batch: list[Row]) -> None:
        """POST rows in one measurement upload, as the device does; the answer must be 200."""
        await self.post(upload_body(batch))

    async def post(self, body: bytes) -> None:
        """POST a measurement upload; the answer must be 200."""
        status, _ = await post_measurement(self.client, body)
        assert status == HTTPStatus.OK

    def rows_in(self, key: str, hour: datetime) -> list[float]:
        """Return what the device measured for `key` in one hour."""
        return [float(v[key]) for ts, v in self.measured.items() if hour <= ts < hour + HOUR]


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
