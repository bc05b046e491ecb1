"""Decode tool: `python path/to/protocol decode --config C --key K PACKET` (see __main__.py).

Prints one JSON object per queued measurement: {"uid", "timestamp", "values"}; values are keyed
`<section>.<channel key>.<metric>`, floats are the float32 readings unscaled, and a NaN or
infinite reading (a disconnected sensor) prints as null so that every line is valid JSON.
Bad input prints one line on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import json
import math
from pathlib import Path
import sys
from typing import NoReturn

from .config import compile_layout, parse_config
from .crypto import key_from_hex, key_from_passphrase
from .decoder import Value, decode_rows
from .errors import Q5ProtocolError
from .model import DeviceConfig
from .packets import open_config_packet, open_measurement_packet

_PROG = (
    "python -m custom_components.flexscada.protocol"  # the name in messages unless main() gets one
)
EXIT_BAD_INPUT = 2


class _UsageError(Exception):
    """A command line argparse refused."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that reports a usage error as one line, through main()'s return value."""

    def error(self, message: str) -> NoReturn:
        """Raise instead of printing usage and exiting."""
        raise _UsageError(message)


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = _Parser(prog=prog, description="FlexSCADA Q5 protocol tools.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    decode = commands.add_parser(
        "decode",
        help="decode a measurement upload to JSON lines",
        description="Print one JSON object per queued measurement (NaN/inf print as null).",
    )
    config = decode.add_mutually_exclusive_group(required=True)
    config.add_argument("--config", type=Path, help="the device config, JSON text")
    config.add_argument("--config-packet", type=Path, help="a config upload packet (binary)")
    key = decode.add_mutually_exclusive_group(required=True)
    key.add_argument("--passphrase", help="the device passphrase")
    key.add_argument("--key", help="the device key, 64 hex digits")
    decode.add_argument(
        "--any-cfg-version",
        action="store_true",
        help="decode even if the packet reports another config version than the config's",
    )
    decode.add_argument("packet", type=Path, help="a measurement upload packet (binary)")
    return parser


def _json_value(value: Value) -> Value | None:
    """Return `value` as JSON can carry it: a non-finite float becomes null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _decode(args: argparse.Namespace) -> None:
    key = key_from_hex(args.key) if args.key is not None else key_from_passphrase(args.passphrase)
    config: DeviceConfig
    if args.config is not None:
        config = parse_config(args.config.read_bytes())
    else:
        config = open_config_packet(key, args.config_packet.read_bytes())
    packet = open_measurement_packet(key, args.packet.read_bytes())
    decoded = decode_rows(compile_layout(config), packet, check_version=not args.any_cfg_version)
    write = sys.stdout.write
    for timestamp, values in decoded.rows():
        line = {
            "uid": packet.uid,
            "timestamp": timestamp,
            "values": {name: _json_value(value) for name, value in values.items()},
        }
        write(json.dumps(line, allow_nan=False) + "\n")


def main(argv: Sequence[str] | None = None, prog: str = _PROG) -> int:
    """Run the tool; return the exit status (0, or 2 on bad input)."""
    try:
        args = _parser(prog).parse_args(argv)
        _decode(args)
    except SystemExit as done:  # --help / --version: argparse has printed what was asked
        return done.code if isinstance(done.code, int) else 0
    except _UsageError as err:
        sys.stderr.write(f"{prog}: usage error: {err}\n")
        return EXIT_BAD_INPUT
    except OSError as err:
        sys.stderr.write(f"{prog}: cannot read {err.filename}: {err.strerror}\n")
        return EXIT_BAD_INPUT
    except Q5ProtocolError as err:
        sys.stderr.write(f"{prog}: {type(err).__name__}: {err}\n")
        return EXIT_BAD_INPUT
    return 0
