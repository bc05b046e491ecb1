"""Tests of what reaches the disk: failed writes, unloads, removal, damaged stores, old configs.

Issue 15, items 3 (second half), 4, 5, 9 and 13: nothing is answered 200 that is not durably
stored, a removed or reloaded device leaves nothing behind, a damaged store never locks a device
out, and a replayed older config does not replace the stored one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import suppress
import copy
from http import HTTPStatus
import logging
from pathlib import Path
from typing import Any
from unittest.mock import patch

from homeassistant.components.switch import DOMAIN as SWITCH_DOMAIN
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID, SERVICE_TURN_ON
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
from homeassistant.util.file import WriteError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.flexscada.const import DOMAIN, LOGGER
from custom_components.flexscada.device import Q5Device
from custom_components.flexscada.store import DeviceStore, StoredDevice, store_keys

from .common import (
    DEVICE_EPOCH,
    UID,
    Q5Uploads,
    Writer,
    entity_id_of,
    example_config,
    failing,
    make_entry,
    writer,
)

STORE_KEY = f"{DOMAIN}.{UID}"


async def switch_on(hass: HomeAssistant) -> None:
    """Turn relay 1 on (queues a command and saves it)."""
    await hass.async_block_till_done()  # the config's entities are added
    await hass.services.async_call(
        SWITCH_DOMAIN,
        SERVICE_TURN_ON,
        {ATTR_ENTITY_ID: entity_id_of(hass, f"{UID}_relays_1_state")},
        blocking=True,
    )


def stored(hass_storage: dict[str, Any]) -> StoredDevice:
    """Return the device's store as written."""
    data: StoredDevice = hass_storage[STORE_KEY]["data"]
    return data


# -- item 3: never acknowledge anything whose save failed ------------------------------------------


async def test_home_assistant_store_swallows_a_failed_write(hass: HomeAssistant) -> None:
    """Why DeviceStore exists: a plain Store logs a failed write and returns as if saved."""
    with writer(failing):
        await Store[dict[str, int]](hass, 1, "flexscada.test").async_save({"a": 1})  # no raise


async def test_config_not_saved_is_answered_503(
    hass: HomeAssistant,
    q5: Q5Uploads,
    setup_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A config whose save fails is not taken: 503 (the device re-sends), one warning line."""
    with writer(failing):
        assert await q5.send_config() == HTTPStatus.SERVICE_UNAVAILABLE
        assert await q5.send_config() == HTTPStatus.SERVICE_UNAVAILABLE
    device: Q5Device = setup_entry.runtime_data
    assert device.config is None  # nothing acknowledged: the device is still asked for it
    assert (await q5.upload())[0] == HTTPStatus.CONFLICT
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name == LOGGER.name]
    assert len(warnings) == 1
    # The disk works again: the re-sent config is taken.
    assert await q5.send_config() == HTTPStatus.OK
    assert (await q5.upload())[0] == HTTPStatus.OK


async def test_measurement_not_saved_is_answered_503_until_saved(
    hass: HomeAssistant,
    configured_q5: Q5Uploads,
    setup_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    """Rows whose save fails get 503; the re-sent rows get 200 only once they are on disk."""
    with writer(failing):
        assert (await configured_q5.upload())[0] == HTTPStatus.SERVICE_UNAVAILABLE
        # The device re-sends the same rows: still not on disk, still 503.
        assert (await configured_q5.upload())[0] == HTTPStatus.SERVICE_UNAVAILABLE
    assert stored(hass_storage)["rows_total"] == 0
    assert (await configured_q5.upload())[0] == HTTPStatus.OK
    assert stored(hass_storage)["rows_total"] == 1  # counted once
    assert setup_entry.runtime_data.rows_total == 1


async def test_command_not_saved_is_refused(
    hass: HomeAssistant, reporting_q5: Q5Uploads, setup_entry: MockConfigEntry
) -> None:
    """A command whose save fails raises a translated error and is not queued."""
    with writer(failing), pytest.raises(HomeAssistantError) as err:
        await switch_on(hass)
    assert err.value.translation_key == "command_not_saved"
    assert setup_entry.runtime_data.commands.pending == []
    _, reply = await reporting_q5.upload()
    assert "cmds" not in reply


# -- item 4: removal leaves nothing ---------------------------------------------------------------


async def test_removal_waits_for_the_unloads_last_write(
    hass: HomeAssistant,
    reporting_q5: Q5Uploads,
    setup_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    """A slow last write of the unload cannot land after the removal's delete.

    The writer holds the write until the removal has deleted the store (at most 0.2 s, when the
    removal rightly waits for it): a write that is not awaited by the unload lands after.
    """
    await switch_on(hass)  # a queued relay pulse, on disk
    assert stored(hass_storage)["commands"]["pending"]  # type: ignore[index]
    removed = asyncio.Event()
    original_remove = Store.async_remove

    async def remove(store: Store[Any]) -> None:
        await original_remove(store)
        removed.set()

    def slow(original: Writer) -> Writer:
        async def write(store: Store[Any], data: dict[str, Any]) -> None:
            with suppress(TimeoutError):
                async with asyncio.timeout(0.2):
                    await removed.wait()
            await original(store, data)

        return write

    with writer(slow), patch.object(Store, "async_remove", remove):
        assert await hass.config_entries.async_remove(setup_entry.entry_id)
        await hass.async_block_till_done()
    for key in store_keys(UID):
        assert key not in hass_storage

    # The uid added again starts clean: no old config, no old queued pulse.
    entry = make_entry()
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    device: Q5Device = entry.runtime_data
    assert device.config is None
    assert device.commands.pending == []


# -- item 5: an unloaded runtime neither saves nor answers 200 -------------------------------------


async def test_reload_during_an_upload(
    hass: HomeAssistant,
    configured_q5: Q5Uploads,
    setup_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    """The upload in flight when its entry reloads is answered 503; the new runtime gets it."""
    old: Q5Device = setup_entry.runtime_data
    writing, release = asyncio.Event(), asyncio.Event()

    def held(original: Writer) -> Writer:
        async def write(store: Store[Any], data: dict[str, Any]) -> None:
            if not writing.is_set():  # the upload's save: held until the reload unloads
                writing.set()
                await release.wait()
            await original(store, data)

        return write

    with writer(held):
        upload = hass.async_create_task(configured_q5.upload())
        await writing.wait()
        reload = hass.async_create_task(hass.config_entries.async_reload(setup_entry.entry_id))
        async with asyncio.timeout(5):
            while not old.store.closed:  # noqa: ASYNC110 (the flag is the runtime's own)
                await asyncio.sleep(0)
        release.set()
        status, _ = await upload
        assert await reload
    assert status == HTTPStatus.SERVICE_UNAVAILABLE
    assert not old.availability.timer_running
    new: Q5Device = setup_entry.runtime_data
    assert new is not old

    # A command queued on the new runtime stays on disk: nothing of the old one writes later.
    await switch_on(hass)
    await hass.async_block_till_done()
    assert len(stored(hass_storage)["commands"]["pending"]) == 1  # type: ignore[index]
    # The device re-sends the rows: the new runtime has them (counted once) and answers 200.
    assert (await configured_q5.upload())[0] == HTTPStatus.OK
    assert new.rows_total == stored(hass_storage)["rows_total"] == 1


# -- item 9: a damaged store is set aside ----------------------------------------------------------


def good_store(config: dict[str, Any]) -> dict[str, Any]:
    """Return a device store as `to_stored` writes it, with the envelope around it."""
    return {
        "version": 1,
        "minor_version": 1,
        "key": STORE_KEY,
        "data": {
            "config": config,
            "values": {"inputs.1.avg": 1.5},
            "latest_timestamp": DEVICE_EPOCH,
            "last_upload": "2026-11-24T16:00:00+00:00",
            "meta": None,
            "rows_in_last_upload": 1,
            "rows_total": 5,
            "commands": {"next_id": 1, "last_ack": 0, "pending": []},
            "freshness": {
                "newest": DEVICE_EPOCH,
                "floor": None,
                "last_epoch": DEVICE_EPOCH,
                "sync_time": None,
                "seen": {},
                "ahead": {},
                "rows_duplicate": 0,
                "uploads_duplicate": 0,
            },
        },
    }


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda envelope: envelope["data"].pop(key)


def _set(key: str, value: object) -> Callable[[dict[str, Any]], None]:
    return lambda envelope: envelope["data"].__setitem__(key, value)


def _set_in(part: str, key: str, value: object) -> Callable[[dict[str, Any]], None]:
    return lambda envelope: envelope["data"][part].__setitem__(key, value)


def _envelope(key: str, value: object) -> Callable[[dict[str, Any]], None]:
    return lambda envelope: envelope.__setitem__(key, value)


DAMAGE = {
    "missing key": _drop("rows_total"),
    "wrong type": _set("values", ["inputs.1.avg", 1.5]),
    "counter as string": _set("rows_total", "5"),
    "counter as bool": _set("rows_in_last_upload", True),
    "reading as string": _set("values", {"inputs.1.avg": "1.5"}),
    "bad time": _set("last_upload", "yesterday"),
    "meta with an unknown field": _set("meta", {"flags": 0, "colour": 3}),
    "queue counter as string": _set_in("commands", "next_id", "7"),
    "queue without pending": _set("commands", {"next_id": 1, "last_ack": 0}),
    "freshness counter as string": _set_in("freshness", "rows_duplicate", "2"),
    "freshness row time as string": _set_in("freshness", "seen", {"ab": "1"}),
    "meta field as string": _set(
        "meta",
        {
            "flags": 0,
            "fw_version": "517",
            "cfg_version": 42,
            "measurement_count": 1,
            "measurement_size": 8,
            "epoch": DEVICE_EPOCH,
            "last_cmd_id_ack": 0,
        },
    ),
    "pending config not an object": _set("pending_config", ["config"]),
    "pending deliveries as string": _set(
        "pending_config", {"config": example_config(), "deliveries": "3"}
    ),
    "pending deliveries as bool": _set(
        "pending_config", {"config": example_config(), "deliveries": True}
    ),
    "pending config as string": _set("pending_config", {"config": "{}", "deliveries": 1}),
    "pending sent as number": _set(
        "pending_config", {"config": example_config(), "deliveries": 1, "sent": 1}
    ),
    "data not an object": _envelope("data", [1, 2]),
    "no data in the envelope": lambda envelope: envelope.pop("data"),
    "older version, no migration": _envelope("version", 0),
    "newer major version": _envelope("version", 2),
}


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
async def test_damaged_store_is_set_aside(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
    hass_client_no_auth: Any,
    caplog: pytest.LogCaptureFixture,
    damage: Callable[[dict[str, Any]], None],
) -> None:
    """The entry loads empty with one warning; the device is asked for its config and heals."""
    envelope = good_store(example_config())
    damage(envelope)
    hass_storage[STORE_KEY] = envelope
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    uploads = Q5Uploads(await hass_client_no_auth())
    assert config_entry.state is ConfigEntryState.LOADED
    device: Q5Device = config_entry.runtime_data
    assert device.config is None
    assert device.rows_total == 0
    assert STORE_KEY not in hass_storage  # set aside, not loaded again at the next start
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name == LOGGER.name]
    assert len(warnings) == 1
    assert "set aside" in warnings[0].getMessage()

    status, reply = await uploads.upload()
    assert status == HTTPStatus.CONFLICT
    assert reply == {"Cmd": "getcfg"}
    assert await uploads.send_config() == HTTPStatus.OK
    assert (await uploads.upload())[0] == HTTPStatus.OK
    assert stored(hass_storage)["rows_total"] == 1


async def test_undamaged_store_and_newer_minor_version_load(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    """The same store undamaged loads, also from a newer minor version (it only adds keys)."""
    envelope = good_store(example_config())
    envelope["minor_version"] = 2
    envelope["data"]["added_later"] = {"x": 1}
    hass_storage[STORE_KEY] = envelope
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    device: Q5Device = config_entry.runtime_data
    assert device.config is not None
    assert device.rows_total == 5


async def test_set_aside_renames_the_file(hass: HomeAssistant, tmp_path: Path) -> None:
    """On disk, the unusable store is renamed `<key>.corrupt.<time>`, as HA does with bad JSON."""
    hass.config.config_dir = str(tmp_path)
    store = DeviceStore(hass, UID)
    path = Path(store.path)
    path.parent.mkdir(parents=True)
    path.write_text('{"version": 7}')  # noqa: ASYNC240
    await store.async_set_aside(ValueError("test"))
    assert not path.exists()  # noqa: ASYNC240
    (aside,) = path.parent.glob(f"{STORE_KEY}.corrupt.*")
    assert aside.read_text() == '{"version": 7}'


# -- item 13: a replayed older config --------------------------------------------------------------


async def test_older_config_is_ignored(
    hass: HomeAssistant,
    reporting_q5: Q5Uploads,
    setup_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    """A config older than the stored one is a replay: 200 (no loop), nothing changes."""
    device: Q5Device = setup_entry.runtime_data
    current = copy.deepcopy(reporting_q5.config)
    old = copy.deepcopy(current)
    old["version"] = current["version"] - 1
    old["name"] = "captured long ago"
    reporting_q5.config = old
    assert await reporting_q5.send_config() == HTTPStatus.OK
    assert device.config is not None
    assert device.config.version == current["version"]
    assert stored(hass_storage)["config"]["version"] == current["version"]  # type: ignore[index]
    assert device.config_replays.ignored == 1
    # An old measurement replayed (rows seen before) does not make the old config genuine.
    reporting_q5.config = current
    replay = await reporting_q5.upload_rows(
        [(DEVICE_EPOCH, reporting_q5.values())], cfg_version=old["version"]
    )
    assert replay[0] == HTTPStatus.CONFLICT
    reporting_q5.config = old
    assert await reporting_q5.send_config() == HTTPStatus.OK
    assert device.config.version == current["version"]
    assert device.config_replays.ignored == 2


async def test_older_config_the_device_reports_is_taken(
    hass: HomeAssistant, reporting_q5: Q5Uploads, setup_entry: MockConfigEntry
) -> None:
    """A device rolled back to an older config reports it in new rows: that config is taken."""
    device: Q5Device = setup_entry.runtime_data
    old = copy.deepcopy(reporting_q5.config)
    old["version"] -= 1
    reporting_q5.config = old
    status, reply = await reporting_q5.upload(epoch=DEVICE_EPOCH + 60)
    assert (status, reply) == (HTTPStatus.CONFLICT, {"Cmd": "getcfg"})
    assert await reporting_q5.send_config() == HTTPStatus.OK
    assert device.config is not None
    assert device.config.version == old["version"]
    assert (await reporting_q5.upload(epoch=DEVICE_EPOCH + 60))[0] == HTTPStatus.OK
    assert device.config_replays.ignored == 0


def failing_statistics(original: Writer) -> Writer:
    """Return a writer that fails for the statistics store only (the device store works)."""

    async def write(store: Store[Any], data: dict[str, Any]) -> None:
        if ".statistics" in store.key:  # the small store and the day stores
            raise WriteError(OSError(28, "No space left on device"))
        await original(store, data)

    return write


async def test_statistics_not_saved_is_answered_503_until_saved(
    hass: HomeAssistant,
    configured_q5: Q5Uploads,
    setup_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    """Rows whose hourly aggregates cannot be saved get 503; the re-sent rows get 200 once both
    stores hold them, counted once."""
    now = int(dt_util.utcnow().timestamp())  # statistics keep the last 30 days
    values = configured_q5.values(seed=7)
    with writer(failing_statistics):
        assert (await configured_q5.upload(values, epoch=now))[0] == 503
        # The re-sent rows are duplicates now, but not yet durable: still 503.
        assert (await configured_q5.upload(values, epoch=now))[0] == 503
    assert f"{DOMAIN}.{UID}.statistics" not in hass_storage
    assert (await configured_q5.upload(values, epoch=now))[0] == HTTPStatus.OK
    # Once on disk, what the rows changed is shown.
    battery = hass.states.get(entity_id_of(hass, f"{UID}_inputs_1_avg"))
    assert battery is not None
    assert float(battery.state) == values["inputs.1.avg"]
    [day] = hass_storage[f"{DOMAIN}.{UID}.statistics"]["data"]["days"]
    means = hass_storage[f"{DOMAIN}.{UID}.statistics.{day}"]["data"]["means"]
    hours = means[f"{UID}_inputs_1_avg"]
    assert [count for _hour, count, *_ in hours] == [1]  # the row, once
    assert stored(hass_storage)["rows_total"] == 1  # counted once
    assert setup_entry.runtime_data.rows_total == 1
