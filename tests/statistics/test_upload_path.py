"""Through the views: a backlog upload reaches the real entity's hourly statistics, once."""

from __future__ import annotations

from datetime import datetime
from http import HTTPStatus

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.flexscada.device import Q5Device

from ..common import entity_id_of, make_entry, measurement_packet, post_config, post_measurement
from .harness import (
    CONFIG,
    HOUR,
    MINUTE,
    POWER,
    T0,
    UID,
    VOLTS,
    hourly,
    power_at,
    run_clock,
    volts_at,
)

BLOCKED = "Blocked attempt to insert duplicated statistic rows"


def rows_between(start: datetime, end: datetime) -> list[tuple[int, dict[str, float | bool]]]:
    """Return the device's rows measured every minute in [start, end)."""
    rows: list[tuple[int, dict[str, float | bool]]] = []
    ts = start
    while ts < end:
        rows.append(
            (
                int(ts.timestamp()),
                {VOLTS: volts_at(ts), POWER: power_at(ts), "relays.1.state": True},
            )
        )
        ts += MINUTE
    return rows


async def test_backlog_upload_fills_the_entity_statistics_and_a_replay_changes_nothing(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_client_no_auth: ClientSessionGenerator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """(2)+(3) through the views: a 2-hour backlog is written; the same upload re-sent is not."""
    await hass.config.async_set_time_zone("UTC")
    freezer.move_to(T0 + 2 * HOUR + MINUTE)
    entry: MockConfigEntry = make_entry(UID)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    client = await hass_client_no_auth()
    assert await post_config(client, CONFIG) == HTTPStatus.OK
    backlog = measurement_packet(CONFIG, rows_between(T0, T0 + 2 * HOUR + 2 * MINUTE))
    later = measurement_packet(
        CONFIG, rows_between(T0 + 2 * HOUR + 2 * MINUTE, T0 + 3 * HOUR + 2 * MINUTE)
    )

    async def post(body: bytes) -> None:
        status, _ = await post_measurement(client, body)
        assert status == HTTPStatus.OK

    events = {
        T0 + 2 * HOUR + 2 * MINUTE: lambda _now: post(backlog),
        T0 + 3 * HOUR + 2 * MINUTE: lambda _now: post(later),
    }
    await run_clock(hass, freezer, T0 + 3 * HOUR + 6 * MINUTE, events)
    device: Q5Device = entry.runtime_data
    entity_id = entity_id_of(hass, f"{UID}_inputs_1_avg")
    written = await hourly(hass, entity_id, T0, T0 + 3 * HOUR)
    assert sorted(written) == [T0, T0 + HOUR, T0 + 2 * HOUR]
    for hour, row in written.items():
        values = [volts_at(hour + k * MINUTE) for k in range(60)]
        assert row["mean"] == pytest.approx(sum(values) / 60, rel=0.005)
        assert (row["min"], row["max"]) == (min(values), max(values))
    counter = device.statistics.energy_total(f"{UID}_relays_1_energy")

    # The backlog arrives again (a retransmission): answered 200, nothing counted twice.
    events = {T0 + 3 * HOUR + 10 * MINUTE: lambda _now: post(backlog)}
    await run_clock(hass, freezer, T0 + 4 * HOUR + 6 * MINUTE, events)
    assert await hourly(hass, entity_id, T0, T0 + 3 * HOUR) == written
    assert device.statistics.energy_total(f"{UID}_relays_1_energy") == counter
    assert BLOCKED not in caplog.text
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
