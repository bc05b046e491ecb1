"""Every measured row into Home Assistant's long-term statistics, and the energy counters.

A Q5 uploads many rows at once; the entities show only the newest. This module keeps, per
sensor and UTC hour, the count, sum, min and max of all rows the device measured (and the energy
integrated from its power rows), persists them for a window of 30 days, and writes each complete
hour into the sensor's own hourly statistics with `async_import_statistics`.

The one rule that keeps the recorder healthy (see the recorder study): an hour is imported only
after Home Assistant compiled it itself. Importing the hour in progress makes HA's own compile hit
the unique index later; that whole compile is rolled back and every entity of the installation
loses the period. So an hour is written once the hourly-statistics event for it arrived, or a
safe margin after it ended, and never while it is in progress. Imports are upserts: rows that
arrive later for a written hour mark it pending again and it is rewritten with all its rows.
Energy rows follow `sum = state + offset` (statistics_import.py).
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from datetime import datetime
import logging
from typing import Any

from homeassistant.components.recorder.statistics import async_import_statistics
from homeassistant.const import EVENT_RECORDER_HOURLY_STATISTICS_GENERATED
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util
import numpy as np
import numpy.typing as npt

from .checked_store import StoreWriteError
from .const import DOMAIN
from .energy import HOUR_SECONDS
from .logs import ThrottledLogger
from .protocol import DecodedRows, DeviceConfig, Layout
from .statistics_hours import (
    WINDOW,
    HourlyAggregates,
    StoredDay,
    StoredStatistics,
    statistic_sources,
)
from .statistics_import import (
    async_energy_offsets,
    async_import_targets,
    build_rows,
    writable_ids,
)
from .statistics_ledger import ImportLedger
from .statistics_store import (
    async_load,
    async_save_days,
    day_as_stored,
    statistics_store,
)

_LOGGER = logging.getLogger(__name__)

#: Uploads of up to this many rows are aggregated on the loop (well under a millisecond);
#: a backlog goes to the executor, so the loop never stalls on it.
INLINE_AGGREGATE_ROWS = 64
#: Hours per import job (the recorder writes one job in one transaction).
IMPORT_CHUNK_HOURS = 168


class DeviceStatistics:
    """The per-hour aggregates and energy counters of one device, and their import.

    Interface for the upload pipeline:
    - `async_load()` once before the first upload, `async_start()` once the entry is set up,
      `async_stop()` on unload;
    - `async_set_sources(config, layout)` whenever the device config changes;
    - `await async_add_rows(rows, new=..., timestamps=...)` with every processed upload's rows,
      its mask of new rows and their (re-stamped) timestamps, before answering 200: it returns
      once the aggregates are persisted. The import follows by itself;
    - the energy sensors read `energy_total(unique_id)` after the device's "updated".
    """

    def __init__(self, hass: HomeAssistant, uid: int) -> None:
        """Initialize, empty; `async_load` restores the persisted state."""
        self.hass = hass
        self.uid = uid
        self._store = statistics_store(hass, uid)
        self.sources = statistic_sources(uid, None, None)
        self.aggregates = HourlyAggregates()
        self.ledger = ImportLedger()
        # Guards the aggregates and the ledger while executor jobs read or change them.
        self._lock = asyncio.Lock()
        self._unsubscribe: list[CALLBACK_TYPE] = []
        self._timer: CALLBACK_TYPE | None = None
        self._import_task: asyncio.Task[None] | None = None
        self._import_again = False
        self._retry_deferred = False
        # Statistic id -> start of the 5-minute row whose negative offset was corrected.
        self._corrected: dict[str, float] = {}
        self._problems = ThrottledLogger(_LOGGER)

    # -- life cycle -------------------------------------------------------------------------

    async def async_load(self) -> None:
        """Restore aggregates, counters and pending hours; set unusable stores aside."""
        self.aggregates, self.ledger = await async_load(self._store)

    @callback
    def async_set_sources(self, config: DeviceConfig | None, layout: Layout | None) -> None:
        """Follow the device config: which fields feed which statistics."""
        self.sources = statistic_sources(self.uid, config, layout)

    @callback
    def async_start(self) -> None:
        """Import pending hours whenever HA compiled an hour, and now if any is ready."""
        if not self._recorder_loaded():
            return  # no recorder: the aggregates are still kept, nothing is imported

        @callback
        def hour_compiled(_event: Event) -> None:
            self.ledger.hour_compiled(int(dt_util.utcnow().timestamp()))
            self.async_schedule_import()

        self._unsubscribe.append(
            self.hass.bus.async_listen(EVENT_RECORDER_HOURLY_STATISTICS_GENERATED, hour_compiled)
        )
        self.async_schedule_import()

    @callback
    def async_stop(self) -> None:
        """Stop listening and importing; persisted state stays for the next start."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        if self._timer is not None:
            self._timer()
            self._timer = None
        if self._import_task is not None:
            self._import_task.cancel()
            self._import_task = None

    # -- energy counters --------------------------------------------------------------------

    def energy_total(self, unique_id: str) -> float | None:
        """Return a counter's kWh, None before any row was integrated."""
        return self.aggregates.totals.get(unique_id)

    # -- rows in ----------------------------------------------------------------------------

    async def async_add_rows(
        self,
        rows: DecodedRows,
        *,
        new: npt.NDArray[np.bool_] | None = None,
        timestamps: npt.NDArray[np.int64] | None = None,
    ) -> None:
        """Aggregate rows (a backlog in the executor) and persist; return once they are durable.

        `new` selects the rows not seen before (a retransmitted upload repeats rows); every
        row counts when it is None. `timestamps` replace the rows' own (the pipeline re-stamps
        the rows of a device whose clock was unset). Rows must not be handed over twice.
        """
        if timestamps is not None:
            rows = DecodedRows(rows.layout, timestamps.astype(np.uint32), rows.floats, rows.bits)
        if not len(rows) or not (self.sources.means or self.sources.energy):
            return
        if new is not None and not new.any():
            return
        async with self._lock:
            sources = self.sources
            keys = [source.key for source in sources.means]
            if not all(key in rows.layout for key in keys + [e.power_key for e in sources.energy]):
                return  # rows of another config than the sources (cannot happen via the runtime)
            now = int(dt_util.utcnow().timestamp())
            if len(rows) <= INLINE_AGGREGATE_ROWS:  # the usual upload: cheaper than a hop
                touched = self.aggregates.add(rows, sources, now, new)
            else:
                touched = await self.hass.async_add_executor_job(
                    self.aggregates.add, rows, sources, now, new
                )
            # The ledger changes only on the loop: the executor only reads it.
            self.ledger.pending |= touched
            self.ledger.forget_hours_before(now - now % HOUR_SECONDS - int(WINDOW.total_seconds()))
            # Raises StoreWriteError when it did not reach the disk: the upload gets 503.
            await self._async_save()
        if any(hour + HOUR_SECONDS <= now for hour in touched):
            # Rows for an hour that is over: write it (once HA compiled it).
            self.async_schedule_import(retry_deferred=False)
        elif self._unsubscribe:
            # Only hours in progress: their time comes with the compile event or the timer.
            self._schedule_timer(self.ledger.ready_hours(dt_util.utcnow())[1])

    async def async_save_or_raise(self) -> None:
        """Save the aggregates now; StoreWriteError if they did not reach the disk."""
        async with self._lock:
            await self._async_save()

    async def _async_save(self) -> None:
        """Save the changed days, then the small store (under the lock); or StoreWriteError."""
        data, days = await self.hass.async_add_executor_job(self._stored_data)
        await async_save_days(self.hass, self.uid, days)
        await self._store.async_save_or_raise(data)
        self.aggregates.dirty_days.difference_update(days)

    def _stored_data(self) -> tuple[StoredStatistics, dict[int, StoredDay | None]]:
        """Return the data to persist (executor, under the lock: a snapshot)."""
        aggregates = self.aggregates
        days = {day: day_as_stored(aggregates, day) for day in aggregates.dirty_days}
        return self.ledger.as_stored(aggregates.as_stored(), sorted(aggregates.days())), days

    # -- import -----------------------------------------------------------------------------

    def _recorder_loaded(self) -> bool:
        return "recorder" in self.hass.config.components

    @callback
    def async_schedule_import(self, *, retry_deferred: bool = True) -> None:
        """Run an import pass soon (one at a time; a request during a pass runs another).

        `retry_deferred`: also the hours of sensors that could not be written yet (not for
        uploads: only when HA compiled an hour, or on the timer).
        """
        if not self._recorder_loaded() or not self._unsubscribe:
            return  # not started, or no recorder
        self._retry_deferred |= retry_deferred
        if self._import_task is not None and not self._import_task.done():
            self._import_again = True
            return
        self._import_task = self.hass.async_create_background_task(
            self._async_import_loop(), f"{DOMAIN} {self.uid} statistics import"
        )

    async def _async_import_loop(self) -> None:
        self._import_again = True
        while self._import_again:
            self._import_again = False
            retry_deferred, self._retry_deferred = self._retry_deferred, False
            await self._async_import_pass(retry_deferred)

    async def _async_import_pass(self, retry_deferred: bool) -> None:
        """Write every pending hour HA has compiled; schedule the next pass."""
        instance = get_instance(self.hass)
        await instance.async_recorder_ready.wait()
        ready, next_due = self.ledger.ready_hours(dt_util.utcnow())
        self._schedule_timer(next_due)
        if not ready and not (retry_deferred and any(self.ledger.deferred.values())):
            return
        targets, eligible = await async_import_targets(self.hass, self.sources)
        async with self._lock:
            offsets = await async_energy_offsets(self.hass, self.sources, targets, self._corrected)
            writable = writable_ids(self.sources, targets, offsets)
            hours = self.ledger.hours_to_write(ready, eligible, writable)
            built = await self.hass.async_add_executor_job(
                build_rows, self.aggregates, self.sources, targets, offsets, hours
            )
            if not ready and not built:
                return  # no deferred hour could be written yet: nothing changed to save
            # Until the imports are queued, a restart must find these hours still pending.
            self.ledger.start_import(ready)
        try:
            for target in built:
                for start in range(0, len(target.rows), IMPORT_CHUNK_HOURS):
                    async_import_statistics(
                        self.hass, target.metadata, target.rows[start : start + IMPORT_CHUNK_HOURS]
                    )
                    await asyncio.sleep(0)  # one job at a time: the loop stays responsive
        except HomeAssistantError as err:
            async with self._lock:
                self.ledger.fail_import(ready, hours)
            self._problems.report(
                "import",
                "Device %s: could not import statistics (%s); tried again after the next hour",
                self.uid,
                err,
            )
            return
        async with self._lock:
            self.ledger.finish_import(ready)
            with suppress(StoreWriteError):  # logged by the store; the next save retries
                await self._async_save()
        _LOGGER.debug(
            "Device %s: imported %d hours into %d statistics", self.uid, len(ready), len(built)
        )

    def _schedule_timer(self, when: int | None) -> None:
        if self._timer is not None:
            self._timer()
            self._timer = None
        if when is None:
            return

        @callback
        def due(_now: datetime) -> None:
            self._timer = None
            self.async_schedule_import()

        self._timer = async_track_point_in_utc_time(
            self.hass, due, dt_util.utc_from_timestamp(when)
        )

    # -- diagnostics ------------------------------------------------------------------------

    def diagnostics(self) -> dict[str, Any]:
        """Return the import bookkeeping and the sources for the diagnostics download."""
        return {
            **self.ledger.diagnostics(),
            "recorder": self._recorder_loaded(),
            "measurement_statistics": len(self.sources.means),
            "energy_counters": {
                spec.unique_id: self.aggregates.totals.get(spec.unique_id)
                for spec in self.sources.energy
            },
        }
