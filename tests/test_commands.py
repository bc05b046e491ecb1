"""Tests of relay and feed control: the command queue, its delivery and acknowledgement."""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus
from typing import Any
from weakref import WeakKeyDictionary

from aiohttp.test_utils import TestClient
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.button import DOMAIN as BUTTON_DOMAIN, SERVICE_PRESS
from homeassistant.components.number import (
    ATTR_VALUE,
    DOMAIN as NUMBER_DOMAIN,
    SERVICE_SET_VALUE,
)
from homeassistant.components.switch import DOMAIN as SWITCH_DOMAIN
from homeassistant.const import (
    ATTR_ENTITY_ID,
    EVENT_STATE_CHANGED,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.flexscada.commands import (
    MAX_QUEUED_COMMANDS,
    CommandQueue,
    StoredQueue,
)
from custom_components.flexscada.const import CONF_CLOCK_SYNC, CONF_COMMAND_EXPIRY, DOMAIN
from custom_components.flexscada.entity_set import entity_set_of
from custom_components.flexscada.protocol import PulseRelay, ResetRelay, SetFeed, SetRelay

from .common import (
    UID,
    Q5Uploads,
    distinct_values,
    entity_id_of,
    example_config,
    layout_of,
    measurement_packet,
    post_measurement,
)

CONFIG = example_config()
LAYOUT = layout_of(CONFIG)


def now_epoch() -> int:
    """Return Home Assistant's clock as the device would report it when in sync."""
    return int(dt_util.utcnow().timestamp())


# Uploads sent per client: each upload is stamped a second later than the one before, as a
# device's are (Home Assistant ignores an upload that is not newer than the last one).
_UPLOADS: WeakKeyDictionary[TestClient, int] = WeakKeyDictionary()


async def upload(
    client: TestClient, ack: int = 0, values: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Post one measurement as the device and return the opened reply."""
    _UPLOADS[client] = sent = _UPLOADS.get(client, 0) + 1
    now = now_epoch() + sent
    row = values if values is not None else distinct_values(LAYOUT)
    status, reply = await post_measurement(
        client, measurement_packet(CONFIG, [(now, row)], ack=ack, epoch=now)
    )
    assert status == HTTPStatus.OK
    return reply


@pytest.fixture
async def device_client(hass: HomeAssistant, configured_q5: Q5Uploads) -> TestClient:
    """Return a client whose device has sent its config and one measurement (relay 1 off)."""
    values = configured_q5.values()
    values["relays.1.state"] = False
    values["mfeeds.0.state"] = False
    assert await upload(configured_q5.client, values=values) == {}
    return configured_q5.client


async def call(hass: HomeAssistant, domain: str, service: str, unique_id: str, **data: Any) -> None:
    """Call an entity action and wait for it."""
    await hass.services.async_call(
        domain,
        service,
        {ATTR_ENTITY_ID: entity_id_of(hass, unique_id), **data},
        blocking=True,
    )


async def test_switch_command_delivered_until_acknowledged(
    hass: HomeAssistant, device_client: TestClient
) -> None:
    """turn_on queues set_relay; it is re-sent until acknowledged, then gone."""
    relay = f"{UID}_relays_1_state"
    await call(hass, SWITCH_DOMAIN, SERVICE_TURN_ON, relay)
    state = hass.states.get(entity_id_of(hass, relay))
    assert state is not None
    assert state.state == STATE_ON
    assert state.attributes["pending"] is True

    reply = await upload(device_client, ack=0)
    assert reply["commands"] == [{"cmd": "set_relay", "ch": 1, "state": 1, "Id": 1, "id": 1}]
    reply = await upload(device_client, ack=0)  # the reply was lost: sent again
    assert reply["commands"][0]["id"] == 1

    written: list[str] = []
    hass.bus.async_listen(
        EVENT_STATE_CHANGED,
        lambda event: (
            written.append(event.data["new_state"].state)
            if event.data["entity_id"] == entity_id_of(hass, relay)
            else None
        ),
    )
    values = distinct_values(LAYOUT)
    values["relays.1.state"] = True
    assert await upload(device_client, ack=1, values=values) == {}
    await hass.async_block_till_done()
    # The acknowledgement and the readings showing its effect are applied together: the switch
    # never falls back to the old "off" in between.
    assert STATE_OFF not in written
    state = hass.states.get(entity_id_of(hass, relay))
    assert state is not None
    assert state.state == STATE_ON
    assert state.attributes["pending"] is False


async def test_reported_state_wins_after_ack(
    hass: HomeAssistant, device_client: TestClient
) -> None:
    """Once acknowledged, the device's own report drives the switch, also if it disagrees."""
    relay = f"{UID}_relays_1_state"
    await call(hass, SWITCH_DOMAIN, SERVICE_TURN_ON, relay)
    await upload(device_client)
    values = distinct_values(LAYOUT)
    values["relays.1.state"] = False  # e.g. the fuse tripped straight away
    await upload(device_client, ack=1, values=values)
    state = hass.states.get(entity_id_of(hass, relay))
    assert state is not None
    assert state.state == STATE_OFF


async def test_newer_relay_command_replaces_unsent(
    hass: HomeAssistant, device_client: TestClient
) -> None:
    """on then off before the device hears either: only the off is sent."""
    relay = f"{UID}_relays_1_state"
    await call(hass, SWITCH_DOMAIN, SERVICE_TURN_ON, relay)
    await call(hass, SWITCH_DOMAIN, SERVICE_TURN_OFF, relay)
    reply = await upload(device_client)
    assert reply["commands"] == [{"cmd": "set_relay", "ch": 1, "state": 0, "Id": 2, "id": 2}]

    # Once sent, a command keeps its place; the newer one follows it.
    await call(hass, SWITCH_DOMAIN, SERVICE_TURN_ON, relay)
    reply = await upload(device_client)
    assert [c["id"] for c in reply["commands"]] == [2, 3]


async def test_pulse_reset_and_feeds(hass: HomeAssistant, device_client: TestClient) -> None:
    """pulse_relay, reset_relay and set_feed (number and BIT switch) go out in order."""
    await call(hass, BUTTON_DOMAIN, SERVICE_PRESS, f"{UID}_relays_3_pulse")
    await call(hass, BUTTON_DOMAIN, SERVICE_PRESS, f"{UID}_relays_1_reset")
    await call(
        hass, NUMBER_DOMAIN, SERVICE_SET_VALUE, f"{UID}_mfeeds_1_value", **{ATTR_VALUE: 42.5}
    )
    await call(hass, SWITCH_DOMAIN, SERVICE_TURN_ON, f"{UID}_mfeeds_0_state")
    number = hass.states.get(entity_id_of(hass, f"{UID}_mfeeds_1_value"))
    assert number is not None
    assert float(number.state) == 42.5
    assert number.attributes["pending"] is True

    reply = await upload(device_client)
    assert reply["commands"] == [
        {"cmd": "pulse_relay", "ch": 3, "Id": 1, "id": 1},
        {"cmd": "reset_relay", "ch": 1, "Id": 2, "id": 2},
        {"cmd": "set_feed", "feed": 1, "value": 42.5, "Id": 3, "id": 3},
        {"cmd": "set_feed", "feed": 0, "value": 1, "Id": 4, "id": 4},
    ]
    assert await upload(device_client, ack=4) == {}


async def test_buttons_only_where_they_apply(
    hass: HomeAssistant, device_client: TestClient
) -> None:
    """Every relay can be pulsed; only relays logging fuse/hvd/lvd get a reset button."""
    for relay in ("1", "2", "3", "4"):
        assert entity_id_of(hass, f"{UID}_relays_{relay}_pulse")
    assert entity_id_of(hass, f"{UID}_relays_2_reset")
    with pytest.raises(AssertionError):
        entity_id_of(hass, f"{UID}_relays_3_reset")


async def test_queue_survives_restart(
    hass: HomeAssistant, device_client: TestClient, setup_entry: MockConfigEntry
) -> None:
    """A command queued before a restart is delivered after it, and its id is kept."""
    await call(hass, SWITCH_DOMAIN, SERVICE_TURN_ON, f"{UID}_relays_2_state")
    assert await hass.config_entries.async_unload(setup_entry.entry_id)
    await hass.async_block_till_done()
    assert await hass.config_entries.async_setup(setup_entry.entry_id)
    await hass.async_block_till_done()

    reply = await upload(device_client)
    assert reply["commands"] == [{"cmd": "set_relay", "ch": 2, "state": 1, "Id": 1, "id": 1}]
    await upload(device_client, ack=1)
    await call(hass, BUTTON_DOMAIN, SERVICE_PRESS, f"{UID}_relays_2_pulse")
    reply = await upload(device_client, ack=1)
    assert reply["commands"][0]["id"] == 2


async def test_ack_going_backwards_keeps_commands(
    hass: HomeAssistant, device_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A device whose ack counter went back (a reset) still gets what waits; it is logged."""
    await call(hass, BUTTON_DOMAIN, SERVICE_PRESS, f"{UID}_relays_1_pulse")
    await upload(device_client)
    await upload(device_client, ack=1)
    await call(hass, BUTTON_DOMAIN, SERVICE_PRESS, f"{UID}_relays_2_pulse")
    reply = await upload(device_client, ack=0)
    assert [c["id"] for c in reply["commands"]] == [2]
    assert "went back from 1 to 0" in caplog.text


async def test_ack_ahead_of_us_renumbers(
    hass: HomeAssistant, device_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A device that acknowledged ids we never issued gets new commands numbered above them."""
    await call(hass, BUTTON_DOMAIN, SERVICE_PRESS, f"{UID}_relays_1_pulse")
    reply = await upload(device_client, ack=50)
    assert [c["id"] for c in reply["commands"]] == [51]
    assert "newer than any issued" in caplog.text


async def test_commands_expire(
    hass: HomeAssistant,
    device_client: TestClient,
    setup_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A command not acknowledged within the expiry option is dropped with a log line."""
    hass.config_entries.async_update_entry(setup_entry, options={CONF_COMMAND_EXPIRY: 600})
    await hass.async_block_till_done()
    await call(hass, BUTTON_DOMAIN, SERVICE_PRESS, f"{UID}_relays_1_pulse")
    freezer.tick(timedelta(seconds=601))
    assert await upload(device_client) == {}
    assert "not acknowledged within 600 s" in caplog.text


async def test_clock_drift_sends_time(
    hass: HomeAssistant, device_client: TestClient, setup_entry: MockConfigEntry
) -> None:
    """An upload whose epoch is off by more than 30 s gets {"t": now}; sync can be disabled."""
    now = now_epoch()
    row = distinct_values(LAYOUT)

    async def post(epoch: int) -> dict[str, Any]:
        status, reply = await post_measurement(
            device_client, measurement_packet(CONFIG, [(epoch, row)], epoch=epoch)
        )
        assert status == HTTPStatus.OK
        return reply

    reply = await post(now + 120)
    assert abs(reply["t"] - now) <= 2
    # The device set its clock back: its next upload is older than the last one, and is
    # still taken (not mistaken for a replay).
    changed = distinct_values(LAYOUT, seed=4)
    status, reply = await post_measurement(
        device_client, measurement_packet(CONFIG, [(now + 5, changed)], epoch=now + 5)
    )
    assert (status, reply) == (HTTPStatus.OK, {})
    battery = hass.states.get(entity_id_of(hass, f"{UID}_inputs_1_avg"))
    assert battery is not None
    assert float(battery.state) == changed["inputs.1.avg"]

    hass.config_entries.async_update_entry(setup_entry, options={CONF_CLOCK_SYNC: False})
    assert await post(now + 200) == {}


async def test_queue_full_is_an_error(hass: HomeAssistant, device_client: TestClient) -> None:
    """A device that never takes its commands refuses more once the queue is full."""
    for _ in range(MAX_QUEUED_COMMANDS):
        await call(hass, BUTTON_DOMAIN, SERVICE_PRESS, f"{UID}_relays_1_pulse")
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, BUTTON_DOMAIN, SERVICE_PRESS, f"{UID}_relays_1_pulse")
    assert err.value.translation_key == "queue_full"


async def test_action_on_removed_channel_is_refused(
    hass: HomeAssistant, device_client: TestClient
) -> None:
    """An entity whose channel left the config refuses with a translated validation error."""
    runtime = hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, str(UID))
    assert runtime is not None
    entity_id = entity_id_of(hass, f"{UID}_relays_2_pulse")
    # The channel leaves the config while the action is on its way (the entity is not yet gone).
    del entity_set_of(hass, runtime).specs[f"{UID}_relays_2_pulse"]
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            BUTTON_DOMAIN, SERVICE_PRESS, {ATTR_ENTITY_ID: entity_id}, blocking=True
        )
    assert err.value.translation_key == "unknown_channel"


async def test_nan_feed_value_is_refused(hass: HomeAssistant, device_client: TestClient) -> None:
    """NaN passes number.set_value's range check; it is refused before it reaches the queue.

    JSON cannot carry it: queued, it made every reply fail (a 500 after the rows were taken).
    """
    number = f"{UID}_mfeeds_1_value"
    before = hass.states.get(entity_id_of(hass, number))
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, NUMBER_DOMAIN, SERVICE_SET_VALUE, number, **{ATTR_VALUE: "nan"})
    assert err.value.translation_key == "feed_value_not_finite"
    assert await upload(device_client) == {}
    after = hass.states.get(entity_id_of(hass, number))
    assert before is not None
    assert after is not None
    assert after.state == before.state
    assert after.attributes["pending"] is False


async def test_reply_that_cannot_be_built_is_an_empty_200(
    hass: HomeAssistant,
    device_client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The rows are taken and saved before the reply is built: its failure is no 500."""
    runtime = hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, str(UID))
    assert runtime is not None
    await call(hass, BUTTON_DOMAIN, SERVICE_PRESS, f"{UID}_relays_1_pulse")
    rows_before = runtime.runtime_data.rows_total

    def broken_reply(*args: Any, **kwargs: Any) -> bytes:
        raise ValueError("Out of range float values are not JSON compliant")

    monkeypatch.setattr("custom_components.flexscada.replies.build_reply", broken_reply)
    assert await upload(device_client) == {}
    assert runtime.runtime_data.rows_total == rows_before + 1
    assert "sent an empty reply: Out of range float" in caplog.text
    monkeypatch.undo()
    # The command was not lost: the next reply carries it.
    reply = await upload(device_client)
    assert [c["cmd"] for c in reply["commands"]] == ["pulse_relay"]


@pytest.mark.parametrize("stored_value", [None, float("nan")])
async def test_stored_non_finite_feed_value_is_dropped(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    device_client: TestClient,
    setup_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
    stored_value: float | None,
) -> None:
    """A queue stored by an older version with a NaN feed value (on disk: null) still loads.

    The number shows the device's value, the bad command is dropped with a log line, and the
    rest of the queue is still delivered.
    """
    number = f"{UID}_mfeeds_1_value"
    reported = hass.states.get(entity_id_of(hass, number))
    assert reported is not None
    await call(hass, BUTTON_DOMAIN, SERVICE_PRESS, f"{UID}_relays_1_pulse")
    await call(hass, NUMBER_DOMAIN, SERVICE_SET_VALUE, number, **{ATTR_VALUE: 42.5})
    assert await hass.config_entries.async_unload(setup_entry.entry_id)
    await hass.async_block_till_done()
    pending = hass_storage[f"{DOMAIN}.{UID}"]["data"]["commands"]["pending"]
    assert pending[1]["cmd"] == "set_feed"
    pending[1]["params"]["value"] = stored_value

    assert await hass.config_entries.async_setup(setup_entry.entry_id)
    await hass.async_block_till_done()
    state = hass.states.get(entity_id_of(hass, number))
    assert state is not None
    assert state.state == reported.state
    assert state.attributes["pending"] is False
    assert "dropped stored command set_feed" in caplog.text
    reply = await upload(device_client)
    assert reply["commands"] == [{"cmd": "pulse_relay", "ch": 1, "Id": 1, "id": 1}]


async def test_ack_of_minus_one_means_none(hass: HomeAssistant, device_client: TestClient) -> None:
    """A device reporting lastCmdIdAck 0xFFFFFFFF (-1: nothing executed) gets id 1, no 500."""
    await call(hass, BUTTON_DOMAIN, SERVICE_PRESS, f"{UID}_relays_1_pulse")
    reply = await upload(device_client, ack=0xFFFFFFFF)
    assert reply["commands"] == [{"cmd": "pulse_relay", "ch": 1, "Id": 1, "id": 1}]
    reply = await upload(device_client, ack=0xFFFFFFFF)  # still not executed: sent again
    assert [c["id"] for c in reply["commands"]] == [1]
    assert await upload(device_client, ack=1) == {}


async def test_command_ids_wrap_within_uint32(
    hass: HomeAssistant, device_client: TestClient
) -> None:
    """After 0xFFFFFFFF the next id is 1 (0 means "none"); acks compare across the wrap."""
    # The device acknowledges ids we never issued (each less than 2**31 ahead, so "after" the
    # last): numbering goes on from there, up to the last uint32.
    assert await upload(device_client, ack=0x7FFFFFFF) == {}
    assert await upload(device_client, ack=0xFFFFFFFE) == {}
    await call(hass, BUTTON_DOMAIN, SERVICE_PRESS, f"{UID}_relays_1_pulse")
    await call(hass, BUTTON_DOMAIN, SERVICE_PRESS, f"{UID}_relays_2_pulse")
    reply = await upload(device_client, ack=0xFFFFFFFE)
    assert [(c["id"], c["ch"]) for c in reply["commands"]] == [(0xFFFFFFFF, 1), (1, 2)]
    reply = await upload(device_client, ack=0xFFFFFFFF)
    assert [(c["id"], c["ch"]) for c in reply["commands"]] == [(1, 2)]
    assert await upload(device_client, ack=1) == {}
    await call(hass, BUTTON_DOMAIN, SERVICE_PRESS, f"{UID}_relays_3_pulse")
    reply = await upload(device_client, ack=1)
    assert [c["id"] for c in reply["commands"]] == [2]


async def test_stored_queue_past_uint32_loads(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    device_client: TestClient,
    setup_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A queue an older version numbered past 0xFFFFFFFF (after an ack of -1) loads and heals."""
    await call(hass, BUTTON_DOMAIN, SERVICE_PRESS, f"{UID}_relays_1_pulse")
    assert await hass.config_entries.async_unload(setup_entry.entry_id)
    await hass.async_block_till_done()
    stored = hass_storage[f"{DOMAIN}.{UID}"]["data"]["commands"]
    stored["pending"][0]["id"] = 2**32
    stored.update(next_id=2**32 + 1, last_ack=0xFFFFFFFF)

    assert await hass.config_entries.async_setup(setup_entry.entry_id)
    await hass.async_block_till_done()
    assert "dropped stored command pulse_relay" in caplog.text
    assert await upload(device_client, ack=0xFFFFFFFF) == {}
    await call(hass, BUTTON_DOMAIN, SERVICE_PRESS, f"{UID}_relays_2_pulse")
    reply = await upload(device_client, ack=0xFFFFFFFF)
    assert reply["commands"] == [{"cmd": "pulse_relay", "ch": 2, "Id": 1, "id": 1}]


def test_stored_form_is_unchanged() -> None:
    """A queue as the previous version stored it loads typed and is stored again unchanged."""
    stored: StoredQueue = {
        "next_id": 8,
        "last_ack": 2,
        "pending": [
            {
                "id": 3,
                "cmd": "set_relay",
                "params": {"ch": 1, "state": 1},
                "queued_at": 1.5,
                "sent": True,
            },
            {"id": 4, "cmd": "pulse_relay", "params": {"ch": 2}, "queued_at": 2.0, "sent": False},
            {"id": 5, "cmd": "reset_relay", "params": {"ch": 3}, "queued_at": 2.5, "sent": False},
            {
                "id": 6,
                "cmd": "set_feed",
                "params": {"feed": 1, "value": 12.5},
                "queued_at": 3.0,
                "sent": False,
            },
            {
                "id": 7,
                "cmd": "set_feed",
                "params": {"feed": 0, "value": 1},
                "queued_at": 3.5,
                "sent": False,
            },
        ],
    }
    queue = CommandQueue.from_stored(UID, stored)
    assert [queued.action for queued in queue.pending] == [
        SetRelay(1, on=True),
        PulseRelay(2),
        ResetRelay(3),
        SetFeed(1, 12.5),
        SetFeed(0, 1),
    ]
    assert queue.pending_relay(1) == SetRelay(1, on=True)
    assert queue.pending_relay(2) is None
    assert queue.pending_feed(1) == SetFeed(1, 12.5)
    assert queue.as_stored() == stored
