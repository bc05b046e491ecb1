"""The FlexSCADA Q5 cloud-sync protocol, free of Home Assistant: crypto, packets, config, decoding.

See docs/protocol.md. The spec's open questions are answered in `readings`, in one place.
"""

from __future__ import annotations

from . import readings
from .commands import (
    ACTIONS,
    Command,
    DeviceAction,
    PulseRelay,
    ResetRelay,
    SetFeed,
    SetRelay,
    command_id,
    parse_action,
)
from .config import compile_layout, parse_config
from .config_json import MAX_CONFIG_BYTES
from .crypto import key_from_hex, key_from_passphrase, seal, unseal
from .decoder import DecodedRows, decode_rows
from .errors import (
    BadCommandError,
    BadConfigError,
    BadLengthError,
    BadReplyError,
    IntegrityError,
    InvalidKeyError,
    LayoutMismatchError,
    Q5ProtocolError,
    TruncatedPacketError,
)
from .model import Channel, DeviceConfig, Field, FieldKind, Layout
from .packets import (
    MAX_CONFIG_PACKET_BYTES,
    MAX_MEASUREMENT_PACKET_BYTES,
    MEASUREMENT_META_SIZE,
    MeasurementMeta,
    MeasurementPacket,
    build_config_packet,
    build_measurement_packet,
    encode_payload,
    open_config_packet,
    open_measurement_packet,
    peek_uid,
)
from .reply import build_reply, open_reply, reply_json

__all__ = [
    "ACTIONS",
    "MAX_CONFIG_BYTES",
    "MAX_CONFIG_PACKET_BYTES",
    "MAX_MEASUREMENT_PACKET_BYTES",
    "MEASUREMENT_META_SIZE",
    "BadCommandError",
    "BadConfigError",
    "BadLengthError",
    "BadReplyError",
    "Channel",
    "Command",
    "DecodedRows",
    "DeviceAction",
    "DeviceConfig",
    "Field",
    "FieldKind",
    "IntegrityError",
    "InvalidKeyError",
    "Layout",
    "LayoutMismatchError",
    "MeasurementMeta",
    "MeasurementPacket",
    "PulseRelay",
    "Q5ProtocolError",
    "ResetRelay",
    "SetFeed",
    "SetRelay",
    "TruncatedPacketError",
    "build_config_packet",
    "build_measurement_packet",
    "build_reply",
    "command_id",
    "compile_layout",
    "decode_rows",
    "encode_payload",
    "key_from_hex",
    "key_from_passphrase",
    "open_config_packet",
    "open_measurement_packet",
    "open_reply",
    "parse_action",
    "parse_config",
    "peek_uid",
    "readings",
    "reply_json",
    "seal",
    "unseal",
]
