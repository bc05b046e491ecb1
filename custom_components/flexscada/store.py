"""What a Q5 leaves on disk (`.storage/flexscada.<uid>`), and reading it back.

Everything the device told us (its config, the newest readings, when it last uploaded) and the
commands still to send are persisted, so entities exist with their last values straight after a
restart and a queued command survives one.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
import math
from typing import Any, NotRequired, Protocol, TypedDict

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .commands import CommandQueue, StoredQueue
from .config_push import ConfigPush, StoredPendingConfig
from .const import DOMAIN, LOGGER
from .freshness import Freshness, StoredFreshness
from .protocol import (
    DeviceConfig,
    Layout,
    MeasurementMeta,
    Q5ProtocolError,
    compile_layout,
    parse_config,
)

STORAGE_VERSION = 1

type MeasuredValue = float | bool


def device_store(hass: HomeAssistant, uid: int) -> Store[StoredDevice]:
    """Return the store of one device (`.storage/flexscada.<uid>`)."""
    return Store(hass, STORAGE_VERSION, f"{DOMAIN}.{uid}")


class StoredDevice(TypedDict):
    """What is persisted per device (`.storage/flexscada.<uid>`)."""

    config: dict[str, Any] | None
    values: dict[str, MeasuredValue | None]
    latest_timestamp: int | None
    last_upload: str | None
    meta: dict[str, int] | None
    rows_in_last_upload: int
    rows_total: int
    commands: StoredQueue | None
    # Absent in stores written before per-row freshness.
    freshness: NotRequired[StoredFreshness]
    # Absent in stores written before config pushes; None when nothing is pending.
    pending_config: NotRequired[StoredPendingConfig | None]


class PersistedDevice(Protocol):
    """The part of a device runtime that is persisted."""

    uid: int
    config: DeviceConfig | None
    layout: Layout | None
    values: dict[str, MeasuredValue]
    latest_timestamp: int | None
    last_upload: datetime | None
    last_meta: MeasurementMeta | None
    rows_in_last_upload: int
    rows_total: int
    commands: CommandQueue
    freshness: Freshness
    config_push: ConfigPush


def to_stored(device: PersistedDevice) -> StoredDevice:
    """Return what to persist of a device (JSON has no NaN: an unknown reading is None)."""
    return {
        "config": dict(device.config.raw) if device.config is not None else None,
        "values": {
            key: None if isinstance(value, float) and not math.isfinite(value) else value
            for key, value in device.values.items()
        },
        "latest_timestamp": device.latest_timestamp,
        "last_upload": device.last_upload.isoformat() if device.last_upload else None,
        "meta": asdict(device.last_meta) if device.last_meta is not None else None,
        "rows_in_last_upload": device.rows_in_last_upload,
        "rows_total": device.rows_total,
        "commands": device.commands.as_stored(),
        "freshness": device.freshness.as_stored(),
        "pending_config": device.config_push.as_stored(),
    }


def restore(device: PersistedDevice, stored: StoredDevice) -> None:
    """Put what a device last told us back into its runtime, before any upload arrives."""
    if stored["config"] is not None:
        try:
            config = parse_config(stored["config"])
            device.layout = compile_layout(config)
            device.config = config
        except Q5ProtocolError as err:  # a config we accepted once should parse again
            LOGGER.warning("Device %s: ignoring the stored config: %s", device.uid, err)
    device.values = {
        key: math.nan if value is None else value for key, value in stored["values"].items()
    }
    device.latest_timestamp = stored["latest_timestamp"]
    device.freshness = Freshness.from_stored(stored.get("freshness"), device.latest_timestamp)
    device.rows_in_last_upload = stored["rows_in_last_upload"]
    device.rows_total = stored["rows_total"]
    device.commands = CommandQueue.from_stored(device.uid, stored["commands"])
    device.config_push = ConfigPush.from_stored(device.uid, stored.get("pending_config"))
    if stored["meta"] is not None:
        device.last_meta = MeasurementMeta(**stored["meta"])
    if stored["last_upload"] is not None:
        device.last_upload = dt_util.parse_datetime(stored["last_upload"])
