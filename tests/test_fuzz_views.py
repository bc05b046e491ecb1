"""Attack the upload views in-process: fuzzed, tampered, replayed and flooded uploads.

The fast subset of `scripts/fuzz` and of the soak's attack phase (docs/load-and-attack.md): bad
uploads get a 4xx answer, change nothing, log no traceback, are rate-limited in the log, and never
count as failed logins (HA's ip_ban must not ban a device's IP).
"""

from __future__ import annotations

from collections import Counter
from http import HTTPStatus
import logging
import math
import os
import random
from typing import Any

from aiohttp.test_utils import TestClient
from homeassistant.components.http.ban import KEY_BAN_MANAGER, KEY_FAILED_LOGIN_ATTEMPTS
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.json import json_bytes
import probatio
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.flexscada.const import DOMAIN
from custom_components.flexscada.device import Q5Device
from custom_components.flexscada.entity_set import entity_set_of
from custom_components.flexscada.protocol import command_id, parse_action, seal
from custom_components.flexscada.protocol.readings import command_id_after
from loadtests.attacks import attack_bodies, still_valid
from loadtests.fuzz import (
    MAX_FIELDS,
    hostile_config_changes,
    hostile_config_text,
    hostile_feed_value,
    hostile_option,
    odd_ack,
    run as run_protocol_fuzz,
)

from .common import (
    DEVICE_EPOCH,
    KEY,
    UID,
    WRONG_KEY,
    distinct_values,
    example_config,
    layout_of,
    measurement_packet,
    post_config,
    post_measurement,
)

LAYOUT = layout_of(example_config())
# scripts/fuzz runs the view fuzz with many more cases (and -s to see the table).
VIEW_CASES = int(os.environ.get("FLEXSCADA_FUZZ_VIEW_CASES", "400"))


def test_protocol_fuzz_subset() -> None:
    """3,000 cases of the protocol fuzzer: every failure is a Q5ProtocolError."""
    report = run_protocol_fuzz(3000, seed=8)
    assert report.violation_count == 0, next(iter(report.violations.values()), "")
    assert report.cases == 3000


def _snapshot(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, Any]:
    """Return everything an upload could change: entity states and the device runtime."""
    device: Q5Device = entry.runtime_data
    registry = er.async_get(hass)
    states = {}
    for reg_entry in er.async_entries_for_config_entry(registry, entry.entry_id):
        if (state := hass.states.get(reg_entry.entity_id)) is not None:
            states[state.entity_id] = (state.state, dict(state.attributes), state.last_updated)
    return {
        "states": states,
        "values": repr(sorted(device.values.items())),
        "latest_timestamp": device.latest_timestamp,
        "rows_total": device.rows_total,
        "rows_in_last_upload": device.rows_in_last_upload,
        "last_upload": device.last_upload,
        "commands": device.commands.as_stored(),
        "config_version": device.config.version if device.config else None,
    }


async def _prime(hass: HomeAssistant, client: TestClient) -> list[bytes]:
    """Give the device its config and two uploads; return valid packets to mutate."""
    config = example_config()
    assert await post_config(client, config) == HTTPStatus.OK
    packets = [
        measurement_packet(config, [(DEVICE_EPOCH + 60 * i, distinct_values(LAYOUT, i))])
        for i in range(3)
    ]
    packets.append(
        measurement_packet(
            config, [(DEVICE_EPOCH + 200 + i, distinct_values(LAYOUT, 7 + i)) for i in range(4)]
        )
    )
    for packet in (packets[0], packets[-1]):
        status, _ = await post_measurement(client, packet)
        assert status == HTTPStatus.OK
    await hass.async_block_till_done()
    return packets


def _our_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name.startswith("custom_components.flexscada") and r.levelno >= logging.WARNING
    ]


def _assert_not_treated_as_login_failure(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    app = hass.http.app
    assert not app[KEY_FAILED_LOGIN_ATTEMPTS]
    assert not app[KEY_BAN_MANAGER].ip_bans_lookup
    assert "Login attempt" not in caplog.text
    assert hass.states.get("persistent_notification.http_login") is None


async def test_fuzzed_uploads_change_nothing(
    hass: HomeAssistant,
    client: TestClient,
    setup_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Mutated, resealed, wrong-key, tampered and random uploads: 4xx, no change, no trace."""
    packets = await _prime(hass, client)
    before = _snapshot(hass, setup_entry)
    caplog.clear()
    statuses: Counter[tuple[str, int]] = Counter()
    skipped = 0
    for kind, body in attack_bodies(random.Random(3), packets, KEY, WRONG_KEY, VIEW_CASES):
        if still_valid(body, KEY, UID, LAYOUT):
            skipped += 1  # e.g. only the clear uid changed to... our uid again
            continue
        response = await client.post("/Q5/m", data=body)
        await response.read()
        statuses[kind, response.status] += 1
        assert 400 <= response.status < 500, (kind, response.status, body[:80].hex())
        if kind in ("wrong_key", "tampered"):
            assert response.status in (HTTPStatus.FORBIDDEN, HTTPStatus.NOT_FOUND), kind
    await hass.async_block_till_done()

    after = _snapshot(hass, setup_entry)
    # A "resealed" upload is authentic (right key, broken encoder): its lastCmdIdAck is honoured
    # even when its rows are refused (409/400), so only the command numbering may move; no
    # command is created or dropped.
    assert after["commands"]["pending"] == before["commands"]["pending"]
    assert {k: v for k, v in after.items() if k != "commands"} == {
        k: v for k, v in before.items() if k != "commands"
    }
    assert sum(statuses.values()) + skipped == VIEW_CASES
    assert skipped < VIEW_CASES / 10
    print(f"\nview fuzz: {VIEW_CASES} uploads, {skipped} still valid (skipped), answers:")  # noqa: T201
    for kind in sorted({k for k, _ in statuses}):
        answers = {s: c for (k, s), c in sorted(statuses.items()) if k == kind}
        print(f"  {kind:10} {answers}")  # noqa: T201
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "Traceback" not in caplog.text
    # Rate-limited: one warning per kind of problem (malformed, integrity, reauth, layout, unknown
    # uid, ...). The command queue's warnings about odd lastCmdIdAck values come only from
    # authentic (resealed) uploads, so they are not throttled.
    throttled = [r for r in _our_warnings(caplog) if r.pathname.endswith("logs.py")]
    assert len(throttled) <= 7, "\n".join(r.getMessage() for r in throttled)
    others = [r for r in _our_warnings(caplog) if not r.pathname.endswith("logs.py")]
    assert all(r.pathname.endswith("commands.py") for r in others)
    print(f"  log: {len(throttled)} rate-limited warnings, {len(others)} command-ack warnings")  # noqa: T201
    _assert_not_treated_as_login_failure(hass, caplog)


async def test_fuzzed_uploads_of_hostile_configs(
    hass: HomeAssistant,
    client: TestClient,
    setup_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Authentic hostile configs: 400, or 200 only for a config the store can write."""
    await _prime(hass, client)
    device: Q5Device = setup_entry.runtime_data
    registry = er.async_get(hass)
    rng = random.Random(5)
    cases = max(VIEW_CASES // 10, 40)
    statuses: Counter[int] = Counter()
    caplog.clear()
    for _ in range(cases):
        body = seal(KEY, hostile_config_text(rng))
        response = await client.post(f"/Q5/cfg/{UID}", data=body)
        statuses[response.status] += 1
        assert response.status in (HTTPStatus.OK, HTTPStatus.BAD_REQUEST, 413), response.status
        if response.status == HTTPStatus.OK:
            assert device.config is not None
            json_bytes(dict(device.config.raw))  # what the store wrote
            # + relay buttons (diagnostics are not in the set)
            assert len(entity_set_of(hass, setup_entry).specs) <= MAX_FIELDS + 2 * 8
    await hass.async_block_till_done()
    entities = er.async_entries_for_config_entry(registry, setup_entry.entry_id)
    assert len(entities) <= MAX_FIELDS + 2 * 8 + 6
    assert max(len(entry.original_name or "") for entry in entities) <= 200
    # The device still works with a config of its own.
    assert await post_config(client, example_config() | {"version": 10_001}) == HTTPStatus.OK
    print(f"\nhostile configs: {cases} uploads, answers {dict(sorted(statuses.items()))}")  # noqa: T201
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "Traceback" not in caplog.text
    rejected = [r for r in _our_warnings(caplog) if "config upload was rejected" in r.getMessage()]
    assert len(rejected) <= 1  # rate-limited
    _assert_not_treated_as_login_failure(hass, caplog)


def _entity_ids(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, list[str]]:
    """Return the device's entity ids by platform."""
    by_platform: dict[str, list[str]] = {}
    for reg_entry in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id):
        by_platform.setdefault(reg_entry.domain, []).append(reg_entry.entity_id)
    return by_platform


async def _act(hass: HomeAssistant, domain: str, service: str, data: dict[str, Any]) -> str:
    """Call an action; return "ok" or why it was refused. Any other exception fails the test."""
    refusal: HomeAssistantError | None = None
    try:
        await hass.services.async_call(domain, service, data, blocking=True)
    except HomeAssistantError as err:
        refusal = err
    except probatio.Invalid:
        return "schema"  # Home Assistant's own schema refused the data before our code ran
    if refusal is None:
        return "ok"
    # What the user sees must be a translated message, not an exception's text.
    assert refusal.translation_key, (domain, service, repr(refusal))
    return str(refusal.translation_key)


def _sent_ids(reply: dict[str, Any]) -> list[int]:
    """Check a reply's commands as the device reads them; return their ids."""
    ids: list[int] = []
    for command in reply.get("commands", []):
        parse_action(command.get("cmd"), command)  # BadCommandError for a value it cannot run
        assert all(
            math.isfinite(value) for value in command.values() if isinstance(value, float)
        ), command
        sent_id = command_id(command)
        assert sent_id is not None, command
        assert 1 <= sent_id <= 0xFFFF_FFFF, command
        ids.append(sent_id)
    assert len(set(ids)) == len(ids), ids
    return ids


async def test_fuzzed_uploads_after_hostile_actions(
    hass: HomeAssistant,
    client: TestClient,
    setup_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Odd values from actions: refused with a translated error, and the device still gets 200."""
    await _prime(hass, client)
    device: Q5Device = setup_entry.runtime_data
    entities = _entity_ids(hass, setup_entry)
    rng = random.Random(11)
    cases = max(VIEW_CASES // 5, 60)
    outcomes: Counter[tuple[str, str]] = Counter()
    replies_with_commands = 0
    caplog.clear()
    for index in range(cases):
        kind = rng.choice(("number", "switch", "button", "select", "config"))
        if kind == "number":
            value = hostile_feed_value(rng)
            data = {ATTR_ENTITY_ID: rng.choice(entities["number"]), "value": value}
            outcome = await _act(hass, "number", "set_value", data)
        elif kind in ("switch", "button"):
            service = "press" if kind == "button" else rng.choice(("turn_on", "turn_off"))
            entity_id = rng.choice(entities[kind])
            # Repeated calls fill the queue (64): the rest must be refused as queue_full.
            for _ in range(rng.choice((1, 1, 5, 70))):
                outcome = await _act(hass, kind, service, {ATTR_ENTITY_ID: entity_id})
                outcomes[kind, outcome] += 1
            outcome = ""
        elif kind == "select":
            entity_id = rng.choice(entities["select"])
            state = hass.states.get(entity_id)
            options = list(state.attributes.get("options", [])) if state else []
            data = {ATTR_ENTITY_ID: entity_id, "option": hostile_option(rng, options)}
            outcome = await _act(hass, "select", "select_option", data)
        else:
            data = {
                "device_id": _device_id(hass, setup_entry),
                "changes": hostile_config_changes(rng),
            }
            outcome = await _act(hass, DOMAIN, "update_device_config", data)
        if outcome:
            outcomes[kind, outcome] += 1
        # The device uploads; now and then it acknowledges everything it was sent.
        ack = device.commands.next_id - 1 if rng.random() < 0.3 else device.commands.last_ack
        packet = measurement_packet(
            example_config(),
            [(DEVICE_EPOCH + 1000 + index, distinct_values(LAYOUT, index))],
            ack=ack,
        )
        status, reply = await post_measurement(client, packet)
        assert status == HTTPStatus.OK, (kind, outcomes)
        replies_with_commands += bool(_sent_ids(reply))
        if "cfg" in reply:
            json_bytes(reply["cfg"])
    await hass.async_block_till_done()
    print(f"\nhostile actions: {cases} rounds, {replies_with_commands} replies with commands")  # noqa: T201
    for kind in sorted({k for k, _ in outcomes}):
        answers = {o: c for (k, o), c in sorted(outcomes.items()) if k == kind}
        print(f"  {kind:7} {answers}")  # noqa: T201
    # The NaN/infinity refusal was reached: the entity was available, so the fuzz hit our code.
    assert outcomes["number", "feed_value_not_finite"] > 0
    assert all(outcomes[kind, "ok"] > 0 for kind in ("number", "switch", "button", "config"))
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "Traceback" not in caplog.text


async def test_fuzzed_uploads_with_odd_command_acks(
    hass: HomeAssistant,
    client: TestClient,
    setup_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Random lastCmdIdAck values between queued commands: 200, ids within uint32, no resend."""
    await _prime(hass, client)
    device: Q5Device = setup_entry.runtime_data
    entities = _entity_ids(hass, setup_entry)
    rng = random.Random(13)
    cases = max(VIEW_CASES // 5, 60)
    acknowledged: set[int] = set()  # ids the device confirmed (and was told of in a reply)
    resets = renumbered = sent_total = 0
    caplog.clear()
    for index in range(cases):
        for _ in range(rng.choice((0, 0, 1, 3))):
            kind = rng.choice(("switch", "button", "number"))
            service, data = {
                "switch": (rng.choice(("turn_on", "turn_off")), {}),
                "button": ("press", {}),
                "number": ("set_value", {"value": rng.uniform(-1000, 1000)}),
            }[kind]
            data[ATTR_ENTITY_ID] = rng.choice(entities[kind])
            assert await _act(hass, kind, service, data) in ("ok", "queue_full")
        queue = device.commands
        ack = odd_ack(rng, queue.next_id, queue.last_ack)
        last_issued = queue.pending[-1].id if queue.pending else queue.next_id - 1
        waiting = [command.id for command in queue.pending]
        renumbered_now = False
        if command_id_after(queue.last_ack, ack):
            resets += 1  # the device went back: what it had acknowledged is due again
            acknowledged.clear()
        if command_id_after(ack, last_issued):
            renumbered += 1  # acknowledges ids never issued: the unsent ones get new ids
            renumbered_now = True
            acknowledged.clear()
        acknowledged.update(i for i in waiting if not command_id_after(i, ack))
        # What the ack does not cover is still due (unless renumbered): it must not be lost.
        still_due = set() if renumbered_now else {i for i in waiting if command_id_after(i, ack)}
        packet = measurement_packet(
            example_config(),
            [(DEVICE_EPOCH + 1000 + index, distinct_values(LAYOUT, index))],
            ack=ack,
        )
        status, reply = await post_measurement(client, packet)
        assert status == HTTPStatus.OK, (hex(ack), queue.as_stored())
        sent = _sent_ids(reply)
        sent_total += len(sent)
        assert not acknowledged & set(sent), (hex(ack), sent, sorted(acknowledged))
        assert still_due <= set(sent), (hex(ack), sent, sorted(still_due))
    await hass.async_block_till_done()
    print(  # noqa: T201
        f"\nodd acks: {cases} uploads, {sent_total} commands sent, "
        f"{resets} device resets, {renumbered} renumberings"
    )
    assert sent_total > 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "Traceback" not in caplog.text


def _device_id(hass: HomeAssistant, entry: MockConfigEntry) -> str:
    device = dr.async_get(hass).async_get_device_by_identifier((DOMAIN, str(UID)), entry.entry_id)
    assert device is not None
    return device.id


async def test_replayed_upload_does_not_move_state_back(
    hass: HomeAssistant, client: TestClient, setup_entry: MockConfigEntry
) -> None:
    """A replay of an older upload is acknowledged but the live state keeps the newer readings."""
    packets = await _prime(hass, client)
    before = _snapshot(hass, setup_entry)
    for packet in (packets[0], packets[1], packets[-1]):  # older, older, the newest again
        status, _ = await post_measurement(client, packet)
        assert status == HTTPStatus.OK
    await hass.async_block_till_done()
    after = _snapshot(hass, setup_entry)
    assert after["values"] == before["values"]
    assert after["latest_timestamp"] == before["latest_timestamp"] == DEVICE_EPOCH + 203
    # packets[1] was never sent: its row is new (a backlog row), so only the energy counters move.
    assert {k: v[0] for k, v in after["states"].items() if not k.endswith(_MOVED)} == {
        k: v[0] for k, v in before["states"].items() if not k.endswith(_MOVED)
    }
    for entity_id in [k for k in after["states"] if k.endswith("_energy")]:
        assert float(after["states"][entity_id][0]) >= float(before["states"][entity_id][0])


_MOVED = ("last_upload", "_energy")


async def test_flood_from_one_ip_no_ban_no_log_flood(
    hass: HomeAssistant,
    client: TestClient,
    setup_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """2,000 bad uploads from one IP: all 403, no ban, two log lines; the device is still heard."""
    packets = await _prime(hass, client)
    before = _snapshot(hass, setup_entry)
    caplog.clear()
    bodies = [
        body
        for _, body in attack_bodies(
            random.Random(5), packets, KEY, WRONG_KEY, 50, kinds=("wrong_key", "tampered")
        )
    ]
    statuses: Counter[int] = Counter()
    for index in range(2000):
        response = await client.post("/Q5/m", data=bodies[index % len(bodies)])
        statuses[response.status] += 1
    assert statuses == {HTTPStatus.FORBIDDEN: 2000}
    await hass.async_block_till_done()
    assert _snapshot(hass, setup_entry) == before
    # One line for the integrity failures, one for the reauth the streak starts (an attacker who
    # knows the clear uid can start it: see docs/load-and-attack.md, open points).
    assert len(_our_warnings(caplog)) <= 2, [r.getMessage() for r in _our_warnings(caplog)]
    _assert_not_treated_as_login_failure(hass, caplog)
    # The IP is not banned: the real device behind it is still heard.
    config = example_config()
    newest = measurement_packet(config, [(DEVICE_EPOCH + 900, distinct_values(LAYOUT, 11))])
    status, _ = await post_measurement(client, newest)
    assert status == HTTPStatus.OK


async def test_unknown_uid_flood_is_rate_limited(
    hass: HomeAssistant,
    client: TestClient,
    setup_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """500 uploads from random unknown uids: 404 each, but not 500 log lines."""
    rng = random.Random(9)
    caplog.clear()
    for _ in range(500):
        uid = rng.randrange(2**32)
        response = await client.post("/Q5/m", data=uid.to_bytes(4, "little") + rng.randbytes(64))
        assert response.status == HTTPStatus.NOT_FOUND
    assert len(_our_warnings(caplog)) <= 2, len(_our_warnings(caplog))
    _assert_not_treated_as_login_failure(hass, caplog)


def test_throttled_logger_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """A flood of distinct kinds is capped: beyond MAX_KINDS only debug, until old kinds expire."""
    from custom_components.flexscada import logs

    now = [1000.0]
    monkeypatch.setattr(logs, "MAX_KINDS", 3)
    monkeypatch.setattr(logs.time, "monotonic", lambda: now[0])
    logger = logging.getLogger("test_throttle")
    warnings: list[str] = []
    monkeypatch.setattr(logger, "warning", lambda msg, *args: warnings.append(msg % args))
    throttled = logs.ThrottledLogger(logger)
    for kind in range(10):
        throttled.report(kind, "kind %s", kind)
    assert warnings == ["kind 0", "kind 1", "kind 2"]
    assert len(throttled._last_logged) == 3
    now[0] += 3600  # the interval runs out: old kinds are forgotten, new ones heard again
    throttled.report(11, "kind %s", 11)
    assert warnings[-1] == "kind 11"
    assert len(throttled._last_logged) == 1
