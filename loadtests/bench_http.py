"""HTTP-path benchmark, in-process (pytest-homeassistant harness), figures as ratios of one run.

Run with `scripts/bench_http` (it runs pytest on this file with `-s`). Settings via environment:
FLEXSCADA_BENCH_ROUNDS (default 300), FLEXSCADA_BENCH_STALL_RUNS (default 5),
FLEXSCADA_BENCH_PROFILE=1 (print a cProfile of the integration's requests).

1. Typical upload: one measurement of the 110-metric "busy site" POSTed to /Q5/m through Home
   Assistant's HTTP stack (aiohttp test server on 127.0.0.1, all HA middlewares), against the
   floor: the same body POSTed to an empty view that writes the same 110 states with
   hass.states.async_set. Requests of both kinds are interleaved in random order, so load from
   other processes hits both alike; the figure is the ratio of medians (target <= 1.5).
2. Event-loop stall: a ticker task sleeps 1 ms in a loop and records the longest gap between its
   wake-ups while a 4 MiB backlog upload (~11,400 rows) is handled; the same for a 4 MiB POST to
   the empty view and for an idle loop (target: no stall over 20 ms).
"""

from __future__ import annotations

import asyncio
import cProfile
import functools
import io
import itertools
import os
import pstats
import random
import statistics
import time
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from homeassistant.components.sensor import SensorDeviceClass, SensorEntity, SensorStateClass
from homeassistant.const import UnitOfElectricPotential
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.http import HomeAssistantView
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.flexscada.const import (
    CONF_CLOCK_SYNC_THRESHOLD,
    CONF_KEY,
    CONF_UID,
    DOMAIN,
    MAX_UPLOAD_BYTES,
)
from custom_components.flexscada.protocol import build_config_packet, build_measurement_packet
from custom_components.flexscada.protocol.model import FieldKind, Layout
from custom_components.flexscada.store import to_stored
from custom_components.flexscada.uploads import UploadPipeline

from .sites import KEY, UID, big_config, layout_of
from .stalls import StallResult, measure_stall

ROUNDS = int(os.environ.get("FLEXSCADA_BENCH_ROUNDS", "300"))
STALL_RUNS = int(os.environ.get("FLEXSCADA_BENCH_STALL_RUNS", "5"))
PROFILE = os.environ.get("FLEXSCADA_BENCH_PROFILE") == "1"
# Row timestamps count up from 60 days ago (every row is new: none is dropped as seen before).
# Each packet's epoch (the device clock when sent) is a second after the previous one's, as a
# device's clock runs; they start this many seconds before now, and clock sync is given a
# threshold above that span, so replies carry no clock-sync time (as for a typical device in sync).
EPOCH = int(time.time()) - 60 * 86400
SENT_FROM = int(time.time()) - 1800
SENT = itertools.count(SENT_FROM)
TARGET_RATIO = 1.5
TARGET_STALL_MS = 20.0


def _values(rng: random.Random, layout: Layout) -> dict[str, float | bool]:
    """Return a typical measurement: every analog value moved, on/off states as they were."""
    return {
        f.key: (index % 3 == 0) if f.kind is FieldKind.BIT else round(rng.uniform(0, 500), 3)
        for index, f in enumerate(layout.fields)
    }


class PlainSensor(SensorEntity):
    """The cheapest Entity HA offers for a voltage reading (for the entity floor)."""

    _attr_should_poll = False
    _attr_device_class = SensorDeviceClass.VOLTAGE
    _attr_native_unit_of_measurement = UnitOfElectricPotential.VOLT
    _attr_state_class = SensorStateClass.MEASUREMENT


class FloorView(HomeAssistantView):
    """The floor: read the body, write N states directly, answer 200."""

    url = "/bench/floor"
    name = "bench:floor"
    requires_auth = False

    def __init__(self, entity_ids: list[str]) -> None:
        self.entity_ids = entity_ids
        self.counter = 0
        self.write_states = True
        self.entities: list[PlainSensor] = []

    async def post(self, request: web.Request) -> web.Response:
        """Handle one upload the cheapest way that still shows its values."""
        hass = request.app["hass"]
        body = await request.read()
        if self.write_states:
            self.counter += 1
            if self.entities:
                for entity in self.entities:
                    entity._attr_native_value = self.counter + len(body) % 7
                    entity.async_write_ha_state()
            else:
                value = str(self.counter + len(body) % 7)
                for entity_id in self.entity_ids:
                    hass.states.async_set(entity_id, value, {"unit_of_measurement": "V"})
        return web.Response(status=200)


async def _timed_post(client: TestClient[Any, Any], path: str, body: bytes) -> float:
    start = time.perf_counter()
    response = await client.post(path, data=body)
    await response.read()
    elapsed = time.perf_counter() - start
    assert response.status == 200, (path, response.status)
    return elapsed


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


async def test_bench_http(hass: HomeAssistant, hass_client_no_auth: ClientSessionGenerator) -> None:
    """Print the HTTP-path figures (the assertions are only sanity checks, never thresholds)."""
    # The harness runs the loop in asyncio debug mode, which slows every callback; a production
    # Home Assistant does not.
    asyncio.get_running_loop().set_debug(False)
    config = big_config()
    layout = layout_of(config)
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=str(UID),
        data={CONF_UID: UID, CONF_KEY: KEY.hex()},
        options={CONF_CLOCK_SYNC_THRESHOLD: 3600},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    floor_ids = [f"sensor.floor_{i}" for i in range(len(layout.fields))]
    floor = FloorView(floor_ids)
    hass.http.register_view(floor)  # before the test server freezes the router
    plain_entities = []
    for index in range(len(layout.fields)):
        plain = PlainSensor()
        plain.hass = hass
        plain.entity_id = f"sensor.plain_{index}"
        plain_entities.append(plain)
    client = await hass_client_no_auth()
    response = await client.post(f"/Q5/cfg/{UID}", data=build_config_packet(KEY, config))
    assert response.status == 200
    await hass.async_block_till_done()

    registry = er.async_get(hass)
    metric_entities = [
        e.entity_id
        for e in er.async_entries_for_config_entry(registry, entry.entry_id)
        if e.disabled_by is None and e.entity_category is None
    ]
    enabled = [
        e.entity_id
        for e in er.async_entries_for_config_entry(registry, entry.entry_id)
        if e.disabled_by is None
    ]

    rng = random.Random(1)
    packets = [
        build_measurement_packet(
            KEY,
            UID,
            layout,
            [(EPOCH + 60 * i, _values(rng, layout))],
            fw_version=517,
            epoch=next(SENT),
        )
        for i in range(2 * ROUNDS + 20)
    ]
    body_size = len(packets[0])
    # Warm up both paths (first requests build caches: translations, layouts, routes).
    for packet in packets[:20]:
        await _timed_post(client, "/Q5/m", packet)
        await _timed_post(client, "/bench/floor", packet)

    integration: list[float] = []
    floor_times: list[float] = []
    empty: list[float] = []
    entity_floor: list[float] = []
    profiler = cProfile.Profile() if PROFILE else None
    order = ["integration", "floor", "empty", "entities"]
    for index in range(ROUNDS):
        rng.shuffle(order)
        for kind in order:
            if kind == "integration":
                if profiler:
                    profiler.enable()
                integration.append(await _timed_post(client, "/Q5/m", packets[20 + index]))
                if profiler:
                    profiler.disable()
            elif kind == "floor":
                floor.write_states = True
                floor_times.append(await _timed_post(client, "/bench/floor", packets[20 + index]))
            elif kind == "empty":
                floor.write_states = False
                empty.append(await _timed_post(client, "/bench/floor", packets[20 + index]))
            else:
                floor.write_states = True
                floor.entities = plain_entities
                entity_floor.append(await _timed_post(client, "/bench/floor", packets[20 + index]))
                floor.entities = []
    await hass.async_block_till_done()

    # The same work without HTTP, timed on the loop: where the time goes.
    device = entry.runtime_data
    # Every timed upload's row was new to the device (none dropped as seen): all were processed.
    assert device.rows_total == 20 + ROUNDS, device.rows_total
    direct: list[float] = []
    direct_cpu: list[float] = []
    direct_profiler = cProfile.Profile() if PROFILE else None
    for index in range(ROUNDS):
        start = time.perf_counter()
        cpu_start = time.thread_time()  # the loop thread only: the executor's file write is not
        if direct_profiler:
            direct_profiler.enable()
        result = await UploadPipeline(device).async_handle_measurement(packets[20 + ROUNDS + index])
        if direct_profiler:
            direct_profiler.disable()
        direct_cpu.append(time.thread_time() - cpu_start)
        direct.append(time.perf_counter() - start)
        assert result.status == 200
    saves: list[float] = []
    saves_cpu: list[float] = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        cpu_start = time.thread_time()
        await device.store.async_save(to_stored(device))
        saves_cpu.append(time.thread_time() - cpu_start)
        saves.append(time.perf_counter() - start)
    sets: list[float] = []
    for index in range(ROUNDS):
        start = time.perf_counter()
        for entity_id in floor_ids:
            hass.states.async_set(entity_id, str(index), {"unit_of_measurement": "V"})
        sets.append(time.perf_counter() - start)

    med = statistics.median
    ratio = med(integration) / med(floor_times)
    print()
    print(f"HTTP-path benchmark: {ROUNDS} interleaved rounds, 110-metric upload ({body_size} B)")
    print(f"  entities: {len(enabled)} enabled ({len(metric_entities)} metric/control)")
    print(
        f"  /Q5/m upload (integration)        median {_ms(med(integration))}  "
        f"p90 {_ms(statistics.quantiles(integration, n=10)[-1])}"
    )
    print(
        f"  floor: empty view + 110 async_set median {_ms(med(floor_times))}  "
        f"p90 {_ms(statistics.quantiles(floor_times, n=10)[-1])}"
    )
    print(f"  empty view alone                  median {_ms(med(empty))}")
    print(f"  empty view + 110 SensorEntity writes median {_ms(med(entity_floor))}")
    print(
        f"  in-loop: async_handle_measurement median {_ms(med(direct))} wall, "
        f"{_ms(med(direct_cpu))} CPU on the loop thread (the rest waits for the store write)"
    )
    print(
        f"  in-loop: of which the store save   median {_ms(med(saves))} wall, "
        f"{_ms(med(saves_cpu))} CPU on the loop thread"
    )
    print(f"  in-loop: 110 x states.async_set   median {_ms(med(sets))}")
    verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
    print(f"  RATIO upload / floor = {ratio:.2f}x  ({verdict} the <= {TARGET_RATIO}x target)")
    print(
        f"  ratio upload / entity floor = {med(integration) / med(entity_floor):.2f}x  "
        "(HA's own cost of 110 plain SensorEntity writes instead of async_set)"
    )

    if profiler and direct_profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
        pstats.Stats(direct_profiler, stream=out).sort_stats("tottime").print_stats(40)
        print(out.getvalue())

    # --- event-loop stall during a 4 MiB backlog upload ---------------------------------------
    stride = 4 + layout.payload_bytes
    count = (MAX_UPLOAD_BYTES - 4 - 36 - 28) // stride
    start_ts = EPOCH + 60 * (3 * ROUNDS) + 60
    row_values = [_values(rng, layout) for _ in range(16)]
    backlogs = []
    for run in range(STALL_RUNS):
        base = start_ts + run * 60 * count
        rows = [(base + 60 * i, row_values[i % 16]) for i in range(count)]
        backlogs.append(
            build_measurement_packet(KEY, UID, layout, rows, fw_version=517, epoch=next(SENT))
        )
    size = len(backlogs[0])
    assert size <= MAX_UPLOAD_BYTES

    async def post_backlog(body: bytes) -> None:
        response = await client.post("/Q5/m", data=body)
        await response.read()
        assert response.status == 200

    async def post_floor(body: bytes) -> None:
        floor.write_states = False
        response = await client.post("/bench/floor", data=body)
        await response.read()
        assert response.status == 200

    stalls: list[StallResult] = []
    floor_stalls: list[StallResult] = []
    idle: list[StallResult] = []
    for body in backlogs:
        stalls.append(await measure_stall(functools.partial(post_backlog, body)))
        floor_stalls.append(await measure_stall(functools.partial(post_floor, body)))
        idle.append(
            await measure_stall(functools.partial(asyncio.sleep, stalls[-1].request_ms / 1000))
        )
    await hass.async_block_till_done()
    assert device.rows_in_last_upload == count

    worst = max(s.max_gap_ms for s in stalls)
    print(
        f"Event-loop stall: {STALL_RUNS} backlog uploads of {count} rows ({size / 2**20:.2f} MiB)"
    )
    print(
        "  longest ticker gap, 4 MiB /Q5/m upload : "
        + ", ".join(f"{s.max_gap_ms:.1f}" for s in stalls)
        + f" ms (max {worst:.1f} ms; request {med([s.request_ms for s in stalls]):.0f} ms)"
    )
    print(
        "  longest ticker gap, 4 MiB to empty view: "
        + ", ".join(f"{s.max_gap_ms:.1f}" for s in floor_stalls)
        + f" ms (request {med([s.request_ms for s in floor_stalls]):.0f} ms)"
    )
    print(
        "  longest ticker gap, idle loop          : "
        + ", ".join(f"{s.max_gap_ms:.1f}" for s in idle)
        + " ms"
    )
    verdict = "meets" if worst <= TARGET_STALL_MS else "MISSES"
    print(f"  STALL max {worst:.1f} ms  ({verdict} the <= {TARGET_STALL_MS:.0f} ms target)")
