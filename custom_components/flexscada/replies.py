"""What we answer an upload: its HTTP status, and for a processed one the sealed reply.

A refused upload gets the status its protocol error calls for. A processed one acknowledges
the commands the device executed and carries the next ones, and a clock sync when the device's
clock has drifted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Final

from homeassistant.util import dt as dt_util

from .commands import CommandQueue
from .const import (
    CONF_CLOCK_SYNC,
    CONF_CLOCK_SYNC_THRESHOLD,
    CONF_COMMAND_EXPIRY,
    DEFAULT_CLOCK_SYNC,
    DEFAULT_CLOCK_SYNC_THRESHOLD,
    DEFAULT_COMMAND_EXPIRY,
    LOGGER,
)
from .logs import ThrottledLogger
from .protocol import IntegrityError, LayoutMismatchError, Q5ProtocolError, build_reply, readings

# How each protocol error is answered: the HTTP status, the kind its log line is rate-limited
# under, and what the log line says; the first matching class wins.
_REJECTIONS: Final[tuple[tuple[type[Q5ProtocolError], HTTPStatus, str, str], ...]] = (
    (IntegrityError, HTTPStatus.FORBIDDEN, "integrity", "failed the integrity check"),
    (LayoutMismatchError, HTTPStatus.BAD_REQUEST, "layout", "does not fit the device config"),
    (Q5ProtocolError, HTTPStatus.BAD_REQUEST, "malformed", "was rejected"),
)


@dataclass(frozen=True, slots=True)
class UploadResponse:
    """The HTTP answer to one upload: a status and an optional sealed reply body."""

    status: HTTPStatus
    body: bytes = b""


def rejection(err: Q5ProtocolError) -> tuple[HTTPStatus, str, str]:
    """Return the status, log kind and log wording for an upload refused with `err`."""
    return next(
        (status, kind, says)
        for error, status, kind, says in _REJECTIONS
        if isinstance(err, error)  # the last row matches every protocol error
    )


def acknowledge_commands(
    commands: CommandQueue, ack: int, options: Mapping[str, Any], uid: int, *, trusted: bool
) -> bool:
    """Drop what the device executed and what waited too long; return True if any went.

    Acknowledgements come from every authentic upload, so they only move forward; an ack that
    went back (the device forgot its counter) is taken only from a `trusted` (fresh) upload: a
    replayed old capture must not bring back executed commands.
    """
    went_back = readings.command_id_after(commands.last_ack, ack)
    done = commands.acknowledge(ack) if trusted or not went_back else []
    max_age = options.get(CONF_COMMAND_EXPIRY, DEFAULT_COMMAND_EXPIRY)
    expired = commands.expire(dt_util.utcnow().timestamp(), max_age)
    for command in expired:
        LOGGER.warning(
            "Device %s: dropped command %s (id %s): not acknowledged within %s s",
            uid,
            command.action,
            command.id,
            max_age,
        )
    return bool(done or expired)


def clock_sync_time(options: Mapping[str, Any], epoch: int, received: int) -> int | None:
    """Return the time to set the device's clock to, None while it is close enough to ours.

    Judged on every authentic upload, duplicate or not: `epoch` is the device's clock when it
    sent, `received` ours. An unset clock is always set.
    """
    if readings.clock_is_unset(epoch) or (
        options.get(CONF_CLOCK_SYNC, DEFAULT_CLOCK_SYNC)
        and abs(epoch - received)
        > options.get(CONF_CLOCK_SYNC_THRESHOLD, DEFAULT_CLOCK_SYNC_THRESHOLD)
    ):
        return int(dt_util.utcnow().timestamp())
    return None


def reply_body(
    key: bytes,
    sync_time: int | None,
    commands: CommandQueue,
    problems: ThrottledLogger,
    uid: int,
    *,
    config: Mapping[str, Any] | None = None,
) -> bytes:
    """Return the sealed reply to a processed upload; empty when there is nothing to say.

    `config` is a pushed config (`cfg`) the device is to adopt.
    """
    to_send = commands.to_send()
    if sync_time is None and not to_send and config is None:
        return b""
    try:
        return build_reply(key, time=sync_time, config=config, commands=to_send)
    except (ValueError, TypeError) as err:
        # The upload is applied and saved by now: a reply that cannot be built must not turn
        # its acknowledgement into a 500, or the device sends the same rows again.
        problems.report("reply", "Device %s: sent an empty reply: %s", uid, err)
        return b""
