"""The per-device command queue: numbered, persisted, re-sent until the device acknowledges.

The Q5 only hears us in the reply to its next upload, and that reply can be lost. So every
command keeps its id and is sent again in each reply until an upload's `lastCmdIdAck` covers it.
The device executes ids above its own last acknowledged id, in order, so re-sending is safe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, TypedDict

from .const import LOGGER
from .protocol import Command

SET_RELAY: Final = "set_relay"
PULSE_RELAY: Final = "pulse_relay"
RESET_RELAY: Final = "reset_relay"
SET_FEED: Final = "set_feed"

# A runaway automation must not grow the reply without bound; the device's reply buffer is small.
MAX_QUEUED_COMMANDS: Final = 64


class QueueFullError(Exception):
    """The device has too many unacknowledged commands."""


class StoredCommand(TypedDict):
    """A queued command as persisted."""

    id: int
    cmd: str
    params: dict[str, Any]
    queued_at: float
    sent: bool


class StoredQueue(TypedDict):
    """The queue as persisted."""

    next_id: int
    last_ack: int
    pending: list[StoredCommand]


@dataclass(slots=True)
class QueuedCommand:
    """A command waiting for the device's acknowledgement."""

    id: int
    cmd: str
    params: dict[str, Any]
    queued_at: float
    sent: bool = False

    def target(self) -> tuple[str, Any] | None:
        """Return what a newer command of the same kind replaces (a relay or feed), if any."""
        if self.cmd == SET_RELAY:
            return (self.cmd, self.params["ch"])
        if self.cmd == SET_FEED:
            return (self.cmd, self.params["feed"])
        return None


@dataclass(slots=True)
class CommandQueue:
    """Commands for one device, in id order."""

    uid: int
    next_id: int = 1
    last_ack: int = 0
    pending: list[QueuedCommand] = field(default_factory=list)

    @classmethod
    def from_stored(cls, uid: int, stored: StoredQueue | None) -> CommandQueue:
        """Rebuild a persisted queue."""
        if stored is None:
            return cls(uid)
        return cls(
            uid,
            next_id=stored["next_id"],
            last_ack=stored["last_ack"],
            pending=[QueuedCommand(**command) for command in stored["pending"]],
        )

    def as_stored(self) -> StoredQueue:
        """Return the queue to persist."""
        return {
            "next_id": self.next_id,
            "last_ack": self.last_ack,
            "pending": [
                {
                    "id": command.id,
                    "cmd": command.cmd,
                    "params": command.params,
                    "queued_at": command.queued_at,
                    "sent": command.sent,
                }
                for command in self.pending
            ],
        }

    def add(self, cmd: str, params: dict[str, Any], now: float) -> QueuedCommand:
        """Queue a command with the next id; it replaces an unsent one for the same target."""
        command = QueuedCommand(self.next_id, cmd, params, now)
        if (target := command.target()) is not None:
            # Only unsent commands are replaced: one the device may already have executed keeps
            # its place, so the device still ends in the newest requested state.
            self.pending = [
                queued for queued in self.pending if queued.sent or queued.target() != target
            ]
        if len(self.pending) >= MAX_QUEUED_COMMANDS:
            raise QueueFullError
        self.pending.append(command)
        self.next_id += 1
        return command

    def acknowledge(self, ack: int) -> list[QueuedCommand]:
        """Drop the commands the device has executed; return them."""
        if ack < self.last_ack:
            # The device forgot its counter (a factory reset or a new unit with the same uid).
            # It executes ids above its own ack, so the unacknowledged commands still arrive.
            LOGGER.warning(
                "Device %s: its last acknowledged command id went back from %s to %s; "
                "re-sending the %d waiting command(s)",
                self.uid,
                self.last_ack,
                ack,
                len(self.pending),
            )
        if ack >= self.next_id:
            # The device acknowledges ids we never issued (our stored queue is older than what
            # the device saw, e.g. a restored backup). Number on from there, or the device would
            # skip new commands as already executed.
            LOGGER.warning(
                "Device %s: acknowledged command id %s, newer than any issued (%s); "
                "numbering new commands from %s",
                self.uid,
                ack,
                self.next_id - 1,
                ack + 1,
            )
            self.next_id = ack + 1
            self.pending = [
                QueuedCommand(self.next_id + index, queued.cmd, queued.params, queued.queued_at)
                for index, queued in enumerate(queued for queued in self.pending if not queued.sent)
            ]
            self.next_id += len(self.pending)
            self.last_ack = ack
            return []
        done = [command for command in self.pending if command.id <= ack]
        self.pending = [command for command in self.pending if command.id > ack]
        self.last_ack = ack
        return done

    def expire(self, now: float, max_age: float) -> list[QueuedCommand]:
        """Drop commands older than `max_age` seconds; return them."""
        expired = [command for command in self.pending if now - command.queued_at > max_age]
        if expired:
            self.pending = [command for command in self.pending if command not in expired]
        return expired

    def to_send(self) -> list[Command]:
        """Return every unacknowledged command, in order, and mark them sent."""
        for command in self.pending:
            command.sent = True
        return [Command(command.id, command.cmd, command.params) for command in self.pending]

    def pending_for(self, cmd: str, key: str, value: int) -> QueuedCommand | None:
        """Return the newest waiting command of this kind for this target, if any."""
        for command in reversed(self.pending):
            if command.cmd == cmd and command.params.get(key) == value:
                return command
        return None
