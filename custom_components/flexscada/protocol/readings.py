"""Every reading of the Q5 protocol that the spec leaves open, named, in one place.

Each item says where it comes from: (a) stated by the spec, (b) seen in FlexSCADA's own public
code, (c) our decision. Only the (c) items are guesses; if a real device disagrees, the change
belongs here and nowhere else. docs/protocol.md lists them for readers who do not read code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
import struct
from typing import Final

# --- Framing -------------------------------------------------------------------------------------

#: (c) Every integer and float32 on the wire is little-endian (the Q5 is an ARM MCU).
BYTE_ORDER: Final = "little"
U32: Final = struct.Struct("<I")
F32: Final = struct.Struct("<f")

#: (a) AES_HEADER: uint32 payloadLength, then a 32-byte SHA-256 digest (its last 16 bytes: the IV).
AES_HEADER: Final = struct.Struct("<I32s")
AES_HEADER_SIZE: Final = AES_HEADER.size
AES_BLOCK: Final = 16

#: (a) The clear uint32 uid that precedes the AES_HEADER of a measurement upload.
UID_SIZE: Final = U32.size

#: (a)+(c) The seven uint32 meta fields (flags, fw_version, cfg_version, measurementCount,
#: measurementSize, epoch, lastCmdIdAck). The digest covers AES_HEADER + payloadLength bytes, so we
#: read them as the first 28 bytes of the *encrypted* region, not as clear text.
MEASUREMENT_META: Final = struct.Struct("<7I")

#: (a) One queued measurement starts with a uint32 unix timestamp.
TIMESTAMP_SIZE: Final = U32.size

#: (a) Padding we write: NUL bytes up to a multiple of 16 (the spec allows NULs or spaces).
PAD_BYTE: Final = b"\x00"

#: (a) Bytes the spec pads a plaintext with.
PADDING_BYTES: Final = b"\x00 "

#: (c) Padding we strip from a decrypted JSON text before parsing: NULs and JSON whitespace.
JSON_PADDING: Final = b"\x00 \t\r\n"

#: (c) Bytes tolerated after the last cipher block: none, an HTTP body is exactly one packet.
MAX_TRAILING_BYTES: Final = 0

#: (a) The key is sha256(passphrase + this suffix).
PASSPHRASE_SUFFIX: Final = "FlexsQ5!"  # noqa: S105  (public, from the spec; not a secret)


# (a) says payloadLength is a multiple of 16. (c) If it is not, we round the ciphertext up to
# whole blocks; the digest covers exactly payloadLength plaintext bytes. We always send multiples.
def cipher_length(payload_length: int) -> int:
    """Return how many encrypted bytes follow the AES_HEADER for a given payloadLength."""
    return payload_length + (-payload_length % AES_BLOCK)


# (c) measurementSize counts the 4-byte timestamp. A stride "accounts for" the plaintext after the
# meta fields when its rows leave fewer than 16 bytes and those are padding (NULs or spaces, as the
# spec pads). If `size` does not account for it but `size + 4` does, the device did not count the
# timestamp. The padding test is what tells the two apart for 1-3 rows (4 * count < 16); if the last
# row happens to end in padding-like bytes, both fit and `size` wins.
def measurement_row_stride(count: int, size: int, body: bytes | memoryview) -> int | None:
    """Return the bytes per queued measurement (timestamp included), or None if nothing fits."""
    for stride in (size, size + TIMESTAMP_SIZE):
        if stride < TIMESTAMP_SIZE:
            continue
        spare = len(body) - count * stride
        if 0 <= spare < AES_BLOCK and not bytes(body[count * stride :]).strip(PADDING_BYTES):
            return stride
    return None


# (c) LSB-first: bit 0 is the lowest bit of the first payload byte; a float32 is its 32 bits as an
# IEEE-754 single. This is the reference reading; the vectorised decoder is tested against it.
def extract_field(payload: int, offset: int, width: int) -> int:
    """Return the `width` bits at bit `offset` of a payload read as one little-endian integer."""
    return (payload >> offset) & ((1 << width) - 1)


# --- The device clock ---------------------------------------------------------------------------

#: (c) A device clock before 2010-01-01 00:00 UTC is unset (a reboot that reset it to 2000-01-01):
#: no upload from a Q5 whose clock is set carries such a time. The rows of such an upload are not
#: dropped as old: they are re-stamped by the offset measured at receipt (`restamp_offset`), and
#: the reply sets the clock.
CLOCK_UNSET_BEFORE: Final = 1_262_304_000


def clock_is_unset(epoch: int) -> bool:
    """Return True if a device clock reading (`epoch`, a row's timestamp) means "never set"."""
    return epoch < CLOCK_UNSET_BEFORE


# (c) An upload sent with an unset clock: true time = row time + (our time at receipt - epoch).
# The queue was measured by the same unset clock, so the offset holds for all its rows.
def restamp_offset(epoch: int, received: int) -> int:
    """Return the seconds to add to an upload's row timestamps (0 unless its clock is unset)."""
    return received - epoch if clock_is_unset(epoch) else 0


# --- The config walk ----------------------------------------------------------------------------

#: (a) The order of the walk; plugins (and anything else) follow and are ignored.
SECTIONS: Final = ("relays", "inputs", "ds18b20", "power_metrics", "mfeeds")

#: (a) Metrics that occupy 1 bit, per section. Every other metric is a float32 (32 bits).
BIT_METRICS: Final[Mapping[str, frozenset[str]]] = {
    "relays": frozenset({"state", "fuse", "hvd", "lvd"}),
    "inputs": frozenset({"state"}),
    "ds18b20": frozenset(),
    "power_metrics": frozenset(),
    "mfeeds": frozenset({"state"}),
}
BIT_WIDTH: Final = 1
FLOAT_WIDTH: Final = 32


def metric_width(section: str, metric: str) -> int:
    """Return the number of payload bits a logged metric occupies (1 or 32)."""
    return BIT_WIDTH if metric in BIT_METRICS.get(section, frozenset()) else FLOAT_WIDTH


#: (c) An input without an "enabled" key is enabled; "enabled": false contributes nothing (b).
INPUT_ENABLED_DEFAULT: Final = True

#: (b) An mfeed without a "logging" array logs by its type: 0 = BIT, 1001 = FLOAT.
#: (c) "logging" wins when present; an mfeed with neither logging nor a type listed here is a
#: BadConfigError, because guessing its width would silently shift every later field.
MFEED_TYPE_METRICS: Final[Mapping[int, tuple[str, ...]]] = {0: ("state",), 1001: ("value",)}


def array_channel_key(index: int) -> str:
    """Return the channel key of an array-shaped section's entry: its 0-based index (c)."""
    return str(index)


# (b) keys are 1-based channel numbers walked in ascending numeric order; (c) a key that is not a
# canonical decimal number ("1", not "01", "+1" or "1.0"; at most 4 digits) makes the order or the
# channel unknowable, so the config is rejected.
def object_channel_order(keys: Iterable[str]) -> list[str] | None:
    """Return an object-shaped section's keys in walk order, or None if one is not a number."""
    keys = list(keys)
    if not all(is_canonical_channel_key(key) for key in keys):
        return None
    return sorted(keys, key=int)


# (a) A relay command's `ch` is the relay's 1-based channel number: the key of an object-shaped
# `relays`; (c) the index plus one of an array-shaped one. (a) A feed command's `feed` is the feed's
# 0-based index into `mfeeds`; (c) the key of an object-shaped `mfeeds` is taken as that index.
# No other section takes commands.
def command_number(section: str, channel_key: str, keyed_by_number: bool) -> int | None:
    """Return the number commands address a channel by, or None if its section takes none.

    `keyed_by_number`: the section is an object keyed by channel numbers (else an array).
    """
    if section == "relays":
        return int(channel_key) if keyed_by_number else int(channel_key) + 1
    if section == "mfeeds":
        return int(channel_key)
    return None


def is_canonical_channel_key(key: str) -> bool:
    """Return True if `key` is a channel number as the device writes it: "0", "1", ... "9999"."""
    return (
        0 < len(key) <= MAX_CHANNEL_KEY_DIGITS
        and key.isascii()
        and key.isdecimal()
        and (key == "0" or not key.startswith("0"))
    )


#: (c) Digits of an object-shaped section's channel key; a Q5 has fewer than 100 of any kind.
MAX_CHANNEL_KEY_DIGITS: Final = 4


#: (c) A metric repeated within one channel's logging array occupies its bits again (the device
#: walks its array as stored) but only its first occurrence becomes a field.
DUPLICATE_METRIC_OCCUPIES_BITS: Final = True

#: (c) Older firmware's power-metric names and the current names we take them to mean. The first
#: two are plain renames; the last three (no statistic in the old name) are read as "inst".
LEGACY_METRIC_NAMES: Final[Mapping[str, str]] = {
    "apparant power": "apparent power",
    "powerfactor": "power factor",
    "real power": "power inst",
    "voltage": "voltage inst",
    "amperage": "amperage inst",
}


def canonical_metric(section: str, metric: str) -> str:
    """Return the current name of a metric, mapping older firmware's power-metric names."""
    if section == "power_metrics":
        return LEGACY_METRIC_NAMES.get(metric, metric)
    return metric


# --- What one Q5 can declare ------------------------------------------------------------------
# A config is authentic once it opens with the key, but what it declares becomes entities: these
# bounds keep one config within what a Q5 can have. A config over them is refused, not trimmed
# (a trimmed walk would shift every later field).

#: (b) The device stores its config as text of at most this many characters.
MAX_CONFIG_CHARS: Final = 32_000

#: Channels per section: (b) 8 relays, 8 or 16 inputs; (c) the rest, generous for one device.
MAX_CHANNELS: Final[Mapping[str, int]] = {
    "relays": 8,
    "inputs": 16,
    "ds18b20": 16,
    "power_metrics": 8,
    "mfeeds": 32,
}

#: (a)+(b) The metrics each section offers (power: the current and the older firmware's names).
KNOWN_METRICS: Final[Mapping[str, frozenset[str]]] = {
    "relays": frozenset({"amperage", "fuse", "hvd", "lvd", "power", "state"}),
    "inputs": frozenset({"avg", "inst", "max", "min", "ripple", "power", "state"}),
    "ds18b20": frozenset({"inst", "avg", "min", "max"}),
    "power_metrics": frozenset(
        {
            *(
                f"{name} {stat}"
                for name in ("power", "voltage", "amperage")
                for stat in ("inst", "avg", "min", "max")
            ),
            "apparent power",
            "power factor",
            "freq",
            "voltage thd inst",
            "voltage thd avg",
            *LEGACY_METRIC_NAMES,
        }
    ),
    "mfeeds": frozenset({"state", "value"}),
}

#: (c) Metrics newer firmware may add to a section: names we do not know are accepted (as
#: float32s) as long as a channel logs at most this many more than its section offers.
NEW_METRICS_ALLOWANCE: Final = 4

#: (c) Different metrics one channel may log: what its section offers, plus the allowance.
MAX_METRICS_PER_CHANNEL: Final[Mapping[str, int]] = {
    section: len(names) + NEW_METRICS_ALLOWANCE for section, names in KNOWN_METRICS.items()
}

#: (c) Entries of one logging array, repeats included (each repeat occupies bits again).
MAX_WALK_PER_CHANNEL: Final = 64

#: (c) Longest metric name; the known ones have at most 16 characters.
MAX_METRIC_NAME_CHARS: Final = 32

#: (c) Names a channel's own entities use beside its metrics: a relay's buttons (pulse, reset)
#: and power-up setting, a power's energy counters. No metric can be called so (compared with
#: spaces as underscores, as unique ids are), or two entities would share one unique id.
RESERVED_METRIC_NAMES: Final = frozenset(
    {"pulse", "reset", "power_up", "energy", "returned_energy"}
)

#: (c) Texts longer than this (label, unit, true/false texts, the device's name) are cut: they
#: become entity and device names, never identifiers.
MAX_LABEL_CHARS: Final = 100

#: (c) Seconds an upload or measurement interval may be: 1 s to 30 days. 0 or absent = unknown
#: (the vendor's default is assumed); anything else is not a Q5's interval.
MAX_INTERVAL_SECONDS: Final = 30 * 86400

#: (c) What a stored config must stay within so that Home Assistant's JSON store can write it
#: again: integers of 64 bits (orjson), nesting well under orjson's limit of 255, no NaN or
#: Infinity, no unpaired surrogate in a string.
MIN_JSON_INT: Final = -(2**63)
MAX_JSON_INT: Final = 2**64 - 1
MAX_JSON_DEPTH: Final = 32


# --- Replies ------------------------------------------------------------------------------------

#: (a) The reply that asks the device to upload its config (sent with HTTP 409).
GETCFG_KEY: Final = "Cmd"
GETCFG_VALUE: Final = "getcfg"

#: (a)+(c) The spec spells the command id "Id", the vendor's tools "id": we send both, same value,
#: and (device side) read whichever is present, "Id" first.
COMMAND_ID_KEYS: Final = ("Id", "id")

#: (a) Command ids are "auto incrementing" and acknowledged as the uint32 `lastCmdIdAck`.
#: (c) 0 is the ack of a device that has executed nothing, so ids run from 1 to 0xFFFFFFFF and
#: then wrap back to 1 (never 0, never past the uint32). Ids and acks are compared in serial-number
#: arithmetic (RFC 1982) over 2**32: an id is after another if it is less than 2**31 ahead of it,
#: modulo 2**32. So a wrap is just one more step, and a device that reports 0xFFFFFFFF (-1, "none",
#: as some firmware counts) is read as one behind 0: it has executed nothing we sent.
FIRST_COMMAND_ID: Final = 1
MAX_COMMAND_ID: Final = 0xFFFFFFFF
_ID_SPACE: Final = 1 << 32


def next_command_id(command_id: int) -> int:
    """Return the id that follows `command_id`: one more, wrapping from 0xFFFFFFFF to 1."""
    return command_id + 1 if FIRST_COMMAND_ID <= command_id < MAX_COMMAND_ID else FIRST_COMMAND_ID


def command_id_after(command_id: int, other: int) -> bool:
    """Return True if `command_id` comes after `other` (serial-number arithmetic, 32 bits)."""
    return 0 < (command_id - other) % _ID_SPACE < _ID_SPACE // 2


def format_uid(uid: int) -> str:
    """Return the uid as the device writes it in /Q5/cfg/<uid>: plain decimal (b)."""
    return str(uid)
