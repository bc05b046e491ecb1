"""Changing the device's config from Home Assistant: the `cfg` reply, through the views.

Home Assistant plays the server; the test plays the device with the protocol's device side:
it uploads under the version it has, and adopts a pushed config by uploading under its version.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from http import HTTPStatus
import logging
from typing import Any
from unittest.mock import patch

from aiohttp.test_utils import TestClient
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.select import (
    ATTR_OPTION,
    DOMAIN as SELECT_DOMAIN,
    SERVICE_SELECT_OPTION,
)
from homeassistant.const import ATTR_ENTITY_ID, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.flexscada.const import DOMAIN
from custom_components.flexscada.device import Q5Device
from custom_components.flexscada.diagnostics import async_get_config_entry_diagnostics
from custom_components.flexscada.issues import ISSUE_CONFIG_REJECTED, issue_id
from custom_components.flexscada.pending_config import MAX_DELIVERIES
from custom_components.flexscada.protocol.config_edit import MAX_DEVICE_CONFIG_CHARS, config_size

from .common import (
    DEVICE_EPOCH,
    UID,
    device_store_file,
    distinct_values,
    entity_id_of,
    example_config,
    failing,
    layout_of,
    measurement_packet,
    post_config,
    post_measurement,
    writer,
)

UPLOAD_INTERVAL_ID = f"{UID}_upload_interval"


class FakeQ5:
    """The device side: its config, and uploads stamped with a rising clock."""

    def __init__(self, client: TestClient, config: dict[str, Any]) -> None:
        self.client = client
        self.config = config
        self.epoch = DEVICE_EPOCH
        self.seed = 0
        self.last_values: dict[str, float | bool] = {}

    async def upload(self) -> tuple[int, dict[str, Any]]:
        """Upload one row under the device's current config; return status and reply."""
        self.epoch += 60
        self.seed += 1
        values = distinct_values(layout_of(self.config), self.seed)
        self.last_values = values
        return await post_measurement(
            self.client, measurement_packet(self.config, [(self.epoch, values)])
        )

    def adopt(self, pushed: Mapping[str, Any]) -> None:
        """Take a pushed config, as the device does with a `cfg` reply."""
        self.config = dict(pushed)


@pytest.fixture
async def q5(hass: HomeAssistant, client: TestClient) -> FakeQ5:
    """Return the example device, its config stored by Home Assistant and one upload done."""
    device = FakeQ5(client, example_config())
    assert await post_config(client, device.config) == HTTPStatus.OK
    assert (await device.upload())[0] == HTTPStatus.OK
    await hass.async_block_till_done()
    return device


def runtime(entry: MockConfigEntry) -> Q5Device:
    """Return the entry's device runtime."""
    device: Q5Device = entry.runtime_data
    return device


def device_id(hass: HomeAssistant) -> str:
    """Return the device registry id of the example Q5."""
    entry = hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, str(UID))
    assert entry is not None
    device = dr.async_get(hass).async_get_device_by_identifier((DOMAIN, str(UID)), entry.entry_id)
    assert device is not None
    return device.id


async def select(hass: HomeAssistant, unique_id: str, option: str) -> None:
    """Choose a select's option as the UI does."""
    await hass.services.async_call(
        SELECT_DOMAIN,
        SERVICE_SELECT_OPTION,
        {ATTR_ENTITY_ID: entity_id_of(hass, unique_id), ATTR_OPTION: option},
        blocking=True,
    )


async def update_config(hass: HomeAssistant, changes: Mapping[str, Any]) -> None:
    """Call flexscada.update_device_config for the example Q5."""
    await hass.services.async_call(
        DOMAIN,
        "update_device_config",
        {"device_id": device_id(hass), "changes": dict(changes)},
        blocking=True,
    )


def state_of(hass: HomeAssistant, unique_id: str) -> tuple[str, dict[str, Any]]:
    """Return an entity's state and attributes."""
    state = hass.states.get(entity_id_of(hass, unique_id))
    assert state is not None
    return state.state, dict(state.attributes)


async def test_upload_interval_select_pushes_until_adopted(
    hass: HomeAssistant,
    q5: FakeQ5,
    setup_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """(1) The select queues cfg v+1, re-sent until adopted; then the window follows it."""
    assert state_of(hass, UPLOAD_INTERVAL_ID)[0] == "300"
    await select(hass, UPLOAD_INTERVAL_ID, "60")
    state, attributes = state_of(hass, UPLOAD_INTERVAL_ID)
    assert (state, attributes["pending"]) == ("60", True)

    for _ in range(2):  # re-sent while the device reports its old version
        status, reply = await q5.upload()
        assert status == HTTPStatus.OK
        assert reply["cfg"]["version"] == 43
        assert reply["cfg"]["upload_interval"] == 60
        assert reply["cfg"]["measurement_interval"] == 60
    # The window still follows the device's own interval while the push is pending.
    assert runtime(setup_entry).availability_window == timedelta(seconds=300 * 2.5)

    q5.adopt(reply["cfg"])
    status, reply = await q5.upload()
    assert status == HTTPStatus.OK
    assert "cfg" not in reply
    await hass.async_block_till_done()
    state, attributes = state_of(hass, UPLOAD_INTERVAL_ID)
    assert (state, attributes["pending"]) == ("60", False)
    assert runtime(setup_entry).config is not None
    assert runtime(setup_entry).config.version == 43  # type: ignore[union-attr]
    assert runtime(setup_entry).availability_window == timedelta(seconds=60 * 2.5)
    status, reply = await q5.upload()
    assert "cfg" not in reply

    freezer.tick(timedelta(seconds=60 * 2.5 + 1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert state_of(hass, UPLOAD_INTERVAL_ID)[0] == STATE_UNAVAILABLE


async def test_relay_power_up_select(hass: HomeAssistant, q5: FakeQ5) -> None:
    """A relay's power-up state select pushes its `default` key."""
    unique_id = f"{UID}_relays_3_power_up"
    assert state_of(hass, unique_id)[0] == "off"
    await select(hass, unique_id, "on")
    assert state_of(hass, unique_id)[0] == "on"
    _, reply = await q5.upload()
    assert reply["cfg"]["relays"]["3"]["default"] == 1
    assert reply["cfg"]["relays"]["1"] == example_config()["relays"]["1"]


async def test_select_with_a_value_the_device_does_not_offer(
    hass: HomeAssistant, client: TestClient
) -> None:
    """An interval outside the device's choices (set elsewhere) shows as unknown."""
    config = example_config()
    config["upload_interval"] = 45
    assert await post_config(client, config) == HTTPStatus.OK
    assert (await FakeQ5(client, config).upload())[0] == HTTPStatus.OK
    await hass.async_block_till_done()
    assert state_of(hass, UPLOAD_INTERVAL_ID)[0] == STATE_UNKNOWN


async def test_measurement_interval_select_stacks_on_pending(
    hass: HomeAssistant, q5: FakeQ5
) -> None:
    """Two changes before the device adopts either go out as one config, still version + 1."""
    await select(hass, UPLOAD_INTERVAL_ID, "600")
    await select(hass, f"{UID}_measurement_interval", "10")
    _, reply = await q5.upload()
    assert reply["cfg"]["version"] == 43
    assert (reply["cfg"]["upload_interval"], reply["cfg"]["measurement_interval"]) == (600, 10)

    # Once sent, the device may run it: going back to its old values is a change of its own.
    await select(hass, UPLOAD_INTERVAL_ID, "300")
    await select(hass, f"{UID}_measurement_interval", "60")
    _, reply = await q5.upload()
    assert reply["cfg"]["version"] == 44
    assert (reply["cfg"]["upload_interval"], reply["cfg"]["measurement_interval"]) == (300, 60)


async def test_undoing_a_change_never_sent_leaves_nothing_to_push(
    hass: HomeAssistant, q5: FakeQ5
) -> None:
    """Choosing the device's own value again before any reply carried the change: no push."""
    await select(hass, UPLOAD_INTERVAL_ID, "600")
    await select(hass, UPLOAD_INTERVAL_ID, "300")
    _, reply = await q5.upload()
    assert "cfg" not in reply
    assert state_of(hass, UPLOAD_INTERVAL_ID)[1]["pending"] is False


async def test_choosing_the_pending_value_again_keeps_its_version(
    hass: HomeAssistant, q5: FakeQ5, setup_entry: MockConfigEntry
) -> None:
    """Re-choosing what is already pending (and sent) changes nothing, not even the version."""
    await select(hass, UPLOAD_INTERVAL_ID, "60")
    await q5.upload()
    await select(hass, UPLOAD_INTERVAL_ID, "60")
    _, reply = await q5.upload()
    assert reply["cfg"]["version"] == 43
    pending = runtime(setup_entry).config_push.pending
    assert pending is not None
    assert pending.deliveries == 2


@pytest.mark.parametrize("retransmission", [False, True])
async def test_change_stacked_on_a_sent_push_gets_the_next_version(
    hass: HomeAssistant,
    q5: FakeQ5,
    setup_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
    retransmission: bool,
) -> None:
    """A device that adopted a sent push is not taken to run a change stacked on it later.

    The stacked change gets the next version; the device reporting the sent one is asked for
    its config, which wins (its rows are never decoded with the stacked layout). A reply to a
    retransmission (no delivery counted) reaches the device too.
    """
    if retransmission:
        body = measurement_packet(q5.config, [(q5.epoch, q5.last_values)])  # rows seen before
        await select(hass, UPLOAD_INTERVAL_ID, "60")
        status, reply = await post_measurement(q5.client, body)
    else:
        await select(hass, UPLOAD_INTERVAL_ID, "60")
        status, reply = await q5.upload()
    assert (status, reply["cfg"]["version"]) == (HTTPStatus.OK, 43)
    q5.adopt(reply["cfg"])
    # Another change before the device's next upload: a metric more changes the layout.
    await update_config(hass, {"ds18b20.1.logging": ["inst", "max"]})
    pending = runtime(setup_entry).config_push.pending
    assert pending is not None
    assert pending.version == 44
    assert pending.config.upload_interval == 60

    status, reply = await q5.upload()  # runs the sent config, version 43
    assert (status, reply) == (HTTPStatus.CONFLICT, {"Cmd": "getcfg"})
    assert await post_config(q5.client, q5.config) == HTTPStatus.OK
    await hass.async_block_till_done()
    device = runtime(setup_entry)
    assert device.config_push.pending is None
    assert device.config is not None
    assert (device.config.version, device.config.upload_interval) == (43, 60)
    assert "the device's config wins" in caplog.text
    status, reply = await q5.upload()
    await hass.async_block_till_done()
    assert status == HTTPStatus.OK
    assert "cfg" not in reply
    state, _ = state_of(hass, f"{UID}_inputs_1_avg")
    assert float(state) == q5.last_values["inputs.1.avg"]


async def test_relabel_and_log_another_metric(
    hass: HomeAssistant, q5: FakeQ5, setup_entry: MockConfigEntry
) -> None:
    """(2) Old-version uploads decode with the old layout; the switch renames and adds."""
    battery = f"{UID}_inputs_1_avg"
    outdoor_max = f"{UID}_ds18b20_1_max"
    await update_config(
        hass, {"inputs": {"1": {"label": "Battery Bank"}}, "ds18b20.1.logging": ["inst", "max"]}
    )
    status, reply = await q5.upload()  # old layout, old version: decoded as before
    assert status == HTTPStatus.OK
    old_values = q5.last_values
    await hass.async_block_till_done()
    state, attributes = state_of(hass, battery)
    assert float(state) == old_values["inputs.1.avg"]
    assert attributes["friendly_name"] == "Example Repeater Site Battery Voltage average"
    assert er.async_get(hass).async_get_entity_id("sensor", DOMAIN, outdoor_max) is None

    q5.adopt(reply["cfg"])
    status, _ = await q5.upload()
    assert status == HTTPStatus.OK
    await hass.async_block_till_done()
    new_values = q5.last_values
    state, attributes = state_of(hass, battery)
    assert attributes["friendly_name"] == "Example Repeater Site Battery Bank average"
    assert float(state) == new_values["inputs.1.avg"]
    assert float(state_of(hass, outdoor_max)[0]) == new_values["ds18b20.1.max"]
    entries = er.async_entries_for_config_entry(er.async_get(hass), setup_entry.entry_id)
    unique_ids = [entry.unique_id for entry in entries]
    assert len(unique_ids) == len(set(unique_ids))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("cloud", "http://elsewhere.example:7001"),
        ("script", "relay(1, off)"),
        ("wifi.password", "x"),
        ("inputs.1.mult", 2.0),
        ("version", 99),
        ("relays.1.fuse.amps", 10),
    ],
)
async def test_forbidden_key_refused(
    hass: HomeAssistant, q5: FakeQ5, setup_entry: MockConfigEntry, key: str, value: object
) -> None:
    """(3) A key outside the allow-list: translated error naming it, nothing queued."""
    with pytest.raises(ServiceValidationError) as err:
        await update_config(hass, {"name": "Renamed", key: value})
    assert err.value.translation_key == "config_key_forbidden"
    assert err.value.translation_placeholders["key"] == key
    assert key in str(err.value)  # the translated message names it
    assert runtime(setup_entry).config_push.pending is None
    _, reply = await q5.upload()
    assert "cfg" not in reply


@pytest.mark.parametrize(
    ("changes", "problem", "key"),
    [
        ({"upload_interval": 7}, "config_value_invalid", "upload_interval"),
        pytest.param(
            {"upload_interval": "1" * 5000},
            "config_value_invalid",
            "upload_interval",
            id="5000-digits",
        ),
        ({"inputs.1.logging": ["avg", "bogus"]}, "config_value_invalid", "inputs.1.logging"),
        ({"inputs.9.label": "Nine"}, "config_channel_unknown", "inputs.9.label"),
    ],
)
async def test_invalid_value_refused(
    hass: HomeAssistant,
    q5: FakeQ5,
    setup_entry: MockConfigEntry,
    changes: dict[str, Any],
    problem: str,
    key: str,
) -> None:
    """A value the device does not take, or a channel it lacks: error naming the key."""
    with pytest.raises(ServiceValidationError) as err:
        await update_config(hass, changes)
    assert err.value.translation_key == problem
    assert err.value.translation_placeholders["key"] == key
    assert runtime(setup_entry).config_push.pending is None


async def test_too_large_config_refused(
    hass: HomeAssistant, client: TestClient, setup_entry: MockConfigEntry
) -> None:
    """(4) A result over the device's 32,000 characters: error, nothing queued."""
    config = example_config()
    config["script"] = ""
    config["script"] = "x" * (MAX_DEVICE_CONFIG_CHARS - 20 - config_size(config))
    q5 = FakeQ5(client, config)
    assert await post_config(client, config) == HTTPStatus.OK
    await q5.upload()
    with pytest.raises(ServiceValidationError) as err:
        await update_config(hass, {"inputs.1.desc": "a long description " * 3})
    assert err.value.translation_key == "config_too_large"
    assert runtime(setup_entry).config_push.pending is None
    _, reply = await q5.upload()
    assert "cfg" not in reply


async def test_config_that_does_not_compile_refused(
    hass: HomeAssistant, client: TestClient, setup_entry: MockConfigEntry
) -> None:
    """(4) A result our own parser refuses (version + 1 beyond uint32): error, nothing queued."""
    config = example_config()
    config["version"] = 0xFFFFFFFF
    assert await post_config(client, config) == HTTPStatus.OK
    with pytest.raises(ServiceValidationError) as err:
        await update_config(hass, {"name": "Renamed"})
    assert err.value.translation_key == "config_does_not_compile"
    assert "version" in err.value.translation_placeholders["detail"]
    assert runtime(setup_entry).config_push.pending is None


async def test_device_rejecting_the_push(
    hass: HomeAssistant,
    q5: FakeQ5,
    setup_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """(5) Still the old version after 3 deliveries: dropped, repair issue, states unaffected."""
    await update_config(hass, {"name": "Renamed Site"})
    for _ in range(MAX_DELIVERIES):
        status, reply = await q5.upload()
        assert (status, reply["cfg"]["name"]) == (HTTPStatus.OK, "Renamed Site")
    with caplog.at_level(logging.INFO):
        status, reply = await q5.upload()
        assert status == HTTPStatus.OK
        assert "cfg" not in reply
        status, reply = await q5.upload()  # nothing more to send, nothing more to log
    await hass.async_block_till_done()
    assert status == HTTPStatus.OK
    assert "cfg" not in reply
    assert runtime(setup_entry).config_push.pending is None
    assert runtime(setup_entry).name == "Example Repeater Site"
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id(ISSUE_CONFIG_REJECTED, UID))
    assert issue is not None
    # Nothing raises it again after a restart: it stays until the next push or a new key.
    assert (issue.severity, issue.is_persistent) == (ir.IssueSeverity.WARNING, True)
    assert issue.translation_placeholders == {
        "device": "Example Repeater Site",
        "version": "43",
        "deliveries": "3",
    }
    rejected = [r for r in caplog.records if "rejected it" in r.getMessage()]
    assert len(rejected) == 1
    state, _ = state_of(hass, f"{UID}_inputs_1_avg")
    assert float(state) == q5.last_values["inputs.1.avg"]
    assert state_of(hass, UPLOAD_INTERVAL_ID)[1]["pending"] is False

    # A new change withdraws the issue.
    await update_config(hass, {"name": "Second Try"})
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id(ISSUE_CONFIG_REJECTED, UID)) is None


async def test_replies_to_rows_seen_before_carry_the_push_without_counting(
    hass: HomeAssistant, q5: FakeQ5, setup_entry: MockConfigEntry
) -> None:
    """A reply to a duplicate may go to whoever replayed a capture: it is no delivery."""
    await update_config(hass, {"name": "Renamed Site"})
    q5.epoch += 60
    body = measurement_packet(q5.config, [(q5.epoch, distinct_values(layout_of(q5.config), 99))])
    for _ in range(MAX_DELIVERIES + 2):  # the first is new, the rest are seen before
        status, reply = await post_measurement(q5.client, body)
        assert (status, reply["cfg"]["name"]) == (HTTPStatus.OK, "Renamed Site")
    pending = runtime(setup_entry).config_push.pending
    assert pending is not None
    assert pending.deliveries == 1
    status, reply = await q5.upload()  # new rows, old version: not yet given up
    assert reply["cfg"]["name"] == "Renamed Site"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id(ISSUE_CONFIG_REJECTED, UID)) is None


async def test_rows_seen_before_under_the_pushed_version_adopt_it(
    hass: HomeAssistant, q5: FakeQ5, setup_entry: MockConfigEntry
) -> None:
    """Only the device seals its uploads: any upload reporting the pushed version adopted it."""
    await select(hass, UPLOAD_INTERVAL_ID, "60")
    _, reply = await q5.upload()
    q5.adopt(reply["cfg"])
    # The rows of the last upload again (no new row), now reporting the pushed version.
    body = measurement_packet(q5.config, [(q5.epoch, q5.last_values)])
    status, reply = await post_measurement(q5.client, body)
    await hass.async_block_till_done()
    assert status == HTTPStatus.OK
    assert "cfg" not in reply
    device = runtime(setup_entry)
    assert device.config_push.pending is None
    assert device.config is not None
    assert device.config.version == 43
    assert state_of(hass, UPLOAD_INTERVAL_ID) == (
        "60",
        {**state_of(hass, UPLOAD_INTERVAL_ID)[1], "pending": False},
    )


async def test_pending_config_survives_restart(
    hass: HomeAssistant, q5: FakeQ5, setup_entry: MockConfigEntry
) -> None:
    """(6) A pending config is delivered after a restart, its delivery count kept."""
    await select(hass, UPLOAD_INTERVAL_ID, "60")
    await q5.upload()
    assert await hass.config_entries.async_unload(setup_entry.entry_id)
    await hass.async_block_till_done()
    assert await hass.config_entries.async_setup(setup_entry.entry_id)
    await hass.async_block_till_done()

    pending = runtime(setup_entry).config_push.pending
    assert pending is not None
    assert (pending.deliveries, pending.sent) == (1, True)
    assert state_of(hass, UPLOAD_INTERVAL_ID)[0] == "60"
    _, reply = await q5.upload()
    assert reply["cfg"]["upload_interval"] == 60


@pytest.mark.parametrize(
    "pending_field",
    [
        {},  # a store written before config pushes existed
        {"pending_config": {"config": {"version": "bad"}, "deliveries": 1}},  # hand-edited
    ],
)
async def test_store_without_usable_pending_config_loads(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    config_entry: MockConfigEntry,
    pending_field: dict[str, Any],
) -> None:
    """A device store without a (usable) pending config loads with nothing pending."""
    hass_storage[f"{DOMAIN}.{UID}"] = device_store_file(example_config(), **pending_field)
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    device = runtime(config_entry)
    assert device.config is not None
    assert device.config_push.pending is None


async def test_device_config_wins_over_pending_push(
    hass: HomeAssistant,
    q5: FakeQ5,
    setup_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """(7) The device uploads a config of its own while a push is pending: the device wins."""
    await update_config(hass, {"name": "Pushed Name"})
    await q5.upload()
    own = example_config()
    own["version"] = 43  # the same number as the push, other content
    own["name"] = "Saved On The Device"
    q5.adopt(own)
    assert await post_config(q5.client, own) == HTTPStatus.OK
    await hass.async_block_till_done()
    assert runtime(setup_entry).config_push.pending is None
    assert "the device's config wins" in caplog.text
    status, reply = await q5.upload()
    assert status == HTTPStatus.OK
    assert "cfg" not in reply
    assert runtime(setup_entry).name == "Saved On The Device"


async def test_device_re_uploading_its_current_config_keeps_the_push(
    hass: HomeAssistant, q5: FakeQ5, setup_entry: MockConfigEntry
) -> None:
    """The config we already hold, uploaded again, is no new truth: the push stays pending."""
    await update_config(hass, {"name": "Pushed Name"})
    assert await post_config(q5.client, q5.config) == HTTPStatus.OK
    assert runtime(setup_entry).config_push.pending is not None
    _, reply = await q5.upload()
    assert reply["cfg"]["name"] == "Pushed Name"


async def test_device_uploading_the_pushed_config_adopts_it(
    hass: HomeAssistant, q5: FakeQ5, setup_entry: MockConfigEntry
) -> None:
    """A device that uploads the pushed config itself has adopted it."""
    await update_config(hass, {"name": "Pushed Name"})
    _, reply = await q5.upload()
    q5.adopt(reply["cfg"])
    assert await post_config(q5.client, q5.config) == HTTPStatus.OK
    assert runtime(setup_entry).config_push.pending is None
    assert runtime(setup_entry).name == "Pushed Name"
    status, reply = await q5.upload()
    assert status == HTTPStatus.OK
    assert "cfg" not in reply


async def test_device_with_a_newer_config_is_asked_for_it(
    hass: HomeAssistant, q5: FakeQ5, setup_entry: MockConfigEntry
) -> None:
    """An upload under a version that is neither ours nor the push's gets 409 + getcfg."""
    await update_config(hass, {"name": "Pushed Name"})
    q5.config = {**q5.config, "version": 50}
    status, reply = await q5.upload()
    assert (status, reply) == (HTTPStatus.CONFLICT, {"Cmd": "getcfg"})
    assert runtime(setup_entry).config_push.pending is not None


async def test_diagnostics_show_pending_config(
    hass: HomeAssistant, q5: FakeQ5, setup_entry: MockConfigEntry
) -> None:
    """Diagnostics show the pending config, its version and delivery count."""
    await select(hass, UPLOAD_INTERVAL_ID, "60")
    await q5.upload()
    await q5.upload()
    diagnostics = await async_get_config_entry_diagnostics(hass, setup_entry)
    pending = diagnostics["device"]["pending_config"]
    assert (pending["version"], pending["deliveries"]) == (43, 2)
    assert pending["config"]["upload_interval"] == 60
    assert pending["config"]["cloud"] == "**REDACTED**"


async def test_action_needs_a_loaded_q5_with_a_config(
    hass: HomeAssistant, setup_entry: MockConfigEntry
) -> None:
    """The action refuses an unknown device, a Q5 without config and an unloaded entry."""
    with pytest.raises(ServiceValidationError) as err:
        await update_config(hass, {"name": "x"})
    assert err.value.translation_key == "config_unknown"
    # The interval selects are the device's own: they exist before it uploaded anything.
    assert state_of(hass, UPLOAD_INTERVAL_ID)[0] == STATE_UNAVAILABLE
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "update_device_config",
            {"device_id": "no-such-device", "changes": {"name": "x"}},
            blocking=True,
        )
    assert err.value.translation_key == "device_not_found"
    assert await hass.config_entries.async_unload(setup_entry.entry_id)
    with pytest.raises(ServiceValidationError) as err:
        await update_config(hass, {"name": "x"})
    assert err.value.translation_key == "device_not_loaded"


async def test_config_change_not_saved_is_not_queued(
    hass: HomeAssistant, q5: FakeQ5, setup_entry: MockConfigEntry
) -> None:
    """A change whose save fails raises a translated error, and nothing is pushed."""
    with writer(failing), pytest.raises(HomeAssistantError) as err:
        await update_config(hass, {"name": "Renamed"})
    assert err.value.translation_key == "config_not_saved"
    assert runtime(setup_entry).config_push.pending is None
    _, reply = await q5.upload()
    assert "cfg" not in reply


async def test_failed_save_keeps_what_an_upload_settled_meanwhile(
    hass: HomeAssistant, q5: FakeQ5, setup_entry: MockConfigEntry
) -> None:
    """A change whose save fails after an upload sent and adopted it is not rolled back."""
    await update_config(hass, {"name": "First"})
    device = runtime(setup_entry)

    async def upload_then_fail() -> None:
        _, reply = await q5.upload()  # the staged change goes out...
        q5.adopt(reply["cfg"])
        assert (await q5.upload())[0] == HTTPStatus.OK  # ...and the device runs it
        raise HomeAssistantError("the disk is full")

    with (
        patch.object(device, "async_save", upload_then_fail),
        pytest.raises(HomeAssistantError),
    ):
        await update_config(hass, {"name": "Second"})
    assert device.config_push.pending is None
    status, reply = await q5.upload()
    assert status == HTTPStatus.OK
    assert "cfg" not in reply
    assert device.name == "Second"
