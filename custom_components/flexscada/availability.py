"""Whether a Q5 is online: it is while its last upload is younger than the availability window."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later
from homeassistant.util import dt as dt_util

from .const import (
    CONF_AVAILABILITY_FACTOR,
    DEFAULT_AVAILABILITY_FACTOR,
    DEFAULT_UPLOAD_INTERVAL,
    LOGGER,
    MAX_AVAILABILITY_WINDOW,
    MIN_AVAILABILITY_WINDOW,
)
from .protocol import DeviceConfig


def availability_window(config: DeviceConfig | None, options: Mapping[str, Any]) -> timedelta:
    """Return how long a device stays online after an upload: its interval times a factor."""
    interval = DEFAULT_UPLOAD_INTERVAL
    if config is not None and config.upload_interval:
        interval = config.upload_interval
    factor = options.get(CONF_AVAILABILITY_FACTOR, DEFAULT_AVAILABILITY_FACTOR)
    seconds = interval * factor
    # Clamped, so that no interval the config can carry arms a timer that never runs or one
    # that runs out at once.
    low, high = MIN_AVAILABILITY_WINDOW.total_seconds(), MAX_AVAILABILITY_WINDOW.total_seconds()
    if not low <= seconds <= high:  # also NaN
        seconds = high if seconds > high else low
    return timedelta(seconds=seconds)


class Availability:
    """A device's availability, the timer for the moment it runs out, one log line per change."""

    def __init__(
        self,
        hass: HomeAssistant,
        uid: int,
        window: Callable[[], timedelta],
        on_expired: Callable[[], None],
    ) -> None:
        """Initialize; `window` is read at every update (the options may change it)."""
        self._hass = hass
        self._uid = uid
        self._window = window
        self._on_expired = on_expired
        self._last_upload: datetime | None = None
        self._timer: CALLBACK_TYPE | None = None
        self._reported_offline = False
        self.available = False

    @callback
    def async_update(self, last_upload: datetime | None) -> None:
        """Derive availability from the last upload and schedule the moment it runs out."""
        self.async_stop()
        self._last_upload = last_upload
        was_available = self.available
        remaining = (
            (last_upload + self._window() - dt_util.utcnow()).total_seconds()
            if last_upload is not None
            else 0.0
        )
        self.available = remaining > 0
        if self.available:
            self._timer = async_call_later(self._hass, remaining, self._async_expired)
            if self._reported_offline:
                self._reported_offline = False
                LOGGER.info("Device %s is sending uploads again", self._uid)
        elif was_available:
            self._reported_offline = True
            LOGGER.info(
                "Device %s has not uploaded since %s; its entities are unavailable",
                self._uid,
                last_upload,
            )

    @property
    def timer_running(self) -> bool:
        """Return True while the moment availability runs out is scheduled."""
        return self._timer is not None

    @callback
    def async_stop(self) -> None:
        """Cancel the timer."""
        if self._timer is not None:
            self._timer()
            self._timer = None

    @callback
    def _async_expired(self, _now: datetime) -> None:
        """Mark the device unavailable: no upload arrived in time."""
        self._timer = None
        self.async_update(self._last_upload)
        self._on_expired()
