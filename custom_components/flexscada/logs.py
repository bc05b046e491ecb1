"""Rate-limited logging: a device that keeps sending bad uploads must not flood the log."""

from __future__ import annotations

from collections.abc import Hashable
from datetime import timedelta
import logging
import time

from .const import LOG_INTERVAL, LOGGER


class ThrottledLogger:
    """Log each kind of problem once per interval; repeats in between go to debug."""

    def __init__(self, logger: logging.Logger = LOGGER, interval: timedelta = LOG_INTERVAL) -> None:
        """Initialize with the interval between two warnings of the same kind."""
        self._logger = logger
        self._interval = interval.total_seconds()
        self._last_logged: dict[Hashable, float] = {}
        self._suppressed: dict[Hashable, int] = {}

    def report(self, kind: Hashable, message: str, *args: object) -> None:
        """Log a warning for this kind of problem unless one was logged within the interval."""
        now = time.monotonic()
        last = self._last_logged.get(kind)
        if last is not None and now - last < self._interval:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            self._logger.debug(message, *args)
            return
        self._last_logged[kind] = now
        if suppressed := self._suppressed.pop(kind, 0):
            message += " (%d more since the last report)"
            args = (*args, suppressed)
        self._logger.warning(message, *args)
