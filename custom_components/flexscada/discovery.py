"""Uploads from Q5s that Home Assistant does not know yet.

A Q5 is an HTTP client: the only way to discover one is that it starts posting to us. Its uid is
in clear, everything else is sealed with its key, so an upload from an unknown uid starts one
discovery flow, and the newest uploads are kept (bounded in count, age and bytes) so the key the
user then enters can be checked against what the device really sends (see keys.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from homeassistant.config_entries import SOURCE_INTEGRATION_DISCOVERY
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import discovery_flow
from homeassistant.helpers.discovery_flow import DISCOVERY_FLOW_DISPATCHER, PendingFlowKey
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .const import CONF_UID, DOMAIN
from .keys import CachedUpload, RecentUploads, UploadKind

# Enough for a handful of unconfigured devices at once, each with a few days of backlog at the
# vendor's defaults (one upload is at most keys.MAX_CACHED_UPLOAD_BYTES).
MAX_CACHED_UIDS: Final = 16
MAX_CACHE_BYTES: Final = 1024 * 1024

DATA_UPLOAD_CACHE: HassKey[UploadCache] = HassKey(f"{DOMAIN}_upload_cache")


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
