"""Editing a device config for a `cfg` push: the allow-list and the validation of the result."""

from __future__ import annotations

import json
from typing import Any

import pytest

from custom_components.flexscada.protocol import compile_layout, parse_config, readings
from custom_components.flexscada.protocol.config_edit import (
    INTERVAL_CHOICES,
    LOGGABLE_METRICS,
    MAX_DEVICE_CONFIG_CHARS,
    ConfigEditError,
    EditProblem,
    apply_config_changes,
    config_size,
    config_value,
    flatten_changes,
    same_settings,
)


def edit(raw: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Return the edited config, version 43."""
    return apply_config_changes(raw, changes, version=43).raw


def refused(raw: dict[str, Any], changes: dict[str, Any]) -> ConfigEditError:
    """Return the error a refused change raises."""
    with pytest.raises(ConfigEditError) as err:
        apply_config_changes(raw, changes, version=43)
    return err.value


def test_allowed_changes_applied_and_base_untouched(example_raw: dict[str, Any]) -> None:
    """Every allowed key lands where the device reads it; the base config is not mutated."""
    before = json.dumps(example_raw)
    changes = {
        "name": "New Site",
        "upload_interval": 60,
        "measurement_interval": "10",  # a select's option text
        "relays.2.label": "Radio",
        "relays.2.desc": "Main radio",
        "relays.3.default": True,
        "relays.4.logging": ["state", "amperage"],
        "inputs.1.unit": "V",
        "inputs.3._t": "Ajar",
        "inputs.3._f": "Shut",
        "inputs.6.enabled": True,
        "ds18b20.0.label": "Shelter",
        "power_metrics.0.logging": ["freq"],
        "mfeeds.1.label": "Fuel %",
    }
    raw = edit(example_raw, changes)
    assert json.dumps(example_raw) == before
    assert raw["version"] == 43
    for key, value in changes.items():
        expected = {"10": 10, True: 1}.get(value, value) if not isinstance(value, list) else value
        assert config_value(raw, key) == expected, key
    assert raw["cloud"] == example_raw["cloud"]


def test_nested_changes_mean_dotted_paths() -> None:
    """`{"inputs": {"1": {"label": x}}}` is `inputs.1.label`."""
    assert flatten_changes({"inputs": {"1": {"label": "x"}}, "name": "y"}) == {
        "inputs.1.label": "x",
        "name": "y",
    }


def test_deeply_nested_changes_are_refused_not_recursed(example_raw: dict[str, Any]) -> None:
    """5,000 levels of nesting (found by scripts/fuzz): a refused change, not a RecursionError."""
    nested: dict[str, Any] = {"label": "deep"}
    for _ in range(5000):
        nested = {"1": nested}
    error = refused(example_raw, {"inputs": nested})
    assert (error.problem, error.key) == (EditProblem.FORBIDDEN_KEY, "inputs.1.1")


def test_logging_change_moves_the_layout(example_raw: dict[str, Any]) -> None:
    """Logging another metric adds its field to the new layout."""
    result = apply_config_changes(example_raw, {"ds18b20.1.logging": ["inst", "max"]}, version=43)
    layout = compile_layout(result.config)
    assert "ds18b20.1.max" in layout
    assert layout.version == 43


@pytest.mark.parametrize(
    "key",
    [
        "cloud",
        "script",
        "version",
        "sd.log",
        "plugins",
        "inputs.1.mult",
        "inputs.1.type",
        "relays.1.vSrc",
        "relays.1.fuse",
        "mfeeds.0.type",
        "mfeeds.0.logging",
        "relays.1.enabled",
        "wifi.ssid",
        "inputs.1.label.x",
    ],
)
def test_keys_outside_the_allow_list_refused(example_raw: dict[str, Any], key: str) -> None:
    """Anything not listed is refused, naming the key."""
    err = refused(example_raw, {key: 1})
    assert (err.problem, err.key) == (EditProblem.FORBIDDEN_KEY, key)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("upload_interval", 5),
        ("upload_interval", True),
        ("measurement_interval", "often"),
        ("name", 5),
        ("name", "x" * (readings.MAX_LABEL_CHARS + 1)),
        ("inputs.1.enabled", 1),
        ("relays.1.default", 2),
        ("inputs.1.logging", "avg"),
        ("inputs.1.logging", ["avg", "avg"]),
        ("inputs.1.logging", ["amperage"]),
        ("power_metrics.0.logging", ["power"]),
        # Past Python's 4,300-digit int() limit: refused, never converted.
        pytest.param("upload_interval", "1" * 5000, id="interval-5000-digits"),
        pytest.param("relays.1.default", "1" * 5000, id="default-5000-digits"),
        ("upload_interval", "060"),
    ],
)
def test_invalid_values_refused(example_raw: dict[str, Any], key: str, value: object) -> None:
    """A value the device does not take is refused, naming the key."""
    err = refused(example_raw, {key: value})
    assert (err.problem, err.key) == (EditProblem.INVALID_VALUE, key)
    assert key in str(err)


@pytest.mark.parametrize("key", ["inputs.9.label", "ds18b20.2.label", "ds18b20.x.label"])
def test_unknown_channel_refused(example_raw: dict[str, Any], key: str) -> None:
    """Channels cannot be added; a missing one is named."""
    err = refused(example_raw, {key: "x"})
    assert (err.problem, err.key) == (EditProblem.UNKNOWN_CHANNEL, key)


def test_array_shaped_relays(example_raw: dict[str, Any]) -> None:
    """Sections stored as arrays are addressed by index."""
    example_raw["relays"] = list(example_raw["relays"].values())
    raw = edit(example_raw, {"relays.0.label": "First"})
    assert raw["relays"][0]["label"] == "First"
    assert refused(example_raw, {"relays.1.x": 1}).problem is EditProblem.FORBIDDEN_KEY
    assert refused(example_raw, {"relays.9.label": "x"}).problem is EditProblem.UNKNOWN_CHANNEL
    for channel in ("00", "1" * 5000):  # not an index's text, however long
        key = f"relays.{channel}.label"
        assert refused(example_raw, {key: "x"}).problem is EditProblem.UNKNOWN_CHANNEL


def test_result_must_compile(example_raw: dict[str, Any]) -> None:
    """A result our parser refuses is refused (here: a version beyond uint32)."""
    with pytest.raises(ConfigEditError) as err:
        apply_config_changes(example_raw, {"name": "x"}, version=2**32)
    assert err.value.problem is EditProblem.DOES_NOT_COMPILE


def test_result_must_fit_the_device(example_raw: dict[str, Any]) -> None:
    """A result over 32,000 characters is refused; one exactly at the limit is not."""
    example_raw["script"] = ""
    example_raw["name"] = ""
    example_raw["script"] = "x" * (MAX_DEVICE_CONFIG_CHARS - config_size({**example_raw}))
    example_raw["version"] = 43
    assert config_size(example_raw) == MAX_DEVICE_CONFIG_CHARS
    assert apply_config_changes(example_raw, {"name": ""}, version=43).size == 32_000
    err = refused(example_raw, {"name": "x"})
    assert err.problem is EditProblem.TOO_LARGE
    assert "32001" in err.detail


def test_size_is_the_text_as_sent(example_raw: dict[str, Any]) -> None:
    """Non-ASCII goes out escaped (6 characters each): the device's limit applies to that."""
    example_raw["script"] = ""
    room = MAX_DEVICE_CONFIG_CHARS - config_size(example_raw)
    example_raw["script"] = "\u20ac" * (room // 6 + 1)  # 6 characters each as sent
    as_characters = json.dumps(example_raw, separators=(",", ":"), ensure_ascii=False)
    assert len(as_characters) < MAX_DEVICE_CONFIG_CHARS
    err = refused(example_raw, {"name": example_raw["name"]})
    assert err.problem is EditProblem.TOO_LARGE


def test_same_settings_ignores_version(example_raw: dict[str, Any]) -> None:
    """Two configs equal but for the version have the same settings."""
    assert same_settings(example_raw, edit(example_raw, {}))
    assert not same_settings(example_raw, edit(example_raw, {"upload_interval": 60}))


def test_config_value_of_missing_channel(example_raw: dict[str, Any]) -> None:
    """Reading a key of a channel the config lacks gives None."""
    assert config_value(example_raw, "relays.9.default") is None
    assert config_value(example_raw, "relays.1.default") == 1


def test_limits_agree_with_the_parser(example_raw: dict[str, Any]) -> None:
    """What the edit accepts, the parser takes as is: longest text, every interval, metrics."""
    longest = "x" * readings.MAX_LABEL_CHARS
    for seconds in INTERVAL_CHOICES:
        raw = edit(example_raw, {"name": longest, "upload_interval": seconds})
        config = parse_config(raw)
        assert (config.name, config.upload_interval) == (longest, seconds)
    assert MAX_DEVICE_CONFIG_CHARS == readings.MAX_CONFIG_CHARS
    for section, metrics in LOGGABLE_METRICS.items():
        assert metrics <= readings.KNOWN_METRICS[section]
        assert not metrics & set(readings.LEGACY_METRIC_NAMES) or section != "power_metrics"
