"""Repair issues for problems only the user can fix on the device; none is fixable from here."""

from __future__ import annotations

from typing import Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import CONF_KEY, CONF_UID, DOMAIN

ISSUE_LAYOUT_MISMATCH: Final = "layout_mismatch"
ISSUE_WRONG_KEY: Final = "wrong_key"
ISSUE_SHARED_KEY: Final = "shared_key"
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
    _async_raise(
        hass,
        ISSUE_LAYOUT_MISMATCH,
        uid,
        device=device,
        config_version=str(config_version),
        needed_bits=str(needed_bits),
        carried_bits=str(carried_bits),
    )


@callback
def async_raise_wrong_key(hass: HomeAssistant, uid: int, device: str, failures: int) -> None:
    """Report that the device keeps sending uploads its stored key cannot open."""
    _async_raise(hass, ISSUE_WRONG_KEY, uid, device=device, failures=str(failures))


@callback
def _async_raise(
    hass: HomeAssistant,
    kind: str,
    uid: int,
    *,
    severity: ir.IssueSeverity = ir.IssueSeverity.ERROR,
    is_persistent: bool = False,
    **placeholders: str,
) -> None:
    """Raise (or update) one kind of issue of one device; the kind is its translation key."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id(kind, uid),
        is_fixable=False,
        is_persistent=is_persistent,
        severity=severity,
        translation_key=kind,
        translation_placeholders=placeholders,
    )


@callback
def async_raise_config_rejected(
    hass: HomeAssistant, uid: int, *, device: str, version: int, deliveries: int
) -> None:
    """Report that the device kept its own config after a pushed one was delivered repeatedly."""
    _async_raise(
        hass,
        ISSUE_CONFIG_REJECTED,
        uid,
        # Nothing re-raises it after a restart (the push is gone): kept until the next change.
        is_persistent=True,
        severity=ir.IssueSeverity.WARNING,
        device=device,
        version=str(version),
        deliveries=str(deliveries),
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


@callback
def async_update_shared_key_issues(hass: HomeAssistant, *, removed: str | None = None) -> None:
    """Warn about devices that share a key; withdraw the warnings that no longer apply.

    The uid is outside what the key protects, so an upload of one device re-addressed to
    another with the same key is accepted as the other's: the protocol cannot tell them apart.
    One issue per shared key, named after the lowest uid that has it. `removed`: the id of an
    entry being removed, not counted.
    """
    by_key: dict[str, list[tuple[int, str]]] = {}
    for entry in hass.config_entries.async_entries(DOMAIN, include_ignore=False):
        if entry.entry_id != removed and CONF_KEY in entry.data and CONF_UID in entry.data:
            devices = by_key.setdefault(entry.data[CONF_KEY], [])
            devices.append((int(entry.data[CONF_UID]), entry.title))
    wanted: set[str] = set()
    for devices in by_key.values():
        if len(devices) < 2:
            continue
        devices.sort()
        wanted.add(shared := issue_id(ISSUE_SHARED_KEY, devices[0][0]))
        ir.async_create_issue(
            hass,
            DOMAIN,
            shared,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=ISSUE_SHARED_KEY,
            translation_placeholders={
                "devices": ", ".join(f"{title} ({uid})" for uid, title in devices)
            },
        )
    registry = ir.async_get(hass)
    for domain, existing in list(registry.issues):
        if (
            domain == DOMAIN
            and existing.startswith(f"{ISSUE_SHARED_KEY}_")
            and existing not in wanted
        ):
            ir.async_delete_issue(hass, DOMAIN, existing)
