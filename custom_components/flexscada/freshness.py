"""Which rows of an upload are new: replay protection built on what the device measured.

The protocol has no nonce and never says that `epoch` (the device's clock at sending) increases:
a Q5 sends two uploads in one second (an alarm upload after a regular one, a backlog in chunks),
and its clock jumps (our clock sync, a reboot that resets it). So freshness is judged per row:

- a row is new unless an identical row (same timestamp, same bytes) was seen before; rows at or
  before the memory's horizon (`floor`) count as seen, the memory being bounded;
- the newest new row becomes the live state if it is not older than the row shown now (`newest`;
  a row of the same second with other content is an alarm row: it wins); older new rows (a backlog
  retried after an alarm upload) are counted, and offered to statistics, but move nothing;
- after our clock sync set the device to `sync_time`, rows stamped from then on are judged by the
  remembered digests alone, and the first of them starts over the live watermark: a clock that ran
  ahead (a year, or 600 s) does not lock the device out, and a retransmission is still caught;
- an upload sent with an unset clock (before 2010) has its rows re-stamped by the measured offset
  (`readings.restamp_offset`) instead of being dropped as old.

Free of Home Assistant. The device runtime keeps one `Freshness` per device, persists
`as_stored()`, and per upload calls `judge` (read-only: safe in the executor) then `commit`.
"""

from __future__ import annotations

from dataclasses import dataclass
from hashlib import blake2b
from typing import Final, TypedDict

import numpy as np
import numpy.typing as npt

from .protocol import MeasurementPacket, readings

#: Digests kept of the newest rows (about 30 bytes each in the store). A row older than all of
#: them counts as seen; 256 rows are a day of 5-minute measurements.
MAX_REMEMBERED_ROWS: Final = 256
_DIGEST_BYTES = 8


class StoredFreshness(TypedDict):
    """The persisted form of `Freshness` (in the device store, key `freshness`)."""

    newest: int | None
    floor: int | None
    last_epoch: int | None
    sync_time: int | None
    seen: dict[str, int]
    ahead: dict[str, int]
    rows_duplicate: int
    uploads_duplicate: int


@dataclass(frozen=True, slots=True)
class Verdict:
    """What is new in one upload, and what it changes."""

    #: Each row's unix time, oldest first as sent; re-stamped when the clock was unset.
    timestamps: npt.NDArray[np.int64]
    #: Rows not seen before (for the counters, and for statistics).
    new: npt.NDArray[np.bool_]
    #: The row that becomes the live state, or None if the live state stays.
    live_row: int | None
    #: The upload brings something new: new rows, or (carrying none) a later `epoch`.
    fresh: bool
    #: The upload's `epoch`, re-stamped like its rows.
    epoch: int
    #: Seconds added to the device's timestamps (non-zero only for an unset clock).
    restamped_by: int
    #: The first upload stamped from our last clock sync on: the live watermark starts over.
    new_era: bool
    #: Digest -> time of the new rows to remember (the newest `MAX_REMEMBERED_ROWS`).
    remember: dict[str, int]
    #: The newest time among new rows too old to be remembered, if any: the memory's new floor.
    horizon: int | None

    @property
    def new_count(self) -> int:
        """Return the number of new rows."""
        return int(np.count_nonzero(self.new))

    @property
    def duplicate_count(self) -> int:
        """Return the number of rows seen before."""
        return len(self.new) - self.new_count


class Freshness:
    """The replay-protection state of one device: a watermark and digests of recent rows."""

    def __init__(self) -> None:
        """Start with nothing seen."""
        #: Time of the row shown as the live state.
        self.newest: int | None = None
        #: Rows stamped at or before this count as seen (older than every remembered row).
        self.floor: int | None = None
        #: `epoch` of the last fresh upload (judges uploads without rows).
        self.last_epoch: int | None = None
        #: The time our last clock sync set the device to, until an upload stamped after it.
        self.sync_time: int | None = None
        #: Digest of a row's bytes (its timestamp included) -> its time.
        self.seen: dict[str, int] = {}
        #: Digests of rows a clock that ran ahead stamped after the time we set it back to. Kept
        #: apart: they must not push the newer rows of the corrected clock out of `seen`.
        self.ahead: dict[str, int] = {}
        self.rows_duplicate = 0
        self.uploads_duplicate = 0

    @classmethod
    def from_stored(cls, stored: StoredFreshness | None, latest_timestamp: int | None) -> Freshness:
        """Restore from the store; a store from before per-row freshness has only its newest row."""
        freshness = cls()
        if stored is None:
            # Everything up to the last applied row counts as seen: no replay of an upload
            # captured before the update gets through.
            freshness.newest = freshness.floor = latest_timestamp
            return freshness
        freshness.newest = stored["newest"]
        freshness.floor = stored["floor"]
        freshness.last_epoch = stored["last_epoch"]
        freshness.sync_time = stored["sync_time"]
        freshness.seen = dict(stored["seen"])
        freshness.ahead = dict(stored["ahead"])
        freshness.rows_duplicate = stored["rows_duplicate"]
        freshness.uploads_duplicate = stored["uploads_duplicate"]
        return freshness

    def as_stored(self) -> StoredFreshness:
        """Return the data to persist."""
        return {
            "newest": self.newest,
            "floor": self.floor,
            "last_epoch": self.last_epoch,
            "sync_time": self.sync_time,
            "seen": dict(self.seen),
            "ahead": dict(self.ahead),
            "rows_duplicate": self.rows_duplicate,
            "uploads_duplicate": self.uploads_duplicate,
        }

    def judge(self, packet: MeasurementPacket, received: int) -> Verdict:
        """Return which rows of `packet` (received at unix time `received`) are new.

        Changes nothing: `commit` takes the verdict once the upload is processed.
        """
        count, stride = packet.meta.measurement_count, packet.row_stride
        shift = readings.restamp_offset(packet.meta.epoch, received)
        times = np.zeros(count, dtype=np.int64)
        if count:  # each row starts with its uint32 timestamp
            times += np.ndarray((count,), "<u4", packet.rows, strides=(stride,))
        times += shift
        sync_time = self.sync_time
        candidates = np.ones(count, dtype=np.bool_)
        if self.floor is not None:
            candidates = times > self.floor
            if sync_time is not None and self.floor >= sync_time:
                # A clock that ran ahead was set back by us: what it stamps from the sync on is
                # judged by the digests alone, or the device would be locked out until its
                # clock passed the old stamps.
                candidates |= times >= sync_time
        new = np.zeros(count, dtype=np.bool_)
        remember: dict[str, int] = {}
        rows = memoryview(packet.rows)
        for index in np.flatnonzero(candidates).tolist():
            start = index * stride
            digest = blake2b(rows[start : start + stride], digest_size=_DIGEST_BYTES).hexdigest()
            if digest in self.seen or digest in self.ahead or digest in remember:
                continue
            new[index] = True
            remember[digest] = int(times[index])

        horizon: int | None = None
        if len(remember) > MAX_REMEMBERED_ROWS:  # a backlog: the store keeps its newest rows
            ordered = sorted(remember.items(), key=lambda item: item[1])
            horizon = ordered[-MAX_REMEMBERED_ROWS - 1][1]
            remember = dict(ordered[-MAX_REMEMBERED_ROWS:])
        new_era = sync_time is not None and bool(np.any(new & (times >= sync_time)))
        newest = self.newest
        if new_era and newest is not None and sync_time is not None:
            newest = min(newest, sync_time - 1)
        live_row: int | None = None
        if new.any():
            top = times[new].max()
            if newest is None or top >= newest:
                live_row = int(np.flatnonzero(new & (times == top))[-1])
        epoch = packet.meta.epoch + shift
        fresh = bool(new.any()) or (
            count == 0
            and (
                self.last_epoch is None
                or epoch > self.last_epoch
                or (sync_time is not None and epoch >= sync_time)
            )
        )
        return Verdict(
            timestamps=times,
            new=new,
            live_row=live_row,
            fresh=fresh,
            epoch=epoch,
            restamped_by=shift,
            new_era=new_era,
            remember=remember,
            horizon=horizon,
        )

    def commit(self, verdict: Verdict) -> None:
        """Take a processed upload's verdict: remember its rows, move the watermark, count."""
        self.rows_duplicate += verdict.duplicate_count
        if not verdict.fresh:
            self.uploads_duplicate += 1
            return
        if verdict.new_era and self.sync_time is not None:
            self._start_era(self.sync_time)
        if verdict.live_row is not None:
            self.newest = int(verdict.timestamps[verdict.live_row])
        self.last_epoch = verdict.epoch
        self.seen.update(verdict.remember)
        horizon = verdict.horizon
        if len(self.seen) > MAX_REMEMBERED_ROWS:
            ordered = sorted(self.seen.items(), key=lambda item: item[1])
            dropped = ordered[: len(ordered) - MAX_REMEMBERED_ROWS]
            self.seen = dict(ordered[len(dropped) :])
            horizon = dropped[-1][1] if horizon is None else max(horizon, dropped[-1][1])
        if horizon is not None:
            self.floor = horizon if self.floor is None else max(self.floor, horizon)
        if self.floor is not None and self.ahead:  # the floor covers them now
            self.ahead = {d: t for d, t in self.ahead.items() if t > self.floor}

    def _start_era(self, sync_time: int) -> None:
        """Follow a device clock that our sync set to `sync_time`, maybe back from ahead."""
        if self.newest is not None:
            self.newest = min(self.newest, sync_time - 1)
        if self.floor is not None:
            self.floor = min(self.floor, sync_time - 1)
        self.ahead.update((d, t) for d, t in self.seen.items() if t >= sync_time)
        self.seen = {d: t for d, t in self.seen.items() if t < sync_time}
        if len(self.ahead) > MAX_REMEMBERED_ROWS:
            # A clock that stays ahead (it ignores `t`): its oldest stamps are long past.
            ordered = sorted(self.ahead.items(), key=lambda item: item[1])
            cut = len(ordered) - MAX_REMEMBERED_ROWS
            self.ahead = dict(ordered[cut:])
            horizon = min(ordered[cut - 1][1], sync_time - 1)
            self.floor = horizon if self.floor is None else max(self.floor, horizon)
        self.sync_time = None

    def clock_synced(self, time: int) -> None:
        """Note that our reply set the device's clock to `time`."""
        self.sync_time = time


class ConfigReplays:
    """Which config uploads older than the stored one are replays, and how many were ignored.

    An older config is a replay (an old capture; accepting it would flap the entities) unless a
    fresh measurement since the stored config reported that version: a device rolled back.
    """

    def __init__(self) -> None:
        """Start with no version reported and nothing ignored."""
        self.reported: int | None = None
        self.ignored = 0

    def is_replay(self, stored: int | None, version: int) -> bool:
        """Return True (and count it) for a config `version` to ignore over `stored`."""
        if stored is None or version >= stored or version == self.reported:
            return False
        self.ignored += 1
        return True
