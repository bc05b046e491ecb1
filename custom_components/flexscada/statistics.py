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

Energy statistics follow `sum = state + offset`, with the offset read from HA's newest 5-minute
row: HA's own compile continues from that row, so imported and compiled hours agree.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
import logging
from typing import Any

from homeassistant.components.recorder.statistics import async_import_statistics
from homeassistant.const import EVENT_RECORDER_HOURLY_STATISTICS_GENERATED
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util
import numpy as np
import numpy.typing as npt

from .const import DOMAIN
from .energy import HOUR_SECONDS, measurement_interval
from .protocol import DecodedRows, DeviceConfig, Layout
from .statistics_hours import (
    WINDOW,
    HourlyAggregates,
    StatisticSources,
    StoredStatistics,
    statistic_sources,
    statistics_store,
)
from .statistics_import import async_energy_offsets, async_import_targets, build_rows

_LOGGER = logging.getLogger(__name__)

#: Time-based fallback after an hour ends; the hourly-statistics event is the fast path.
#: HA queues the hour's compile at H+1h 00:10; a stalled loop can run us before that timer.
IMPORT_MARGIN = timedelta(minutes=5)
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
        self.sources = StatisticSources((), (), measurement_interval(None))
        self.aggregates = HourlyAggregates()
        self._pending: set[int] = set()
        self._written: set[int] = set()
        # Hours whose import is being queued right now (persisted as pending).
        self._in_flight: set[int] = set()
        # Per sensor: ready hours it could not get yet (HA had not compiled it once).
        self._deferred: dict[str, set[int]] = {}
        self.last_import: datetime | None = None
        # Guards the aggregates while executor jobs read or change them.
        self._lock = asyncio.Lock()
        self._compiled_through: int | None = None  # newest hour HA is known to have compiled
        self._unsubscribe: list[CALLBACK_TYPE] = []
        self._timer: CALLBACK_TYPE | None = None
        self._import_task: asyncio.Task[None] | None = None
        self._import_again = False

    # -- life cycle -------------------------------------------------------------------------

    async def async_load(self) -> None:
        """Restore aggregates, counters and pending hours."""
        stored = await self._store.async_load()
        if stored is None:
            return
        self.aggregates.restore(stored)
        self._pending = set(stored["pending"])
        self._deferred = {unique_id: set(hours) for unique_id, hours in stored["deferred"].items()}
        self._written = set(stored["written"])
        if stored["last_import"] is not None:
            self.last_import = dt_util.parse_datetime(stored["last_import"])

    @callback
    def async_set_sources(self, config: DeviceConfig | None, layout: Layout | None) -> None:
        """Follow the device config: which fields feed which statistics."""
        self.sources = statistic_sources(self.uid, config, layout)

    @property
    def _energy_ids(self) -> set[str]:
        return {spec.unique_id for spec in self.sources.energy}

    @callback
    def async_start(self) -> None:
        """Import pending hours whenever HA compiled an hour, and now if any is ready."""
        if not self._recorder_loaded():
            return  # no recorder: the aggregates are still kept, nothing is imported

        @callback
        def hour_compiled(_event: Event) -> None:
            now = int(dt_util.utcnow().timestamp())
            # The event fires from the compile of the hour that just ended.
            self._compiled_through = now - now % HOUR_SECONDS - HOUR_SECONDS
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
        """Aggregate rows (in the executor) and persist; return once they are durable.

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
            touched = await self.hass.async_add_executor_job(
                self.aggregates.add, rows, sources, now, new
            )
            # The bookkeeping sets change only here on the loop: the executor only reads them.
            self._pending |= touched
            self._forget_hours_before(now - now % HOUR_SECONDS - int(WINDOW.total_seconds()))
            data = await self.hass.async_add_executor_job(self._stored_data)
            # Raises StoreWriteError when it did not reach the disk: the upload gets 503.
            await self._store.async_save_or_raise(data)
        self.async_schedule_import()

    async def async_save_or_raise(self) -> None:
        """Save the aggregates now; StoreWriteError if they did not reach the disk."""
        async with self._lock:
            data = await self.hass.async_add_executor_job(self._stored_data)
            await self._store.async_save_or_raise(data)

    def _forget_hours_before(self, oldest: int) -> None:
        """Drop hours that left the window from the bookkeeping (on the loop)."""
        self._pending = {hour for hour in self._pending if hour >= oldest}
        for unique_id, hours in self._deferred.items():
            self._deferred[unique_id] = {hour for hour in hours if hour >= oldest}
        self._written = {hour for hour in self._written if hour >= oldest}

    def _stored_data(self) -> StoredStatistics:
        """Return the data to persist (executor, under the lock: a snapshot)."""
        return {
            **self.aggregates.as_stored(),
            "pending": sorted(self._pending | self._in_flight),
            "deferred": {
                unique_id: sorted(hours) for unique_id, hours in self._deferred.items() if hours
            },
            "written": sorted(self._written),
            "last_import": self.last_import.isoformat() if self.last_import else None,
        }

    # -- import -----------------------------------------------------------------------------

    def _recorder_loaded(self) -> bool:
        return "recorder" in self.hass.config.components

    @callback
    def async_schedule_import(self) -> None:
        """Run an import pass soon (one at a time; a request during a pass runs another)."""
        if not self._recorder_loaded() or not self._unsubscribe:
            return  # not started, or no recorder
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
            await self._async_import_pass()

    def _ready_hours(self, now: datetime) -> tuple[list[int], int | None]:
        """Return the pending hours HA has compiled, and when the next one will be."""
        now_ts = now.timestamp()
        margin = IMPORT_MARGIN.total_seconds()
        compiled = self._compiled_through
        ready, later = [], []
        for hour in self._pending:
            if hour + HOUR_SECONDS > now_ts:  # in progress or future: HA still has to compile it
                later.append(hour)
            elif hour + HOUR_SECONDS + margin <= now_ts or (
                compiled is not None and hour <= compiled
            ):
                ready.append(hour)
            else:
                later.append(hour)
        next_due = int(min(later) + HOUR_SECONDS + margin) if later else None
        return sorted(ready), next_due

    async def _async_import_pass(self) -> None:
        """Write every pending hour HA has compiled; schedule the next pass."""
        instance = get_instance(self.hass)
        await instance.async_recorder_ready.wait()
        ready, next_due = self._ready_hours(dt_util.utcnow())
        self._schedule_timer(next_due)
        if not ready and not any(self._deferred.values()):
            return
        targets, eligible = await async_import_targets(self.hass, self.sources)
        async with self._lock:
            offsets = await async_energy_offsets(self.hass, self.sources, targets)
            hours: dict[str, list[int]] = {}
            for unique_id in eligible:
                wanted = self._deferred.pop(unique_id, set()).union(ready)
                if unique_id in targets and (
                    unique_id in offsets or unique_id not in self._energy_ids
                ):
                    hours[unique_id] = sorted(wanted)
                elif wanted:
                    # Recorded, but HA has not compiled it yet (no unit, no zero point): later.
                    self._deferred[unique_id] = wanted
            built = await self.hass.async_add_executor_job(
                build_rows, self.aggregates, self.sources, targets, offsets, hours
            )
            # Until the imports are queued, a restart must find these hours still pending.
            self._pending.difference_update(ready)
            self._in_flight.update(ready)
        for target in built:
            for start in range(0, len(target.rows), IMPORT_CHUNK_HOURS):
                async_import_statistics(
                    self.hass, target.metadata, target.rows[start : start + IMPORT_CHUNK_HOURS]
                )
                await asyncio.sleep(0)  # one job at a time: the loop stays responsive
        async with self._lock:
            self._in_flight.clear()
            self._written.update(ready)
            self.last_import = dt_util.utcnow()
            data = await self.hass.async_add_executor_job(self._stored_data)
            await self._store.async_save(data)
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
        """Return the import bookkeeping for the diagnostics download."""
        return {
            "hours_pending": len(self._pending | self._in_flight),
            "hours_deferred": {
                unique_id: len(hours) for unique_id, hours in self._deferred.items() if hours
            },
            "oldest_pending": _iso(min(self._pending)) if self._pending else None,
            "hours_written": len(self._written),
            "newest_written": _iso(max(self._written)) if self._written else None,
            "last_import": self.last_import.isoformat() if self.last_import else None,
            "compiled_through": _iso(self._compiled_through)
            if self._compiled_through is not None
            else None,
            "recorder": self._recorder_loaded(),
            "measurement_statistics": len(self.sources.means),
            "energy_counters": {
                spec.unique_id: self.aggregates.totals.get(spec.unique_id)
                for spec in self.sources.energy
            },
        }


def _iso(hour: int) -> str:
    return dt_util.utc_from_timestamp(hour).isoformat()
