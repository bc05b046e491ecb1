"""End-to-end tests of the upload path: a simulated Q5 posts to Home Assistant's views."""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus
import logging
import math
from typing import Any

from aiohttp.test_utils import TestClient
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.flexscada.const import DOMAIN, MAX_UPLOAD_BYTES
from custom_components.flexscada.entity_specs import metric_platform, metric_unique_id
from custom_components.flexscada.protocol import FieldKind

from .common import (
    DEVICE_EPOCH,
    UID,
    WRONG_KEY,
    Q5Uploads,
    distinct_values,
    entity_id_of,
    example_config,
    layout_of,
    make_entry,
    measurement_packet,
    post_config,
    post_measurement,
)


def logged(caplog: pytest.LogCaptureFixture, text: str, level: int = logging.INFO) -> int:
    """Return how many records at `level` or above contain `text`."""
    return sum(1 for r in caplog.records if r.levelno >= level and text in r.getMessage())


def our_unique_ids(hass: HomeAssistant, entry: MockConfigEntry) -> list[str]:
    """Return the unique ids of all entities of the entry, duplicates included."""
    registry = er.async_get(hass)
    return [e.unique_id for e in er.async_entries_for_config_entry(registry, entry.entry_id)]


async def test_full_exchange(hass: HomeAssistant, q5: Q5Uploads) -> None:
    """409 + getcfg, config upload, measurements: every entity holds the encoded value."""
    layout = q5.layout
    values = q5.values()

    status, reply = await q5.upload(values)
    assert status == HTTPStatus.CONFLICT
    assert reply == {"Cmd": "getcfg"}

    assert await q5.send_config() == HTTPStatus.OK
    status, reply = await q5.upload(values)
    assert status == HTTPStatus.OK
    await hass.async_block_till_done()

    assert len(layout.fields) == 28
    for field in layout.fields:
        state = hass.states.get(entity_id_of(hass, metric_unique_id(UID, field)))
        assert state is not None, field.key
        if field.kind is FieldKind.BIT:
            assert state.state == (STATE_ON if values[field.key] else STATE_OFF), field.key
        else:
            assert float(state.state) == values[field.key], field.key
        assert metric_platform(field) == state.domain


@pytest.mark.usefixtures("reporting_q5")
async def test_entities_named_and_classed(
    hass: HomeAssistant, setup_entry: MockConfigEntry
) -> None:
    """Names come from the channel label and metric; device classes and units fit."""

    pf = hass.states.get(entity_id_of(hass, f"{UID}_power_metrics_0_power_factor"))
    assert pf is not None
    assert pf.attributes["friendly_name"] == "Example Repeater Site AC Mains power factor"
    assert pf.attributes["device_class"] == "power_factor"
    battery = hass.states.get(entity_id_of(hass, f"{UID}_inputs_1_avg"))
    assert battery is not None
    assert battery.attributes["unit_of_measurement"] == "V"
    assert battery.attributes["device_class"] == "voltage"
    assert battery.attributes["state_class"] == "measurement"
    pressure = hass.states.get(entity_id_of(hass, f"{UID}_inputs_2_avg"))
    assert pressure is not None
    assert pressure.attributes["unit_of_measurement"] == "psi"
    fuse = hass.states.get(entity_id_of(hass, f"{UID}_relays_1_fuse"))
    assert fuse is not None
    assert fuse.attributes["device_class"] == "problem"
    door = hass.states.get(entity_id_of(hass, f"{UID}_inputs_3_state"))
    assert door is not None
    assert door.attributes["true_text"] == "Open"

    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, str(UID)), setup_entry.entry_id
    )
    assert device is not None
    assert device.name == "Example Repeater Site"
    assert device.manufacturer == "FlexSCADA"
    assert device.serial_number == str(UID)


async def test_nan_reading_is_unknown(hass: HomeAssistant, configured_q5: Q5Uploads) -> None:
    """A NaN or infinite float32 (a disconnected sensor) is an unknown state, nothing more."""
    values = configured_q5.values()
    values["inputs.1.avg"] = math.nan
    values["ds18b20.0.avg"] = math.inf
    status, _ = await configured_q5.upload(values)
    assert status == HTTPStatus.OK
    for unique_id in (f"{UID}_inputs_1_avg", f"{UID}_ds18b20_0_avg"):
        state = hass.states.get(entity_id_of(hass, unique_id))
        assert state is not None
        assert state.state == STATE_UNKNOWN


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_backlog_shows_newest_row(hass: HomeAssistant, configured_q5: Q5Uploads) -> None:
    """Of a backlog, live state comes from the newest row; an older replay does not go back."""
    rows = [(DEVICE_EPOCH + 60 * i, configured_q5.values(seed=i)) for i in range(5)]
    status, _ = await configured_q5.upload_rows(rows)
    assert status == HTTPStatus.OK
    battery = entity_id_of(hass, f"{UID}_inputs_1_avg")
    state = hass.states.get(battery)
    assert state is not None
    assert float(state.state) == rows[-1][1]["inputs.1.avg"]

    rows_sensor = hass.states.get(entity_id_of(hass, f"{UID}_rows_in_last_upload"))
    assert rows_sensor is not None
    assert rows_sensor.state == "5"

    # An older upload played back is answered as processed but changes nothing.
    status, _ = await configured_q5.upload_rows(rows[:2])
    assert status == HTTPStatus.OK
    state = hass.states.get(battery)
    assert state is not None
    assert float(state.state) == rows[-1][1]["inputs.1.avg"]
    rows_sensor = hass.states.get(entity_id_of(hass, f"{UID}_rows_in_last_upload"))
    assert rows_sensor is not None
    assert rows_sensor.state == "5"


async def test_replay_keeps_no_silent_device_online(
    hass: HomeAssistant, client: TestClient, freezer: FrozenDateTimeFactory
) -> None:
    """Playing back a device's last upload does not make a silent device look online."""
    config = example_config()
    await post_config(client, config)
    body = measurement_packet(config, [(DEVICE_EPOCH, distinct_values(layout_of(config)))])
    assert (await post_measurement(client, body))[0] == HTTPStatus.OK
    freezer.tick(timedelta(seconds=300 * 2.5 + 1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    connectivity = entity_id_of(hass, f"{UID}_connectivity")
    assert hass.states.get(connectivity).state == STATE_OFF  # type: ignore[union-attr]

    assert (await post_measurement(client, body))[0] == HTTPStatus.OK
    assert hass.states.get(connectivity).state == STATE_OFF  # type: ignore[union-attr]


async def test_config_version_bump_asks_again(hass: HomeAssistant, reporting_q5: Q5Uploads) -> None:
    """A measurement reporting a newer config version gets 409 + getcfg, and is not processed."""
    values = reporting_q5.values()
    reporting_q5.config["version"] = 43
    status, reply = await reporting_q5.upload(reporting_q5.values(seed=7), epoch=DEVICE_EPOCH + 60)
    assert status == HTTPStatus.CONFLICT
    assert reply == {"Cmd": "getcfg"}
    state = hass.states.get(entity_id_of(hass, f"{UID}_inputs_1_avg"))
    assert state is not None
    assert float(state.state) == values["inputs.1.avg"]


async def test_relabel_and_removal_follow_config(
    hass: HomeAssistant, configured_q5: Q5Uploads, setup_entry: MockConfigEntry
) -> None:
    """A relabel renames entities in place; a removed metric's entity goes; no duplicates."""
    config = configured_q5.config
    await hass.async_block_till_done()
    before = our_unique_ids(hass, setup_entry)
    battery = entity_id_of(hass, f"{UID}_inputs_1_avg")

    config["version"] = 43
    config["inputs"]["1"]["label"] = "House Battery"
    config["inputs"]["1"]["logging"] = ["avg", "max"]
    config["inputs"]["5"]["logging"] = ["avg"]
    config["inputs"]["3"].update({"_t": "Wet", "_f": "Dry"})
    assert await configured_q5.send_config() == HTTPStatus.OK
    await hass.async_block_till_done()

    after = our_unique_ids(hass, setup_entry)
    assert len(after) == len(set(after))
    assert f"{UID}_inputs_1_min" not in after
    assert f"{UID}_inputs_5_avg" in after
    assert set(before) - set(after) == {f"{UID}_inputs_1_min"}
    assert entity_id_of(hass, f"{UID}_inputs_1_avg") == battery
    state = hass.states.get(battery)
    assert state is not None
    assert state.attributes["friendly_name"] == "Example Repeater Site House Battery average"
    assert hass.states.get(entity_id_of(hass, f"{UID}_inputs_5_avg")) is not None

    values = configured_q5.values(seed=3)
    status, _ = await configured_q5.upload(values)
    assert status == HTTPStatus.OK
    state = hass.states.get(entity_id_of(hass, f"{UID}_inputs_5_avg"))
    assert state is not None
    assert float(state.state) == values["inputs.5.avg"]
    door = hass.states.get(entity_id_of(hass, f"{UID}_inputs_3_state"))
    assert door is not None
    assert (door.attributes["device_class"], door.attributes["true_text"]) == ("moisture", "Wet")


async def test_restart_restores_states(
    hass: HomeAssistant, reporting_q5: Q5Uploads, setup_entry: MockConfigEntry
) -> None:
    """After a restart the entities exist at once with their last values."""
    values = reporting_q5.values()

    # Unloading writes what is pending; setting up again reads only the store.
    assert await hass.config_entries.async_unload(setup_entry.entry_id)
    await hass.async_block_till_done()
    assert await hass.config_entries.async_setup(setup_entry.entry_id)
    await hass.async_block_till_done()

    state = hass.states.get(entity_id_of(hass, f"{UID}_inputs_1_avg"))
    assert state is not None
    assert float(state.state) == values["inputs.1.avg"]
    relay = hass.states.get(entity_id_of(hass, f"{UID}_relays_1_state"))
    assert relay is not None
    assert relay.state == (STATE_ON if values["relays.1.state"] else STATE_OFF)


async def test_silence_makes_entities_unavailable(
    hass: HomeAssistant,
    reporting_q5: Q5Uploads,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Without uploads for 2.5 upload intervals the entities go unavailable, then recover."""
    values = reporting_q5.values()
    battery = entity_id_of(hass, f"{UID}_inputs_1_avg")
    connectivity = entity_id_of(hass, f"{UID}_connectivity")
    assert hass.states.get(connectivity).state == STATE_ON  # type: ignore[union-attr]

    freezer.tick(timedelta(seconds=300 * 2.5 - 5))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get(battery).state != STATE_UNAVAILABLE  # type: ignore[union-attr]

    freezer.tick(timedelta(seconds=10))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get(battery).state == STATE_UNAVAILABLE  # type: ignore[union-attr]
    assert hass.states.get(connectivity).state == STATE_OFF  # type: ignore[union-attr]
    assert logged(caplog, "has not uploaded since") == 1

    await reporting_q5.upload(values, epoch=DEVICE_EPOCH + 900)
    assert float(hass.states.get(battery).state) == values["inputs.1.avg"]  # type: ignore[union-attr]
    assert logged(caplog, "is sending uploads again") == 1


@pytest.mark.usefixtures("reporting_q5")
async def test_restart_then_silence_goes_unavailable(
    hass: HomeAssistant, setup_entry: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    """Restored values after a restart still time out if the device stays silent."""
    assert await hass.config_entries.async_unload(setup_entry.entry_id)
    freezer.tick(timedelta(seconds=60))
    assert await hass.config_entries.async_setup(setup_entry.entry_id)
    await hass.async_block_till_done()
    battery = entity_id_of(hass, f"{UID}_inputs_1_avg")
    assert hass.states.get(battery).state != STATE_UNAVAILABLE  # type: ignore[union-attr]

    freezer.tick(timedelta(seconds=300 * 2.5))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get(battery).state == STATE_UNAVAILABLE  # type: ignore[union-attr]


async def test_bad_inputs(
    hass: HomeAssistant,
    client: TestClient,
    reporting_q5: Q5Uploads,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each bad upload gets its status, one log line, and changes no state."""
    config = reporting_q5.config
    before = {state.entity_id: state.state for state in hass.states.async_all()}
    changed = reporting_q5.values(seed=5)
    good = measurement_packet(config, [(DEVICE_EPOCH + 60, changed)])

    wrong_key = measurement_packet(config, [(DEVICE_EPOCH + 60, changed)], key=WRONG_KEY)
    for _ in range(3):
        assert (await client.post("/Q5/m", data=wrong_key)).status == HTTPStatus.FORBIDDEN
    assert logged(caplog, "failed the integrity check", logging.WARNING) == 1

    tampered = bytearray(good)
    tampered[-1] ^= 0x01
    assert (await client.post("/Q5/m", data=bytes(tampered))).status == HTTPStatus.FORBIDDEN

    assert (await client.post("/Q5/m", data=good[:3])).status == HTTPStatus.BAD_REQUEST
    assert (await client.post("/Q5/m", data=good[:50])).status == HTTPStatus.BAD_REQUEST

    unknown = measurement_packet(config, [(DEVICE_EPOCH + 60, changed)], uid=UID + 1)
    assert (await client.post("/Q5/m", data=unknown)).status == HTTPStatus.NOT_FOUND
    assert (await client.post(f"/Q5/cfg/{UID + 1}", data=b"x" * 64)).status == 404
    assert (await client.post("/Q5/cfg/not-a-uid", data=b"x" * 64)).status == 404

    assert (
        await client.post("/Q5/m", data=b"\0" * (MAX_UPLOAD_BYTES + 1))
    ).status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE

    async def chunked():  # no Content-Length: the limit is enforced while reading
        for _ in range(MAX_UPLOAD_BYTES // 65536 + 2):
            yield b"\0" * 65536

    assert (await client.post("/Q5/m", data=chunked())).status == 413

    assert (await client.post(f"/Q5/cfg/{UID}", data=b"\0" * 40)).status in (400, 403)
    bad_config = await post_config(client, {"version": "x", "relays": 5})
    assert bad_config == HTTPStatus.BAD_REQUEST
    wrong_key_config = await post_config(client, config, key=WRONG_KEY)
    assert wrong_key_config == HTTPStatus.FORBIDDEN

    after = {state.entity_id: state.state for state in hass.states.async_all()}
    assert after == before
    assert "Traceback" not in caplog.text


async def test_unloaded_entry_answers_404(
    hass: HomeAssistant, configured_q5: Q5Uploads, setup_entry: MockConfigEntry
) -> None:
    """An unloaded device is unknown to the views until it is loaded again."""
    assert await hass.config_entries.async_unload(setup_entry.entry_id)
    status, _ = await configured_q5.upload()
    assert status == HTTPStatus.NOT_FOUND


async def test_two_devices_are_routed_by_uid(hass: HomeAssistant, client: TestClient) -> None:
    """Each upload reaches the entry of its own uid."""
    other_uid = UID + 7
    other = make_entry(uid=other_uid)
    other.add_to_hass(hass)
    assert await hass.config_entries.async_setup(other.entry_id)
    config = example_config()
    assert await post_config(client, config, uid=other_uid) == HTTPStatus.OK
    values = distinct_values(layout_of(config), seed=2)
    status, _ = await post_measurement(
        client, measurement_packet(config, [(DEVICE_EPOCH, values)], uid=other_uid)
    )
    assert status == HTTPStatus.OK
    registry = er.async_get(hass)
    assert registry.async_get_entity_id("sensor", DOMAIN, f"{UID}_inputs_1_avg") is None
    entity_id = registry.async_get_entity_id("sensor", DOMAIN, f"{other_uid}_inputs_1_avg")
    assert entity_id is not None
    assert float(hass.states.get(entity_id).state) == values["inputs.1.avg"]  # type: ignore[union-attr]


async def test_less_used_diagnostics_start_disabled(
    hass: HomeAssistant, client: TestClient
) -> None:
    """Every diagnostic sensor starts disabled (last upload: one logbook entry per upload else).

    Connectivity stays enabled: it changes only when the device goes silent or comes back.
    """
    registry = er.async_get(hass)
    for key in ("last_upload", "firmware", "config_version", "rows_in_last_upload", "clock_offset"):
        entry = registry.async_get(entity_id_of(hass, f"{UID}_{key}"))
        assert entry is not None
        assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    for key in ("connectivity",):
        entry = registry.async_get(entity_id_of(hass, f"{UID}_{key}"))
        assert entry is not None
        assert entry.disabled_by is None


@pytest.mark.usefixtures("configured_q5")
async def test_removing_the_entry_deletes_its_store(
    hass: HomeAssistant, setup_entry: MockConfigEntry, hass_storage: dict[str, Any]
) -> None:
    """The stored config, readings and queue of a removed Q5 are deleted with it."""
    assert f"{DOMAIN}.{UID}" in hass_storage
    assert await hass.config_entries.async_remove(setup_entry.entry_id)
    await hass.async_block_till_done()
    assert f"{DOMAIN}.{UID}" not in hass_storage
