"""Every authentic upload counts: freshness per row, clocks that jump, uploads that race.

Issue 11's acceptance, through the views with the protocol's device side: each test checks the
entity states, the reply and the counters (runtime and store).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from http import HTTPStatus
import logging
import threading
from typing import Any
from unittest.mock import patch

from aiohttp.test_utils import TestClient
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_OFF, STATE_UNKNOWN
from homeassistant.core import Event, EventStateChangedData, HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.flexscada import uploads as uploads_module
from custom_components.flexscada.const import INLINE_DECODE_LIMIT, MAX_UPLOAD_BYTES
from custom_components.flexscada.device import Q5Device
from custom_components.flexscada.freshness import MAX_REMEMBERED_ROWS, Freshness
from custom_components.flexscada.protocol import PulseRelay, open_measurement_packet, readings
from custom_components.flexscada.uploads import UploadPipeline

from .common import (
    KEY,
    UID,
    distinct_values,
    entity_id_of,
    example_config,
    layout_of,
    measurement_packet,
    post_config,
    post_measurement,
)

CONFIG = example_config()
LAYOUT = layout_of(CONFIG)
BATTERY = f"{UID}_inputs_1_avg"  # a float metric every row carries
Y2000 = 946_684_800


def now_epoch() -> int:
    """Return Home Assistant's (frozen) time as a unix timestamp."""
    return int(dt_util.utcnow().timestamp())


def row(seed: int) -> dict[str, float | bool]:
    """Return a row's values, distinct per seed."""
    return distinct_values(LAYOUT, seed=seed)


def battery_state(hass: HomeAssistant) -> float:
    """Return the battery sensor's state."""
    state = hass.states.get(entity_id_of(hass, BATTERY))
    assert state is not None
    return float(state.state)


def runtime(entry: MockConfigEntry) -> Q5Device:
    """Return the device runtime of the entry."""
    device: Q5Device = entry.runtime_data
    return device


def stored(hass_storage: dict[str, Any]) -> dict[str, Any]:
    """Return the device's stored data."""
    data: dict[str, Any] = hass_storage[f"flexscada.{UID}"]["data"]
    return data


@pytest.fixture
async def device_client(hass: HomeAssistant, client: TestClient) -> TestClient:
    """Return the device's client, with its config uploaded."""
    assert await post_config(client, CONFIG) == HTTPStatus.OK
    return client


async def upload(
    client: TestClient, rows: list[tuple[int, dict[str, float | bool]]], **kwargs: Any
) -> tuple[int, dict[str, Any]]:
    """Post one measurement upload of `rows`; return the status and the opened reply."""
    return await post_measurement(client, measurement_packet(CONFIG, rows, **kwargs))


@pytest.mark.usefixtures("freezer")
async def test_same_epoch_different_rows(
    hass: HomeAssistant,
    device_client: TestClient,
    setup_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    """1. Two uploads with the same epoch and second: both applied, the second is the state."""
    now = now_epoch()
    assert await upload(device_client, [(now, row(1))], epoch=now) == (HTTPStatus.OK, {})
    assert await upload(device_client, [(now, row(2))], epoch=now) == (HTTPStatus.OK, {})
    assert battery_state(hass) == row(2)["inputs.1.avg"]
    device = runtime(setup_entry)
    assert (device.rows_total, device.freshness.rows_duplicate) == (2, 0)
    assert stored(hass_storage)["rows_total"] == 2


@pytest.mark.usefixtures("freezer")
async def test_backlog_in_chunks(
    hass: HomeAssistant,
    device_client: TestClient,
    setup_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    """2. A backlog in 3 chunks with equal, then increasing epochs: every row is taken."""
    now = now_epoch()
    rows = [(now - 60 * (9 - i), row(i)) for i in range(9)]
    for chunk, epoch in zip(range(3), (now, now, now + 1), strict=True):
        status, reply = await upload(device_client, rows[3 * chunk : 3 * chunk + 3], epoch=epoch)
        assert (status, reply) == (HTTPStatus.OK, {})
    assert battery_state(hass) == rows[-1][1]["inputs.1.avg"]
    device = runtime(setup_entry)
    assert device.rows_total == stored(hass_storage)["rows_total"] == 9
    assert device.latest_timestamp == rows[-1][0]


async def test_clock_reset_to_2000(
    hass: HomeAssistant,
    device_client: TestClient,
    setup_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    """3. A clock reset to 2000-01-01: `t` in the reply, rows re-stamped and applied; then on."""
    now = now_epoch()
    assert (await upload(device_client, [(now, row(1))], epoch=now))[0] == HTTPStatus.OK

    freezer.tick(timedelta(seconds=600))
    received = now_epoch()
    status, reply = await upload(device_client, [(Y2000 + 290, row(2))], epoch=Y2000 + 300)
    assert status == HTTPStatus.OK
    assert reply["t"] == received
    assert battery_state(hass) == row(2)["inputs.1.avg"]
    device = runtime(setup_entry)
    assert device.latest_timestamp == received - 10  # measured 10 s before it was sent

    freezer.tick(timedelta(seconds=300))
    corrected = now_epoch()
    status, reply = await upload(device_client, [(corrected, row(3))], epoch=corrected)
    assert (status, reply) == (HTTPStatus.OK, {})
    assert battery_state(hass) == row(3)["inputs.1.avg"]
    assert device.rows_total == stored(hass_storage)["rows_total"] == 3


async def test_clock_a_year_ahead(
    hass: HomeAssistant,
    device_client: TestClient,
    setup_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """4. A clock a year ahead gets `t`; its uploads with the corrected clock are applied."""
    now = now_epoch()
    ahead = now + 365 * 86400
    # A backlog longer than the memory of seen rows: all of it is stamped a year ahead.
    backlog = [(ahead - 600 + i, row(1)) for i in range(MAX_REMEMBERED_ROWS + 50)]
    status, reply = await upload(device_client, backlog, epoch=ahead)
    assert (status, reply) == (HTTPStatus.OK, {"t": now})
    assert battery_state(hass) == row(1)["inputs.1.avg"]
    device = runtime(setup_entry)
    assert device.freshness.floor is not None
    assert device.freshness.floor > now  # rows up to a year ahead count as seen...

    for seed in (2, 3):
        freezer.tick(timedelta(seconds=300))
        corrected = now_epoch()
        status, reply = await upload(device_client, [(corrected, row(seed))], epoch=corrected)
        assert (status, reply) == (HTTPStatus.OK, {})
        assert battery_state(hass) == row(seed)["inputs.1.avg"]  # ...but not these
    # An alarm row in the same second is new too: the year-ahead rows crowd nothing out.
    corrected = now_epoch()
    assert await upload(device_client, [(corrected, row(4))], epoch=corrected) == (200, {})
    assert battery_state(hass) == row(4)["inputs.1.avg"]
    assert (device.rows_total, device.latest_timestamp) == (len(backlog) + 3, now_epoch())
    assert device.freshness.floor < now


async def test_upload_with_nothing_new_is_not_decoded(
    hass: HomeAssistant, device_client: TestClient, setup_entry: MockConfigEntry
) -> None:
    """A retransmission is answered from the freshness check alone: its rows are not decoded."""
    now = now_epoch()
    body = measurement_packet(CONFIG, [(now - 60, row(1)), (now, row(2))], epoch=now)
    decoded: list[int] = []
    original = uploads_module.decode_rows

    def counting(layout: Any, packet: Any) -> Any:
        decoded.append(packet.meta.measurement_count)
        return original(layout, packet)

    with patch.object(uploads_module, "decode_rows", counting):
        assert await post_measurement(device_client, body) == (HTTPStatus.OK, {})
        assert await post_measurement(device_client, body) == (HTTPStatus.OK, {})
    assert decoded == [2]
    assert runtime(setup_entry).freshness.uploads_duplicate == 1


async def test_same_packet_twice(
    hass: HomeAssistant,
    device_client: TestClient,
    setup_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """5. The same packet posted twice: 200 both times, counted once, nothing changes."""
    now = now_epoch()
    body = measurement_packet(CONFIG, [(now - 60, row(1)), (now, row(2))], epoch=now)
    assert await post_measurement(device_client, body) == (HTTPStatus.OK, {})
    device = runtime(setup_entry)
    before = (hass.states.get(entity_id_of(hass, BATTERY)), device.last_upload)
    saved = dict(stored(hass_storage))

    freezer.tick(timedelta(seconds=5))
    caplog.set_level(logging.DEBUG, logger="custom_components.flexscada")
    assert await post_measurement(device_client, body) == (HTTPStatus.OK, {})
    assert (hass.states.get(entity_id_of(hass, BATTERY)), device.last_upload) == before
    assert (device.rows_total, device.rows_in_last_upload) == (2, 2)
    assert (device.freshness.rows_duplicate, device.freshness.uploads_duplicate) == (2, 1)
    assert "2 of 2 rows seen before" in caplog.text
    assert stored(hass_storage)["rows_total"] == saved["rows_total"] == 2


async def test_older_capture_replayed(
    hass: HomeAssistant,
    device_client: TestClient,
    setup_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """6. An older captured upload replayed after newer ones: 200, no state, no availability."""
    now = now_epoch()
    captured = [measurement_packet(CONFIG, [(now + 300 * i, row(i))]) for i in range(3)]
    for body in captured:
        freezer.tick(timedelta(seconds=300))
        assert (await post_measurement(device_client, body))[0] == HTTPStatus.OK
    device = runtime(setup_entry)
    freezer.tick(timedelta(seconds=300 * 2.5 + 1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    connectivity = entity_id_of(hass, f"{UID}_connectivity")
    assert hass.states.get(connectivity).state == STATE_OFF  # type: ignore[union-attr]
    states = {state.entity_id: state for state in hass.states.async_all()}
    counters = (device.rows_total, device.rows_in_last_upload, device.latest_timestamp)

    assert (await post_measurement(device_client, captured[0]))[0] == HTTPStatus.OK
    assert {state.entity_id: state for state in hass.states.async_all()} == states
    assert (device.rows_total, device.rows_in_last_upload, device.latest_timestamp) == counters
    assert device.freshness.uploads_duplicate == 1


async def test_ack_in_duplicate_upload_retires_command(
    hass: HomeAssistant, device_client: TestClient, setup_entry: MockConfigEntry
) -> None:
    """8. A command acknowledged in an upload whose rows were all seen before is retired."""
    device = runtime(setup_entry)
    command = await device.async_queue_command(PulseRelay(1))
    now = now_epoch()
    status, reply = await upload(device_client, [(now, row(1))], epoch=now)
    assert status == HTTPStatus.OK
    assert [c["id"] for c in reply["commands"]] == [command.id]

    # The device executed it; the reply to its next upload was lost, so it sends that again,
    # now acknowledging the command.
    status, reply = await upload(device_client, [(now, row(1))], epoch=now, ack=command.id)
    assert (status, reply) == (HTTPStatus.OK, {})
    assert device.commands.pending == []
    assert device.freshness.uploads_duplicate == 1
    # An older capture (ack 0) does not bring it back.
    assert await upload(device_client, [(now, row(1))], epoch=now) == (HTTPStatus.OK, {})
    assert (device.commands.pending, device.commands.last_ack) == ([], command.id)


async def test_clock_600_s_ahead_replays(
    hass: HomeAssistant,
    device_client: TestClient,
    setup_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """9. Clock 600 s ahead: the same packet thrice counts once; an older replay changes nothing."""
    now = now_epoch()
    older = measurement_packet(CONFIG, [(now + 600, row(1))])
    newer = measurement_packet(CONFIG, [(now + 900, row(2))])
    device = runtime(setup_entry)
    status, reply = await post_measurement(device_client, older)
    assert (status, reply) == (HTTPStatus.OK, {"t": now})
    freezer.tick(timedelta(seconds=300))
    for _ in range(3):
        status, reply = await post_measurement(device_client, newer)
        assert (status, reply) == (HTTPStatus.OK, {"t": now_epoch()})
    assert (device.rows_total, device.freshness.uploads_duplicate) == (2, 2)
    assert battery_state(hass) == row(2)["inputs.1.avg"]

    freezer.tick(timedelta(seconds=60))
    status, reply = await post_measurement(device_client, older)
    assert (status, reply) == (HTTPStatus.OK, {"t": now_epoch()})
    assert battery_state(hass) == row(2)["inputs.1.avg"]
    assert (device.rows_total, device.latest_timestamp) == (2, now + 900)


async def test_backlog_retry_after_alarm_is_counted_not_shown(
    hass: HomeAssistant, device_client: TestClient, setup_entry: MockConfigEntry
) -> None:
    """A never-seen backlog arriving after a newer alarm upload: counted, the alarm stays shown."""
    now = now_epoch()
    assert (await upload(device_client, [(now, row(9))], epoch=now))[0] == HTTPStatus.OK
    backlog = [(now - 60 * (5 - i), row(i)) for i in range(5)]
    assert (await upload(device_client, backlog, epoch=now + 1))[0] == HTTPStatus.OK
    device = runtime(setup_entry)
    assert battery_state(hass) == row(9)["inputs.1.avg"]
    assert (device.rows_total, device.rows_in_last_upload) == (6, 5)


class HeldDecode:
    """Holds one upload's executor decode until another upload of the device has arrived."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Prepare the hold."""
        self.hass = hass
        self.release = threading.Event()
        self.holding = asyncio.Event()

    def hold(self, func: Callable[..., Any], when: Callable[..., bool]) -> Callable[..., Any]:
        """Return `func`, blocking (in the executor) on the calls `when` selects."""

        def held(*args: Any) -> Any:
            if when(*args):
                self.hass.loop.call_soon_threadsafe(self.holding.set)
                assert self.release.wait(30)
            return func(*args)

        return held

    def release_on_arrival(
        self, handler: Callable[[UploadPipeline, bytes], Awaitable[Any]]
    ) -> Callable[[UploadPipeline, bytes], Awaitable[Any]]:
        """Return `handler`, letting the held decode go when another upload arrives."""

        async def arriving(pipeline: UploadPipeline, body: bytes) -> Any:
            if self.holding.is_set():
                self.release.set()
            return await handler(pipeline, body)

        return arriving

    @property
    def patches(self) -> Iterator[Any]:
        """Yield the patches that route both handlers through `release_on_arrival`."""
        for name in ("async_handle_measurement", "async_handle_config"):
            yield patch.object(
                UploadPipeline, name, self.release_on_arrival(getattr(UploadPipeline, name))
            )


async def race(
    held: HeldDecode, first: Awaitable[Any], second: Callable[[], Awaitable[Any]]
) -> tuple[Any, Any]:
    """Start `first`, wait until its decode is held, then run `second`; return both results."""
    patches = list(held.patches)
    for active in patches:
        active.start()
    try:
        task = asyncio.ensure_future(first)
        await held.holding.wait()
        result = await second()
        return await task, result
    finally:
        for active in patches:
            active.stop()


async def test_large_backlog_in_flight_newer_upload_wins(
    hass: HomeAssistant, device_client: TestClient, setup_entry: MockConfigEntry
) -> None:
    """7. A 4 MiB backlog still decoding while a newer 1-row upload arrives: the newer shows."""
    now = now_epoch()
    count = (MAX_UPLOAD_BYTES - 256) // (LAYOUT.payload_bytes + readings.TIMESTAMP_SIZE)
    values = row(1)
    backlog = measurement_packet(CONFIG, [(now - count + i, values) for i in range(count)])
    assert MAX_UPLOAD_BYTES - 1024 < len(backlog) <= MAX_UPLOAD_BYTES  # 4 MiB
    held = HeldDecode(hass)
    decode = held.hold(uploads_module.decode_rows, lambda _layout, packet: len(packet) > 1)
    with patch.object(uploads_module, "decode_rows", decode):
        (status_backlog, _), (status_new, _) = await race(
            held,
            post_measurement(device_client, backlog),
            lambda: upload(device_client, [(now, row(2))], epoch=now),
        )
    assert (status_backlog, status_new) == (HTTPStatus.OK, HTTPStatus.OK)
    assert battery_state(hass) == row(2)["inputs.1.avg"]
    device = runtime(setup_entry)
    assert (device.rows_total, device.latest_timestamp) == (count + 1, now)
    # Processed in arrival order: the last upload is the 1-row one.
    assert device.rows_in_last_upload == 1
    assert len(device.freshness.seen) == MAX_REMEMBERED_ROWS


def swapped_labels(config: dict[str, Any], version: int) -> dict[str, Any]:
    """Return `config` as a new version whose two temperature sensors swapped labels."""
    config["version"] = version
    first, second = config["ds18b20"][0], config["ds18b20"][1]
    first["label"], second["label"] = second["label"], first["label"]
    return config


async def test_config_upload_races_measurement(
    hass: HomeAssistant, device_client: TestClient, setup_entry: MockConfigEntry
) -> None:
    """10a. A new config arrives while an upload of the old one decodes: no reading mislabelled."""
    cabinet = entity_id_of(hass, f"{UID}_ds18b20_0_avg")
    written: list[tuple[str, str]] = []

    def on_change(event: Event[EventStateChangedData]) -> None:
        if event.data["entity_id"] == cabinet and (state := event.data["new_state"]):
            written.append((state.state, state.attributes["friendly_name"]))

    hass.bus.async_listen("state_changed", on_change)
    now = now_epoch()
    rows = [(now - 300 + i, row(i) | {"ds18b20.0.avg": 35.0}) for i in range(300)]
    body = measurement_packet(CONFIG, rows)
    assert len(body) > INLINE_DECODE_LIMIT  # decoded in the executor
    held = HeldDecode(hass)
    decode = held.hold(uploads_module.decode_rows, lambda _layout, _packet: True)
    with patch.object(uploads_module, "decode_rows", decode):
        (status, _), config_status = await race(
            held,
            post_measurement(device_client, body),
            lambda: post_config(device_client, swapped_labels(example_config(), 43)),
        )
    await hass.async_block_till_done()
    assert (status, config_status) == (HTTPStatus.OK, HTTPStatus.OK)
    assert ("35.0", "Example Repeater Site Cabinet average") in written
    state = hass.states.get(cabinet)
    assert state is not None
    assert state.attributes["friendly_name"] == "Example Repeater Site Outdoor average"
    assert state.state == STATE_UNKNOWN  # not the cabinet's 35 °C


async def test_two_config_uploads_in_flight(
    hass: HomeAssistant, device_client: TestClient, setup_entry: MockConfigEntry
) -> None:
    """10b. Two config uploads in flight: the newer one wins."""
    older = swapped_labels(example_config(), 43)
    older["notes"] = "x" * INLINE_DECODE_LIMIT  # large: decoded in the executor
    newer = example_config() | {"version": 44}
    held = HeldDecode(hass)
    opener = held.hold(
        uploads_module.open_config_packet, lambda _key, body: len(body) > INLINE_DECODE_LIMIT
    )
    with patch.object(uploads_module, "open_config_packet", opener):
        statuses = await race(
            held, post_config(device_client, older), lambda: post_config(device_client, newer)
        )
    assert statuses == (HTTPStatus.OK, HTTPStatus.OK)
    device = runtime(setup_entry)
    assert device.config is not None
    assert device.config.version == 44


async def test_store_from_before_per_row_freshness(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
    client_factory: Callable[[], Awaitable[TestClient]],
) -> None:
    """A store without freshness loads; what it applied last counts as seen, newer rows do not."""
    now = now_epoch()
    hass_storage[f"flexscada.{UID}"] = {
        "version": 1,
        "minor_version": 1,
        "key": f"flexscada.{UID}",
        "data": {
            "config": CONFIG,
            "values": {"inputs.1.avg": 1.5},
            "latest_timestamp": now,
            "last_upload": dt_util.utcnow().isoformat(),
            "meta": None,
            "rows_in_last_upload": 1,
            "rows_total": 7,
            "commands": None,
        },
    }
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    client = await client_factory()
    assert battery_state(hass) == 1.5
    # The last upload before the update, delivered again: seen.
    assert await upload(client, [(now, row(1))], epoch=now) == (HTTPStatus.OK, {})
    assert battery_state(hass) == 1.5
    assert await upload(client, [(now + 1, row(2))], epoch=now) == (HTTPStatus.OK, {})
    assert battery_state(hass) == row(2)["inputs.1.avg"]
    device = runtime(config_entry)
    assert (device.rows_total, device.freshness.uploads_duplicate) == (8, 1)
    assert stored(hass_storage)["freshness"]["newest"] == now + 1


async def test_uploads_without_rows(
    hass: HomeAssistant,
    device_client: TestClient,
    setup_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """An upload queuing no row is heard when sent later than the last; its replay is not."""
    device = runtime(setup_entry)
    now = now_epoch()
    empty = measurement_packet(CONFIG, [], epoch=now)
    assert await post_measurement(device_client, empty) == (HTTPStatus.OK, {})
    heard = device.last_upload
    assert heard is not None
    freezer.tick(timedelta(seconds=60))
    assert await post_measurement(device_client, empty) == (HTTPStatus.OK, {"t": now + 60})
    assert (device.last_upload, device.freshness.uploads_duplicate) == (heard, 1)
    later = measurement_packet(CONFIG, [], epoch=now + 60)
    assert await post_measurement(device_client, later) == (HTTPStatus.OK, {})
    assert device.last_upload == dt_util.utcnow()
    assert (device.rows_total, device.rows_in_last_upload) == (0, 0)


def test_clock_that_stays_ahead_keeps_old_replays_out() -> None:
    """A clock that stays 600 s ahead (ignoring `t`): its oldest uploads stay replay-proof.

    More uploads than the memory holds digests of: the first one is caught by the floor.
    """
    freshness = Freshness()
    start = 1_800_000_000
    captured = []
    for step in range(MAX_REMEMBERED_ROWS + 40):
        received = start + 300 * step
        body = measurement_packet(CONFIG, [(received + 600, row(step % 7))])
        captured.append(body)
        verdict = freshness.judge(open_measurement_packet(KEY, body), received)
        assert verdict.fresh
        assert verdict.live_row == 0
        freshness.commit(verdict)
        freshness.clock_synced(received)  # the reply carried `t`
    assert len(freshness.ahead) + len(freshness.seen) <= 2 * MAX_REMEMBERED_ROWS
    received += 300
    for body in (captured[0], captured[-2], captured[-1]):
        verdict = freshness.judge(open_measurement_packet(KEY, body), received)
        assert (verdict.fresh, verdict.new_count) == (False, 0)
        freshness.commit(verdict)
    assert (freshness.uploads_duplicate, freshness.rows_duplicate) == (3, 3)
