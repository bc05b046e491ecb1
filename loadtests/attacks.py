"""Bad uploads for the HTTP views, shared by tests/test_fuzz_views.py and the soak's attack phase.

Each body comes with the kind of attack it is. `still_valid` is the oracle: a mutation that left
a proper upload (the protocol library opens and decodes it with the device's key and layout) is
not an attack and is skipped; every other body must get a 4xx answer and change nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
import random

from custom_components.flexscada.protocol import (
    Layout,
    Q5ProtocolError,
    decode_rows,
    open_measurement_packet,
    peek_uid,
    seal,
    unseal,
)
from custom_components.flexscada.protocol.readings import U32

from .fuzz import mutate

KINDS = ("mutated", "resealed", "wrong_key", "random", "tampered")


def attack_bodies(
    rng: random.Random,
    packets: Sequence[bytes],
    key: bytes,
    wrong_key: bytes,
    count: int,
    *,
    kinds: Sequence[str] = KINDS,
) -> Iterator[tuple[str, bytes]]:
    """Yield `count` (kind, body) pairs made from the device's valid `packets`."""
    for _ in range(count):
        kind = rng.choice(kinds)
        packet = rng.choice(packets)
        if kind == "mutated":
            body = mutate(rng, packet)
        elif kind == "resealed":
            # A device with the right key but a broken encoder: counts, sizes, versions, rows.
            uid, sealed = packet[:4], packet[4:]
            body = uid + seal(key, mutate(rng, unseal(key, sealed)))
        elif kind == "wrong_key":
            body = packet[:4] + seal(wrong_key, unseal(key, packet[4:]))
        elif kind == "tampered":
            # One flipped bit in the ciphertext or digest: the integrity check must catch it.
            data = bytearray(packet)
            data[rng.randrange(8, len(data))] ^= 1 << rng.randrange(8)
            body = bytes(data)
        else:
            body = packet[:4] + rng.randbytes(rng.randrange(0, 600))
        yield kind, body


def still_valid(body: bytes, key: bytes, uid: int, layout: Layout) -> bool:
    """Return whether `body` is still a proper upload of this device for this layout."""
    try:
        if peek_uid(body) != uid:
            return False
        decode_rows(layout, open_measurement_packet(key, body))
    except Q5ProtocolError:
        return False
    return True


def oversized_body(uid: int, size: int) -> bytes:
    """Return a body of `size` bytes that starts with a known uid (for the 413 path)."""
    return U32.pack(uid) + bytes(size - 4)
