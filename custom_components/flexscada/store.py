"""What a Q5 leaves on disk (`.storage/flexscada.<uid>`), and reading it back.

Everything the device told us (its config, the newest readings, when it last uploaded) and the
commands still to send are persisted, so entities exist with their last values straight after a
restart and a queued command survives one.

A store is written through `DeviceStore`: a failed write is seen by the caller (Home Assistant's
`Store` only logs it), so nothing is acknowledged that did not reach the disk. A store that
cannot be used (a missing key, a wrong type, an unknown version) is set aside with one warning
and the device starts empty: its next upload is answered 409 and it sends its config again.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import asdict
from datetime import datetime
import math
from typing import Any, NotRequired, Protocol, TypedDict

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, UnsupportedStorageVersionError
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .checked_store import (
    CheckedStore,
    DamagedStoreError,
    StoreClosedError,
)
from .commands import CommandQueue, StoredQueue
from .const import DOMAIN, LOGGER, STORE_SAVE_DELAY
from .freshness import Freshness, StoredFreshness
from .pending_config import ConfigPush, StoredPendingConfig
from .protocol import (
    DeviceConfig,
    Layout,
    MeasurementMeta,
    Q5ProtocolError,
    compile_layout,
    parse_config,
)
from .store_shape import check_shape

STORAGE_VERSION = 1

type MeasuredValue = float | bool


def store_keys(uid: int) -> list[str]:
    """Return the key of every store a device leaves (`.storage/<key>`): removal deletes them.

    The device's own store, and its statistics' small store (energy counters, bookkeeping); the
    statistics' day stores are listed in the latter (`async_remove_stores` removes them too).
    """
    return [f"{DOMAIN}.{uid}", statistics_store_key(uid)]


def statistics_store_key(uid: int) -> str:
    """Return the key of a device's statistics store (`.storage/flexscada.<uid>.statistics`)."""
    return f"{DOMAIN}.{uid}.statistics"


def statistics_day_store_key(uid: int, day: int) -> str:
    """Return the key of the store of one UTC day of a device's hours (`day`: its unix start)."""
    return f"{statistics_store_key(uid)}.{day}"


class DeviceStore(CheckedStore["StoredDevice"]):
    """The store of one device (`.storage/flexscada.<uid>`), closed when its entry unloads."""

    def __init__(self, hass: HomeAssistant, uid: int) -> None:
        """Initialize the store of device `uid`."""
        super().__init__(hass, STORAGE_VERSION, store_keys(uid)[0], uid)
        #: Set when the entry unloads, before its last write: no save of this runtime follows.
        self.closed = False

    def raise_if_closed(self) -> None:
        """Raise StoreClosedError once the entry unloads."""
        if self.closed:
            raise StoreClosedError

    async def async_save_now(self, data: Callable[[], StoredDevice]) -> None:
        """Save now, for a 200: raise StoreClosedError if closed (before or after the write)."""
        self.raise_if_closed()
        await self.async_save_or_raise(data())
        self.raise_if_closed()

    async def async_save_soon(self, data: Callable[[], StoredDevice]) -> None:
        """Save later; but now (for a 200) while the last write failed: what it held waits."""
        if self.write_error is None:
            self.async_save_later(data)
        else:
            await self.async_save_now(data)

    def async_save_later(self, data: Callable[[], StoredDevice]) -> None:
        """Save soon (bookkeeping that needs no 200); nothing once closed."""
        if not self.closed:
            self.async_delay_save(data, STORE_SAVE_DELAY)

    async def _async_migrate_func(
        self, old_major_version: int, old_minor_version: int, old_data: dict[str, Any]
    ) -> StoredDevice:
        """Read a store of another version: a newer minor version only adds keys."""
        if old_major_version == STORAGE_VERSION:
            return old_data  # type: ignore[return-value]
        raise DamagedStoreError(f"storage version {old_major_version} has no migration")


async def async_remove_stores(hass: HomeAssistant, uid: int) -> None:
    """Delete every store of a removed device, with the day stores its statistics list."""
    days: object = None
    with suppress(HomeAssistantError, NotImplementedError):  # another version: no days known
        stored = await Store[Any](hass, STORAGE_VERSION, statistics_store_key(uid)).async_load()
        days = stored.get("days") if isinstance(stored, dict) else None
    day_keys = [
        statistics_day_store_key(uid, day)
        for day in (days if isinstance(days, list) else [])
        if isinstance(day, int)
    ]
    for key in store_keys(uid) + day_keys:
        await Store[Any](hass, STORAGE_VERSION, key).async_remove()


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


async def async_restore(device: PersistedDevice, store: DeviceStore) -> None:
    """Load the device's store into its runtime; set an unusable store aside."""
    try:
        if (stored := await store.async_load()) is not None:
            restore(device, stored)
    except (DamagedStoreError, UnsupportedStorageVersionError) as err:
        await store.async_set_aside(err)
    except (KeyError, TypeError, ValueError) as err:  # the envelope around the data is broken
        await store.async_set_aside(DamagedStoreError(f"{type(err).__name__}: {err}"))


def restore(device: PersistedDevice, stored: StoredDevice) -> None:
    """Put what a device last told us back into its runtime, before any upload arrives.

    Raises DamagedStoreError, changing nothing, when the stored data has not the shape
    `to_stored` writes.
    """
    try:
        check_shape(stored)
        freshness = Freshness.from_stored(stored.get("freshness"), stored["latest_timestamp"])
        commands = CommandQueue.from_stored(device.uid, stored["commands"])
        meta = MeasurementMeta(**stored["meta"]) if stored["meta"] is not None else None
        config_push = ConfigPush.from_stored(device.uid, stored.get("pending_config"))
    except (KeyError, TypeError, ValueError) as err:
        raise DamagedStoreError(f"{type(err).__name__}: {err}") from err
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
    device.freshness = freshness
    device.rows_in_last_upload = stored["rows_in_last_upload"]
    device.rows_total = stored["rows_total"]
    device.commands = commands
    device.last_meta = meta
    device.config_push = config_push
    if stored["last_upload"] is not None:
        device.last_upload = dt_util.parse_datetime(stored["last_upload"])
