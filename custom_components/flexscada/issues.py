"""Repair issues for problems only the user can fix on the device; none is fixable from here."""

from __future__ import annotations

from typing import Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN

ISSUE_LAYOUT_MISMATCH: Final = "layout_mismatch"
ISSUE_WRONG_KEY: Final = "wrong_key"
ISSUE_CONFIG_REJECTED: Final = "config_rejected"


def issue_id(kind: str, uid: int) -> str:
    """Return the id of one kind of issue for one device."""
    return f"{kind}_{uid}"


@callback
def async_raise_layout_mismatch(
    hass: HomeAssistant,
    uid: int,
    *,
    device: str,
    config_version: int,
    needed_bits: int,
    carried_bits: int,
) -> None:
    """Report that the device's uploads do not fit the config it says it has."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id(ISSUE_LAYOUT_MISMATCH, uid),
        is_fixable=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key=ISSUE_LAYOUT_MISMATCH,
        translation_placeholders={
            "device": device,
            "config_version": str(config_version),
            "needed_bits": str(needed_bits),
            "carried_bits": str(carried_bits),
        },
    )


@callback
def async_raise_wrong_key(hass: HomeAssistant, uid: int, device: str, failures: int) -> None:
    """Report that the device keeps sending uploads its stored key cannot open."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id(ISSUE_WRONG_KEY, uid),
        is_fixable=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key=ISSUE_WRONG_KEY,
        translation_placeholders={"device": device, "failures": str(failures)},
    )


@callback
def async_raise_config_rejected(
    hass: HomeAssistant, uid: int, *, device: str, version: int, deliveries: int
) -> None:
    """Report that the device kept its own config after a pushed one was delivered repeatedly."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id(ISSUE_CONFIG_REJECTED, uid),
        is_fixable=False,
        # Nothing re-raises it after a restart (the push is gone): kept until the next change.
        is_persistent=True,
        severity=ir.IssueSeverity.WARNING,
        translation_key=ISSUE_CONFIG_REJECTED,
        translation_placeholders={
            "device": device,
            "version": str(version),
            "deliveries": str(deliveries),
        },
    )


@callback
def async_clear_issue(hass: HomeAssistant, kind: str, uid: int) -> None:
    """Withdraw one kind of issue of a device (no-op when it is not raised)."""
    ir.async_delete_issue(hass, DOMAIN, issue_id(kind, uid))


@callback
def async_clear_issues(hass: HomeAssistant, uid: int) -> None:
    """Withdraw every issue of a device."""
    for kind in (ISSUE_LAYOUT_MISMATCH, ISSUE_WRONG_KEY, ISSUE_CONFIG_REJECTED):
        async_clear_issue(hass, kind, uid)
