"""Tests of the repair issues: raised with their placeholders, withdrawn when the cause is gone."""

from __future__ import annotations

from http import HTTPStatus
import json
from pathlib import Path
import re

from aiohttp.test_utils import TestClient
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.flexscada.const import CONF_KEY, DOMAIN
from custom_components.flexscada.issues import (
    ISSUE_LAYOUT_MISMATCH,
    ISSUE_SHARED_KEY,
    ISSUE_WRONG_KEY,
    issue_id,
)

from .common import (
    DEVICE_EPOCH,
    KEY,
    UID,
    WRONG_KEY,
    Q5Uploads,
    distinct_values,
    example_config,
    layout_of,
    make_entry,
    measurement_packet,
    post_measurement,
)

STRINGS = json.loads(
    (Path(__file__).parents[1] / "custom_components/flexscada/strings.json").read_text()
)


def get_issue(hass: HomeAssistant, kind: str) -> ir.IssueEntry | None:
    """Return one of the example device's issues, if raised."""
    return ir.async_get(hass).async_get_issue(DOMAIN, issue_id(kind, UID))


def assert_placeholders_complete(issue: ir.IssueEntry) -> None:
    """The issue fills exactly the placeholders its text uses."""
    assert issue.translation_key is not None
    texts = STRINGS["issues"][issue.translation_key]
    used = set(re.findall(r"{(\w+)}", texts["title"] + texts["description"]))
    assert set(issue.translation_placeholders or {}) == used


async def test_layout_mismatch_raised_and_cleared(
    hass: HomeAssistant, client: TestClient, configured_q5: Q5Uploads, setup_entry: MockConfigEntry
) -> None:
    """Uploads that carry fewer bits than the device's config needs raise an issue until fixed."""
    # The device logs less than the config it reports (same version) says.
    smaller = example_config()
    smaller["relays"]["1"]["logging"] = ["state"]
    short = measurement_packet(
        smaller, [(DEVICE_EPOCH, distinct_values(layout_of(smaller)))], cfg_version=42
    )
    status, _ = await post_measurement(client, short)
    assert status == HTTPStatus.BAD_REQUEST

    issue = get_issue(hass, ISSUE_LAYOUT_MISMATCH)
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.ERROR
    assert not issue.is_fixable
    needed = configured_q5.layout.payload_bits
    carried = layout_of(smaller).payload_bytes * 8
    assert issue.translation_placeholders == {
        "device": configured_q5.config["name"],
        "config_version": "42",
        "needed_bits": str(needed),
        "carried_bits": str(carried),
    }
    assert_placeholders_complete(issue)

    # The issue outlives a reload of the entry, and the reloaded device still clears it.
    assert await hass.config_entries.async_reload(setup_entry.entry_id)
    await hass.async_block_till_done()
    assert get_issue(hass, ISSUE_LAYOUT_MISMATCH) is not None
    status, _ = await configured_q5.upload()
    assert status == HTTPStatus.OK
    assert get_issue(hass, ISSUE_LAYOUT_MISMATCH) is None


async def test_wrong_key_raised_and_cleared(hass: HomeAssistant, configured_q5: Q5Uploads) -> None:
    """Three failures in a row raise the wrong-key issue; a good upload withdraws it."""
    wrong = [(DEVICE_EPOCH, {})]
    for _ in range(2):
        assert (await configured_q5.upload_rows(wrong, key=WRONG_KEY))[0] == HTTPStatus.FORBIDDEN
    assert get_issue(hass, ISSUE_WRONG_KEY) is None
    for _ in range(2):
        assert (await configured_q5.upload_rows(wrong, key=WRONG_KEY))[0] == HTTPStatus.FORBIDDEN

    issue = get_issue(hass, ISSUE_WRONG_KEY)
    assert issue is not None
    assert issue.translation_placeholders == {
        "device": configured_q5.config["name"],
        "failures": "4",
    }
    assert_placeholders_complete(issue)

    status, _ = await configured_q5.upload()
    assert status == HTTPStatus.OK
    assert get_issue(hass, ISSUE_WRONG_KEY) is None


async def test_removing_the_entry_withdraws_its_issues(
    hass: HomeAssistant, configured_q5: Q5Uploads, setup_entry: MockConfigEntry
) -> None:
    """A removed device leaves no issue behind."""
    for _ in range(3):
        await configured_q5.upload_rows([(DEVICE_EPOCH, {})], key=WRONG_KEY)
    assert get_issue(hass, ISSUE_WRONG_KEY) is not None
    assert await hass.config_entries.async_remove(setup_entry.entry_id)
    await hass.async_block_till_done()
    assert get_issue(hass, ISSUE_WRONG_KEY) is None


async def test_shared_key_is_reported(hass: HomeAssistant, setup_entry: MockConfigEntry) -> None:
    """Two devices with one key get a warning; it goes when they no longer share it."""
    registry = ir.async_get(hass)
    shared = issue_id(ISSUE_SHARED_KEY, UID)
    assert registry.async_get_issue(DOMAIN, shared) is None

    other = make_entry(uid=UID + 1)  # the same key as the example device
    other.add_to_hass(hass)
    assert await hass.config_entries.async_setup(other.entry_id)
    await hass.async_block_till_done()
    issue = registry.async_get_issue(DOMAIN, shared)
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.WARNING
    assert issue.translation_placeholders == {
        "devices": f"Q5 {UID} ({UID}), Q5 {UID + 1} ({UID + 1})"
    }
    assert "{devices}" in STRINGS["issues"]["shared_key"]["description"]

    # Re-keyed (reconfigure stores the key and reloads): the warning is withdrawn.
    hass.config_entries.async_update_entry(other, data={**other.data, CONF_KEY: WRONG_KEY.hex()})
    await hass.config_entries.async_reload(other.entry_id)
    assert registry.async_get_issue(DOMAIN, shared) is None

    # Shared again, then one of them is deleted.
    hass.config_entries.async_update_entry(other, data={**other.data, CONF_KEY: KEY.hex()})
    await hass.config_entries.async_reload(other.entry_id)
    assert registry.async_get_issue(DOMAIN, shared) is not None
    assert await hass.config_entries.async_remove(setup_entry.entry_id)
    await hass.async_block_till_done()
    assert registry.async_get_issue(DOMAIN, shared) is None
