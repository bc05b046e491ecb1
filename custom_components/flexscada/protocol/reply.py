"""Server replies to measurement uploads: getcfg, clock, config push and commands."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import json
from typing import Any

from .commands import Command
from .config_json import wire_json
from .crypto import seal, unseal
from .errors import BadReplyError
from .readings import GETCFG_KEY, GETCFG_VALUE, JSON_PADDING


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
    return seal(key, wire_json(reply).encode())


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
