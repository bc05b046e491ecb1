"""A config's JSON text: read within the device's limits, and only what Home Assistant can store.

Refused here, before anything else is parsed: text over the device's own size limit, text that is
not JSON, and JSON Home Assistant's store (orjson) could not write back. A config acknowledged
with 200 and then not storable would be lost, and the device only re-sends it when asked.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
import json
from typing import Any, Final

from .errors import BadConfigError
from .readings import JSON_PADDING, MAX_CONFIG_CHARS, MAX_JSON_DEPTH, MAX_JSON_INT, MIN_JSON_INT

#: Largest config upload we read: the device's limit is MAX_CONFIG_CHARS characters, which UTF-8
#: may take up to 4 bytes each to send (padding aside).
MAX_CONFIG_BYTES: Final = 256 * 1024


def load_json(text: str | bytes | bytearray | memoryview) -> object:
    """Return the JSON value of a config upload's text; BadConfigError if it is none."""
    if isinstance(text, str):
        if len(text) > MAX_CONFIG_BYTES:
            raise BadConfigError(f"the config has {len(text)} characters, over {MAX_CONFIG_BYTES}")
        text = text.rstrip(JSON_PADDING.decode())
    else:
        if len(text) > MAX_CONFIG_BYTES:
            raise BadConfigError(f"the config has {len(text)} bytes, over {MAX_CONFIG_BYTES}")
        try:
            text = bytes(text).rstrip(JSON_PADDING).decode()
        except UnicodeDecodeError as err:
            raise BadConfigError(f"the config is not UTF-8 text ({err.reason})") from None
    if len(text) > MAX_CONFIG_CHARS:
        raise BadConfigError(
            f"the config has {len(text)} characters, over the device's own {MAX_CONFIG_CHARS}"
        )
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise BadConfigError(
            f"the config JSON is nested too deeply (over {MAX_JSON_DEPTH} levels)"
        ) from None
    except ValueError as err:
        raise BadConfigError(f"the config is not valid JSON: {err}") from None


def wire_json(value: object) -> str:
    """Return the JSON text the server sends the device: compact, ASCII only.

    Non-ASCII characters go out escaped, six characters each. The reply is written with it, and
    a pushed config measured with it against the device's limit, so the two cannot disagree.
    No NaN/Infinity: the device's parser cannot be assumed to read them.
    """
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def _refuse_constant(name: str) -> object:
    """Refuse NaN and Infinity: not JSON, and not something the store can write back."""
    raise ValueError(f"{name} is not a JSON value")


def check_storable(doc: object) -> None:
    """Raise BadConfigError unless Home Assistant's JSON store could write `doc` back.

    The store (orjson) fails on integers outside 64 bits, deep nesting, NaN/Infinity and strings
    with unpaired surrogates; a config it cannot write would be acknowledged and then lost.
    Iterative, so nesting deeper than Python's recursion limit is reported, not raised.
    """
    stack: list[tuple[object, int]] = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int):
            if not MIN_JSON_INT <= value <= MAX_JSON_INT:
                raise BadConfigError(
                    f"the config has the integer {short_int(value)}, outside 64 bits (not storable)"
                )
        elif isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):  # noqa: PLR0124
                raise BadConfigError(f"the config has the number {value}, not storable as JSON")
        elif isinstance(value, str):
            _check_storable_text(value)
        elif isinstance(value, (Mapping, list)):
            if depth > MAX_JSON_DEPTH:
                raise BadConfigError(
                    f"the config JSON is nested too deeply (over {MAX_JSON_DEPTH} levels)"
                )
            stack.extend((item, depth + 1) for item in _children(value))
        else:
            raise BadConfigError(f"the config holds a {type(value).__name__}, not JSON")


def _children(container: Mapping[Any, Any] | list[Any]) -> Iterator[object]:
    """Yield a JSON container's values, checking an object's keys on the way."""
    if isinstance(container, list):
        yield from container
        return
    for key, item in container.items():
        if not isinstance(key, str):
            raise BadConfigError(f"the config has a key that is not a string: {key!r}")
        _check_storable_text(key)
        yield item


def _check_storable_text(text: str) -> None:
    """Refuse text with an unpaired surrogate: it cannot be written as UTF-8."""
    try:
        text.encode()
    except UnicodeEncodeError:
        raise BadConfigError(
            "the config has text with an unpaired surrogate (not storable)"
        ) from None


def short_int(value: int) -> str:
    """Return a huge integer for a log line without converting all its digits."""
    return f"of {value.bit_length()} bits" if value.bit_length() > 64 else str(value)
