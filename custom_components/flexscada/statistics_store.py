"""Where a device's statistics live on disk: a small store, and one store per UTC day of hours.

`.storage/flexscada.<uid>.statistics` holds the import bookkeeping, the energy counters and the
list of days; `.storage/flexscada.<uid>.statistics.<day>` (`day`: the unix start of the UTC day)
the per-hour aggregates of that day. An upload rewrites the small store and the days whose hours
it changed, not the whole 30-day window (SD cards). A store written before the split (every hour
in the small store) still loads; its days get their own stores at the next save. The JSON of
both is encoded in the executor, not on the event loop.
"""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from .checked_store import CheckedStore, DamagedStoreError
from .statistics_hours import (
    DAY_SECONDS,
    WINDOW,
    HourlyAggregates,
    StoredDay,
    StoredStatistics,
    day_of,
)
from .statistics_ledger import ImportLedger
from .store import statistics_day_store_key, statistics_store_key

STORAGE_VERSION = 1


class StatisticsStore(CheckedStore["StoredStatistics"]):
    """The small statistics store of one device (`.storage/flexscada.<uid>.statistics`)."""

    set_aside_outcome = "its statistics start empty"

    def __init__(self, hass: HomeAssistant, uid: int) -> None:
        """Initialize the statistics store of device `uid`."""
        super().__init__(
            hass, STORAGE_VERSION, statistics_store_key(uid), uid, serialize_in_event_loop=False
        )

    async def _async_migrate_func(
        self, old_major_version: int, old_minor_version: int, old_data: dict[str, Any]
    ) -> StoredStatistics:
        """Read a newer minor version (it only adds keys); refuse another major version."""
        return _same_major(old_major_version, old_data)  # type: ignore[return-value]

    async def async_set_aside(self, reason: Exception) -> None:
        """Set the store aside, and the day stores it listed (they cannot be found again)."""
        await super().async_set_aside(reason)
        today = day_of(int(dt_util.utcnow().timestamp()))
        oldest = today - int(WINDOW.total_seconds()) - DAY_SECONDS
        for day in range(oldest, today + 2 * DAY_SECONDS, DAY_SECONDS):
            await DayStore(self.hass, self.uid, day).async_remove()


class DayStore(CheckedStore[StoredDay]):
    """The hours of one UTC day of a device (`.storage/flexscada.<uid>.statistics.<day>`)."""

    set_aside_outcome = "the statistics of that day start empty"

    def __init__(self, hass: HomeAssistant, uid: int, day: int) -> None:
        """Initialize the store of the day starting at `day` (unix) of device `uid`."""
        key = statistics_day_store_key(uid, day)
        super().__init__(hass, STORAGE_VERSION, key, uid, serialize_in_event_loop=False)

    async def _async_migrate_func(
        self, old_major_version: int, old_minor_version: int, old_data: dict[str, Any]
    ) -> StoredDay:
        """Read a newer minor version (it only adds keys); refuse another major version."""
        return _same_major(old_major_version, old_data)  # type: ignore[return-value]


def _same_major(old_major_version: int, old_data: dict[str, Any]) -> dict[str, Any]:
    if old_major_version == STORAGE_VERSION:
        return old_data
    raise DamagedStoreError(f"storage version {old_major_version} has no migration")


def statistics_store(hass: HomeAssistant, uid: int) -> StatisticsStore:
    """Return the small statistics store of one device."""
    return StatisticsStore(hass, uid)


async def async_load(
    store: StatisticsStore,
) -> tuple[HourlyAggregates, ImportLedger]:
    """Return the persisted aggregates and bookkeeping; unusable stores are set aside."""
    aggregates, ledger = HourlyAggregates(), ImportLedger()

    def restore(stored: StoredStatistics) -> None:
        restored, restored_ledger = HourlyAggregates(), ImportLedger()
        restored.restore(stored)
        restored_ledger.restore(stored)
        nonlocal aggregates, ledger
        aggregates, ledger = restored, restored_ledger

    stored = await store.async_load_or_set_aside(restore)
    for day in stored.get("days", []) if stored is not None else []:
        day_store = DayStore(store.hass, store.uid, int(day))
        await day_store.async_load_or_set_aside(lambda part: _restore_day(aggregates, part))
    return aggregates, ledger


def _restore_day(aggregates: HourlyAggregates, stored: StoredDay) -> None:
    """Take the hours of one UTC day's store (nothing if it is unusable)."""
    means = {uid: {int(row[0]): row[1:] for row in rows} for uid, rows in stored["means"].items()}
    energy = {uid: {int(h): kwh for h, kwh in rows} for uid, rows in stored["energy"].items()}
    for unique_id, per_hour in means.items():
        aggregates.means.setdefault(unique_id, {}).update(per_hour)
    for unique_id, per_hour_kwh in energy.items():
        aggregates.energy.setdefault(unique_id, {}).update(per_hour_kwh)


def day_as_stored(aggregates: HourlyAggregates, day: int) -> StoredDay | None:
    """Return the hours of one UTC day, to persist (a snapshot); None if it has none."""
    end = day + DAY_SECONDS
    stored: StoredDay = {"means": {}, "energy": {}}
    for unique_id, per_hour in aggregates.means.items():
        if rows := [[h, *agg] for h, agg in sorted(per_hour.items()) if day <= h < end]:
            stored["means"][unique_id] = rows
    for unique_id, per_hour_kwh in aggregates.energy.items():
        if rows := [[h, kwh] for h, kwh in sorted(per_hour_kwh.items()) if day <= h < end]:
            stored["energy"][unique_id] = rows
    return stored if stored["means"] or stored["energy"] else None


async def async_save_days(hass: HomeAssistant, uid: int, days: dict[int, StoredDay | None]) -> None:
    """Save (or, None, remove) the stores of these days; StoreWriteError if one failed."""
    for day, stored in days.items():
        day_store = DayStore(hass, uid, day)
        if stored is None:
            await day_store.async_remove()
        else:
            await day_store.async_save_or_raise(stored)
