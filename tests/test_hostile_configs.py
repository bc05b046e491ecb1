"""Authentic but hostile device configs: refused with 400 and one line, before anything is stored.

Each case was found by an adversarial run (issue 15): Home Assistant acknowledged the config, then
could not store it, created thousands of entities, failed on every later upload, or silently
dropped entities whose unique ids collided.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from http import HTTPStatus
import logging
import time
from typing import Any

from aiohttp.test_utils import TestClient
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.json import json_bytes
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.flexscada.const import (
    CONF_AVAILABILITY_FACTOR,
    MAX_AVAILABILITY_WINDOW,
    MIN_AVAILABILITY_WINDOW,
)
from custom_components.flexscada.protocol import readings

from .common import (
    DEVICE_EPOCH,
    UID,
    device_store_file,
    distinct_values,
    example_config,
    layout_of,
    measurement_packet,
    post_config,
    post_measurement,
)

type Mutation = Callable[[dict[str, Any]], None]


def _nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


def _set(key: str, value: object) -> Mutation:
    def mutate(config: dict[str, Any]) -> None:
        config[key] = value

    return mutate


def _relays(relays: dict[str, Any]) -> Mutation:
    return _set("relays", relays)


def _power_logging(*metrics: str) -> Mutation:
    def mutate(config: dict[str, Any]) -> None:
        config["power_metrics"][0]["logging"] = list(metrics)

    return mutate


def _many_probes(count: int) -> Mutation:
    def mutate(config: dict[str, Any]) -> None:
        config["ds18b20"] = [{"id": i, "label": f"P{i}", "logging": ["inst"]} for i in range(count)]

    return mutate


def _padded_to(chars: int) -> Mutation:
    def mutate(config: dict[str, Any]) -> None:
        config["plugins"] = {"notes": "x" * chars}

    return mutate


# (case, mutation, what the log line says)
HOSTILE: list[tuple[str, Mutation, str]] = [
    # item 3: what Home Assistant's store (orjson) cannot write back
    ("int >= 2**64", _set("unused", 2**64), "outside 64 bits"),
    ("int < -2**63", _set("unused", -(2**63) - 1), "outside 64 bits"),
    ("300 levels of nesting", _set("unused", _nested(300)), "nested too deeply"),
    ("unpaired surrogate", _set("unused", "\ud800"), "unpaired surrogate"),
    # item 8: more than a Q5 can have
    ("over 32,000 characters", _padded_to(readings.MAX_CONFIG_CHARS), "device's own 32000"),
    ("17 probes", _many_probes(readings.MAX_CHANNELS["ds18b20"] + 1), "at most 16"),
    ("9 relays", _relays({str(i): {"logging": ["state"]} for i in range(1, 10)}), "at most 8"),
    (
        "too many metrics",
        _power_logging(
            *(f"m{i}" for i in range(readings.MAX_METRICS_PER_CHANNEL["power_metrics"] + 1))
        ),
        "different metrics",
    ),
    # item 10: intervals that are not a Q5's
    ("upload_interval 10**12", _set("upload_interval", 10**12), "'upload_interval' is"),
    ("upload_interval -300", _set("upload_interval", -300), "'upload_interval' is"),
    ("measurement_interval -1", _set("measurement_interval", -1), "'measurement_interval' is"),
    # item 11: a relay key of 4,301 digits
    ("4301-digit relay key", _relays({"1" * 4301: {"logging": ["state"]}}), "channel numbers"),
    # item 14: unique-id collisions
    ("relay keys 1 and 01", _relays({"1": {}, "01": {"logging": ["state"]}}), "channel numbers"),
    ("power avg vs power_avg", _power_logging("power avg", "power_avg"), "names both"),
    ("relay metric pulse", _relays({"1": {"logging": ["state", "pulse"]}}), "own button"),
    ("relay metric reset", _relays({"1": {"logging": ["reset"]}}), "own button"),
    ("relay metric power up", _relays({"1": {"logging": ["power up"]}}), "own button"),
    ("power metric energy", _power_logging("power avg", "energy"), "energy counter"),
    ("power metric returned_energy", _power_logging("returned_energy"), "energy counter"),
]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [(mutate, message) for _, mutate, message in HOSTILE],
    ids=[case for case, _, _ in HOSTILE],
)
async def test_hostile_config_refused_before_200(
    hass: HomeAssistant,
    client: TestClient,
    setup_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
    mutate: Mutation,
    message: str,
) -> None:
    """400 and one clear line; the stored config, its entities and later uploads are unchanged."""
    good = example_config()
    assert await post_config(client, good) == HTTPStatus.OK
    registry = er.async_get(hass)
    entities = {
        e.unique_id for e in er.async_entries_for_config_entry(registry, setup_entry.entry_id)
    }

    hostile = example_config()
    hostile["version"] = good["version"] + 1
    mutate(hostile)
    caplog.clear()
    for _ in range(3):
        assert await post_config(client, hostile) == HTTPStatus.BAD_REQUEST
    lines = [
        r
        for r in caplog.records
        if "config upload was rejected" in r.getMessage() and r.levelno >= logging.WARNING
    ]
    assert len(lines) == 1  # rate-limited: the repeats go to debug
    assert message in lines[0].getMessage()
    assert len(lines[0].getMessage()) < 400  # a 4,301-digit key or 2**64 is not spelled out

    device = setup_entry.runtime_data
    assert device.config is not None
    assert device.config.version == good["version"]
    assert {
        e.unique_id for e in er.async_entries_for_config_entry(registry, setup_entry.entry_id)
    } == entities
    # The device keeps working on the config it had.
    values = distinct_values(layout_of(good))
    status, _ = await post_measurement(client, measurement_packet(good, [(DEVICE_EPOCH, values)]))
    assert status == HTTPStatus.OK


@pytest.mark.parametrize(
    "mutate", [mutate for _, mutate, _ in HOSTILE[:4]], ids=[case for case, _, _ in HOSTILE[:4]]
)
def test_unstorable_cases_really_break_the_store(mutate: Mutation) -> None:
    """The item-3 cases are exactly what Home Assistant's JSON writer fails on."""
    config = example_config()
    json_bytes(config)
    mutate(config)
    with pytest.raises((TypeError, ValueError)):
        json_bytes(config)


async def test_long_names_are_cut(
    hass: HomeAssistant, client: TestClient, setup_entry: MockConfigEntry
) -> None:
    """A 150 KB label and a 90 KB device name become names of at most MAX_LABEL_CHARS."""
    config = example_config()
    config["name"] = "N" * 9_000
    config["relays"]["1"]["label"] = "L" * 15_000
    assert await post_config(client, config) == HTTPStatus.OK
    device = setup_entry.runtime_data
    assert device.name == "N" * readings.MAX_LABEL_CHARS
    registry = er.async_get(hass)
    names = [
        entry.original_name or ""
        for entry in er.async_entries_for_config_entry(registry, setup_entry.entry_id)
    ]
    assert names
    assert max(len(name) for name in names) <= 2 * readings.MAX_LABEL_CHARS
    status, _ = await post_measurement(
        client, measurement_packet(config, [(DEVICE_EPOCH, distinct_values(layout_of(config)))])
    )
    assert status == HTTPStatus.OK
    assert len(setup_entry.title) <= readings.MAX_LABEL_CHARS
    for state in hass.states.async_all():
        assert len(state.attributes.get("friendly_name", "")) <= 3 * readings.MAX_LABEL_CHARS


async def test_largest_config_a_q5_can_declare(
    hass: HomeAssistant, client: TestClient, setup_entry: MockConfigEntry
) -> None:
    """Every section at its channel cap, every channel logging every known metric: accepted."""
    config: dict[str, Any] = {"version": 1, "name": "Full"}
    for section, count in readings.MAX_CHANNELS.items():
        metrics = sorted(
            m
            for m in readings.KNOWN_METRICS[section]
            if m not in readings.LEGACY_METRIC_NAMES  # the old names mean the same metrics
        )
        entries = [{"label": f"{section} {i}", "logging": metrics} for i in range(count)]
        config[section] = (
            {str(i + 1): entry for i, entry in enumerate(entries)}
            if section in ("relays", "inputs")
            else entries
        )
    # How long adding its entities takes, and the longest the loop is held in one go (printed,
    # not asserted: the figure in docs/load-and-attack.md says whether chunking is needed).
    longest_stall, adding = 0.0, True

    async def watch_the_loop() -> None:
        nonlocal longest_stall
        while adding:
            turn = time.perf_counter()
            await asyncio.sleep(0)
            longest_stall = max(longest_stall, time.perf_counter() - turn)

    watcher = asyncio.create_task(watch_the_loop())
    start = time.perf_counter()
    assert await post_config(client, config) == HTTPStatus.OK
    await hass.async_block_till_done()
    took, adding = time.perf_counter() - start, False
    await watcher
    registry = er.async_get(hass)
    count = len(er.async_entries_for_config_entry(registry, setup_entry.entry_id))
    # Far under Home Assistant's 10,000-entity safeguard, whatever the config says.
    assert 300 < count < 1000
    print(  # noqa: T201
        f"\nlargest config a Q5 can declare: {count} entities, added in {took * 1000:.0f} ms,"
        f" longest loop stall {longest_stall * 1000:.1f} ms"
    )


async def test_stored_config_over_the_caps_is_fetched_again(
    hass: HomeAssistant, config_entry: MockConfigEntry, hass_storage: dict[str, Any]
) -> None:
    """A config stored before the caps (upload_interval 10**12) does not break setup."""
    config = example_config()
    config["upload_interval"] = 10**12
    hass_storage[f"flexscada.{UID}"] = device_store_file(config)
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    assert config_entry.runtime_data.config is None


@pytest.mark.parametrize(
    ("factor", "window"),
    [
        (-2.5, MIN_AVAILABILITY_WINDOW),
        (0, MIN_AVAILABILITY_WINDOW),
        (1e12, MAX_AVAILABILITY_WINDOW),
    ],
)
async def test_availability_window_is_clamped(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    config_entry: MockConfigEntry,
    factor: float,
    window: timedelta,
) -> None:
    """Whatever the interval and factor multiply to, a good upload makes the device available."""
    config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(config_entry, options={CONF_AVAILABILITY_FACTOR: factor})
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    client = await hass_client_no_auth()
    config = example_config()
    assert await post_config(client, config) == HTTPStatus.OK
    status, _ = await post_measurement(
        client, measurement_packet(config, [(DEVICE_EPOCH, distinct_values(layout_of(config)))])
    )
    assert status == HTTPStatus.OK
    device = config_entry.runtime_data
    assert device.availability_window == window
    assert device.available
