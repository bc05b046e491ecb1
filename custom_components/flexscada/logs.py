"""Rate-limited logging: a device that keeps sending bad uploads must not flood the log."""

from __future__ import annotations

from collections.abc import Hashable
from datetime import timedelta
import logging
import time

from .const import LOG_INTERVAL, LOGGER

#: Kinds of problem remembered at most; beyond this (a flood of distinct senders), new kinds are
#: logged at debug level only until old ones expire, so neither memory nor the log grows unbounded.
MAX_KINDS = 1024


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
        if last is None and len(self._last_logged) >= MAX_KINDS:
            self._forget_expired(now)
            if len(self._last_logged) >= MAX_KINDS:
                self._logger.debug(message, *args)
                return
        if last is not None and now - last < self._interval:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            self._logger.debug(message, *args)
            return
        self._last_logged[kind] = now
        if suppressed := self._suppressed.pop(kind, 0):
            message += " (%d more since the last report)"
            args = (*args, suppressed)
        self._logger.warning(message, *args)

    def _forget_expired(self, now: float) -> None:
        """Drop the kinds whose interval has run out (their suppressed counts go with them)."""
        for kind, last in list(self._last_logged.items()):
            if now - last >= self._interval:
                del self._last_logged[kind]
                self._suppressed.pop(kind, None)
