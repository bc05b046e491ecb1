"""Device commands: what a server can ask of a Q5, typed, with their wire form in one place.

A command travels in a reply's "commands" array as `{"cmd": <name>, <parameters>, "Id": <id>,
"id": <id>}`. `SetRelay`, `PulseRelay`, `ResetRelay` and `SetFeed` are the actions; `Command`
gives one an id for the device to acknowledge. The command names and parameter keys are spelled
here and nowhere else: the server builds commands from these classes, the device (the simulator)
reads them back with `parse_action` and `command_id`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import math
from typing import Any, ClassVar, Final, Self

from .errors import BadCommandError
from .readings import COMMAND_ID_KEYS, MAX_COMMAND_ID


def _number_param(params: Mapping[str, Any], key: str) -> int:
    """Return a channel or feed number parameter: a non-negative integer."""
    value = params.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadCommandError(f"{key!r} is {value!r}, not a channel number")
    return value


@dataclass(frozen=True, slots=True)
class SetRelay:
    """Switch relay `ch` (its 1-based key) on or off."""

    name: ClassVar[str] = "set_relay"
    ch: int
    on: bool

    def params(self) -> dict[str, Any]:
        """Return the command's parameters as sent."""
        return {"ch": self.ch, "state": int(self.on)}

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Self:
        """Read the command's parameters; raise BadCommandError if they are not valid."""
        state = params.get("state")
        if isinstance(state, bool) or state not in (0, 1):
            raise BadCommandError(f"'state' is {state!r}, not 0 or 1")
        return cls(_number_param(params, "ch"), bool(state))


@dataclass(frozen=True, slots=True)
class _RelayAction:
    """An action on relay `ch` that takes no other parameter."""

    ch: int

    def params(self) -> dict[str, Any]:
        """Return the command's parameters as sent."""
        return {"ch": self.ch}

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Self:
        """Read the command's parameters; raise BadCommandError if they are not valid."""
        return cls(_number_param(params, "ch"))


@dataclass(frozen=True, slots=True)
class PulseRelay(_RelayAction):
    """Pulse relay `ch`: the device inverts it for a few seconds."""

    name: ClassVar[str] = "pulse_relay"


@dataclass(frozen=True, slots=True)
class ResetRelay(_RelayAction):
    """Reset relay `ch`'s fuse, HVD and LVD trips."""

    name: ClassVar[str] = "reset_relay"


@dataclass(frozen=True, slots=True)
class SetFeed:
    """Set manual feed `feed` (0-based index into mfeeds) to `value`; a BIT feed takes 0 or 1."""

    name: ClassVar[str] = "set_feed"
    feed: int
    value: float

    def __post_init__(self) -> None:
        # JSON has no NaN or Infinity: such a value could never be sent.
        if not math.isfinite(self.value):
            raise ValueError(f"a feed value must be a finite number, not {self.value!r}")

    def params(self) -> dict[str, Any]:
        """Return the command's parameters as sent."""
        return {"feed": self.feed, "value": self.value}

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Self:
        """Read the command's parameters; raise BadCommandError if they are not valid."""
        value = params.get("value")
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise BadCommandError(f"'value' is {value!r}, not a finite number")
        return cls(_number_param(params, "feed"), value)


type DeviceAction = SetRelay | PulseRelay | ResetRelay | SetFeed

ACTIONS: Final[Mapping[str, type[DeviceAction]]] = {
    action.name: action for action in (SetRelay, PulseRelay, ResetRelay, SetFeed)
}


def parse_action(name: object, params: Mapping[str, Any]) -> DeviceAction:
    """Return the action a command name and its parameters describe (extra keys are ignored).

    Raise BadCommandError for an unknown name or missing or invalid parameters.
    """
    if not isinstance(name, str) or (action := ACTIONS.get(name)) is None:
        raise BadCommandError(f"unknown command {name!r}")
    return action.from_params(params)


@dataclass(frozen=True, slots=True)
class Command:
    """One action with the id the device acknowledges (`lastCmdIdAck`) once it ran it."""

    id: int
    action: DeviceAction

    def __post_init__(self) -> None:
        if not 0 <= self.id <= MAX_COMMAND_ID:
            raise ValueError(f"command id {self.id} does not fit lastCmdIdAck (uint32)")

    def to_json(self) -> dict[str, Any]:
        """Return the command object, its id under both "Id" and "id"."""
        return {"cmd": self.action.name, **self.action.params()} | dict.fromkeys(
            COMMAND_ID_KEYS, self.id
        )


def command_id(command: Mapping[str, Any]) -> int | None:
    """Return a received command's id, read from "Id" or "id" (device side)."""
    for name in COMMAND_ID_KEYS:
        value = command.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None
