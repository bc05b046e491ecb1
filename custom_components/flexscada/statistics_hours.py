"""What the rows of each UTC hour add up to: per-hour aggregates and energy, persisted.

Per measurement sensor and UTC hour: the count, sum, min and max of every row the device
measured; per energy counter: the kWh of each hour and the counter itself. Kept for a window of
30 days in `.storage/flexscada.<uid>.statistics`, so rows that arrive late for an hour are
merged with the ones it already had (statistics_store.py: one store per UTC day). Free of the
recorder: statistics.py writes these hours.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NotRequired, TypedDict

from homeassistant.const import Platform
import numpy as np
import numpy.typing as npt

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

#: How long per-hour aggregates are kept: rows for older hours are no longer merged.
WINDOW = timedelta(days=30)

type HourAggregate = list[float]  # [count, sum, min, max]
DAY_SECONDS = 86_400


def day_of(hour: int) -> int:
    """Return the unix start of the UTC day an hour lies in."""
    return hour - hour % DAY_SECONDS


class StoredDay(TypedDict):
    """The per-hour aggregates of one UTC day as persisted (statistics_store.py)."""

    # unique id -> [[hour, count, sum, min, max], ...]
    means: dict[str, list[list[float]]]
    # unique id -> [[hour, kWh], ...]
    energy: dict[str, list[list[float]]]


class StoredAggregates(StoredDay):
    """The counters as persisted; stores written before the day stores hold every hour too."""

    totals: dict[str, float]
    # unique id -> timestamp of the newest row integrated; absent in older stores.
    last_integrated: NotRequired[dict[str, int]]


class StoredStatistics(StoredAggregates):
    """What is persisted: the aggregates, and the import bookkeeping (statistics.py)."""

    pending: list[int]
    deferred: dict[str, list[int]]
    written: list[int]
    last_import: str | None
    # The UTC days whose hours are in their own store (statistics_store.py); absent in stores
    # written before the split, which hold every hour in `means` and `energy`.
    days: NotRequired[list[int]]


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


class HourlyAggregates:
    """The per-hour aggregates and energy counters of one device (no bookkeeping of imports)."""

    def __init__(self) -> None:
        """Initialize, empty."""
        # unique id -> hour (unix start) -> [count, sum, min, max]
        self.means: dict[str, dict[int, HourAggregate]] = {}
        # unique id -> hour -> kWh used in it; unique id -> counter (kWh)
        self.energy: dict[str, dict[int, float]] = {}
        self.totals: dict[str, float] = {}
        # unique id -> timestamp of the newest row integrated (the next upload continues there)
        self.last_integrated: dict[str, int] = {}
        # UTC days whose hours changed since their store was saved.
        self.dirty_days: set[int] = set()

    def restore(self, stored: StoredStatistics) -> None:
        """Take what was persisted."""
        self.means = {
            unique_id: {int(row[0]): row[1:] for row in rows}
            for unique_id, rows in stored["means"].items()
        }
        self.energy = {
            unique_id: {int(hour): kwh for hour, kwh in rows}
            for unique_id, rows in stored["energy"].items()
        }
        self.totals = dict(stored["totals"])
        self.last_integrated = {
            unique_id: int(ts) for unique_id, ts in stored.get("last_integrated", {}).items()
        }
        if "days" not in stored:  # written before the split: each day gets its own store
            self.dirty_days = self.days()

    def days(self) -> set[int]:
        """Return the UTC days that have hours."""
        days = {day_of(hour) for per_hour in self.means.values() for hour in per_hour}
        return days | {day_of(hour) for per_hour in self.energy.values() for hour in per_hour}

    def as_stored(self) -> StoredAggregates:
        """Return the counters, to persist (a snapshot; the hours are in the days' stores)."""
        return {
            "means": {},
            "energy": {},
            "totals": dict(self.totals),
            "last_integrated": dict(self.last_integrated),
        }

    def add(
        self,
        rows: DecodedRows,
        sources: StatisticSources,
        now: int,
        new: npt.NDArray[np.bool_] | None,
    ) -> set[int]:
        """Merge rows into the hourly aggregates and counters (in the executor).

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
                per_hour = self.means.setdefault(source.unique_id, {})
                for hour, count, total, low, high in zip(
                    hours, counts[index], sums[index], lows[index], highs[index], strict=True
                ):
                    if count:
                        per_hour[hour] = _merge(per_hour.get(hour), count, total, low, high)
                        self.dirty_days.add(day_of(hour))
        for spec in sources.energy:
            power = rows.column(spec.power_key)[order]
            previous = self.last_integrated.get(spec.unique_id)
            energy = integrate_power(
                timestamps, power, sources.interval, spec.kwh_per_unit_second, previous
            )
            if len(timestamps):
                newest = int(timestamps[-1])
                self.last_integrated[spec.unique_id] = max(newest, previous or newest)
            kwh = energy.returned if spec.returned else energy.used
            self.totals[spec.unique_id] = self.totals.get(spec.unique_id, 0.0) + float(kwh.sum())
            per_hour_kwh = self.energy.setdefault(spec.unique_id, {})
            for hour, value in zip(energy.hours.tolist(), kwh.tolist(), strict=True):
                if hour >= oldest:
                    per_hour_kwh[hour] = per_hour_kwh.get(hour, 0.0) + value
                    self.dirty_days.add(day_of(hour))
            if len(energy.hours):
                # Energy added to an hour raises the counter of every later hour too.
                first = int(energy.hours[0])
                touched.update(hour for hour in per_hour_kwh if hour >= max(first, oldest))
        self.drop_before(oldest)
        return touched

    def drop_before(self, oldest: int) -> None:
        """Forget aggregates of hours that left the window."""
        for per_hour_means in self.means.values():
            for hour in [hour for hour in per_hour_means if hour < oldest]:
                del per_hour_means[hour]
                self.dirty_days.add(day_of(hour))
        for per_hour_kwh in self.energy.values():
            for hour in [hour for hour in per_hour_kwh if hour < oldest]:
                del per_hour_kwh[hour]
                self.dirty_days.add(day_of(hour))


def counter_at_hour_ends(
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
