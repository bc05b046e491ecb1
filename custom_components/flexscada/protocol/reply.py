"""Server replies to measurement uploads: getcfg, clock, config push and commands."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import dataclasses
from dataclasses import dataclass
import json
from typing import Any

from .crypto import seal, unseal
from .errors import BadReplyError
from .readings import COMMAND_ID_KEYS, GETCFG_KEY, GETCFG_VALUE, JSON_PADDING

_RESERVED_PARAMS = frozenset({"cmd", *COMMAND_ID_KEYS})
_MAX_U32 = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class Command:
    """One device command; `id` is the auto-incrementing id the device acknowledges."""

    id: int
    cmd: str
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not 0 <= self.id <= _MAX_U32:
            raise ValueError(f"command id {self.id} does not fit lastCmdIdAck (uint32)")
        clash = _RESERVED_PARAMS & set(self.params)
        if clash:
            raise ValueError(f"command parameters may not use the keys {sorted(clash)}")

    def to_json(self) -> dict[str, Any]:
        """Return the command object, its id under both "Id" and "id"."""
        return {"cmd": self.cmd, **self.params} | dict.fromkeys(COMMAND_ID_KEYS, self.id)

    @classmethod
    def set_relay(cls, command_id: int, ch: int, state: bool) -> Command:
        """Return a command switching relay `ch` (its 1-based key) on or off."""
        return cls(command_id, "set_relay", {"ch": ch, "state": int(state)})

    @classmethod
    def pulse_relay(cls, command_id: int, ch: int) -> Command:
        """Return a command pulsing relay `ch` (toggle for a few seconds, device-side)."""
        return cls(command_id, "pulse_relay", {"ch": ch})

    @classmethod
    def reset_relay(cls, command_id: int, ch: int) -> Command:
        """Return a command resetting relay `ch`'s fuse, HVD and LVD."""
        return cls(command_id, "reset_relay", {"ch": ch})

    @classmethod
    def set_feed(cls, command_id: int, feed: int, value: float) -> Command:
        """Return a command setting manual feed `feed` (0-based index into mfeeds)."""
        return cls(command_id, "set_feed", {"feed": feed, "value": value})


def reply_json(
    *,
    getcfg: bool = False,
    time: int | None = None,
    config: Mapping[str, Any] | None = None,
    commands: Sequence[Command] = (),
) -> dict[str, Any]:
    """Return the reply object; {} means "processed, nothing to say"."""
    reply: dict[str, Any] = {}
    if getcfg:
        reply[GETCFG_KEY] = GETCFG_VALUE
    if time is not None:
        reply["t"] = time
    if config is not None:
        reply["cfg"] = dict(config)
    if commands:
        reply["commands"] = [command.to_json() for command in commands]
    return reply


def build_reply(
    key: bytes,
    *,
    getcfg: bool = False,
    time: int | None = None,
    config: Mapping[str, Any] | None = None,
    commands: Sequence[Command] = (),
) -> bytes:
    """Return the sealed reply body; b"" (a plain empty 200) when there is nothing to say."""
    reply = reply_json(getcfg=getcfg, time=time, config=config, commands=commands)
    if not reply:
        return b""
    # allow_nan=False: the device's JSON parser cannot be assumed to read NaN/Infinity.
    text = json.dumps(reply, separators=(",", ":"), allow_nan=False)
    return seal(key, text.encode())


def open_reply(key: bytes, data: bytes | memoryview) -> dict[str, Any]:
    """Return a server reply's JSON object as the device reads it (device side); b"" -> {}."""
    if not len(data):
        return {}
    text = unseal(key, data).rstrip(JSON_PADDING)
    try:
        reply = json.loads(text)
    except RecursionError:
        raise BadReplyError("the reply JSON is nested too deeply") from None
    except ValueError as err:  # includes UnicodeDecodeError
        raise BadReplyError(f"the reply is not valid JSON: {err}") from None
    if not isinstance(reply, dict):
        raise BadReplyError(f"the reply is a JSON {type(reply).__name__}, not an object")
    return reply


def command_id(command: Mapping[str, Any]) -> int | None:
    """Return a received command's id, read from "Id" or "id" (device side)."""
    for name in COMMAND_ID_KEYS:
        value = command.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None
