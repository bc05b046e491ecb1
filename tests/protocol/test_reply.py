"""Server replies: what the server builds and what the device reads back."""

from __future__ import annotations

import json
import math

import pytest

from custom_components.flexscada.protocol import (
    BadCommandError,
    BadReplyError,
    Command,
    IntegrityError,
    PulseRelay,
    ResetRelay,
    SetFeed,
    SetRelay,
    build_reply,
    command_id,
    open_reply,
    parse_action,
    readings,
    reply_json,
    seal,
)


def test_getcfg() -> None:
    assert reply_json(getcfg=True) == {"Cmd": "getcfg"}


def test_everything_at_once() -> None:
    commands = [
        Command(5, SetRelay(ch=1, on=True)),
        Command(6, PulseRelay(ch=2)),
        Command(7, ResetRelay(ch=3)),
        Command(8, SetFeed(feed=0, value=12.5)),
    ]
    reply = reply_json(time=1764000000, config={"version": 43}, commands=commands)
    assert reply == {
        "t": 1764000000,
        "cfg": {"version": 43},
        "commands": [
            {"cmd": "set_relay", "ch": 1, "state": 1, "Id": 5, "id": 5},
            {"cmd": "pulse_relay", "ch": 2, "Id": 6, "id": 6},
            {"cmd": "reset_relay", "ch": 3, "Id": 7, "id": 7},
            {"cmd": "set_feed", "feed": 0, "value": 12.5, "Id": 8, "id": 8},
        ],
    }
    assert Command(1, SetRelay(ch=4, on=False)).to_json()["state"] == 0
    # The device reads back what the server sent.
    for command in commands:
        sent = command.to_json()
        assert Command(command_id(sent) or 0, parse_action(sent["cmd"], sent)) == command


def test_nothing_to_say(key: bytes) -> None:
    assert reply_json() == {}
    assert build_reply(key) == b""
    assert open_reply(key, b"") == {}


def test_sealed_round_trip(key: bytes) -> None:
    data = build_reply(key, getcfg=True, time=5, commands=[Command(3, PulseRelay(ch=1))])
    assert len(data) % 16 == 4  # 4-byte length + 32-byte digest + whole blocks
    reply = open_reply(key, data)
    assert reply == {
        "Cmd": "getcfg",
        "t": 5,
        "commands": [{"cmd": "pulse_relay", "ch": 1, "Id": 3, "id": 3}],
    }
    assert command_id(reply["commands"][0]) == 3
    with pytest.raises(IntegrityError):
        open_reply(bytes(32), data)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_feed_value_must_be_finite(value: float) -> None:
    """JSON cannot carry NaN or infinity: such a command cannot even be made."""
    with pytest.raises(ValueError, match="finite number"):
        SetFeed(feed=0, value=value)


@pytest.mark.parametrize(
    ("command", "expected"),
    [({"Id": 4}, 4), ({"id": 5}, 5), ({"Id": 6, "id": 7}, 6), ({"Id": True}, None), ({}, None)],
)
def test_command_id(command: dict[str, object], expected: int | None) -> None:
    assert command_id(command) == expected


@pytest.mark.parametrize("command_id", [-1, 2**32])
def test_command_id_must_fit_uint32(command_id: int) -> None:
    with pytest.raises(ValueError, match="does not fit"):
        Command(command_id, PulseRelay(ch=1))


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("self_destruct", {}, "unknown command"),
        (None, {}, "unknown command"),
        ("set_relay", {"ch": 1}, "'state' is None"),
        ("set_relay", {"ch": 1, "state": 2}, "not 0 or 1"),
        ("set_relay", {"ch": 1, "state": True}, "not 0 or 1"),
        ("pulse_relay", {"ch": True}, "not a channel number"),
        ("reset_relay", {"ch": "1"}, "not a channel number"),
        ("set_feed", {"feed": -1, "value": 1}, "not a channel number"),
        ("set_feed", {"feed": 0, "value": None}, "not a finite number"),
        ("set_feed", {"feed": 0, "value": math.nan}, "not a finite number"),
        ("set_feed", {"feed": 0, "value": "1"}, "not a finite number"),
    ],
)
def test_bad_commands(name: object, params: dict[str, object], message: str) -> None:
    with pytest.raises(BadCommandError, match=message):
        parse_action(name, params)


@pytest.mark.parametrize(
    ("plaintext", "message"),
    [
        (b"{", "not valid JSON"),
        (b"[1]", "JSON list, not an object"),
        (b"\xff\xff", "not valid JSON"),
        (b"[" * 50_000, "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_bad_replies(key: bytes, plaintext: bytes, message: str) -> None:
    with pytest.raises(BadReplyError, match=message):
        open_reply(key, seal(key, plaintext))


def test_reply_padded_with_spaces(key: bytes) -> None:
    assert open_reply(key, seal(key, json.dumps({"t": 1}).encode() + b"   ")) == {"t": 1}


@pytest.mark.parametrize(
    ("command_id", "expected"), [(0, 1), (1, 2), (0xFFFFFFFE, 0xFFFFFFFF), (0xFFFFFFFF, 1)]
)
def test_next_command_id_wraps_past_zero(command_id: int, expected: int) -> None:
    assert readings.next_command_id(command_id) == expected


@pytest.mark.parametrize(
    ("command_id", "other", "after"),
    [
        (2, 1, True),
        (1, 1, False),
        (1, 2, False),
        (1, 0xFFFFFFFF, True),  # across the wrap
        (0, 0xFFFFFFFF, True),  # 0xFFFFFFFF reads as -1
        (0xFFFFFFFF, 0, False),
        (0x7FFFFFFF, 0, True),
        (0x80000000, 0, False),  # half the space away: behind
    ],
)
def test_command_id_after_is_serial_arithmetic(command_id: int, other: int, after: bool) -> None:
    assert readings.command_id_after(command_id, other) is after
