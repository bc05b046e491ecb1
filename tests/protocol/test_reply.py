"""Server replies: what the server builds and what the device reads back."""

from __future__ import annotations

import json

import pytest

from custom_components.flexscada.protocol import (
    BadReplyError,
    Command,
    IntegrityError,
    build_reply,
    command_id,
    open_reply,
    reply_json,
    seal,
)


def test_getcfg() -> None:
    assert reply_json(getcfg=True) == {"Cmd": "getcfg"}


def test_everything_at_once() -> None:
    commands = [
        Command.set_relay(5, ch=1, state=True),
        Command.pulse_relay(6, ch=2),
        Command.reset_relay(7, ch=3),
        Command.set_feed(8, feed=0, value=12.5),
        Command(9, "custom", {"x": [1, 2]}),
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
            {"cmd": "custom", "x": [1, 2], "Id": 9, "id": 9},
        ],
    }
    assert Command.set_relay(1, ch=4, state=False).to_json()["state"] == 0
    assert Command(1, "noop").to_json() == {"cmd": "noop", "Id": 1, "id": 1}


def test_nothing_to_say(key: bytes) -> None:
    assert reply_json() == {}
    assert build_reply(key) == b""
    assert open_reply(key, b"") == {}


def test_sealed_round_trip(key: bytes) -> None:
    data = build_reply(key, getcfg=True, time=5, commands=[Command.pulse_relay(3, ch=1)])
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


def test_build_reply_refuses_nan(key: bytes) -> None:
    with pytest.raises(ValueError, match="JSON compliant"):
        build_reply(key, commands=[Command.set_feed(1, feed=0, value=float("nan"))])


@pytest.mark.parametrize(
    ("command", "expected"),
    [({"Id": 4}, 4), ({"id": 5}, 5), ({"Id": 6, "id": 7}, 6), ({"Id": True}, None), ({}, None)],
)
def test_command_id(command: dict[str, object], expected: int | None) -> None:
    assert command_id(command) == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"id": -1, "cmd": "x"}, "does not fit"),
        ({"id": 2**32, "cmd": "x"}, "does not fit"),
        ({"id": 1, "cmd": "x", "params": {"Id": 3}}, r"\['Id'\]"),
        ({"id": 1, "cmd": "x", "params": {"cmd": "y", "id": 2}}, r"\['cmd', 'id'\]"),
    ],
)
def test_bad_commands(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Command(**kwargs)  # type: ignore[arg-type]


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
