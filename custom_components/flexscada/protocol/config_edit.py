"""Editing a device config for the server's `cfg` push: an allow-list of keys, then validation.

The cloud pushes a whole config in the reply to an upload (`{"cfg": {...}}`) after bumping its
`version` by one; the device refuses configs over 32,000 characters. Only keys that cannot cut
the device off from its server are changeable here: names, texts, units, what is logged, the
intervals, a relay's power-up state. `cloud`, network settings, passwords and the script are
never touched, and neither is anything that is not listed below.

Changes are a mapping of dotted paths to new values, e.g. `{"upload_interval": 60,
"inputs.1.label": "Battery", "ds18b20.0.logging": ["avg", "min"]}`; nested mappings
(`{"inputs": {"1": {"label": "Battery"}}}`) mean the same.
"""

from __future__ import annotations

from collections.abc import Mapping
import copy
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from .config import compile_layout, parse_config
from .config_json import wire_json
from .errors import Q5ProtocolError
from .model import DeviceConfig
from .readings import (
    KNOWN_METRICS,
    LEGACY_METRIC_NAMES,
    MAX_CONFIG_CHARS,
    MAX_LABEL_CHARS,
    SECTIONS,
    array_channel_key,
)

#: The largest config the device accepts, in characters of its JSON text.
MAX_DEVICE_CONFIG_CHARS: Final = MAX_CONFIG_CHARS

#: The intervals (seconds) the device's own settings offer for uploads and measurements.
INTERVAL_CHOICES: Final = (1, 10, 60, 300, 600, 1800, 3600, 14400, 28800, 86400)

#: Top-level keys and the check their value must pass.
DEVICE_KEYS: Final = ("name", "upload_interval", "measurement_interval")

#: Relay power-up state (`default`): the relay starts off (0) or on (1).
RELAY_POWER_UP_STATES: Final[Mapping[int, str]] = {0: "off", 1: "on"}

#: The metric names a channel's `logging` array may hold, per section: what the parser knows,
#: by their current names (older firmware's power-metric names are read, never written).
LOGGABLE_METRICS: Final[Mapping[str, frozenset[str]]] = {
    section: names - set(LEGACY_METRIC_NAMES) if section == "power_metrics" else names
    for section, names in KNOWN_METRICS.items()
}

_TEXT_KEYS: Final = frozenset({"label", "desc"})
#: Channel keys that may change, per section (mfeeds: only texts; their width comes from `type`).
CHANNEL_KEYS: Final[Mapping[str, frozenset[str]]] = {
    "relays": _TEXT_KEYS | {"logging", "default"},
    "inputs": _TEXT_KEYS | {"unit", "enabled", "logging", "_t", "_f"},
    "ds18b20": _TEXT_KEYS | {"logging"},
    "power_metrics": _TEXT_KEYS | {"logging"},
    "mfeeds": _TEXT_KEYS,
}
#: Texts are cut at this length when parsed: a longer one would not show as pushed.
_MAX_TEXT = MAX_LABEL_CHARS


class EditProblem(StrEnum):
    """Why a change was refused (also the translation keys of the HA errors)."""

    FORBIDDEN_KEY = "config_key_forbidden"
    UNKNOWN_CHANNEL = "config_channel_unknown"
    INVALID_VALUE = "config_value_invalid"
    DOES_NOT_COMPILE = "config_does_not_compile"
    TOO_LARGE = "config_too_large"


class ConfigEditError(Q5ProtocolError):
    """A config change that cannot be pushed; `problem` says why, `key` names the key."""

    def __init__(self, problem: EditProblem, key: str, detail: str) -> None:
        super().__init__(f"{key}: {detail}")
        self.problem = problem
        self.key = key
        self.detail = detail


@dataclass(frozen=True, slots=True)
class ConfigEdit:
    """A validated new config: the raw JSON to push and its parse."""

    raw: dict[str, Any]
    config: DeviceConfig
    size: int


#: The most parts a changeable path has (`section.channel.key`).
_MAX_PATH_PARTS: Final = 3


def flatten_changes(changes: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Return `{dotted path: value}`; nested mappings are paths too.

    A mapping at a path of `_MAX_PATH_PARTS` parts is a value (no changeable key is deeper), so
    thousands of nesting levels cannot exhaust the stack.
    """
    flat: dict[str, Any] = {}
    for key, value in changes.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and path.count(".") + 1 < _MAX_PATH_PARTS:
            flat.update(flatten_changes(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def _text(key: str, value: object) -> str:
    if not isinstance(value, str) or len(value) > _MAX_TEXT:
        raise ConfigEditError(
            EditProblem.INVALID_VALUE, key, f"expected a text of at most {_MAX_TEXT} characters"
        )
    return value


def _choice(key: str, value: object, choices: tuple[int, ...]) -> int:
    # A text is compared to the choices' own text, never converted: int() of an unbounded
    # digit string raises past Python's digit limit (and costs time before it).
    if isinstance(value, str):
        value = next((choice for choice in choices if str(choice) == value), None)
    if isinstance(value, bool) or not isinstance(value, int) or value not in choices:
        raise ConfigEditError(
            EditProblem.INVALID_VALUE, key, f"expected one of {', '.join(map(str, choices))}"
        )
    return value


def _device_value(key: str, value: object) -> object:
    if key == "name":
        return _text(key, value)
    return _choice(key, value, INTERVAL_CHOICES)


def _channel_value(section: str, key: str, name: str, value: object) -> object:
    if name in ("label", "desc", "unit", "_t", "_f"):
        return _text(key, value)
    if name == "enabled":
        if not isinstance(value, bool):
            raise ConfigEditError(EditProblem.INVALID_VALUE, key, "expected true or false")
        return value
    if name == "default":
        if isinstance(value, bool):
            value = int(value)
        return _choice(key, value, tuple(RELAY_POWER_UP_STATES))
    # logging
    allowed = LOGGABLE_METRICS[section]
    if (
        not isinstance(value, list)
        or not all(isinstance(metric, str) and metric in allowed for metric in value)
        or len(set(value)) != len(value)
    ):
        raise ConfigEditError(
            EditProblem.INVALID_VALUE,
            key,
            f"expected a list of distinct metrics from {', '.join(sorted(allowed))}",
        )
    return list(value)


def _channel_entry(doc: dict[str, Any], section: str, channel: str, key: str) -> dict[str, Any]:
    """Return the config's entry of one channel (object- or array-shaped section)."""
    entries = doc.get(section)
    entry: object = None
    if isinstance(entries, Mapping):
        entry = entries.get(channel)
    elif isinstance(entries, list):
        # Matched as text: the channel is the caller's, of any length (see `_choice`).
        index = next(
            (index for index in range(len(entries)) if array_channel_key(index) == channel), None
        )
        if index is not None:
            entry = entries[index]
    if not isinstance(entry, dict):
        raise ConfigEditError(
            EditProblem.UNKNOWN_CHANNEL, key, f"the config has no channel {section}.{channel}"
        )
    return entry


def _apply(doc: dict[str, Any], key: str, value: object) -> None:
    """Set one allowed key in `doc`; ConfigEditError for anything else."""
    parts = key.split(".")
    if len(parts) == 1 and key in DEVICE_KEYS:
        doc[key] = _device_value(key, value)
        return
    if len(parts) == 3 and parts[0] in SECTIONS and parts[2] in CHANNEL_KEYS[parts[0]]:
        section, channel, name = parts
        entry = _channel_entry(doc, section, channel, key)
        entry[name] = _channel_value(section, key, name, value)
        return
    raise ConfigEditError(
        EditProblem.FORBIDDEN_KEY, key, "this key cannot be changed from Home Assistant"
    )


def config_size(raw: Mapping[str, Any]) -> int:
    """Return the characters of a config as pushed (its JSON text in the reply)."""
    return len(wire_json(raw))


def apply_config_changes(
    base: Mapping[str, Any], changes: Mapping[str, Any], *, version: int
) -> ConfigEdit:
    """Return `base` with `changes` applied and `version` set, validated for the device.

    ConfigEditError names the first key that is not allowed or not valid, or says why the
    result cannot be pushed: it does not parse and compile with our own parser, or it is over
    the device's 32,000 characters.
    """
    doc = copy.deepcopy(dict(base))
    for key, value in flatten_changes(changes).items():
        _apply(doc, key, value)
    doc["version"] = version
    try:
        config = parse_config(doc)
        compile_layout(config)
    except Q5ProtocolError as err:
        raise ConfigEditError(EditProblem.DOES_NOT_COMPILE, "config", str(err)) from None
    size = config_size(doc)
    if size > MAX_DEVICE_CONFIG_CHARS:
        raise ConfigEditError(
            EditProblem.TOO_LARGE,
            "config",
            f"the config would have {size} characters, over {MAX_DEVICE_CONFIG_CHARS}",
        )
    return ConfigEdit(raw=doc, config=config, size=size)


def same_settings(first: Mapping[str, Any], second: Mapping[str, Any]) -> bool:
    """Return True if two configs differ at most in their `version`."""
    return {**first, "version": None} == {**second, "version": None}


def config_value(raw: Mapping[str, Any], key: str) -> object:
    """Return the value at a dotted key of a config (`upload_interval`, `relays.1.default`)."""
    parts = key.split(".")
    if len(parts) == 1:
        return raw.get(key)
    section, channel, name = parts
    try:
        entry = _channel_entry(dict(raw), section, channel, key)
    except ConfigEditError:
        return None
    return entry.get(name)
