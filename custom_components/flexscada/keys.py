"""Which key opens a Q5's uploads: uploads kept to check a key against, and a device's key health.

The device cannot be asked anything, so a key is checked against what the device really sent: a
kept upload. A key is accepted if it opens any of them: anyone can post garbage under a (clear)
uid, and garbage must not veto the right key. A known device keeps its newest few uploads (and
its newest failing ones) here, and counts the uploads its key cannot open; a streak of them from
a silent device means its password changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.util import dt as dt_util

from .const import INTEGRITY_FAILURES_BEFORE_REAUTH
from .issues import ISSUE_WRONG_KEY, async_clear_issue, async_raise_wrong_key
from .logs import ThrottledLogger
from .protocol import (
    BadConfigError,
    IntegrityError,
    Q5ProtocolError,
    open_config_packet,
    open_measurement_packet,
)

# A larger upload is not kept (a later, smaller one will be).
MAX_CACHED_UPLOAD_BYTES: Final = 256 * 1024
MAX_UPLOAD_AGE: Final = timedelta(hours=1)
# A few uploads per uid, so that one garbage upload cannot displace the device's own; the newest
# is always kept, older ones go first when the uid holds more than MAX_BYTES_PER_UID.
MAX_UPLOADS_PER_UID: Final = 4
MAX_BYTES_PER_UID: Final = 2 * MAX_CACHED_UPLOAD_BYTES


class UploadKind(StrEnum):
    """Which endpoint an upload was posted to."""

    MEASUREMENT = "measurement"
    CONFIG = "config"


@dataclass(frozen=True, slots=True)
class CachedUpload:
    """One upload kept to check a key against."""

    kind: UploadKind
    body: bytes
    received: datetime = field(default_factory=dt_util.utcnow)

    @classmethod
    def keep(cls, kind: UploadKind, body: bytes) -> CachedUpload | None:
        """Return the upload to keep, or None when it is too large to hold in memory."""
        if len(body) > MAX_CACHED_UPLOAD_BYTES:
            return None
        return cls(kind, body)

    def is_recent(self, now: datetime) -> bool:
        """Return True while the upload is young enough to vouch for the device's key."""
        return now - self.received <= MAX_UPLOAD_AGE


@dataclass(slots=True)
class RecentUploads:
    """The newest few uploads of one uid, oldest first, bounded in count and bytes."""

    _uploads: list[CachedUpload] = field(default_factory=list)

    def add(self, upload: CachedUpload | None) -> None:
        """Keep an upload (None: one too large to keep), dropping the oldest beyond the bounds."""
        if upload is None:
            return
        self._uploads.append(upload)
        while len(self._uploads) > MAX_UPLOADS_PER_UID or (
            len(self._uploads) > 1 and self.total_bytes > MAX_BYTES_PER_UID
        ):
            del self._uploads[0]

    def recent(self, now: datetime) -> list[CachedUpload]:
        """Return the uploads still young enough to vouch for the device's key."""
        return [upload for upload in self._uploads if upload.is_recent(now)]

    def drop_old(self, now: datetime) -> None:
        """Forget the uploads that are no longer recent."""
        self._uploads = self.recent(now)

    @property
    def total_bytes(self) -> int:
        """Return the bytes held."""
        return sum(len(upload.body) for upload in self._uploads)

    def __iter__(self) -> Iterator[CachedUpload]:
        return iter(self._uploads)

    def __len__(self) -> int:
        return len(self._uploads)


@dataclass(frozen=True, slots=True)
class KeyCheck:
    """What the uploads said about a key."""

    #: True: at least one upload opens with the key; False: uploads could be checked and none
    #: opens with it; None: there was no upload to check against.
    matches: bool | None
    #: The device's name, from the newest config upload that opens with the key.
    name: str | None = None


def check_key(uploads: Iterable[CachedUpload], key: bytes) -> KeyCheck:
    """Check a key against uploads: it is right if it opens any of them.

    Not "the newest decides": the uid travels in clear, so the newest upload may be anyone's
    garbage, and a wrong key cannot open a genuine upload anyway.
    Blocking (decrypts up to MAX_CACHED_UPLOAD_BYTES per upload): run it in the executor.
    """
    matches: bool | None = None
    name: str | None = None
    for upload in sorted(uploads, key=lambda upload: upload.received, reverse=True):
        try:
            if upload.kind is UploadKind.CONFIG:
                config_name = open_config_packet(key, upload.body).name
                name = name or config_name
            else:
                open_measurement_packet(key, upload.body)
        except IntegrityError:
            matches = matches or False
            continue
        except BadConfigError:
            pass  # it opened, so the key is right; the JSON itself is not usable
        except Q5ProtocolError:
            continue  # malformed before the integrity check: it can vouch for nothing
        matches = True
    return KeyCheck(matches=matches, name=name if matches else None)


class KeyHealth:
    """Whether a known device's key still opens its uploads; asks for a new one when not.

    Handed the device's uid, and its name and availability at each failure, so it never needs the
    device runtime itself.
    """

    def __init__(
        self, hass: HomeAssistant, entry: ConfigEntry[Any], uid: int, problems: ThrottledLogger
    ) -> None:
        """Initialize for one device's entry."""
        self._hass = hass
        self._entry = entry
        self._uid = uid
        self._problems = problems
        #: Uploads the key failed to open since the last one it opened.
        self.failures = 0
        #: Uploads to check a new key against: the newest few, and the newest few that failed.
        self.recent_uploads = RecentUploads()
        self.failed_uploads = RecentUploads()
        self._reauth_requested = False

    @callback
    def async_failed(self, body: bytes, *, device_name: str, device_available: bool) -> None:
        """Count an upload the key cannot open; a streak of them means the key changed."""
        upload = CachedUpload.keep(UploadKind.MEASUREMENT, body)
        self.recent_uploads.add(upload)
        self.failed_uploads.add(upload)
        self.failures += 1
        # The uid travels in clear, so anyone can post bad uploads under it. While the device's
        # own good uploads keep it available, failures are someone else's; only a device that
        # went silent with failing uploads has changed its password.
        if self.failures < INTEGRITY_FAILURES_BEFORE_REAUTH or device_available:
            return
        async_raise_wrong_key(self._hass, self._uid, device_name, self.failures)
        if not self._reauth_requested:
            self._reauth_requested = True
            # Rate-limited: anyone can post bad uploads under a device's (clear) uid, and each
            # good upload in between starts a new streak.
            self._problems.report(
                "reauth",
                "Device %s: its key opened none of its last %d uploads; "
                "asking for its new password",
                self._uid,
                self.failures,
            )
            self._entry.async_start_reauth(self._hass)

    @callback
    def async_confirmed(self, body: bytes) -> None:
        """Note an upload the key opens: the streak of failures is over."""
        self.recent_uploads.add(CachedUpload.keep(UploadKind.MEASUREMENT, body))
        async_clear_issue(self._hass, ISSUE_WRONG_KEY, self._uid)
        self.failures = 0
        self._reauth_requested = False
