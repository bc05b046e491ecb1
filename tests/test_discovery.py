"""Tests of the cache of uploads from unknown uids and of checking a key against uploads."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant

from custom_components.flexscada.discovery import (
    MAX_CACHE_BYTES,
    MAX_CACHED_UIDS,
    UploadCache,
    async_cached_uploads,
    async_forget_uploads,
)
from custom_components.flexscada.keys import (
    MAX_BYTES_PER_UID,
    MAX_CACHED_UPLOAD_BYTES,
    MAX_UPLOADS_PER_UID,
    CachedUpload,
    KeyCheck,
    RecentUploads,
    UploadKind,
    check_key,
)
from custom_components.flexscada.protocol import build_config_packet

from .common import (
    DEVICE_EPOCH,
    KEY,
    UID,
    WRONG_KEY,
    distinct_values,
    example_config,
    layout_of,
    measurement_packet,
)

CONFIG = example_config()


def measurement(key: bytes = KEY, uid: int = UID) -> CachedUpload:
    """Return a cached measurement upload."""
    body = measurement_packet(CONFIG, [(DEVICE_EPOCH, distinct_values(layout_of(CONFIG)))], key=key)
    upload = CachedUpload.keep(UploadKind.MEASUREMENT, body)
    assert upload is not None
    return upload


def config_upload(key: bytes = KEY, config: object = None) -> CachedUpload:
    """Return a cached config upload."""
    body = build_config_packet(key, CONFIG if config is None else config)  # type: ignore[arg-type]
    upload = CachedUpload.keep(UploadKind.CONFIG, body)
    assert upload is not None
    return upload


def test_cache_keeps_newest_few_and_evicts_oldest_uid() -> None:
    """A few uploads per uid; past MAX_CACHED_UIDS the least recently heard uid goes."""
    cache = UploadCache()
    first, second = measurement(), measurement()
    cache.put(1, first)
    cache.put(1, second)
    cache.put(1, config_upload())
    assert [upload.kind for upload in cache.get(1)] == [
        UploadKind.MEASUREMENT,
        UploadKind.MEASUREMENT,
        UploadKind.CONFIG,
    ]
    for _ in range(MAX_UPLOADS_PER_UID):
        cache.put(1, second)
    assert len(cache.get(1)) == MAX_UPLOADS_PER_UID
    assert first not in cache.get(1)

    for uid in range(2, MAX_CACHED_UIDS + 1):
        cache.put(uid, first)
    cache.put(1, second)  # uid 1 is heard again: uid 2 is now the oldest
    cache.put(MAX_CACHED_UIDS + 1, first)
    assert len(cache) == MAX_CACHED_UIDS
    assert cache.get(2) == []
    assert cache.get(1) != []
    cache.pop(1)
    cache.pop(1)
    assert cache.get(1) == []


def test_recent_uploads_bounded_in_bytes() -> None:
    """Past MAX_BYTES_PER_UID the oldest go; the newest is always kept."""
    uploads = RecentUploads()
    big = CachedUpload.keep(UploadKind.MEASUREMENT, b"\0" * MAX_CACHED_UPLOAD_BYTES)
    for _ in range(3):
        uploads.add(big)
    uploads.add(None)  # too large to keep: nothing changes
    assert len(uploads) == MAX_BYTES_PER_UID // MAX_CACHED_UPLOAD_BYTES
    assert uploads.total_bytes <= MAX_BYTES_PER_UID


def test_cache_bounds_age_and_bytes(freezer: FrozenDateTimeFactory) -> None:
    """Uploads older than an hour are not returned and are dropped; bytes stay bounded."""
    cache = UploadCache()
    cache.put(1, measurement())
    freezer.tick(timedelta(minutes=59))
    assert cache.get(1) != []
    freezer.tick(timedelta(minutes=2))
    assert cache.get(1) == []
    cache.put(2, measurement())
    assert len(cache) == 1  # uid 1 aged out when uid 2 arrived

    assert CachedUpload.keep(UploadKind.MEASUREMENT, b"\0" * (MAX_CACHED_UPLOAD_BYTES + 1)) is None
    big = CachedUpload.keep(UploadKind.MEASUREMENT, b"\0" * MAX_CACHED_UPLOAD_BYTES)
    assert big is not None
    for uid in range(10, 16):
        cache.put(uid, big)
    assert cache.total_bytes <= MAX_CACHE_BYTES
    assert len(cache) == MAX_CACHE_BYTES // MAX_CACHED_UPLOAD_BYTES


def test_check_key() -> None:
    """A key that opens any upload is right; a matching config upload names the device."""
    assert check_key([], KEY) == KeyCheck(matches=None)
    assert check_key([measurement()], KEY) == KeyCheck(matches=True)
    assert check_key([measurement()], WRONG_KEY) == KeyCheck(matches=False)
    assert check_key([measurement(), config_upload()], KEY) == KeyCheck(True, CONFIG["name"])
    assert check_key([config_upload()], WRONG_KEY) == KeyCheck(matches=False)

    # The device changed its password: both keys open one of its uploads.
    older_config = config_upload(key=KEY)
    newer = replace(measurement(key=WRONG_KEY), received=older_config.received + timedelta(1))
    assert check_key([older_config, newer], WRONG_KEY) == KeyCheck(matches=True)
    assert check_key([older_config, newer], KEY) == KeyCheck(True, CONFIG["name"])

    # Garbage posted after the device's upload cannot veto its key.
    garbage = CachedUpload(UploadKind.MEASUREMENT, measurement().body[:-16] + bytes(16))
    garbage = replace(garbage, received=newer.received + timedelta(1))
    assert check_key([newer, garbage], WRONG_KEY) == KeyCheck(matches=True)
    assert check_key([garbage], WRONG_KEY) == KeyCheck(matches=False)

    # A config that opens but is not usable JSON still proves the key.
    assert check_key([config_upload(config="not json")], KEY) == KeyCheck(matches=True)
    # A truncated upload proves nothing either way.
    garbled = CachedUpload(UploadKind.MEASUREMENT, measurement().body[:30])
    assert check_key([garbled], WRONG_KEY) == KeyCheck(matches=None)


async def test_flows_before_setup_see_no_cache(hass: HomeAssistant) -> None:
    """A config flow can run before the integration is set up: there is just nothing cached."""
    assert async_cached_uploads(hass, UID) == []
    async_forget_uploads(hass, UID)
