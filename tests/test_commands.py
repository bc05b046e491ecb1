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

from custom_components.flexscada.commands import MAX_QUEUED_COMMANDS
from custom_components.flexscada.const import CONF_CLOCK_SYNC, CONF_COMMAND_EXPIRY, DOMAIN
from custom_components.flexscada.entity_set import entity_set_of

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
