"""Uploads from Q5s that Home Assistant does not know yet, and checking a key against an upload.

A Q5 is an HTTP client: the only way to discover one is that it starts posting to us. Its uid is
in clear, everything else is sealed with its key, so an upload from an unknown uid starts one
discovery flow, and the newest uploads are kept (bounded in count, age and bytes) so the key the
user then enters can be checked against what the device really sends. A key is accepted if it opens
any of them: anyone can post garbage under a (clear) uid, and garbage must not veto the right key.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from homeassistant.config_entries import SOURCE_INTEGRATION_DISCOVERY
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import discovery_flow
from homeassistant.helpers.discovery_flow import DISCOVERY_FLOW_DISPATCHER, PendingFlowKey
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .const import CONF_UID, DOMAIN
from .protocol import (
    BadConfigError,
    IntegrityError,
    Q5ProtocolError,
    open_config_packet,
    open_measurement_packet,
)

# Enough for a handful of unconfigured devices at once, each with a few days of backlog at the
# vendor's defaults; a larger upload is not kept (a later, smaller one will be).
MAX_CACHED_UIDS: Final = 16
MAX_CACHED_UPLOAD_BYTES: Final = 256 * 1024
MAX_CACHE_BYTES: Final = 1024 * 1024
MAX_UPLOAD_AGE: Final = timedelta(hours=1)
# A few uploads per uid, so that one garbage upload cannot displace the device's own; the newest
# is always kept, older ones go first when the uid holds more than MAX_BYTES_PER_UID.
MAX_UPLOADS_PER_UID: Final = 4
MAX_BYTES_PER_UID: Final = 2 * MAX_CACHED_UPLOAD_BYTES

DATA_UPLOAD_CACHE: HassKey[UploadCache] = HassKey(f"{DOMAIN}_upload_cache")


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


@dataclass(slots=True)
class UploadCache:
    """The newest few uploads per unknown uid, bounded in uids, age and bytes."""

    _uploads: dict[int, RecentUploads] = field(default_factory=dict)

    def put(self, uid: int, upload: CachedUpload) -> None:
        """Keep an upload as the uid's newest, evicting what exceeds the bounds."""
        uploads = self._uploads.pop(uid, None) or RecentUploads()
        uploads.add(upload)
        self._uploads[uid] = uploads  # dict order is recency: oldest uid first
        self._evict(upload.received)

    def get(self, uid: int) -> list[CachedUpload]:
        """Return the uid's uploads that are still recent."""
        uploads = self._uploads.get(uid)
        return uploads.recent(dt_util.utcnow()) if uploads is not None else []

    def pop(self, uid: int) -> None:
        """Forget a uid (its device has been added)."""
        self._uploads.pop(uid, None)

    @property
    def total_bytes(self) -> int:
        """Return the bytes held."""
        return sum(uploads.total_bytes for uploads in self._uploads.values())

    def __len__(self) -> int:
        return len(self._uploads)

    def _evict(self, now: datetime) -> None:
        """Drop old uploads, then the least recently heard uids until within the bounds."""
        for uid, uploads in list(self._uploads.items()):
            uploads.drop_old(now)
            if not uploads:
                del self._uploads[uid]
        while len(self._uploads) > MAX_CACHED_UIDS or self.total_bytes > MAX_CACHE_BYTES:
            del self._uploads[next(iter(self._uploads))]


@callback
def async_setup_discovery(hass: HomeAssistant) -> None:
    """Create the cache of uploads from unknown uids."""
    hass.data[DATA_UPLOAD_CACHE] = UploadCache()


@callback
def async_cached_uploads(hass: HomeAssistant, uid: int) -> list[CachedUpload]:
    """Return the recent uploads of a not yet configured uid.

    A config flow can run before the integration is set up (nothing is listening then).
    """
    cache = hass.data.get(DATA_UPLOAD_CACHE)
    return cache.get(uid) if cache is not None else []


@callback
def async_forget_uploads(hass: HomeAssistant, uid: int) -> None:
    """Drop the cached uploads of a uid that now has a config entry."""
    if (cache := hass.data.get(DATA_UPLOAD_CACHE)) is not None:
        cache.pop(uid)


@callback
def async_unknown_upload(hass: HomeAssistant, uid: int, kind: UploadKind, body: bytes) -> None:
    """Keep an upload from a uid without a loaded entry; a measurement starts discovery.

    A uid whose entry exists but is not loaded (ignored, disabled, failed, reloading) is left
    alone: the user already decided about that device.
    """
    if hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, str(uid)) is not None:
        return
    if (upload := CachedUpload.keep(kind, body)) is not None:
        hass.data[DATA_UPLOAD_CACHE].put(uid, upload)
    if kind is not UploadKind.MEASUREMENT:
        return
    # The uid is in clear, so anyone can post uploads of made-up uids: the flows are bounded
    # like the cache.
    if _async_discovery_flow_count(hass) >= MAX_CACHED_UIDS:
        return
    # Deduplicated twice: the helper skips a flow with the same context and data in
    # progress, and the flow itself aborts when its unique id is already in progress.
    discovery_flow.async_create_flow(
        hass,
        DOMAIN,
        context={"source": SOURCE_INTEGRATION_DISCOVERY},
        data={CONF_UID: uid},
    )


@callback
def _async_discovery_flow_count(hass: HomeAssistant) -> int:
    """Return our discovery flows in progress plus those queued until Home Assistant has started.

    Before Home Assistant has started, the discovery helper queues flows instead of starting
    them, and a queued flow is not in progress yet: counting only the started ones let thousands
    of made-up uids through during a start.
    """
    started = hass.config_entries.flow.async_progress_by_handler(
        DOMAIN, include_uninitialized=True, match_context={"source": SOURCE_INTEGRATION_DISCOVERY}
    )
    if (dispatcher := hass.data.get(DISCOVERY_FLOW_DISPATCHER)) is None:
        return len(started)
    queued = dispatcher.pending_flows.get(PendingFlowKey(DOMAIN, SOURCE_INTEGRATION_DISCOVERY))
    return len(started) + len(queued or ())
