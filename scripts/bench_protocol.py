"""Benchmark: full open + decode of a 10,000-row upload against the AES + SHA-256 floor.

Not a test. Run through scripts/bench. The floor is what any decoder must pay: one AES-256-CBC
decrypt and one SHA-256 over the same bytes. The full path is open_measurement_packet (framing,
decrypt, digest check, meta) plus decode_rows (every value of every row into arrays).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
import random
import statistics
import struct
import sys
import time
import timeit
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from custom_components.flexscada.protocol import (
    FieldKind,
    Layout,
    build_measurement_packet,
    compile_layout,
    decode_rows,
    key_from_passphrase,
    open_measurement_packet,
    parse_config,
)

ROWS = 10_000
REPEATS = 25


def bench_config() -> dict[str, Any]:
    """Return a 16-input model's config logging 111 metrics (83 float32, 28 bits)."""
    relays = {
        str(n): {"label": f"Relay {n}", "logging": ["amperage", "fuse", "power", "state"]}
        for n in range(1, 9)
    }
    for n in range(1, 5):
        relays[str(n)]["logging"] += ["hvd", "lvd"]
    inputs = {
        str(n): {
            "label": f"Input {n}",
            "unit": "Volts",
            "type": 0,
            "logging": ["avg", "max", "min"],
        }
        for n in range(1, 15)
    }
    inputs |= {str(n): {"label": f"Door {n}", "type": 4, "logging": ["state"]} for n in (15, 16)}
    power = ["power avg", "apparent power", "power factor", "freq", "voltage avg", "amperage avg"]
    return {
        "version": 7,
        "name": "bench",
        "relays": relays,
        "inputs": inputs,
        "ds18b20": [{"id": n, "logging": ["avg", "min", "max"]} for n in range(3)],
        "power_metrics": [
            {"label": f"PM {n}", "logging": [*power, "voltage thd avg"]} for n in range(2)
        ],
        "mfeeds": [{"type": 0}, {"type": 0}, {"type": 1001}, {"type": 1001}],
    }


def random_rows(layout: Layout, count: int) -> list[tuple[int, dict[str, float | bool]]]:
    """Return `count` rows of random values, a few NaN (disconnected sensors)."""
    rnd = random.Random(5)
    rows = []
    for index in range(count):
        values: dict[str, float | bool] = {}
        for field in layout.fields:
            if field.kind is FieldKind.BIT:
                values[field.key] = rnd.random() < 0.5
            else:
                value = float("nan") if rnd.random() < 0.01 else rnd.uniform(-500, 500)
                values[field.key] = struct.unpack("<f", struct.pack("<f", value))[
                    0
                ]  # float32-exact
        rows.append((1764000000 + 60 * index, values))
    return rows


def crypto_floor(key: bytes, data: bytes) -> None:
    """AES-256-CBC decrypt + SHA-256 of the same bytes, nothing else."""
    view = memoryview(data)[4:]
    decryptor = Cipher(algorithms.AES(key), modes.CBC(bytes(view[20:36]))).decryptor()
    plaintext = decryptor.update(view[36:])
    decryptor.finalize()
    hashlib.sha256(plaintext).digest()


def full_decode(key: bytes, layout: Layout, data: bytes) -> None:
    """Open the packet and decode every row to arrays."""
    decode_rows(layout, open_measurement_packet(key, data))


def main() -> None:
    """Build the packets, time both paths interleaved, print the figures."""
    key = key_from_passphrase("bench")
    layout = compile_layout(parse_config(bench_config()))
    floats = sum(1 for f in layout.fields if f.kind is FieldKind.FLOAT)
    print(
        f"config: {len(layout.fields)} metrics ({floats} float32,"
        f" {len(layout.fields) - floats} bits), {layout.payload_bytes + 4} bytes per row"
    )
    started = time.perf_counter()
    rows = random_rows(layout, ROWS)
    data = build_measurement_packet(key, 1535235511, layout, rows, epoch=1764000000 + 60 * ROWS)
    print(
        f"packet: {ROWS:,} queued measurements, {len(data):,} bytes"
        f" (built in {time.perf_counter() - started:.1f} s)"
    )

    # Correctness before speed: the decoded newest row is what was sent.
    decoded = decode_rows(layout, open_measurement_packet(key, data))
    sent = rows[-1][1]
    assert all(
        value == sent[k] or value != value  # noqa: PLR0124  (NaN != NaN)
        for k, value in decoded.latest().items()
    )

    floor_times, full_times = [], []
    for _ in range(REPEATS):  # interleaved, so machine noise hits both alike
        started = time.perf_counter()
        crypto_floor(key, data)
        floor_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        full_decode(key, layout, data)
        full_times.append(time.perf_counter() - started)
    floor, full = statistics.median(floor_times), statistics.median(full_times)
    print(
        f"(a) crypto floor, AES-256-CBC decrypt + SHA-256: median {floor * 1e3:7.2f} ms"
        f"  (min {min(floor_times) * 1e3:.2f} ms)"
    )
    print(
        f"(b) full open + decode to values:               median {full * 1e3:7.2f} ms"
        f"  (min {min(full_times) * 1e3:.2f} ms)"
    )
    minima = min(full_times) / min(floor_times)
    print(f"decode/crypto-floor ratio: {full / floor:.2f}x  (of the minima: {minima:.2f}x)")

    started = time.perf_counter()
    count = sum(1 for _ in decoded.rows())
    print(
        f"for reference, rows() as {count:,} dicts: {(time.perf_counter() - started) * 1e3:.1f} ms"
    )

    single = build_measurement_packet(key, 1535235511, layout, rows[:1], epoch=1764000000)
    number = 2000
    once = min(timeit.repeat(lambda: full_decode(key, layout, single), number=number, repeat=5))
    with_latest = min(
        timeit.repeat(
            lambda: decode_rows(layout, open_measurement_packet(key, single)).latest(),
            number=number,
            repeat=5,
        )
    )
    print(
        f"one typical upload (1 row, {len(single)} bytes):"
        f" open + decode {once / number * 1e6:.0f} µs,"
        f" + latest() {with_latest / number * 1e6:.0f} µs"
    )


if __name__ == "__main__":
    main()
