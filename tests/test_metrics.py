"""Tests of how metrics and free-text units map to Home Assistant device classes and units."""

from __future__ import annotations

from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.components.sensor import SensorDeviceClass
import pytest

from custom_components.flexscada.metrics import (
    channel_name,
    contact_device_class,
    float_measure,
    metric_translation_key,
    unit_text_measure,
)
from custom_components.flexscada.protocol import Channel, Field, FieldKind


def channel(section: str, key: str = "1", **kwargs: object) -> Channel:
    """Return a channel with defaults."""
    values: dict[str, object] = {
        "label": "",
        "unit": "",
        "input_type": None,
        "true_text": None,
        "false_text": None,
        "mfeed_type": None,
        "metrics": (),
    }
    values.update(kwargs)
    return Channel(section=section, key=key, **values)  # type: ignore[arg-type]


def field(section: str, metric: str, key: str = "1") -> Field:
    """Return a float field."""
    return Field(
        section=section,
        channel_key=key,
        label="",
        metric=metric,
        kind=FieldKind.FLOAT,
        width=32,
        bit_offset=0,
        unit="",
    )


@pytest.mark.parametrize(
    ("text", "device_class", "unit"),
    [
        ("Volts", SensorDeviceClass.VOLTAGE, "V"),
        (" vrms ", SensorDeviceClass.VOLTAGE, "V"),
        ("mV", SensorDeviceClass.VOLTAGE, "mV"),
        ("Amps", SensorDeviceClass.CURRENT, "A"),
        ("mA", SensorDeviceClass.CURRENT, "mA"),
        ("W", SensorDeviceClass.POWER, "W"),
        ("kW", SensorDeviceClass.POWER, "kW"),
        ("VA", SensorDeviceClass.APPARENT_POWER, "VA"),
        ("Hz", SensorDeviceClass.FREQUENCY, "Hz"),
        ("°C", SensorDeviceClass.TEMPERATURE, "°C"),
        ("F", SensorDeviceClass.TEMPERATURE, "°F"),
        ("%", None, "%"),
        ("PSI", SensorDeviceClass.PRESSURE, "psi"),
        ("kPa", SensorDeviceClass.PRESSURE, "kPa"),
        ("bar", SensorDeviceClass.PRESSURE, "bar"),
        ("gal/min", None, "gal/min"),
        ("", None, None),
    ],
)
def test_unit_texts(text: str, device_class: SensorDeviceClass | None, unit: str | None) -> None:
    """Installer-typed units map to a device class, unknown ones stay as typed."""
    measure = unit_text_measure(text)
    assert measure.device_class == device_class
    assert measure.unit == unit


@pytest.mark.parametrize(
    ("metric", "device_class", "unit"),
    [
        ("power avg", SensorDeviceClass.POWER, "W"),
        ("power inst", SensorDeviceClass.POWER, "W"),
        ("real power", SensorDeviceClass.POWER, "W"),
        ("apparent power", SensorDeviceClass.APPARENT_POWER, "VA"),
        ("apparant power", SensorDeviceClass.APPARENT_POWER, "VA"),
        ("power factor", SensorDeviceClass.POWER_FACTOR, None),
        ("powerfactor", SensorDeviceClass.POWER_FACTOR, None),
        ("freq", SensorDeviceClass.FREQUENCY, "Hz"),
        ("voltage max", SensorDeviceClass.VOLTAGE, "V"),
        ("voltage", SensorDeviceClass.VOLTAGE, "V"),
        ("voltage thd avg", None, "%"),
        ("amperage min", SensorDeviceClass.CURRENT, "A"),
        ("something new", None, None),
    ],
)
def test_power_metrics(
    metric: str, device_class: SensorDeviceClass | None, unit: str | None
) -> None:
    """Power metric names, current and older spellings, have fixed measures."""
    measure = float_measure(field("power_metrics", metric, "0"), channel("power_metrics", "0"))
    assert measure.device_class == device_class
    assert measure.unit == unit


def test_section_measures() -> None:
    """Relays, 1-wire sensors and special input types have fixed measures."""
    assert float_measure(field("relays", "amperage"), channel("relays")).unit == "A"
    assert float_measure(field("relays", "power"), channel("relays")).unit == "W"
    assert float_measure(field("ds18b20", "avg", "0"), channel("ds18b20", "0")).unit == "°C"
    freq = float_measure(field("inputs", "avg"), channel("inputs", input_type=2))
    assert freq.device_class == SensorDeviceClass.FREQUENCY
    pulses = float_measure(field("inputs", "avg"), channel("inputs", input_type=3, unit="L"))
    assert (pulses.device_class, pulses.unit) == (None, "L")
    assert float_measure(field("inputs", "avg"), channel("inputs", unit="PSI")).unit == "psi"
    assert float_measure(field("mfeeds", "value", "0"), channel("mfeeds", "0")).unit is None


def test_translation_keys() -> None:
    """Metric names become translation keys; unknown metrics share a generic name."""
    assert metric_translation_key(field("power_metrics", "power factor")) == "power_factor"
    assert metric_translation_key(field("relays", "amperage")) == "relay_amperage"
    assert metric_translation_key(field("mfeeds", "value")) == "feed_value"
    assert metric_translation_key(field("inputs", "avg")) == "avg"
    assert metric_translation_key(field("inputs", "weird")) == "other_metric"


def test_translation_keys_of_odd_and_legacy_metrics() -> None:
    """Older firmware's names share the current names' keys; odd metrics get a key that exists."""
    assert metric_translation_key(field("power_metrics", "powerfactor")) == "power_factor"
    assert metric_translation_key(field("power_metrics", "real power")) == "power_inst"
    assert metric_translation_key(field("power_metrics", "voltage")) == "voltage_inst"
    # A feed logging something other than its state or value, and a float named like a bit.
    assert metric_translation_key(field("mfeeds", "level", "0")) == "other_metric"
    assert metric_translation_key(field("ds18b20", "state", "0")) == "other_metric"


@pytest.mark.parametrize(
    ("section", "key", "name"),
    [
        ("relays", "2", "Relay 2"),
        ("inputs", "7", "Input 7"),
        ("ds18b20", "0", "Temperature sensor 1"),
        ("power_metrics", "1", "Power meter 2"),
        ("mfeeds", "2", "Feed 3"),
    ],
)
def test_channel_names(section: str, key: str, name: str) -> None:
    """Unlabelled channels get a name from their section and number; labels win."""
    assert channel_name(channel(section, key)) == name
    assert channel_name(channel(section, key, label=" Pump ")) == "Pump"


@pytest.mark.parametrize(
    ("true_text", "false_text", "device_class"),
    [
        ("Open", "Closed", BinarySensorDeviceClass.OPENING),
        (" wet ", "DRY", BinarySensorDeviceClass.MOISTURE),
        ("Alarm", "OK", BinarySensorDeviceClass.PROBLEM),
        ("Pump on", "Pump off", None),
        ("Open", None, None),
        (None, None, None),
    ],
)
def test_contact_texts(
    true_text: str | None, false_text: str | None, device_class: BinarySensorDeviceClass | None
) -> None:
    """A dry contact whose texts match a device class's states gets that class."""
    assert contact_device_class(true_text, false_text) == device_class
