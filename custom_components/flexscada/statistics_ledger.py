"""The import bookkeeping of a device's statistics: which hours wait, are queued, are written.

An hour is pending from its first row until its import is queued, in flight while it is being
queued (persisted as pending, so a restart imports it again), then written; rows arriving later
for a written hour make it pending again. A sensor HA has not compiled once yet (no unit, no
zero point) keeps the ready hours it could not get as deferred. `DeviceStatistics`
(statistics.py) owns one ledger and changes it on the loop only; executor jobs read it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime, timedelta
from typing import Any

from homeassistant.util import dt as dt_util

from .energy import HOUR_SECONDS
from .statistics_hours import StoredAggregates, StoredStatistics

#: Time-based fallback after an hour ends; the hourly-statistics event is the fast path.
#: HA queues the hour's compile at H+1h 00:10; a stalled loop can run us before that timer.
IMPORT_MARGIN = timedelta(minutes=5)


class ImportLedger:
    """Which hours of one device wait for their import, are being imported, or are written."""

    def __init__(self) -> None:
        """Initialize, empty; `restore` takes the persisted state."""
        self.pending: set[int] = set()
        self.written: set[int] = set()
        # Hours whose import is being queued right now (persisted as pending).
        self.in_flight: set[int] = set()
        # Per sensor: ready hours it could not get yet (HA had not compiled it once).
        self.deferred: dict[str, set[int]] = {}
        self.last_import: datetime | None = None
        self.compiled_through: int | None = None  # newest hour HA is known to have compiled

    def restore(self, stored: StoredStatistics) -> None:
        """Take the persisted pending, deferred and written hours, and the last import."""
        self.pending = set(stored["pending"])
        self.deferred = {unique_id: set(hours) for unique_id, hours in stored["deferred"].items()}
        self.written = set(stored["written"])
        if stored["last_import"] is not None:
            self.last_import = dt_util.parse_datetime(stored["last_import"])

    def as_stored(self, aggregates: StoredAggregates, days: list[int]) -> StoredStatistics:
        """Return the small store: the counters, the days and the bookkeeping (a snapshot)."""
        return {
            **aggregates,
            "days": days,
            "pending": sorted(self.pending | self.in_flight),
            "deferred": {
                unique_id: sorted(hours) for unique_id, hours in self.deferred.items() if hours
            },
            "written": sorted(self.written),
            "last_import": self.last_import.isoformat() if self.last_import else None,
        }

    def forget_hours_before(self, oldest: int) -> None:
        """Drop hours that left the window."""
        self.pending = {hour for hour in self.pending if hour >= oldest}
        for unique_id, hours in self.deferred.items():
            self.deferred[unique_id] = {hour for hour in hours if hour >= oldest}
        self.written = {hour for hour in self.written if hour >= oldest}

    def hour_compiled(self, now: int) -> None:
        """Note HA's hourly-statistics event: it fires from the compile of the hour that ended."""
        self.compiled_through = now - now % HOUR_SECONDS - HOUR_SECONDS

    def ready_hours(self, now: datetime) -> tuple[list[int], int | None]:
        """Return the pending hours HA has compiled, and when the next one will be."""
        now_ts = now.timestamp()
        margin = IMPORT_MARGIN.total_seconds()
        compiled = self.compiled_through
        ready, later = [], []
        for hour in self.pending:
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

    def hours_to_write(
        self, ready: list[int], eligible: Iterable[str], writable: Collection[str]
    ) -> dict[str, list[int]]:
        """Return, per writable sensor, the ready hours and those it had deferred.

        An eligible sensor that is not writable yet (recorded, but HA has not compiled it: no
        unit, no zero point) keeps its hours deferred for a later pass.
        """
        hours: dict[str, list[int]] = {}
        for unique_id in eligible:
            wanted = self.deferred.pop(unique_id, set()).union(ready)
            if unique_id in writable:
                hours[unique_id] = sorted(wanted)
            elif wanted:
                self.deferred[unique_id] = wanted
        return hours

    def start_import(self, ready: list[int]) -> None:
        """Move the hours being queued from pending to in flight."""
        self.pending.difference_update(ready)
        self.in_flight.update(ready)

    def fail_import(self, ready: list[int], hours: dict[str, list[int]]) -> None:
        """Put the hours of a failed import back: ready ones pending, the others deferred."""
        self.in_flight.difference_update(ready)
        self.pending.update(ready)
        for unique_id, wanted in hours.items():
            if rest := set(wanted).difference(ready):
                self.deferred.setdefault(unique_id, set()).update(rest)

    def finish_import(self, ready: list[int]) -> None:
        """Mark the queued hours written, now."""
        self.in_flight.clear()
        self.written.update(ready)
        self.last_import = dt_util.utcnow()

    def diagnostics(self) -> dict[str, Any]:
        """Return the bookkeeping for the diagnostics download."""
        return {
            "hours_pending": len(self.pending | self.in_flight),
            "hours_deferred": {
                unique_id: len(hours) for unique_id, hours in self.deferred.items() if hours
            },
            "oldest_pending": _iso(min(self.pending)) if self.pending else None,
            "hours_written": len(self.written),
            "newest_written": _iso(max(self.written)) if self.written else None,
            "last_import": self.last_import.isoformat() if self.last_import else None,
            "compiled_through": _iso(self.compiled_through)
            if self.compiled_through is not None
            else None,
        }


def _iso(hour: int) -> str:
    return dt_util.utc_from_timestamp(hour).isoformat()
