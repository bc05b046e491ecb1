"""Parsing device configs and compiling their walk."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest

from custom_components.flexscada.protocol import (
    MAX_CONFIG_BYTES,
    BadConfigError,
    DeviceConfig,
    FieldKind,
    Layout,
    compile_layout,
    parse_config,
    readings,
)

# The example config's walk, written out by hand from the notes (offset, key, kind).
EXAMPLE_WALK = [
    (0, "relays.1.amperage", "f"),
    (32, "relays.1.fuse", "b"),
    (33, "relays.1.hvd", "b"),
    (34, "relays.1.lvd", "b"),
    (35, "relays.1.power", "f"),
    (67, "relays.1.state", "b"),
    (68, "relays.2.amperage", "f"),
    (100, "relays.2.fuse", "b"),
    (101, "relays.2.state", "b"),
    (102, "relays.3.state", "b"),
    (103, "inputs.1.avg", "f"),
    (135, "inputs.1.max", "f"),
    (167, "inputs.1.min", "f"),
    (199, "inputs.2.avg", "f"),
    (231, "inputs.2.inst", "f"),
    (263, "inputs.3.state", "b"),
    (264, "inputs.4.avg", "f"),
    (296, "ds18b20.0.avg", "f"),
    (328, "ds18b20.0.max", "f"),
    (360, "ds18b20.0.min", "f"),
    (392, "ds18b20.1.inst", "f"),
    (424, "power_metrics.0.apparent power", "f"),
    (456, "power_metrics.0.freq", "f"),
    (488, "power_metrics.0.power avg", "f"),
    (520, "power_metrics.0.power factor", "f"),
    (552, "power_metrics.0.voltage avg", "f"),
    (584, "mfeeds.0.state", "b"),
    (585, "mfeeds.1.value", "f"),
]


def test_example_walk(example_layout: Layout) -> None:
    walk = [
        (f.bit_offset, f.key, "f" if f.kind is FieldKind.FLOAT else "b")
        for f in example_layout.fields
    ]
    assert walk == EXAMPLE_WALK
    assert sum(1 for f in example_layout.fields if f.kind is FieldKind.FLOAT) == 19
    assert sum(1 for f in example_layout.fields if f.kind is FieldKind.BIT) == 9
    assert example_layout.payload_bits == 19 * 32 + 9 == 617
    assert example_layout.payload_bytes == 78
    assert example_layout.version == 42
    assert all(f.width == (32 if f.kind is FieldKind.FLOAT else 1) for f in example_layout.fields)


def test_example_config_fields(example_config: DeviceConfig) -> None:
    assert example_config.version == 42
    assert example_config.name == "Example Repeater Site"
    assert example_config.upload_interval == 300
    assert example_config.measurement_interval == 60
    assert example_config.unit_system == 0
    by_key = {(c.section, c.key): c for c in example_config.channels}
    assert len(by_key) == 4 + 6 + 2 + 1 + 2
    door = by_key["inputs", "3"]
    assert (door.input_type, door.true_text, door.false_text) == (4, "Open", "Closed")
    assert door.input_mode == 1
    assert by_key["inputs", "2"].unit == "PSI"
    assert by_key["inputs", "6"].enabled is False
    assert by_key["inputs", "6"].metrics == ()
    assert by_key["ds18b20", "0"].sensor_id == 142342
    assert by_key["mfeeds", "0"].mfeed_type == 0
    assert by_key["mfeeds", "0"].metrics == ("state",)
    assert by_key["mfeeds", "1"].metrics == ("value",)
    assert by_key["relays", "4"].metrics == ()
    assert by_key["relays", "1"].label == "Microwave Uplink"


def test_field_metadata(example_layout: Layout) -> None:
    field = example_layout.field("inputs.2.avg")
    assert (field.section, field.channel_key, field.label, field.metric) == (
        "inputs",
        "2",
        "Tank Pressure",
        "avg",
    )
    assert field.unit == "PSI"
    assert example_layout.field("relays.1.power").unit == ""
    assert "inputs.2.avg" in example_layout
    assert "inputs.6.avg" not in example_layout
    with pytest.raises(KeyError, match=r"config version 42 logs no 'inputs\.6\.avg'"):
        example_layout.field("inputs.6.avg")
    assert example_layout.keys == tuple(key for _, key, _ in EXAMPLE_WALK)


def test_parse_text_bytes_and_padding(example_raw: dict[str, Any]) -> None:
    text = json.dumps(example_raw)
    expected = parse_config(example_raw)
    assert parse_config(text) == expected
    assert parse_config(text.encode() + b"\0\0 \0") == expected
    assert parse_config(text + "\0  ") == expected
    assert parse_config(bytearray(text.encode())) == expected  # type: ignore[arg-type]
    assert parse_config(text).raw == example_raw


def test_compile_is_cached_and_config_hashable(example_raw: dict[str, Any]) -> None:
    first = compile_layout(parse_config(example_raw))
    second = compile_layout(parse_config(json.dumps(example_raw)))
    assert first is second
    assert hash(parse_config(example_raw)) == hash(parse_config(example_raw))
    bumped = dict(example_raw, version=43)
    assert compile_layout(parse_config(bumped)).version == 43


def _walk(raw: dict[str, Any]) -> list[tuple[int, str]]:
    return [(f.bit_offset, f.key) for f in compile_layout(parse_config(raw)).fields]


def test_array_shaped_relays_and_inputs() -> None:
    raw = {
        "version": 1,
        "relays": [{"logging": ["state"]}, {"logging": ["amperage"]}],
        "inputs": [{"logging": ["avg"], "enabled": False}, {"logging": ["state"]}],
    }
    assert _walk(raw) == [(0, "relays.0.state"), (1, "relays.1.amperage"), (33, "inputs.1.state")]


def test_object_keys_walk_numerically() -> None:
    relays = {str(n): {"logging": ["state"]} for n in (10, 2, 1, 9)}
    raw = {"version": 1, "relays": relays}
    assert [key for _, key in _walk(raw)] == [f"relays.{n}.state" for n in (1, 2, 9, 10)]


def test_sections_walk_in_spec_order() -> None:
    raw = {
        "version": 1,
        "plugins": [{"logging": ["x"]}],
        "mfeeds": [{"logging": ["value", "state"]}],
        "power_metrics": [{"logging": ["power factor"]}],
        "ds18b20": [{"logging": ["inst"]}],
        "inputs": {"1": {"logging": ["ripple"]}},
        "relays": {"1": {"logging": ["lvd"]}},
    }
    assert _walk(raw) == [
        (0, "relays.1.lvd"),
        (1, "inputs.1.ripple"),
        (33, "ds18b20.0.inst"),
        (65, "power_metrics.0.power factor"),
        (97, "mfeeds.0.value"),
        (129, "mfeeds.0.state"),
    ]


def test_bit_metrics_per_section() -> None:
    raw = {
        "version": 1,
        "relays": {"1": {"logging": ["state", "fuse", "hvd", "lvd", "amperage", "power", "new"]}},
        "inputs": {"1": {"logging": ["state", "fuse"]}},
        "ds18b20": [{"logging": ["state"]}],
        "mfeeds": [{"logging": ["state", "value"]}],
    }
    kinds = [f.kind for f in compile_layout(parse_config(raw)).fields]
    b, f = FieldKind.BIT, FieldKind.FLOAT
    assert kinds == [b, b, b, b, f, f, f, b, f, f, b, f]


def test_mfeeds_without_logging_use_type() -> None:
    raw = {"version": 1, "mfeeds": [{"type": 1001}, {"type": 0}, {"type": 0, "logging": []}]}
    assert _walk(raw) == [(0, "mfeeds.0.value"), (32, "mfeeds.1.state")]


@pytest.mark.parametrize("mfeed", [{"type": 7}, {}, {"type": "0"}, {"type": True}])
def test_mfeed_of_unknown_width(mfeed: dict[str, Any]) -> None:
    with pytest.raises(BadConfigError, match=r"mfeeds\.0 has no logging array and type"):
        parse_config({"version": 1, "mfeeds": [mfeed]})


def test_enabled_flag_forms() -> None:
    inputs = {
        "1": {"logging": ["avg"]},
        "2": {"logging": ["avg"], "enabled": 0},
        "3": {"logging": ["avg"], "enabled": 1},
        "4": {"logging": ["avg"], "enabled": True},
    }
    assert [key for _, key in _walk({"version": 1, "inputs": inputs})] == [
        "inputs.1.avg",
        "inputs.3.avg",
        "inputs.4.avg",
    ]


def test_duplicate_metric_occupies_bits_once_reported() -> None:
    raw = {"version": 1, "inputs": {"1": {"logging": ["avg", "state", "avg", "min"]}}}
    assert _walk(raw) == [(0, "inputs.1.avg"), (32, "inputs.1.state"), (65, "inputs.1.min")]
    config = parse_config(raw)
    assert config.channels[0].metrics == ("avg", "state", "min")
    assert compile_layout(config).payload_bits == 97


def test_legacy_metric_names_kept_and_mapped() -> None:
    raw = {"version": 1, "power_metrics": [{"logging": ["apparant power", "powerfactor", "freq"]}]}
    fields = compile_layout(parse_config(raw)).fields
    assert [f.metric for f in fields] == ["apparant power", "powerfactor", "freq"]
    assert [f.canonical_metric for f in fields] == ["apparent power", "power factor", "freq"]
    assert readings.canonical_metric("inputs", "voltage") == "voltage"
    assert readings.canonical_metric("power_metrics", "real power") == "power inst"


def test_command_numbers() -> None:
    """Relays are addressed by their 1-based number in either shape, feeds by index, no others."""
    keyed = parse_config(
        {
            "version": 1,
            "relays": {"2": {}, "5": {}},
            "inputs": {"1": {}},
            "ds18b20": [{}],
            "power_metrics": [{}],
            "mfeeds": [{"type": 0}, {"type": 1001}],
        }
    )
    assert {(c.section, c.key): c.command_number for c in keyed.channels} == {
        ("relays", "2"): 2,
        ("relays", "5"): 5,
        ("inputs", "1"): None,
        ("ds18b20", "0"): None,
        ("power_metrics", "0"): None,
        ("mfeeds", "0"): 0,
        ("mfeeds", "1"): 1,
    }
    listed = parse_config({"version": 1, "relays": [{}, {}]})
    assert [c.command_number for c in listed.channels] == [1, 2]


def test_informative_keys_tolerated() -> None:
    raw = {
        "version": 0,
        "name": 5,
        "upload_interval": "300",
        "measurement_interval": None,
        "unit": "imperial",
        "relays": {"1": {"label": 3, "logging": ["state"]}},
        "inputs": None,
    }
    config = parse_config(raw)
    assert (config.name, config.upload_interval, config.measurement_interval) == (None, None, None)
    assert config.unit_system == 0
    assert config.channels[0].label == ""
    assert parse_config({"version": 1, "unit": 1}).unit_system == 1
    assert parse_config({"version": 7}).channels == ()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{", "not valid JSON"),
        ("[1, 2]", "JSON list, not an object"),
        ("null", "JSON NoneType, not an object"),
        (b"\xff\xfe{}", "not UTF-8"),
        ('{"version": 1, "x": ' + "[" * 10_000 + "]" * 10_000 + "}", "nested too deeply"),
        ("[" * 100_000 + "]" * 100_000, "over the device's own 32000"),
        ("{}", "'version' is None"),
        ('{"version": true}', "'version' is True"),
        ('{"version": "42"}', "'version' is '42'"),
        ('{"version": -1}', "not a uint32"),
        ('{"version": 4294967296}', "not a uint32"),
        ('{"version": 1.5}', "not a uint32"),
        ('{"version": 1, "relays": "x"}', "'relays' is a str, expected an object or an array"),
        ('{"version": 1, "relays": {"a": {}}}', "'relays' is keyed by something other"),
        (
            '{"version": 1, "relays": {"\u0661": {}}}',  # an Arabic-Indic digit one
            "'relays' is keyed by something other",
        ),
        ('{"version": 1, "inputs": [3]}', r"inputs\.0 is a int, not an object"),
        ('{"version": 1, "ds18b20": [{"logging": "avg"}]}', r"ds18b20\.0\.logging is not an array"),
        ('{"version": 1, "ds18b20": [{"logging": [1]}]}', r"ds18b20\.0\.logging is not an array"),
        ('{"version": 1, "inputs": {"1": {"enabled": "no"}}}', r"inputs\.1\.enabled is 'no'"),
    ],
)
def test_bad_configs(raw: str | bytes, message: str) -> None:
    with pytest.raises(BadConfigError, match=message):
        parse_config(raw)


def test_non_string_keys_in_a_mapping() -> None:
    with pytest.raises(BadConfigError, match="key that is not a string"):
        parse_config({"version": 1, "relays": {1: {"logging": ["state"]}}})


def test_size_limit() -> None:
    big = '{"version": 1, "pad": "' + "x" * MAX_CONFIG_BYTES + '"}'
    with pytest.raises(BadConfigError, match="characters, over"):
        parse_config(big)
    with pytest.raises(BadConfigError, match="bytes, over"):
        parse_config(big.encode())


def test_format_uid() -> None:
    assert readings.format_uid(1535235511) == "1535235511"


def test_raw_is_not_compared(example_raw: dict[str, Any]) -> None:
    other = copy.deepcopy(example_raw)
    other["desc"] = "changed"
    assert parse_config(other) == parse_config(example_raw)


def _with(**changes: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"version": 1, "relays": {"1": {"logging": ["state"]}}}
    config.update(changes)
    return config


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        # what Home Assistant's store cannot write back (issue 15, item 3)
        (_with(x=2**64), "outside 64 bits"),
        (_with(x=-(2**63) - 1), "outside 64 bits"),
        (_with(x={"y": [[[[1]]]] * 2, "z": 10**4000}), "integer of 13288 bits"),
        (_with(x="\ud800"), "unpaired surrogate"),
        (_with(**{"\udc00": 1}), "unpaired surrogate"),
        (_with(x={1, 2}), "holds a set"),
        (_with(x=math.nan), "not storable"),
        ('{"version": 1, "x": NaN}', "NaN is not a JSON value"),
        ('{"version": 1, "x": -Infinity}', "-Infinity is not a JSON value"),
        (json.dumps(_with(x={"a": 1}) | {"p": "x" * 32_000}), "over the device's own 32000"),
        # more than a Q5 has (item 8)
        (_with(relays={str(i): {} for i in range(1, 10)}), "9 channels; a Q5 has at most 8"),
        (_with(mfeeds=[{"type": 0}] * 33), "at most 32"),
        (_with(inputs={"1": {"logging": [f"m{i}" for i in range(12)]}}), "at most 11"),
        (_with(inputs={"1": {"logging": ["avg"] * 65}}), "65 entries, over 64"),
        (_with(inputs={"1": {"logging": ["x" * 33]}}), "metric name of 33 characters"),
        (_with(inputs={"1": {"logging": [""]}}), "metric name of 0 characters"),
        # intervals (item 10)
        (_with(upload_interval=10**12), "'upload_interval' is 1000000000000 s"),
        (_with(upload_interval=-300), "'upload_interval' is -300 s"),
        (_with(measurement_interval=30 * 86400 + 1), "'measurement_interval' is"),
        (_with(upload_interval=2**63 - 1), "'upload_interval' is 9223372036854775807 s"),
        # keys (items 11, 14)
        (_with(relays={"1" * 4301: {}}), "'relays' is keyed by something other"),
        (_with(relays={"1": {}, "01": {}}), "no leading zero): '01'"),
        (_with(inputs={"00": {}}), "'00'"),
        (_with(relays={"12345": {}}), "1 to 4 digits"),
        # unique-id collisions (item 14)
        (_with(power_metrics=[{"logging": ["power avg", "power_avg"]}]), "names both"),
        (_with(relays={"1": {"logging": ["pulse"]}}), "'pulse', the name of the channel's own"),
        (_with(relays={"1": {"logging": ["state", "reset"]}}), "own button"),
        (_with(inputs=[{"logging": ["avg", "energy"]}]), "energy counter"),
        (_with(relays={"1": {"logging": ["power_up"]}}), "setting"),
    ],
)
def test_configs_home_assistant_must_not_take(raw: Any, message: str) -> None:
    with pytest.raises(BadConfigError) as err:
        parse_config(raw)
    assert message in str(err.value)
    assert len(str(err.value)) < 300


def test_what_stays_accepted() -> None:
    """Repeats, unknown metrics within the allowance, 0 intervals, the extreme storable ints."""
    config = parse_config(
        _with(
            upload_interval=0,
            measurement_interval=readings.MAX_INTERVAL_SECONDS,
            x=[2**64 - 1, -(2**63), 1.5],
            inputs={"16": {"logging": ["avg", "avg", "new metric"]}},
            mfeeds=[{"type": 0}] * 32,
            power_metrics=[{"logging": ["power avg", "real power"]}],
            relays={"0": {}, "9999": {"logging": ["state"] * 64}},
        )
    )
    assert (config.upload_interval, config.measurement_interval) == (None, 30 * 86400)
    assert [c.key for c in config.channels if c.section == "relays"] == ["0", "9999"]


def test_long_texts_are_cut() -> None:
    """Labels, units, true/false texts and the name become names: cut to MAX_LABEL_CHARS."""
    long = "é" * 10_000
    config = parse_config(
        _with(name=long, inputs={"1": {"label": long, "unit": long, "_t": long, "_f": long}})
    )
    cut = "é" * readings.MAX_LABEL_CHARS
    assert config.name == cut
    [channel] = [c for c in config.channels if c.section == "inputs"]
    assert (channel.label, channel.unit, channel.true_text, channel.false_text) == (cut,) * 4
