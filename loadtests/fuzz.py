"""Fuzz the protocol library: any bytes give a value or a Q5ProtocolError, never anything else.

`python -m loadtests.fuzz --cases 100000` (or `scripts/fuzz`). Every case picks one attack and
feeds the result to the parser it targets:

* ``sealed``    a valid measurement upload, then mutated (bit flips, truncation, appended or
                inserted bytes, splices, uint32 fields overwritten with edge values) -> opened
                with the right key and, if it opens, decoded;
* ``resealed``  the *plaintext* of an upload mutated the same way (meta fields: counts, sizes,
                config version), then sealed with the right key, so the digest holds and the
                length/count/size checks and the numpy decoder are what gets exercised; decoded
                with the right layout, another layout, and without the version check;
* ``wrong_key`` a valid upload opened with another key (must be IntegrityError);
* ``random``    random bytes of random length to every entry point (peek_uid, unseal, open_*);
* ``config``    a device config JSON mutated structurally (wrong types, missing keys, odd logging
                arrays, deep nesting, huge numbers), sealed, opened and compiled to a layout;
* ``reply``     replies (the device side): mutated sealed replies and sealed non-objects;
* ``keys``      key_from_hex / key_from_passphrase with random text.
* ``hostile``   authentic configs built to hurt Home Assistant (issue 15): integers beyond 64 bits,
                300+ levels of nesting, NaN, unpaired surrogates, more channels or metrics than a
                Q5 has, 32,000+ characters, 4,301-digit or "01" channel keys, absurd intervals,
                metric names that collide as entity ids, 150 KB labels. Refused with a
                Q5ProtocolError, or accepted only if Home Assistant's store (orjson) can write it
                and it declares no more fields than the caps allow.

A violation is an exception that is not a Q5ProtocolError; the first of each kind is printed with
its traceback and the run exits 1.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable, Iterator
import copy
from dataclasses import dataclass, field
import json
import math
import random
import struct
import sys
import time
import traceback
from typing import Any

import orjson

from custom_components.flexscada.protocol import (
    Layout,
    Q5ProtocolError,
    build_reply,
    compile_layout,
    decode_rows,
    key_from_hex,
    key_from_passphrase,
    open_config_packet,
    open_measurement_packet,
    open_reply,
    parse_config,
    peek_uid,
    readings,
    seal,
    unseal,
)
from custom_components.flexscada.protocol.packets import build_measurement_packet, encode_payload
from custom_components.flexscada.protocol.readings import MEASUREMENT_META, U32

from .sites import KEY, UID, WRONG_KEY, big_config, example_config, layout_of

_EDGE_U32 = (0, 1, 2, 3, 4, 15, 16, 17, 28, 32, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFE, 0xFFFF_FFFF)


# --------------------------------------------------------------------------------------------
# byte mutations
# --------------------------------------------------------------------------------------------


def _flip_bits(rng: random.Random, data: bytearray) -> None:
    for _ in range(rng.randint(1, 8)):
        if data:
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)


def _set_bytes(rng: random.Random, data: bytearray) -> None:
    for _ in range(rng.randint(1, 4)):
        if data:
            data[rng.randrange(len(data))] = rng.choice((0, 0xFF, 0x7F, 0x80, rng.randrange(256)))


def _truncate(rng: random.Random, data: bytearray) -> None:
    del data[rng.randrange(len(data) + 1) :]


def _append(rng: random.Random, data: bytearray) -> None:
    data += rng.randbytes(rng.choice((1, 3, 15, 16, 17, 32, rng.randrange(1, 300))))


def _insert(rng: random.Random, data: bytearray) -> None:
    at = rng.randrange(len(data) + 1)
    data[at:at] = rng.randbytes(rng.randint(1, 40))


def _delete(rng: random.Random, data: bytearray) -> None:
    if data:
        at = rng.randrange(len(data))
        del data[at : at + rng.randint(1, 40)]


def _u32_field(rng: random.Random, data: bytearray) -> None:
    """Overwrite an aligned uint32 (length, count, size, version, ...) with an edge value."""
    if len(data) < 4:
        return
    at = rng.randrange(min(len(data) // 4, 16)) * 4
    current = U32.unpack_from(data, at)[0]
    value = rng.choice(
        (*_EDGE_U32, len(data), len(data) - 1, len(data) + 1, current + 1, current - 1, current * 2)
    )
    U32.pack_into(data, at, value & 0xFFFF_FFFF)


def _duplicate(rng: random.Random, data: bytearray) -> None:
    data += data[rng.randrange(len(data) + 1) :]


MUTATORS: tuple[Callable[[random.Random, bytearray], None], ...] = (
    _flip_bits,
    _set_bytes,
    _truncate,
    _append,
    _insert,
    _delete,
    _u32_field,
    _u32_field,
    _duplicate,
)


def mutate(rng: random.Random, data: bytes, rounds: int | None = None) -> bytes:
    """Return `data` with one to three random mutations applied."""
    out = bytearray(data)
    for _ in range(rounds or rng.choice((1, 1, 1, 2, 3))):
        rng.choice(MUTATORS)(rng, out)
    return bytes(out)


# --------------------------------------------------------------------------------------------
# valid material to start from
# --------------------------------------------------------------------------------------------


@dataclass
class Corpus:
    """Valid configs, layouts, plaintexts and packets to mutate."""

    configs: list[dict[str, Any]]
    layouts: list[Layout]
    plaintexts: list[bytes] = field(default_factory=list)
    packets: list[bytes] = field(default_factory=list)

    @classmethod
    def build(cls, rng: random.Random) -> Corpus:
        """Make packets of 0, 1, a few and many rows for both site configs."""
        configs = [example_config(), big_config()]
        corpus = cls(configs, [layout_of(c) for c in configs])
        for layout in corpus.layouts:
            for count in (0, 1, 2, 5, 40):
                rows = [(1_764_000_000 + 60 * i, _values(rng, layout)) for i in range(count)]
                packet = build_measurement_packet(
                    KEY, UID, layout, rows, fw_version=517, epoch=1_764_000_000 + 60 * count
                )
                corpus.packets.append(packet)
                corpus.plaintexts.append(_plaintext(layout, rows))
        return corpus


def _values(rng: random.Random, layout: Layout) -> dict[str, float | bool]:
    values: dict[str, float | bool] = {}
    for f in layout.fields:
        if f.width == 1:
            values[f.key] = rng.random() < 0.5
        else:
            values[f.key] = rng.choice(
                (rng.uniform(-1e6, 1e6), 0.0, float("nan"), float("inf"), 3.4e38, -1e-45)
            )
    return values


def _plaintext(layout: Layout, rows: list[tuple[int, dict[str, float | bool]]]) -> bytes:
    stride = 4 + layout.payload_bytes
    body = bytearray(
        MEASUREMENT_META.pack(0, 517, layout.version, len(rows), stride, 1_764_000_000, 0)
    )
    for timestamp, values in rows:
        body += U32.pack(timestamp) + encode_payload(layout, values)
    return bytes(body)


# --------------------------------------------------------------------------------------------
# cases
# --------------------------------------------------------------------------------------------


def _open_and_decode(key: bytes, data: bytes, layouts: list[Layout]) -> str:
    packet = open_measurement_packet(key, data)
    for layout in layouts:
        for check in (True, False):
            try:
                rows = decode_rows(layout, packet, check_version=check)
            except Q5ProtocolError:
                continue
            rows.latest() if len(rows) else None
            for _ in zip(range(3), rows.rows(), strict=False):
                pass
            return "decoded"
    return "opened"


def case_sealed(rng: random.Random, corpus: Corpus) -> str:
    """Mutate a valid upload; open with the right key, decode if it opens."""
    return _open_and_decode(KEY, mutate(rng, rng.choice(corpus.packets)), corpus.layouts)


def case_resealed(rng: random.Random, corpus: Corpus) -> str:
    """Mutate an upload's plaintext (meta fields, rows), seal it properly, open and decode."""
    plaintext = bytearray(rng.choice(corpus.plaintexts))
    if rng.random() < 0.6 and len(plaintext) >= 28:
        # Meta fields: flags, fw, cfg_version, measurementCount, measurementSize, epoch, ack.
        index = rng.randrange(7)
        value = rng.choice((*_EDGE_U32, rng.getrandbits(32), len(plaintext) - 28))
        struct.pack_into("<I", plaintext, 4 * index, value)
        if rng.random() < 0.3:
            plaintext = bytearray(mutate(rng, bytes(plaintext)))
    else:
        plaintext = bytearray(mutate(rng, bytes(plaintext)))
    data = U32.pack(UID) + seal(KEY, bytes(plaintext))
    return _open_and_decode(KEY, data, corpus.layouts)


def case_wrong_key(rng: random.Random, corpus: Corpus) -> str:
    """Open a valid upload with another key: it must fail the integrity check."""
    data = rng.choice(corpus.packets)
    key = WRONG_KEY if rng.random() < 0.5 else rng.randbytes(32)
    try:
        open_measurement_packet(key, data)
    except Q5ProtocolError as err:
        if type(err).__name__ != "IntegrityError":
            wrong = type(err).__name__
            raise AssertionError(f"wrong key gave {wrong}, not IntegrityError") from err
        raise
    raise AssertionError("a packet opened with the wrong key")


def case_random(rng: random.Random, corpus: Corpus) -> str:
    """Random bytes into every entry point that takes bytes."""
    size = rng.choice((0, 1, 3, 4, 35, 36, 37, 51, 52, 68, 100, rng.randrange(2000)))
    data = rng.randbytes(size)
    if size >= 4 and rng.random() < 0.5:
        data = U32.pack(UID) + data[4:]  # a known uid, so the rest gets looked at
    entry = rng.randrange(5)
    if entry == 0:
        peek_uid(data)
        return "ok"
    if entry == 1:
        unseal(KEY, data)
    elif entry == 2:
        return _open_and_decode(KEY, data, corpus.layouts)
    elif entry == 3:
        open_config_packet(KEY, data)
    else:
        open_reply(KEY, data)
    return "ok"


_JSON_JUNK: tuple[Any, ...] = (
    None,
    True,
    0,
    -1,
    2**32,
    2**70,
    1.5,
    float("inf"),
    "",
    "x",
    [],
    {},
    [None],
    ["avg", "avg"],
    ["bogus"],
    [1, 2],
    {"a": 1},
    "9" * 50,
)


def _walk(node: Any, depth: int = 0) -> Iterator[tuple[Any, Any]]:  # noqa: ANN401 - JSON
    """Yield (container, key) for the values of a JSON document down to depth 8."""
    if depth > 8:
        return
    if isinstance(node, dict):
        for key in list(node):
            yield node, key
            yield from _walk(node[key], depth + 1)
    elif isinstance(node, list):
        for index in range(len(node)):
            yield node, index
            yield from _walk(node[index], depth + 1)


def mutate_config(rng: random.Random, config: dict[str, Any]) -> Any:  # noqa: ANN401 - JSON
    """Return a structurally mutated copy of a device config."""
    doc: Any = copy.deepcopy(config)
    for _ in range(rng.randint(1, 4)):
        spots = list(_walk(doc))
        if not spots or rng.random() < 0.02:
            doc = rng.choice(_JSON_JUNK)
            break
        container, key = rng.choice(spots)
        action = rng.randrange(6)
        if action == 0 and isinstance(container, dict):
            del container[key]
        elif action == 1:
            container[key] = copy.deepcopy(rng.choice(_JSON_JUNK))
        elif action == 2:  # deep nesting
            nested: Any = 1
            for _ in range(rng.choice((10, 100, 5000))):
                nested = [nested]
            container[key] = nested
        elif action == 3 and isinstance(container, dict):
            container[rng.choice(("logging", "type", "enabled", "id", "version", "9"))] = (
                copy.deepcopy(rng.choice(_JSON_JUNK))
            )
        elif action == 4 and isinstance(container[key], list):
            container[key] = container[key] * rng.choice((0, 2, 50))
        elif action == 4 and isinstance(container[key], dict):
            # More channels: the same entries again under new keys ("5", "6", ... or junk).
            for copy_key in list(container[key])[: rng.randint(1, 20)]:
                container[key][f"{copy_key}{rng.choice(('0', '9', 'x', ''))}"] = copy.deepcopy(
                    container[key][copy_key]
                )
        else:
            container[key] = rng.choice(("avg", "state", "value", "power factor", "powerfactor"))
    return doc


def case_config(rng: random.Random, corpus: Corpus) -> str:
    """Mutate a config (structure or text), seal it, open and compile it."""
    try:
        # Copying or encoding a value nested 5,000 deep (an earlier round) can exceed the
        # recursion limit: the harness's limit, not the parser's.
        doc = mutate_config(rng, rng.choice(corpus.configs))
        text = json.dumps(doc).encode()
    except ValueError, RecursionError:
        return "unencodable"
    if rng.random() < 0.3:
        text = mutate(rng, text)
    sealed = rng.random() < 0.5
    config = open_config_packet(KEY, seal(KEY, text)) if sealed else parse_config(text)
    layout = compile_layout(config)
    return "compiled" if layout.fields else "compiled (no fields)"


def case_reply(rng: random.Random, corpus: Corpus) -> str:
    """Device side: replies mutated after sealing, or sealed JSON that is not an object."""
    if rng.random() < 0.5:
        reply = build_reply(KEY, time=1_764_000_000, getcfg=rng.random() < 0.5)
        open_reply(KEY, mutate(rng, reply))
    else:
        text = rng.choice(
            (b"[]", b"1", b'"x"', b"{", b"\xff\xfe", b"[" * 100_000, b"{}", b'{"t": NaN}')
        )
        open_reply(KEY, seal(KEY, mutate(rng, text) if rng.random() < 0.5 else text))
    return "ok"


def case_keys(rng: random.Random, corpus: Corpus) -> str:
    """Derive keys from random text."""
    alphabet = "0123456789abcdefABCDEFxyz \u00e9\x00"
    text = "".join(rng.choice(alphabet) for _ in range(rng.choice((0, 63, 64, 65, 10))))
    if rng.random() < 0.5:
        key_from_hex(text)
    else:
        key_from_passphrase(text)
    return "ok"


# --------------------------------------------------------------------------------------------
# hostile configs (authentic: sealed with the right key)
# --------------------------------------------------------------------------------------------

#: The most fields any accepted config can declare: every channel of every section at its cap.
MAX_FIELDS = sum(
    readings.MAX_CHANNELS[section] * readings.MAX_METRICS_PER_CHANNEL[section]
    for section in readings.SECTIONS
)


def _nested(levels: int) -> Any:  # noqa: ANN401 - JSON
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


def _spot(rng: random.Random, doc: dict[str, Any]) -> dict[str, Any]:
    """Return the config itself or one of its channels, to put something hostile in."""
    channels = [doc]
    for section in readings.SECTIONS:
        value = doc.get(section)
        channels.extend(value.values() if isinstance(value, dict) else value or [])
    return rng.choice(channels)


def hostile_config(rng: random.Random) -> Any:  # noqa: ANN401 - JSON; one per kind
    """Return an example config with one or two hostile changes; some stay within the caps."""
    doc: dict[str, Any] = example_config()
    doc["version"] = rng.randrange(100, 10_000)
    for _ in range(rng.choice((1, 1, 2))):
        kind = rng.randrange(12)
        if kind == 0:  # integers the store cannot write (and some it can)
            _spot(rng, doc)["unused"] = rng.choice(
                (2**64, -(2**63) - 1, 10 ** rng.randint(20, 4299), 2**64 - 1, -(2**63))
            )
        elif kind == 1:  # nesting
            _spot(rng, doc)["unused"] = _nested(rng.choice((10, 33, 255, 300, 5000)))
        elif kind == 2:  # NaN, Infinity, unpaired surrogates
            _spot(rng, doc)["unused"] = rng.choice((math.nan, math.inf, "\ud800", "\udfff x"))
        elif kind == 3:  # more channels than a Q5 has
            section = rng.choice(readings.SECTIONS)
            count = readings.MAX_CHANNELS[section] + rng.choice((0, 1, 100, 1000))
            entries = [{"label": f"c{i}", "logging": ["state"]} for i in range(count)]
            doc[section] = (
                {str(i + 1): entry for i, entry in enumerate(entries)}
                if section in ("relays", "inputs")
                else entries
            )
        elif kind == 4:  # more metrics than a channel offers, or huge metric names
            spot = _spot(rng, doc)
            count = rng.choice((5, 25, 500))
            spot["logging"] = [f"m{i}" * rng.choice((1, 20)) for i in range(count)]
        elif kind == 5:  # long texts: cut when the config fits in 32,000 characters
            text = "L" * rng.choice((101, 5000, 150_000))
            _spot(rng, doc)[rng.choice(("label", "unit", "name", "_t"))] = text
        elif kind == 6:  # channel keys that are not canonical
            key = rng.choice(("1" * 4301, "01", "+1", " 1", "00", "1" * 5, "\u0661"))
            doc["relays"][key] = {"logging": ["state"]}
        elif kind == 7:  # intervals
            name = rng.choice(("upload_interval", "measurement_interval"))
            doc[name] = rng.choice((10**12, -1, -300, 2**63 - 1, 0, 1, 30 * 86400 + 1))
        elif kind == 8:  # metrics that would share an entity id
            doc["power_metrics"][0]["logging"] = ["power avg", "power_avg"]
        elif kind == 9:
            doc["relays"]["1"]["logging"] = ["state", rng.choice(("pulse", "reset"))]
        elif kind == 10:  # over the device's own limit
            doc["plugins"] = {"notes": "x" * rng.choice((31_000, 32_000, 200_000))}
        else:  # repeats within a logging array (bits again, one entity)
            doc["relays"]["1"]["logging"] = ["state"] * rng.choice((2, 64, 65, 5000))
    return doc


def hostile_config_text(rng: random.Random) -> bytes:
    """Return a hostile config as the device would send it (JSON text, NaN allowed)."""
    return json.dumps(hostile_config(rng)).encode("utf-8", "surrogatepass")


def case_hostile(rng: random.Random, corpus: Corpus) -> str:
    """Seal a hostile config, open and compile it: refused, or storable and within the caps."""
    config = open_config_packet(KEY, seal(KEY, hostile_config_text(rng)))
    layout = compile_layout(config)
    orjson.dumps(dict(config.raw))  # what Home Assistant's store will do with it
    if len(layout.fields) > MAX_FIELDS:
        raise AssertionError(f"{len(layout.fields)} fields accepted, over {MAX_FIELDS}")
    return "accepted"


# --------------------------------------------------------------------------------------------
# hostile actions and acknowledgements (issue 15). These need Home Assistant, so they are not
# cases of this runner: tests/test_fuzz_views.py drives them through an in-process Home
# Assistant (its services, then /Q5/m), and scripts/fuzz runs those tests with more cases.
# --------------------------------------------------------------------------------------------

#: The range of a custom feed's number entity (number.FEED_MIN .. number.FEED_MAX).
_FEED_LIMIT = 1_000_000_000.0


def hostile_feed_value(rng: random.Random) -> Any:  # noqa: ANN401 - any service data
    """Return a value for number.set_value: non-finite, extreme, out of range or no number."""
    return rng.choice(
        (
            math.nan,
            -math.nan,
            math.inf,
            -math.inf,
            "nan",
            "NaN",
            "inf",
            "-Infinity",
            "1e999",
            -0.0,
            0.0,
            5e-324,
            -5e-324,
            1.4e-45,
            3.4028235e38,
            sys.float_info.max,
            -sys.float_info.max,
            _FEED_LIMIT,
            -_FEED_LIMIT,
            _FEED_LIMIT + 0.001,
            -_FEED_LIMIT - 1,
            2**64,
            -(2**63),
            "12.5",
            " 7 ",
            "",
            "abc",
            "0x10",
            None,
            True,
            [],
            {},
            [1.0],
            rng.uniform(-_FEED_LIMIT, _FEED_LIMIT),
            rng.uniform(-1e12, 1e12),
        )
    )


def hostile_option(rng: random.Random, options: list[str]) -> Any:  # noqa: ANN401
    """Return an option for select.select_option: mostly unknown, sometimes a real one."""
    return rng.choice(
        (
            rng.choice(options) if options else "",
            "",
            " ",
            "nonsense",
            "0",
            "-1",
            "1e12",
            "x" * 10_000,
            "\u0000",
            (rng.choice(options) if options else "x").upper() + " ",
            42,
            None,
        )
    )


def _nested_mapping(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"label": "deep"}
    for _ in range(levels):
        value = {"1": value}
    return value


def hostile_config_changes(rng: random.Random) -> Any:  # noqa: ANN401 - any service data
    """Return `changes` for flexscada.update_device_config: one or two hostile kinds mixed."""
    changes: dict[Any, Any] = {}
    for _ in range(rng.choice((1, 1, 2))):
        kind = rng.randrange(9)
        if kind == 0:  # keys the config does not have
            changes[rng.choice(("nonsense", "inputs.99.label", "relays.1.fuse", "x.y.z.w"))] = 1
        elif kind == 1:  # keys that could cut the device off or run code: never changeable
            key = rng.choice(("cloud", "script", "version", "relays.1.vSrc", "sd", "plugins"))
            changes[key] = rng.choice(("http://attacker.example:7001", 1, {}, []))
        elif kind == 2:  # huge texts
            key = rng.choice(("name", "inputs.1.label", "relays.2.desc", "inputs.2.unit"))
            changes[key] = "L" * rng.choice((101, 5000, 40_000, 1_000_000))
        elif kind == 3:  # wrong types and absurd values
            key, value = rng.choice(
                (
                    ("upload_interval", rng.choice(("60", -1, 0, 10**12, 1.5, math.nan, None))),
                    ("measurement_interval", rng.choice((True, [], {}, 2**64))),
                    ("relays.1.default", rng.choice((2, -1, "1", None))),
                    ("inputs.1.logging", rng.choice(("avg", ["nope"], [1], ["avg"] * 500))),
                    ("inputs.1.enabled", rng.choice(("yes", 2, None))),
                    ("inputs.1.label", rng.choice((1, None, ["a"], {"a": 1}, "\ud800"))),
                )
            )
            changes[key] = value
        elif kind == 4:  # deep nesting, as a nested path or as a value
            levels = rng.choice((3, 33, 300, 5000))
            if rng.random() < 0.5:
                changes["inputs"] = _nested_mapping(levels)
            else:
                changes["inputs.1.label"] = _nested(levels)
        elif kind == 5:  # 10,000 keys
            changes.update({f"inputs.{i}.label": f"n{i}" for i in range(10_000)})
        elif kind == 6:  # odd keys
            odd_key: str | int = rng.choice(
                ("", ".", "inputs..label", "inputs.1.label.", "inputs.01.label", "\ud800", 7)
            )
            changes[odd_key] = "x"
        elif kind == 7:  # a channel key of 4,301 digits (beyond Python's int digit limit)
            changes["relays." + "1" * 4301 + ".label"] = "x"
        else:  # changes that are fine, so some calls succeed and queue a config
            key, value = rng.choice(
                (
                    ("inputs.1.label", f"Battery {rng.randrange(1000)}"),
                    ("upload_interval", rng.choice((60, 300, 600))),
                    ("ds18b20.0.logging", rng.choice((["avg"], ["avg", "min", "max"]))),
                )
            )
            changes[key] = value
    return changes


def odd_ack(rng: random.Random, next_id: int, last_ack: int) -> int:
    """Return a `lastCmdIdAck` for an upload: uint32 edges, ids around the next one, random."""
    near = (next_id + rng.randint(-3, 3)) % (readings.MAX_COMMAND_ID + 1)
    edges = [0, 1, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFE, 0xFFFF_FFFF, last_ack]
    return rng.choice([*edges, near, near, rng.randrange(readings.MAX_COMMAND_ID + 1)])


CASES: dict[str, tuple[Callable[[random.Random, Corpus], str], int]] = {
    # name: (case, weight)
    "sealed": (case_sealed, 25),
    "resealed": (case_resealed, 30),
    "wrong_key": (case_wrong_key, 5),
    "random": (case_random, 15),
    "config": (case_config, 15),
    "reply": (case_reply, 7),
    "keys": (case_keys, 3),
    "hostile": (case_hostile, 5),
}


@dataclass
class Report:
    """Outcomes per case kind, and the violations (non-Q5ProtocolError exceptions)."""

    cases: int = 0
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    violations: dict[tuple[str, str], str] = field(default_factory=dict)
    violation_count: int = 0
    seconds: float = 0.0


def run(cases: int, seed: int, only: str | None = None) -> Report:
    """Run `cases` random cases; return what happened."""
    rng = random.Random(seed)
    corpus = Corpus.build(rng)
    names = [only] if only else list(CASES)
    weights = [CASES[n][1] for n in names]
    report = Report()
    start = time.perf_counter()
    for _ in range(cases):
        name = rng.choices(names, weights)[0]
        try:
            outcome = CASES[name][0](rng, corpus)
        except Q5ProtocolError as err:
            outcome = type(err).__name__
        except Exception as err:  # the contract violation we look for
            report.violation_count += 1
            where = traceback.extract_tb(err.__traceback__)[-1]
            kind = (name, f"{type(err).__name__} at {where.filename}:{where.lineno}")
            report.violations.setdefault(kind, traceback.format_exc())
            outcome = "VIOLATION"
        report.outcomes[name, outcome] += 1
        report.cases += 1
    report.seconds = time.perf_counter() - start
    return report


def main(argv: list[str] | None = None) -> int:
    """Run the fuzzer and print the outcome table."""
    parser = argparse.ArgumentParser(description="Fuzz the Q5 protocol library.")
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", choices=sorted(CASES))
    args = parser.parse_args(argv)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    report = run(args.cases, args.seed, args.only)
    print(f"protocol fuzz: {report.cases} cases, seed {args.seed}, {report.seconds:.1f} s")
    by_case: dict[str, Counter[str]] = {}
    for (name, outcome), count in report.outcomes.items():
        by_case.setdefault(name, Counter())[outcome] = count
    for name in CASES:
        if name in by_case:
            total = sum(by_case[name].values())
            detail = ", ".join(f"{o} {c}" for o, c in by_case[name].most_common())
            print(f"  {name:10} {total:7d}  {detail}")
    print(f"violations (exceptions other than Q5ProtocolError): {report.violation_count}")
    for (name, kind), text in report.violations.items():
        print(f"--- {name}: {kind}\n{text}")
    return 1 if report.violation_count else 0


if __name__ == "__main__":
    sys.exit(main())
