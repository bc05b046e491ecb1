"""Tests of the config flow: user, discovery, reauth, reconfigure and options."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from http import HTTPStatus
from typing import Any
from unittest.mock import patch

from aiohttp.test_utils import TestClient
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import (
    SOURCE_IGNORE,
    SOURCE_INTEGRATION_DISCOVERY,
    SOURCE_USER,
    ConfigEntryState,
)
from homeassistant.const import EVENT_HOMEASSISTANT_STARTED
from homeassistant.core import CoreState, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.network import NoURLAvailableError
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.flexscada.const import (
    CONF_AVAILABILITY_FACTOR,
    CONF_CLOCK_SYNC,
    CONF_CLOCK_SYNC_THRESHOLD,
    CONF_COMMAND_EXPIRY,
    CONF_KEY,
    CONF_PASSPHRASE,
    CONF_UID,
    DOMAIN,
)
from custom_components.flexscada.discovery import MAX_CACHED_UIDS, async_cached_uploads
from custom_components.flexscada.issues import ISSUE_WRONG_KEY, issue_id
from custom_components.flexscada.keys import MAX_CACHED_UPLOAD_BYTES

from .common import (
    DEVICE_EPOCH,
    KEY,
    PASSPHRASE,
    UID,
    WRONG_KEY,
    distinct_values,
    example_config,
    layout_of,
    make_entry,
    measurement_packet,
    post_config,
    post_measurement,
)

NEW_PASSPHRASE = "not the password"  # WRONG_KEY is derived from it: the device's new password
CONFIG = example_config()
VALUES = distinct_values(layout_of(CONFIG))

type ClientFactory = Callable[[], Awaitable[TestClient]]


def upload(*, key: bytes = KEY, uid: int = UID, epoch: int = DEVICE_EPOCH) -> bytes:
    """Return a measurement upload of the example device."""
    return measurement_packet(CONFIG, [(epoch, VALUES)], key=key, uid=uid)


def discovery_flows(hass: HomeAssistant) -> list[Any]:
    """Return the discovery flows in progress."""
    return [
        flow
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"]["source"] == SOURCE_INTEGRATION_DISCOVERY
    ]


@pytest.fixture
async def device(hass: HomeAssistant, client_factory: ClientFactory) -> TestClient:
    """Return a client posting as a device; the integration is set up without any entry."""
    assert await async_setup_component(hass, DOMAIN, {})
    return await client_factory()


async def start_user_flow(hass: HomeAssistant) -> str:
    """Start the user step and return the flow id."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    return result["flow_id"]


async def configure(hass: HomeAssistant, flow_id: str, **user_input: Any) -> Any:
    """Submit a form and return the result."""
    return await hass.config_entries.flow.async_configure(flow_id, user_input)


# -- user step ------------------------------------------------------------------------------


async def test_user_without_cached_upload(hass: HomeAssistant) -> None:
    """The form names the server URL; with no upload to check, the password is taken as given."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["description_placeholders"] == {"server_url": "http://10.10.10.10:8123"}

    result = await configure(
        hass, result["flow_id"], **{CONF_UID: f" {UID} ", CONF_PASSPHRASE: PASSPHRASE}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"Q5 {UID}"
    assert result["data"] == {CONF_UID: UID, CONF_KEY: KEY.hex()}
    assert result["result"].unique_id == str(UID)
    await hass.async_block_till_done()
    assert result["result"].state is ConfigEntryState.LOADED


async def test_user_with_key_instead_of_passphrase(hass: HomeAssistant) -> None:
    """The 64-digit key works instead of the password and wins when both are given."""
    flow_id = await start_user_flow(hass)
    result = await configure(
        hass,
        flow_id,
        **{CONF_UID: str(UID), CONF_PASSPHRASE: "ignored", CONF_KEY: f" {KEY.hex().upper()} "},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_KEY] == KEY.hex()


async def test_user_server_url_unknown(hass: HomeAssistant) -> None:
    """Without any URL configured, the form still says what to set."""
    with patch("custom_components.flexscada.config_flow.get_url", side_effect=NoURLAvailableError):
        result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["description_placeholders"] == {"server_url": "http://<home-assistant>:8123"}


@pytest.mark.parametrize(
    ("user_input", "errors"),
    [
        ({CONF_UID: "abc", CONF_PASSPHRASE: PASSPHRASE}, {CONF_UID: "invalid_uid"}),
        ({CONF_UID: "-5", CONF_PASSPHRASE: PASSPHRASE}, {CONF_UID: "invalid_uid"}),
        ({CONF_UID: "4294967296", CONF_PASSPHRASE: PASSPHRASE}, {CONF_UID: "invalid_uid"}),
        ({CONF_UID: "1" * 40, CONF_PASSPHRASE: PASSPHRASE}, {CONF_UID: "invalid_uid"}),
        ({CONF_UID: "1" * 4301, CONF_PASSPHRASE: PASSPHRASE}, {CONF_UID: "invalid_uid"}),
        ({CONF_UID: "0" * 5000 + "1", CONF_PASSPHRASE: PASSPHRASE}, {CONF_UID: "invalid_uid"}),
        ({CONF_UID: "\u0661\u0662", CONF_PASSPHRASE: PASSPHRASE}, {CONF_UID: "invalid_uid"}),
        ({CONF_UID: str(UID), CONF_KEY: "1" * 4301}, {CONF_KEY: "invalid_key"}),
        (
            {CONF_UID: str(UID), CONF_PASSPHRASE: "1" * 4301},
            {CONF_PASSPHRASE: "invalid_passphrase"},
        ),
        ({CONF_UID: str(UID), CONF_PASSPHRASE: "\ud800"}, {CONF_PASSPHRASE: "invalid_passphrase"}),
        ({CONF_UID: str(UID), CONF_KEY: "abcd"}, {CONF_KEY: "invalid_key"}),
        ({CONF_UID: str(UID), CONF_KEY: "z" * 64}, {CONF_KEY: "invalid_key"}),
        ({CONF_UID: str(UID)}, {"base": "missing_secret"}),
        ({CONF_UID: str(UID), CONF_PASSPHRASE: "", CONF_KEY: "  "}, {"base": "missing_secret"}),
    ],
)
async def test_user_invalid_input(
    hass: HomeAssistant, user_input: dict[str, str], errors: dict[str, str]
) -> None:
    """Each bad input is reported on the form, which keeps what was typed; then it recovers."""
    flow_id = await start_user_flow(hass)
    result = await configure(hass, flow_id, **user_input)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors

    result = await configure(hass, flow_id, **{CONF_UID: str(UID), CONF_PASSPHRASE: PASSPHRASE})
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_user_duplicate_aborts(hass: HomeAssistant, config_entry: MockConfigEntry) -> None:
    """Adding the same uid twice aborts, whatever the key."""
    config_entry.add_to_hass(hass)
    flow_id = await start_user_flow(hass)
    result = await configure(hass, flow_id, **{CONF_UID: f"0{UID}", CONF_KEY: WRONG_KEY.hex()})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_user_checked_against_cached_upload(hass: HomeAssistant, device: TestClient) -> None:
    """With an upload from the uid cached, a wrong key is refused and the right one named."""
    status, _ = await post_measurement(device, upload())
    assert status == HTTPStatus.NOT_FOUND  # still unknown: answered exactly as before
    assert await post_config(device, CONFIG) == HTTPStatus.NOT_FOUND
    await hass.async_block_till_done()
    assert len(discovery_flows(hass)) == 1

    flow_id = await start_user_flow(hass)  # a waiting discovery flow does not block the user
    result = await configure(hass, flow_id, **{CONF_UID: str(UID), CONF_PASSPHRASE: "guess"})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}

    result = await configure(hass, flow_id, **{CONF_UID: str(UID), CONF_PASSPHRASE: PASSPHRASE})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == CONFIG["name"]  # learnt from the cached config upload
    assert result["data"] == {CONF_UID: UID, CONF_KEY: KEY.hex()}
    await hass.async_block_till_done()
    assert discovery_flows(hass) == []  # the discovery flow for that uid was aborted

    # The device is now known: its next upload is asked for its config, not refused.
    status, reply = await post_measurement(device, upload())
    assert status == HTTPStatus.CONFLICT
    assert reply == {"Cmd": "getcfg"}


async def test_user_checked_only_against_recent_upload(
    hass: HomeAssistant, device: TestClient, freezer: FrozenDateTimeFactory
) -> None:
    """An upload older than an hour no longer vouches for (or against) a key."""
    await post_measurement(device, upload(key=WRONG_KEY))
    freezer.tick(timedelta(hours=1, seconds=1))
    flow_id = await start_user_flow(hass)
    result = await configure(hass, flow_id, **{CONF_UID: str(UID), CONF_PASSPHRASE: PASSPHRASE})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"Q5 {UID}"


# -- discovery -------------------------------------------------------------------------------


async def test_discovery_created_once_and_completed(
    hass: HomeAssistant, device: TestClient
) -> None:
    """Repeated uploads of an unknown uid make one flow; it is confirmed with the password."""
    for epoch in (DEVICE_EPOCH, DEVICE_EPOCH + 300, DEVICE_EPOCH + 600):
        status, _ = await post_measurement(device, upload(epoch=epoch))
        assert status == HTTPStatus.NOT_FOUND
        await hass.async_block_till_done()
    other = UID + 1
    await post_measurement(device, upload(uid=other))
    await hass.async_block_till_done()

    flows = discovery_flows(hass)
    assert sorted(flow["context"]["unique_id"] for flow in flows) == sorted([str(UID), str(other)])
    flow = next(flow for flow in flows if flow["context"]["unique_id"] == str(UID))
    assert flow["step_id"] == "discovery_confirm"
    assert flow["context"]["title_placeholders"] == {"name": f"Q5 {UID}"}

    result = await configure(hass, flow["flow_id"], **{CONF_KEY: WRONG_KEY.hex()})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}
    assert result["description_placeholders"] == {"uid": str(UID)}

    result = await configure(hass, flow["flow_id"], **{CONF_PASSPHRASE: PASSPHRASE})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"Q5 {UID}"  # no config upload seen: the name is not known yet
    assert result["data"] == {CONF_UID: UID, CONF_KEY: KEY.hex()}
    await hass.async_block_till_done()

    # Its uploads are now taken, and no new flow is started for it.
    status, _ = await post_measurement(device, upload())
    assert status == HTTPStatus.CONFLICT
    await hass.async_block_till_done()
    assert [flow["context"]["unique_id"] for flow in discovery_flows(hass)] == [str(other)]
    # Once the device sends its config, the entry is named after it.
    assert await post_config(device, CONFIG) == HTTPStatus.OK
    assert result["result"].title == CONFIG["name"]


async def test_renamed_entry_keeps_its_title(
    hass: HomeAssistant, client: TestClient, setup_entry: MockConfigEntry
) -> None:
    """The device name replaces only the default title, never one the user chose."""
    hass.config_entries.async_update_entry(setup_entry, title="Pump house")
    assert await post_config(client, CONFIG) == HTTPStatus.OK
    assert setup_entry.title == "Pump house"


async def test_discovery_flows_are_bounded(hass: HomeAssistant, device: TestClient) -> None:
    """Uploads of many made-up uids cannot flood Home Assistant with flows."""
    for uid in range(1000, 1000 + MAX_CACHED_UIDS + 5):
        assert (await device.post("/Q5/m", data=upload(uid=uid))).status == HTTPStatus.NOT_FOUND
        await hass.async_block_till_done()
    assert len(discovery_flows(hass)) == MAX_CACHED_UIDS


async def test_discovery_flows_are_bounded_while_starting(
    hass: HomeAssistant, device: TestClient
) -> None:
    """Before Home Assistant has started, flows are queued, not started: the cap holds too."""
    hass.set_state(CoreState.starting)
    for uid in range(1000, 1000 + 4 * MAX_CACHED_UIDS):
        assert (await device.post("/Q5/m", data=upload(uid=uid))).status == HTTPStatus.NOT_FOUND
    assert discovery_flows(hass) == []  # all queued until the start
    hass.set_state(CoreState.running)
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STARTED)
    await hass.async_block_till_done()
    assert len(discovery_flows(hass)) == MAX_CACHED_UIDS
    # And once started, the queued ones count as in progress.
    assert (await device.post("/Q5/m", data=upload(uid=99))).status == HTTPStatus.NOT_FOUND
    await hass.async_block_till_done()
    assert len(discovery_flows(hass)) == MAX_CACHED_UIDS


async def test_absurd_uid_in_config_url(device: TestClient) -> None:
    """A config upload to a uid too long to be one is answered 404, not an error."""
    assert (await device.post(f"/Q5/cfg/{'9' * 5000}", data=b"x")).status == HTTPStatus.NOT_FOUND


async def test_discovery_confirm_without_cache(hass: HomeAssistant) -> None:
    """A discovery whose upload has aged out of the cache takes the key as given."""
    assert await async_setup_component(hass, DOMAIN, {})
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_INTEGRATION_DISCOVERY}, data={CONF_UID: UID}
    )
    assert result["type"] is FlowResultType.FORM
    result = await configure(hass, result["flow_id"], **{CONF_PASSPHRASE: PASSPHRASE})
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_discovery_of_configured_uid_aborts(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> None:
    """A discovery for a uid that has an entry ends at once."""
    config_entry.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_INTEGRATION_DISCOVERY}, data={CONF_UID: UID}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_ignored_or_unloaded_device_is_not_rediscovered(
    hass: HomeAssistant, device: TestClient
) -> None:
    """Uploads of an ignored uid or an unloaded entry start no flow and are not cached."""
    MockConfigEntry(domain=DOMAIN, unique_id=str(UID), source=SOURCE_IGNORE).add_to_hass(hass)
    unloaded = make_entry(uid=UID + 1)
    unloaded.add_to_hass(hass)  # never set up

    for uid in (UID, UID + 1):
        status, _ = await post_measurement(device, upload(uid=uid))
        assert status == HTTPStatus.NOT_FOUND
    await hass.async_block_till_done()
    assert discovery_flows(hass) == []


# -- reauth ----------------------------------------------------------------------------------


async def fail_integrity(client: TestClient, times: int, key: bytes = WRONG_KEY) -> None:
    """Post uploads sealed with another key (the device's password was changed)."""
    for _ in range(times):
        status, _ = await post_measurement(client, upload(key=key))
        assert status == HTTPStatus.FORBIDDEN


def reauth_flows(hass: HomeAssistant, entry: MockConfigEntry) -> list[Any]:
    """Return the reauth flows of an entry."""
    return list(entry.async_get_active_flows(hass, {"reauth"}))


async def test_failures_while_the_device_is_online_start_no_reauth(
    hass: HomeAssistant, client: TestClient, setup_entry: MockConfigEntry
) -> None:
    """Bad uploads under the uid of a device whose own uploads still arrive are someone else's."""
    assert await post_config(client, CONFIG) == HTTPStatus.OK
    assert (await post_measurement(client, upload()))[0] == HTTPStatus.OK
    await fail_integrity(client, 5)
    await hass.async_block_till_done()
    assert reauth_flows(hass, setup_entry) == []
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id(ISSUE_WRONG_KEY, UID)) is None


async def test_reauth_after_repeated_integrity_failures(
    hass: HomeAssistant,
    client: TestClient,
    setup_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Three failures in a row from a silent device start one reauth; the new password is used."""
    assert await post_config(client, CONFIG) == HTTPStatus.OK
    assert (await post_measurement(client, upload()))[0] == HTTPStatus.OK
    freezer.tick(timedelta(seconds=CONFIG["upload_interval"] * 2.5 + 1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()

    await fail_integrity(client, 2)
    await hass.async_block_till_done()
    assert reauth_flows(hass, setup_entry) == []
    await fail_integrity(client, 3)
    await hass.async_block_till_done()
    flows = reauth_flows(hass, setup_entry)
    assert len(flows) == 1
    assert flows[0]["step_id"] == "reauth_confirm"

    result = await configure(hass, flows[0]["flow_id"], **{CONF_PASSPHRASE: PASSPHRASE})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}  # the old password: not what it sends
    assert result["description_placeholders"] == {"name": CONFIG["name"]}

    result = await configure(hass, flows[0]["flow_id"], **{CONF_PASSPHRASE: NEW_PASSPHRASE})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert setup_entry.data[CONF_KEY] == WRONG_KEY.hex()
    assert setup_entry.state is ConfigEntryState.LOADED
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id(ISSUE_WRONG_KEY, UID)) is None

    response = await client.post("/Q5/m", data=upload(key=WRONG_KEY, epoch=DEVICE_EPOCH + 900))
    assert response.status == HTTPStatus.OK  # the reloaded device uses the new key


async def test_good_upload_resets_the_failure_streak(
    hass: HomeAssistant, client: TestClient, setup_entry: MockConfigEntry
) -> None:
    """Failures separated by a good upload (a garbled packet now and then) start no reauth."""
    await post_config(client, CONFIG)
    for _ in range(3):
        await fail_integrity(client, 2)
        assert (await post_measurement(client, upload()))[0] == HTTPStatus.OK
    await hass.async_block_till_done()
    assert reauth_flows(hass, setup_entry) == []


def garbage(uid: int = UID) -> bytes:
    """Return a random body under a uid: well-formed, so it gets as far as the integrity check."""
    body = bytearray(upload(uid=uid))
    body[-16:] = bytes(16)  # the last cipher block: the digest no longer matches any key
    return bytes(body)


async def test_garbage_cannot_veto_the_right_key(
    hass: HomeAssistant,
    client: TestClient,
    setup_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Garbage posted under the uid after the device's own uploads: the right key still fits.

    Reauth, reconfigure and discovery each check the key against the uid's recent uploads.
    """
    assert await post_config(client, CONFIG) == HTTPStatus.OK
    assert (await post_measurement(client, upload()))[0] == HTTPStatus.OK
    freezer.tick(timedelta(seconds=CONFIG["upload_interval"] * 2.5 + 1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    await fail_integrity(client, 3)  # the device now sends with its new password
    for _ in range(2):  # then someone posts garbage under its uid
        assert (await client.post("/Q5/m", data=garbage())).status == HTTPStatus.FORBIDDEN
    await hass.async_block_till_done()
    flows = reauth_flows(hass, setup_entry)
    assert len(flows) == 1
    result = await configure(hass, flows[0]["flow_id"], **{CONF_PASSPHRASE: PASSPHRASE})
    assert result["errors"] == {"base": "invalid_auth"}  # the old password opens none of them
    result = await configure(hass, flows[0]["flow_id"], **{CONF_PASSPHRASE: NEW_PASSPHRASE})
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()

    # Reconfigure: the device's upload, then garbage; the device's password is accepted.
    response = await client.post("/Q5/m", data=upload(key=WRONG_KEY, epoch=DEVICE_EPOCH + 900))
    assert response.status == HTTPStatus.OK
    assert (await client.post("/Q5/m", data=garbage())).status == HTTPStatus.FORBIDDEN
    result = await setup_entry.start_reconfigure_flow(hass)
    result = await configure(hass, result["flow_id"], **{CONF_PASSPHRASE: NEW_PASSPHRASE})
    assert result["reason"] == "reconfigure_successful"


async def test_garbage_cannot_veto_discovery(hass: HomeAssistant, device: TestClient) -> None:
    """An unknown device's upload followed by garbage under its uid: its password is accepted."""
    other = UID + 7
    assert (await device.post("/Q5/m", data=upload(uid=other))).status == HTTPStatus.NOT_FOUND
    assert (await device.post("/Q5/m", data=garbage(other))).status == HTTPStatus.NOT_FOUND
    await hass.async_block_till_done()
    [flow] = discovery_flows(hass)
    result = await configure(hass, flow["flow_id"], **{CONF_PASSPHRASE: NEW_PASSPHRASE})
    assert result["errors"] == {"base": "invalid_auth"}
    result = await configure(hass, flow["flow_id"], **{CONF_PASSPHRASE: PASSPHRASE})
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_reauth_of_unloaded_entry_takes_the_key(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> None:
    """With the entry not loaded there is no upload to check: the key is taken as given."""
    config_entry.add_to_hass(hass)
    result = await config_entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_confirm"
    result = await configure(hass, result["flow_id"], **{CONF_KEY: WRONG_KEY.hex()})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert config_entry.data == {CONF_UID: UID, CONF_KEY: WRONG_KEY.hex()}


async def test_reauth_form_errors(hass: HomeAssistant, setup_entry: MockConfigEntry) -> None:
    """The reauth form reports a malformed key and a missing secret."""
    result = await setup_entry.start_reauth_flow(hass)
    result = await configure(hass, result["flow_id"], **{CONF_KEY: "12"})
    assert result["errors"] == {CONF_KEY: "invalid_key"}
    result = await configure(hass, result["flow_id"])
    assert result["errors"] == {"base": "missing_secret"}


# -- reconfigure -----------------------------------------------------------------------------


async def test_reconfigure_checked_against_newest_upload(
    hass: HomeAssistant,
    client: TestClient,
    setup_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A new key must open the device's newest upload; without a recent one it is taken."""
    await post_config(client, CONFIG)
    await post_measurement(client, upload())

    result = await setup_entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    assert result["description_placeholders"] == {
        "name": CONFIG["name"],
        "server_url": "http://10.10.10.10:8123",
    }
    result = await configure(hass, result["flow_id"], **{CONF_PASSPHRASE: NEW_PASSPHRASE})
    assert result["errors"] == {"base": "invalid_auth"}  # the device still uses the old key

    await fail_integrity(client, 1)  # now it sends with its new password
    result = await configure(hass, result["flow_id"], **{CONF_PASSPHRASE: NEW_PASSPHRASE})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert setup_entry.data[CONF_KEY] == WRONG_KEY.hex()
    assert setup_entry.unique_id == str(UID)
    assert (await client.post("/Q5/m", data=upload(key=WRONG_KEY))).status == HTTPStatus.OK

    freezer.tick(timedelta(hours=1, seconds=1))
    result = await setup_entry.start_reconfigure_flow(hass)
    result = await configure(hass, result["flow_id"], **{CONF_PASSPHRASE: PASSPHRASE})
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert setup_entry.data[CONF_KEY] == KEY.hex()


# -- options ---------------------------------------------------------------------------------


async def test_options_apply_without_reload(
    hass: HomeAssistant,
    client: TestClient,
    setup_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Options are stored, the entry is not reloaded, and the device follows them at once."""
    runtime = setup_entry.runtime_data
    await post_config(client, CONFIG)

    def drifted_upload() -> bytes:
        """Return an upload from a device whose clock is an hour behind."""
        behind = int(dt_util.utcnow().timestamp()) - 3600
        return measurement_packet(CONFIG, [(behind, VALUES)], epoch=behind)

    status, reply = await post_measurement(client, drifted_upload())
    assert status == HTTPStatus.OK
    assert "t" in reply  # clock sync is on by default

    result = await hass.config_entries.options.async_init(setup_entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    defaults = {str(key): key.default() for key in result["data_schema"].schema if key.default}
    assert defaults == {
        CONF_AVAILABILITY_FACTOR: 2.5,
        CONF_CLOCK_SYNC: True,
        CONF_CLOCK_SYNC_THRESHOLD: 30,
        CONF_COMMAND_EXPIRY: 86400,
    }
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_AVAILABILITY_FACTOR: 10,
            CONF_CLOCK_SYNC: False,
            CONF_CLOCK_SYNC_THRESHOLD: 60.0,
            CONF_COMMAND_EXPIRY: 3600.0,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert setup_entry.options == {
        CONF_AVAILABILITY_FACTOR: 10,
        CONF_CLOCK_SYNC: False,
        CONF_CLOCK_SYNC_THRESHOLD: 60,
        CONF_COMMAND_EXPIRY: 3600,
    }
    assert setup_entry.runtime_data is runtime  # not reloaded

    # The window armed before the change (2.5 intervals) is extended when it runs out.
    freezer.tick(timedelta(seconds=300 * 2.5 + 1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert runtime.available
    freezer.tick(timedelta(seconds=300 * 7.5))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert not runtime.available

    # With clock sync off, the drifted clock is left alone.
    status, reply = await post_measurement(client, drifted_upload())
    assert status == HTTPStatus.OK
    assert "t" not in reply

    # The options form shows the stored values.
    result = await hass.config_entries.options.async_init(setup_entry.entry_id)
    suggested = {
        str(key): key.description["suggested_value"] for key in result["data_schema"].schema
    }
    assert suggested == setup_entry.options


async def test_large_uploads_count_but_are_not_kept(
    hass: HomeAssistant, client: TestClient, setup_entry: MockConfigEntry
) -> None:
    """A backlog upload too large to keep still counts as a failure and still discovers."""
    rows = [(DEVICE_EPOCH + 60 * index, VALUES) for index in range(3500)]
    big_wrong = measurement_packet(CONFIG, rows, key=WRONG_KEY)
    big_unknown = measurement_packet(CONFIG, rows, uid=UID + 1)
    assert len(big_wrong) > MAX_CACHED_UPLOAD_BYTES

    assert (await client.post("/Q5/m", data=big_unknown)).status == HTTPStatus.NOT_FOUND
    await hass.async_block_till_done()
    assert [flow["context"]["unique_id"] for flow in discovery_flows(hass)] == [str(UID + 1)]
    assert async_cached_uploads(hass, UID + 1) == []

    await post_config(client, CONFIG)
    for _ in range(3):
        assert (await client.post("/Q5/m", data=big_wrong)).status == HTTPStatus.FORBIDDEN
    await hass.async_block_till_done()
    assert list(setup_entry.runtime_data.keys.failed_uploads) == []
    flows = reauth_flows(hass, setup_entry)
    assert len(flows) == 1
    # Nothing to check against: the new password is taken as given.
    result = await configure(hass, flows[0]["flow_id"], **{CONF_PASSPHRASE: NEW_PASSPHRASE})
    assert result["reason"] == "reauth_successful"
