"""The per-device command queue: numbered, persisted, re-sent until the device acknowledges.

The Q5 only hears us in the reply to its next upload, and that reply can be lost. So every
command keeps its id and is sent again in each reply until an upload's `lastCmdIdAck` covers it.
The device executes ids above its own last acknowledged id, in order, so re-sending is safe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, TypedDict

from .const import LOGGER
from .protocol import (
    BadCommandError,
    Command,
    DeviceAction,
    SetFeed,
    SetRelay,
    parse_action,
    readings,
)

# A runaway automation must not grow the reply without bound; the device's reply buffer is small.
MAX_QUEUED_COMMANDS: Final = 64


class QueueFullError(Exception):
    """The device has too many unacknowledged commands."""


class StoredCommand(TypedDict):
    """A queued command as persisted: its wire name and parameters, id, age and whether sent."""

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


def _target(action: DeviceAction) -> tuple[type[DeviceAction], int] | None:
    """Return what a newer action of the same kind replaces (a relay or feed), if any."""
    match action:
        case SetRelay(ch=ch):
            return (SetRelay, ch)
        case SetFeed(feed=feed):
            return (SetFeed, feed)
    return None


@dataclass(slots=True)
class QueuedCommand:
    """A command waiting for the device's acknowledgement."""

    command: Command
    queued_at: float
    sent: bool = False

    @property
    def id(self) -> int:
        """Return the command's id."""
        return self.command.id

    @property
    def action(self) -> DeviceAction:
        """Return what the command asks of the device."""
        return self.command.action

    def as_stored(self) -> StoredCommand:
        """Return the command to persist."""
        return {
            "id": self.id,
            "cmd": self.action.name,
            "params": self.action.params(),
            "queued_at": self.queued_at,
            "sent": self.sent,
        }

    @classmethod
    def from_stored(cls, stored: StoredCommand) -> QueuedCommand:
        """Rebuild a persisted command; raise BadCommandError or ValueError if it cannot be sent."""
        action = parse_action(stored["cmd"], stored["params"])
        return cls(Command(stored["id"], action), stored["queued_at"], stored["sent"])


@dataclass(slots=True)
class CommandQueue:
    """Commands for one device, in id order."""

    uid: int
    next_id: int = readings.FIRST_COMMAND_ID
    last_ack: int = 0
    pending: list[QueuedCommand] = field(default_factory=list)

    @classmethod
    def from_stored(cls, uid: int, stored: StoredQueue | None) -> CommandQueue:
        """Rebuild a persisted queue, dropping commands that could never be sent."""
        if stored is None:
            return cls(uid)
        pending: list[QueuedCommand] = []
        for command in stored["pending"]:
            try:
                pending.append(QueuedCommand.from_stored(command))
            except (BadCommandError, ValueError) as err:
                # An older version stored what it could not send (a NaN feed value, saved as
                # null; an id past the uint32). Sending it would fail every reply.
                LOGGER.warning(
                    "Device %s: dropped stored command %s %s (id %s): %s",
                    uid,
                    command["cmd"],
                    command["params"],
                    command["id"],
                    err,
                )
        next_id = stored["next_id"]
        if not readings.FIRST_COMMAND_ID <= next_id <= readings.MAX_COMMAND_ID:
            next_id = readings.next_command_id(next_id)
        return cls(uid, next_id=next_id, last_ack=stored["last_ack"], pending=pending)

    def as_stored(self) -> StoredQueue:
        """Return the queue to persist."""
        return {
            "next_id": self.next_id,
            "last_ack": self.last_ack,
            "pending": [command.as_stored() for command in self.pending],
        }

    def _issue_id(self) -> int:
        """Return the next command id and advance the counter (wrapping within uint32)."""
        command_id = self.next_id
        self.next_id = readings.next_command_id(command_id)
        return command_id

    def add(self, action: DeviceAction, now: float) -> QueuedCommand:
        """Queue an action with the next id; it replaces an unsent one for the same target."""
        if (target := _target(action)) is not None:
            # Only unsent commands are replaced: one the device may already have executed keeps
            # its place, so the device still ends in the newest requested state.
            self.pending = [
                queued for queued in self.pending if queued.sent or _target(queued.action) != target
            ]
        if len(self.pending) >= MAX_QUEUED_COMMANDS:
            raise QueueFullError
        command = QueuedCommand(Command(self._issue_id(), action), now)
        self.pending.append(command)
        return command

    def acknowledge(self, ack: int) -> list[QueuedCommand]:
        """Drop the commands the device has executed; return them.

        Ids are compared as readings.command_id_after says: they wrap within the uint32.
        """
        if readings.command_id_after(self.last_ack, ack):
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
        last_issued = self.pending[-1].id if self.pending else self.next_id - 1
        if readings.command_id_after(ack, last_issued):
            # The device acknowledges ids we never issued (our stored queue is older than what
            # the device saw, e.g. a restored backup). Number on from there, or the device would
            # skip new commands as already executed.
            self.next_id = readings.next_command_id(ack)
            LOGGER.warning(
                "Device %s: acknowledged command id %s, newer than any issued (%s); "
                "numbering new commands from %s",
                self.uid,
                ack,
                last_issued,
                self.next_id,
            )
            self.pending = [
                QueuedCommand(Command(self._issue_id(), queued.action), queued.queued_at)
                for queued in self.pending
                if not queued.sent
            ]
            self.last_ack = ack
            return []
        done = [c for c in self.pending if not readings.command_id_after(c.id, ack)]
        self.pending = [c for c in self.pending if readings.command_id_after(c.id, ack)]
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
        return [command.command for command in self.pending]

    def pending_relay(self, ch: int) -> SetRelay | None:
        """Return the newest waiting `SetRelay` for relay `ch`, if any."""
        for queued in reversed(self.pending):
            if isinstance(action := queued.action, SetRelay) and action.ch == ch:
                return action
        return None

    def pending_feed(self, feed: int) -> SetFeed | None:
        """Return the newest waiting `SetFeed` for feed `feed`, if any."""
        for queued in reversed(self.pending):
            if isinstance(action := queued.action, SetFeed) and action.feed == feed:
                return action
        return None
