"""Diagnostics: what the Q5 told us and how its uploads went, with its secrets redacted."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant
from homeassistant.helpers.device_registry import DeviceEntry

from .const import CONF_KEY, CONF_PASSPHRASE
from .device import FlexscadaConfigEntry, Q5Device

# The entry's key, and anything key- or password-like in the device JSON. The device JSON's
# `cloud` is this Home Assistant's URL as the device reaches it (often a public address), and
# `lat`/`lng` locate the site: not secrets, but nothing a shared diagnostics file needs.
TO_REDACT = {
    CONF_KEY,
    CONF_PASSPHRASE,
    "aes_key",
    "pass",
    "password",
    "psk",
    "secret",
    "token",
    "cloud",
    "lat",
    "lng",
}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: FlexscadaConfigEntry
) -> dict[str, Any]:
    """Return diagnostics for a config entry."""
    return {
        "entry": {
            "title": entry.title,
            "data": async_redact_data(entry.data, TO_REDACT),
            "options": dict(entry.options),
        },
        "device": _device_diagnostics(entry.runtime_data),
    }


async def async_get_device_diagnostics(
    hass: HomeAssistant, entry: FlexscadaConfigEntry, device: DeviceEntry
) -> dict[str, Any]:
    """Return diagnostics for the entry's device (an entry is exactly one Q5)."""
    return await async_get_config_entry_diagnostics(hass, entry)


def _device_diagnostics(device: Q5Device) -> dict[str, Any]:
    """Return the device runtime's state."""
    layout = device.layout
    return {
        "uid": device.uid,
        "name": device.name,
        "config": (
            async_redact_data(dict(device.config.raw), TO_REDACT)
            if device.config is not None
            else None
        ),
        "layout": None
        if layout is None
        else {
            "version": layout.version,
            "fields": len(layout.fields),
            "payload_bits": layout.payload_bits,
            "payload_bytes": layout.payload_bytes,
            "fields_per_section": dict(Counter(field.section for field in layout.fields)),
        },
        "last_upload": {
            "received": device.last_upload.isoformat() if device.last_upload else None,
            "meta": asdict(device.last_meta) if device.last_meta is not None else None,
            "clock_offset": device.clock_offset,
            "latest_timestamp": device.latest_timestamp,
        },
        "queue": {
            "pending": [command.as_stored() for command in device.commands.pending],
            "next_id": device.commands.next_id,
            "last_ack": device.commands.last_ack,
        },
        # config push (issue 14)
        "pending_config": None
        if (pending := device.config_push.pending) is None
        else {
            "version": pending.version,
            "deliveries": pending.deliveries,
            "config": async_redact_data(pending.raw, TO_REDACT),
        },
        "counters": {
            "rows_total": device.rows_total,
            "rows_in_last_upload": device.rows_in_last_upload,
            "integrity_failures_in_a_row": device.keys.failures,
            # Dropped as seen before (retransmissions, replays): rows, and uploads with no new row.
            "rows_duplicate": device.freshness.rows_duplicate,
            "uploads_duplicate": device.freshness.uploads_duplicate,
            # Config uploads older than the stored one that no measurement reported (replays).
            "configs_ignored": device.config_replays.ignored,
        },
        "availability": {
            "available": device.available,
            "window_seconds": device.availability_window.total_seconds(),
        },
        # Hourly statistics of every row: hours pending, written, the last import.
        "statistics": device.statistics.diagnostics(),
    }
