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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
import logging
from typing import Any, TypedDict

from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMetaData,
)
from homeassistant.components.recorder.statistics import (
    UNIT_CLASS_TO_UNIT_CONVERTER,
    async_import_statistics,
    get_last_short_term_statistics,
    get_metadata,
)
from homeassistant.const import EVENT_RECORDER_HOURLY_STATISTICS_GENERATED, Platform
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.helpers.recorder import get_instance
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
import numpy as np
import numpy.typing as npt

from .const import DOMAIN
from .energy import (
    HOUR_SECONDS,
    EnergySensorSpec,
    energy_sensor_specs,
    integrate_power,
    measurement_interval,
)
from .entity_specs import metric_platform, metric_unique_id
from .metrics import float_measure
from .protocol import DecodedRows, DeviceConfig, FieldKind, Layout

_LOGGER = logging.getLogger(__name__)

STORAGE_VERSION = 1
#: How long per-hour aggregates are kept: rows for older hours are no longer merged.
WINDOW = timedelta(days=30)
#: Time-based fallback after an hour ends; the hourly-statistics event is the fast path.
#: HA queues the hour's compile at H+1h 00:10; a stalled loop can run us before that timer.
IMPORT_MARGIN = timedelta(minutes=5)
#: Hours per import job (the recorder writes one job in one transaction).
IMPORT_CHUNK_HOURS = 168

type HourAggregate = list[float]  # [count, sum, min, max]


def statistics_store(hass: HomeAssistant, uid: int) -> Store[StoredStatistics]:
    """Return the statistics store of one device (`.storage/flexscada.<uid>.statistics`)."""
    return Store(hass, STORAGE_VERSION, f"{DOMAIN}.{uid}.statistics")


class StoredStatistics(TypedDict):
    """What is persisted: per-hour aggregates, energy counters, and the import bookkeeping."""

    # unique id -> [[hour, count, sum, min, max], ...]
    means: dict[str, list[list[float]]]
    # unique id -> [[hour, kWh], ...]
    energy: dict[str, list[list[float]]]
    totals: dict[str, float]
    pending: list[int]
    deferred: dict[str, list[int]]
    written: list[int]
    last_import: str | None


@dataclass(frozen=True, slots=True)
class MeanSource:
    """A measurement sensor whose hourly mean/min/max come from the rows of one field."""

    unique_id: str
    key: str
    unit: str | None


@dataclass(frozen=True, slots=True)
class StatisticSources:
    """What the rows of the current device config feed."""

    means: tuple[MeanSource, ...]
    energy: tuple[EnergySensorSpec, ...]
    interval: int


def statistic_sources(
    uid: int, config: DeviceConfig | None, layout: Layout | None
) -> StatisticSources:
    """Return the sensors whose statistics the rows feed: every float metric sensor, energy."""
    if config is None or layout is None:
        return StatisticSources((), (), measurement_interval(config))
    channels = {(channel.section, channel.key): channel for channel in config.channels}
    means = tuple(
        MeanSource(
            metric_unique_id(uid, field),
            field.key,
            float_measure(field, channels[field.section, field.channel_key]).unit,
        )
        for field in layout.fields
        # Exactly the metrics shown as measurement sensors (mfeed floats are numbers).
        if field.kind is FieldKind.FLOAT and metric_platform(field) is Platform.SENSOR
    )
    return StatisticSources(
        means, tuple(energy_sensor_specs(uid, config, layout)), measurement_interval(config)
    )


@dataclass(frozen=True, slots=True)
class HourlyColumns:
    """Per-hour aggregates of one upload, one column per field (NaN/inf rows left out)."""

    hours: npt.NDArray[np.int64]
    count: npt.NDArray[np.int64]  # (hours, fields)
    sum: npt.NDArray[np.float64]
    min: npt.NDArray[np.float64]
    max: npt.NDArray[np.float64]


def aggregate_hours(timestamps: npt.NDArray[np.int64], values: npt.NDArray[Any]) -> HourlyColumns:
    """Group rows (ascending timestamps) by UTC hour: count, sum, min, max per column."""
    hours = timestamps - timestamps % HOUR_SECONDS
    starts = np.flatnonzero(np.r_[len(hours) > 0, hours[1:] != hours[:-1]])
    if not len(starts):  # reduceat needs at least one group
        empty = np.empty((0, values.shape[1]))
        return HourlyColumns(hours[:0], empty.astype(np.int64), empty, empty, empty)
    matrix = values.astype(np.float64)
    finite = np.isfinite(matrix)
    missing = np.where(finite, matrix, np.nan)
    with np.errstate(invalid="ignore"):  # all-NaN hours of a column: count 0, never read
        return HourlyColumns(
            hours=hours[starts],
            count=np.add.reduceat(finite.astype(np.int64), starts, axis=0),
            sum=np.add.reduceat(np.where(finite, matrix, 0.0), starts, axis=0),
            min=np.fmin.reduceat(missing, starts, axis=0),
            max=np.fmax.reduceat(missing, starts, axis=0),
        )


def _merge(
    aggregate: HourAggregate | None, count: int, total: float, low: float, high: float
) -> HourAggregate:
    if aggregate is None:
        return [count, total, low, high]
    return [
        aggregate[0] + count,
        aggregate[1] + total,
        min(aggregate[2], low),
        max(aggregate[3], high),
    ]


@dataclass(slots=True)
class _Target:
    """A statistic to write in an import pass, with the metadata HA stored for it."""

    statistic_id: str
    metadata: StatisticMetaData
    convert: Callable[[float], float]
    rows: list[StatisticData]


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
        self._means: dict[str, dict[int, HourAggregate]] = {}
        self._energy: dict[str, dict[int, float]] = {}
        self._totals: dict[str, float] = {}
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
        self._means = {
            unique_id: {int(row[0]): row[1:] for row in rows}
            for unique_id, rows in stored["means"].items()
        }
        self._energy = {
            unique_id: {int(hour): kwh for hour, kwh in rows}
            for unique_id, rows in stored["energy"].items()
        }
        self._totals = dict(stored["totals"])
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
        return self._totals.get(unique_id)

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
                self._aggregate, rows, sources, now, new
            )
            # The bookkeeping sets change only here on the loop: the executor only reads them.
            self._pending |= touched
            self._forget_hours_before(now - now % HOUR_SECONDS - int(WINDOW.total_seconds()))
            data = await self.hass.async_add_executor_job(self._stored_data)
            await self._store.async_save(data)
        self.async_schedule_import()

    def _aggregate(
        self,
        rows: DecodedRows,
        sources: StatisticSources,
        now: int,
        new: npt.NDArray[np.bool_] | None,
    ) -> set[int]:
        """Merge rows into the hourly aggregates and counters (executor, under the lock).

        Return the hours whose statistics changed.
        """
        if new is not None:
            rows = DecodedRows(rows.layout, rows.timestamps[new], rows.floats[new], rows.bits[new])
        timestamps = rows.timestamps.astype(np.int64)
        order: npt.NDArray[np.intp] | slice = slice(None)
        if len(timestamps) > 1 and bool(np.any(np.diff(timestamps) < 0)):
            order = np.argsort(timestamps, kind="stable")
        timestamps = timestamps[order]
        oldest = now - now % HOUR_SECONDS - int(WINDOW.total_seconds())
        keep = timestamps >= oldest
        touched: set[int] = set()
        if sources.means:
            columns = np.column_stack([rows.column(source.key) for source in sources.means])[order]
            hourly = aggregate_hours(timestamps[keep], columns[keep])
            hours = hourly.hours.tolist()
            touched.update(hours)
            counts, sums = hourly.count.T.tolist(), hourly.sum.T.tolist()
            lows, highs = hourly.min.T.tolist(), hourly.max.T.tolist()
            for index, source in enumerate(sources.means):
                per_hour = self._means.setdefault(source.unique_id, {})
                for hour, count, total, low, high in zip(
                    hours, counts[index], sums[index], lows[index], highs[index], strict=True
                ):
                    if count:
                        per_hour[hour] = _merge(per_hour.get(hour), count, total, low, high)
        for spec in sources.energy:
            power = rows.column(spec.power_key)[order]
            energy = integrate_power(timestamps, power, sources.interval, spec.kwh_per_unit_second)
            kwh = energy.returned if spec.returned else energy.used
            self._totals[spec.unique_id] = self._totals.get(spec.unique_id, 0.0) + float(kwh.sum())
            per_hour_kwh = self._energy.setdefault(spec.unique_id, {})
            for hour, value in zip(energy.hours.tolist(), kwh.tolist(), strict=True):
                if hour >= oldest:
                    per_hour_kwh[hour] = per_hour_kwh.get(hour, 0.0) + value
            if len(energy.hours):
                # Energy added to an hour raises the counter of every later hour too.
                first = int(energy.hours[0])
                touched.update(hour for hour in per_hour_kwh if hour >= max(first, oldest))
        self._drop_aggregates_before(oldest)
        return touched

    def _drop_aggregates_before(self, oldest: int) -> None:
        """Forget aggregates of hours that left the window (executor, under the lock)."""
        for per_hour_means in self._means.values():
            for hour in [hour for hour in per_hour_means if hour < oldest]:
                del per_hour_means[hour]
        for per_hour_kwh in self._energy.values():
            for hour in [hour for hour in per_hour_kwh if hour < oldest]:
                del per_hour_kwh[hour]

    def _forget_hours_before(self, oldest: int) -> None:
        """Drop hours that left the window from the bookkeeping (on the loop)."""
        self._pending = {hour for hour in self._pending if hour >= oldest}
        for unique_id, hours in self._deferred.items():
            self._deferred[unique_id] = {hour for hour in hours if hour >= oldest}
        self._written = {hour for hour in self._written if hour >= oldest}

    def _stored_data(self) -> StoredStatistics:
        """Return the data to persist (executor, under the lock: a snapshot)."""
        return {
            "means": {
                unique_id: [[hour, *aggregate] for hour, aggregate in sorted(per_hour.items())]
                for unique_id, per_hour in self._means.items()
            },
            "energy": {
                unique_id: [[hour, kwh] for hour, kwh in sorted(per_hour.items())]
                for unique_id, per_hour in self._energy.items()
            },
            "totals": dict(self._totals),
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
        targets, eligible = await self._async_targets()
        async with self._lock:
            offsets = await self._async_energy_offsets(targets)
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
                self._build_rows, targets, offsets, hours
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

    async def _async_targets(self) -> tuple[dict[str, _Target], list[str]]:
        """Return the statistics HA knows, by unique id, and every enabled recorded sensor."""
        registry = er.async_get(self.hass)
        instance = get_instance(self.hass)
        entity_filter = instance.entity_filter
        native_units: dict[str, str | None] = {
            source.unique_id: source.unit for source in self.sources.means
        }
        native_units |= {spec.unique_id: "kWh" for spec in self.sources.energy}
        entity_ids: dict[str, str] = {}
        for unique_id in native_units:
            entity_id = registry.async_get_entity_id(Platform.SENSOR, DOMAIN, unique_id)
            if entity_id is None:
                continue
            entry = registry.async_get(entity_id)
            if entry is None or entry.disabled:
                continue  # disabled entities get no statistics
            if entity_filter is not None and not entity_filter(entity_id):
                continue  # excluded from the recorder
            entity_ids[unique_id] = entity_id
        if not entity_ids:
            return {}, []
        stored = await instance.async_add_executor_job(
            lambda: get_metadata(self.hass, statistic_ids=set(entity_ids.values()))
        )
        targets: dict[str, _Target] = {}
        for unique_id, entity_id in entity_ids.items():
            if entity_id not in stored:
                continue  # HA has not compiled this entity yet: its unit is not settled
            meta = stored[entity_id][1]
            convert = _converter(native_units[unique_id], meta)
            if convert is None:
                continue
            # Exactly what the sensor platform writes; only the values are ours.
            metadata = StatisticMetaData(
                mean_type=meta["mean_type"],
                has_sum=meta["has_sum"],
                name=None,
                source="recorder",
                statistic_id=entity_id,
                unit_class=meta["unit_class"],
                unit_of_measurement=meta["unit_of_measurement"],
            )
            targets[unique_id] = _Target(entity_id, metadata, convert, [])
        return targets, list(entity_ids)

    async def _async_energy_offsets(self, targets: dict[str, _Target]) -> dict[str, float]:
        """Return `sum - state` of HA's newest 5-minute row per energy statistic.

        HA's own compile continues from that row; rows written with the same offset agree with
        it. A counter that HA first saw above zero is moved so that sum equals the counter:
        hours before HA's first row then never get a negative sum.
        """
        instance = get_instance(self.hass)
        offsets: dict[str, float] = {}
        for spec in self.sources.energy:
            if (target := targets.get(spec.unique_id)) is None:
                continue
            statistic_id = target.statistic_id
            newest = await instance.async_add_executor_job(
                get_last_short_term_statistics, self.hass, 1, statistic_id, False, {"state", "sum"}
            )
            if not (rows := newest.get(statistic_id)):
                continue  # HA has not set its zero point yet: no energy rows this pass
            state, total = rows[0].get("state"), rows[0].get("sum")
            if state is None or total is None:
                continue
            offset = total - state
            if offset < 0:
                instance.async_adjust_statistics(
                    statistic_id,
                    dt_util.utc_from_timestamp(0),
                    -offset,
                    target.metadata["unit_of_measurement"] or "kWh",
                )
                offset = 0.0
            offsets[spec.unique_id] = offset
        return offsets

    def _build_rows(
        self, targets: dict[str, _Target], offsets: dict[str, float], hours: dict[str, list[int]]
    ) -> list[_Target]:
        """Fill each target's statistics rows for its hours (executor, under the lock)."""
        built: list[_Target] = []
        for source in self.sources.means:
            if (target := targets.get(source.unique_id)) is None:
                continue
            per_hour = self._means.get(source.unique_id, {})
            convert = target.convert
            for hour in hours.get(source.unique_id, ()):
                if (aggregate := per_hour.get(hour)) is None:
                    continue
                count, total, low, high = aggregate
                target.rows.append(
                    StatisticData(
                        start=dt_util.utc_from_timestamp(hour),
                        mean=convert(total / count),
                        min=convert(low),
                        max=convert(high),
                    )
                )
            if target.rows:
                built.append(target)
        for spec in self.sources.energy:
            target = targets.get(spec.unique_id)
            if target is None or (offset := offsets.get(spec.unique_id)) is None:
                continue
            per_hour_kwh = self._energy.get(spec.unique_id, {})
            for hour, state in _counter_at_hour_ends(
                per_hour_kwh, self._totals.get(spec.unique_id, 0.0), hours.get(spec.unique_id, ())
            ):
                value = target.convert(state)
                target.rows.append(
                    StatisticData(
                        start=dt_util.utc_from_timestamp(hour),
                        state=value,
                        sum=value + offset,
                    )
                )
            if target.rows:
                built.append(target)
        return built

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
                spec.unique_id: self._totals.get(spec.unique_id) for spec in self.sources.energy
            },
        }


def _iso(hour: int) -> str:
    return dt_util.utc_from_timestamp(hour).isoformat()


def _counter_at_hour_ends(
    per_hour_kwh: dict[int, float], total: float, hours: Iterable[int]
) -> list[tuple[int, float]]:
    """Return the counter at the end of each of `hours` that has energy rows.

    The counter now is `total`; at the end of hour H it was `total` minus the energy of every
    later hour. Late rows for an old hour raise the total and that hour alike, so every earlier
    hour keeps its value and every later one moves up with the counter.
    """
    wanted = set(hours)
    result: list[tuple[int, float]] = []
    later = 0.0
    for hour in sorted(per_hour_kwh, reverse=True):
        if hour in wanted:
            result.append((hour, max(total - later, 0.0)))
        later += per_hour_kwh[hour]
    result.reverse()
    return result


def _converter(native_unit: str | None, meta: StatisticMetaData) -> Callable[[float], float] | None:
    """Return how to turn native values into the unit HA stored, None if it cannot be done."""
    stored_unit = meta["unit_of_measurement"]
    if stored_unit == native_unit:
        return float
    converter = UNIT_CLASS_TO_UNIT_CONVERTER.get(meta["unit_class"])
    if (
        converter is None
        or native_unit not in converter.VALID_UNITS
        or stored_unit not in converter.VALID_UNITS
    ):
        _LOGGER.debug(
            "Statistic %s is stored in %s, rows are in %s: not imported",
            meta["statistic_id"],
            stored_unit,
            native_unit,
        )
        return None
    return converter.converter_factory(native_unit, stored_unit)
