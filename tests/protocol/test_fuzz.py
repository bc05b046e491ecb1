"""Any byte string fed to a parser ends in a value or a Q5ProtocolError, never anything else."""

from __future__ import annotations

from collections.abc import Callable
import contextlib
import json
from pathlib import Path
import random
import struct
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st

from custom_components.flexscada.protocol import (
    Command,
    PulseRelay,
    Q5ProtocolError,
    build_config_packet,
    build_measurement_packet,
    build_reply,
    compile_layout,
    decode_rows,
    open_config_packet,
    open_measurement_packet,
    open_reply,
    parse_config,
    peek_uid,
    seal,
    unseal,
)

from .conftest import EXAMPLE_CONFIG

KEY = bytes(range(32))
EXAMPLE_TEXT = Path(EXAMPLE_CONFIG).read_text()
EXAMPLE = parse_config(EXAMPLE_TEXT)
LAYOUT = compile_layout(EXAMPLE)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _clean(parse: Callable[[], object]) -> None:
    with contextlib.suppress(Q5ProtocolError):
        parse()


def _measurement(data: bytes) -> None:
    def run() -> None:
        packet = open_measurement_packet(KEY, data)
        decoded = decode_rows(LAYOUT, packet, check_version=False)
        for _ in decoded.rows():
            pass
        decoded.latest()

    _clean(run)


def _config(data: bytes) -> None:
    _clean(lambda: compile_layout(open_config_packet(KEY, data)))


def _every_parser(data: bytes) -> None:
    _clean(lambda: peek_uid(data))
    _clean(lambda: unseal(KEY, data))
    _measurement(data)
    _config(data)
    _clean(lambda: open_reply(KEY, data))
    _clean(lambda: compile_layout(parse_config(data)))


def _valid_packets() -> list[bytes]:
    values = {f.key: 1.5 for f in LAYOUT.fields if f.kind == "float"}
    rows = [(1764000000 + i, values) for i in range(3)]
    return [
        build_measurement_packet(KEY, 1535235511, LAYOUT, rows, epoch=1764000200),
        build_config_packet(KEY, EXAMPLE_TEXT),
        build_reply(KEY, getcfg=True, commands=[Command(1, PulseRelay(ch=1))]),
    ]


VALID = _valid_packets()


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes(data: bytes) -> None:
    _every_parser(data)


def _mutate(data: bytes, rnd: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rnd.randint(1, 4)):
        action = rnd.randrange(5)
        if action == 0 and buf:
            buf[rnd.randrange(len(buf))] ^= 1 << rnd.randrange(8)
        elif action == 1:
            del buf[rnd.randrange(len(buf) + 1) :]
        elif action == 2:
            buf += rnd.randbytes(rnd.randrange(1, 40))
        elif action == 3 and len(buf) >= 8:
            # Rewrite a length-like field: payloadLength sits at 0 or 4.
            at = rnd.choice((0, 4))
            buf[at : at + 4] = struct.pack("<I", rnd.choice((0, 16, len(buf), 2**32 - 1)))
        else:
            buf[0:0] = rnd.randbytes(rnd.randrange(1, 5))
    return bytes(buf)


@FUZZ
@given(st.sampled_from(VALID), st.randoms(use_true_random=False))
def test_mutated_packets(data: bytes, rnd: random.Random) -> None:
    _every_parser(_mutate(data, rnd))


@FUZZ
@given(
    count=st.integers(0, 2**32 - 1) | st.integers(0, 6),
    size=st.integers(0, 2**32 - 1) | st.integers(0, 120),
    rows=st.binary(max_size=600),
)
def test_correctly_sealed_random_measurements(count: int, size: int, rows: bytes) -> None:
    """Past the digest: meta fields and rows that need not agree with each other or the config."""
    meta = struct.pack("<7I", 0, 0, 42, count, size, 0, 0)
    _measurement(struct.pack("<I", 1) + seal(KEY, meta + rows))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
POSITIONS = [
    ("version",),
    ("relays",),
    ("relays", "1"),
    ("relays", "1", "logging"),
    ("inputs", "3", "enabled"),
    ("inputs", "3", "logging"),
    ("ds18b20",),
    ("ds18b20", 0, "logging"),
    ("power_metrics", 0),
    ("mfeeds", 0, "type"),
    ("mfeeds", 1),
    ("name",),
    ("unit",),
]


@FUZZ
@given(position=st.sampled_from(POSITIONS), value=JSON)
def test_configs_with_random_json_anywhere(position: tuple[Any, ...], value: Any) -> None:
    raw = json.loads(EXAMPLE_TEXT)
    target = raw
    for step in position[:-1]:
        target = target[step]
    target[position[-1]] = value
    _clean(lambda: compile_layout(parse_config(raw)))
    _config(seal(KEY, json.dumps(raw).encode()))


@FUZZ
@given(st.randoms(use_true_random=False))
def test_mutated_config_text(rnd: random.Random) -> None:
    text = bytearray(EXAMPLE_TEXT.encode())
    for _ in range(rnd.randint(1, 6)):
        text[rnd.randrange(len(text))] = rnd.choice(b'{}[]",:0123456789 \x00\xff')
    _config(seal(KEY, bytes(text)))
    _clean(lambda: parse_config(bytes(text)))


@FUZZ
@given(JSON)
def test_sealed_random_replies(value: Any) -> None:
    _clean(lambda: open_reply(KEY, seal(KEY, json.dumps(value).encode())))
