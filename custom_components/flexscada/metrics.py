"""How a Q5 metric shows in Home Assistant: device class, unit and translated name.

The device config says which metrics a channel logs (`avg`, `power factor`, ...) and, for analog
inputs, a free-text unit typed by the installer ("Volts", "PSI", "Vrms"). This module turns both
into Home Assistant's vocabulary in one table each, so a new spelling is a one-line change.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.const import (
    PERCENTAGE,
    UnitOfApparentPower,
    UnitOfElectricCurrent,
    UnitOfElectricPotential,
    UnitOfFrequency,
    UnitOfPower,
    UnitOfPressure,
    UnitOfTemperature,
)

from .protocol import Channel, Field, FieldKind, readings


@dataclass(frozen=True, slots=True)
class Measure:
    """A physical quantity: the device class (if Home Assistant has one) and its unit."""

    device_class: SensorDeviceClass | None
    unit: str | None


VOLTAGE = Measure(SensorDeviceClass.VOLTAGE, UnitOfElectricPotential.VOLT)
CURRENT = Measure(SensorDeviceClass.CURRENT, UnitOfElectricCurrent.AMPERE)
POWER = Measure(SensorDeviceClass.POWER, UnitOfPower.WATT)
APPARENT_POWER = Measure(SensorDeviceClass.APPARENT_POWER, UnitOfApparentPower.VOLT_AMPERE)
POWER_FACTOR = Measure(SensorDeviceClass.POWER_FACTOR, None)
FREQUENCY = Measure(SensorDeviceClass.FREQUENCY, UnitOfFrequency.HERTZ)
TEMPERATURE = Measure(SensorDeviceClass.TEMPERATURE, UnitOfTemperature.CELSIUS)
PERCENT = Measure(None, PERCENTAGE)
UNITLESS = Measure(None, None)

# Free-text units installers type for analog inputs, compared case-insensitively.
_UNIT_TEXTS: dict[str, Measure] = {
    **dict.fromkeys(("v", "volt", "volts", "vdc", "vrms", "vac"), VOLTAGE),
    **dict.fromkeys(
        ("mv", "millivolt", "millivolts"),
        Measure(SensorDeviceClass.VOLTAGE, UnitOfElectricPotential.MILLIVOLT),
    ),
    **dict.fromkeys(("a", "amp", "amps", "ampere", "amperes", "arms"), CURRENT),
    **dict.fromkeys(
        ("ma", "milliamp", "milliamps"),
        Measure(SensorDeviceClass.CURRENT, UnitOfElectricCurrent.MILLIAMPERE),
    ),
    **dict.fromkeys(("w", "watt", "watts"), POWER),
    **dict.fromkeys(
        ("kw", "kilowatt", "kilowatts"), Measure(SensorDeviceClass.POWER, UnitOfPower.KILO_WATT)
    ),
    **dict.fromkeys(("va",), APPARENT_POWER),
    **dict.fromkeys(("hz", "hertz"), FREQUENCY),
    **dict.fromkeys(("°c", "c", "degc", "celsius"), TEMPERATURE),
    **dict.fromkeys(
        ("°f", "f", "degf", "fahrenheit"),
        Measure(SensorDeviceClass.TEMPERATURE, UnitOfTemperature.FAHRENHEIT),
    ),
    **dict.fromkeys(("%", "percent"), PERCENT),
    **dict.fromkeys(("psi",), Measure(SensorDeviceClass.PRESSURE, UnitOfPressure.PSI)),
    **dict.fromkeys(("kpa",), Measure(SensorDeviceClass.PRESSURE, UnitOfPressure.KPA)),
    **dict.fromkeys(("bar",), Measure(SensorDeviceClass.PRESSURE, UnitOfPressure.BAR)),
}

# power_metrics logging names (current names: `Field.canonical_metric` maps older firmware's).
_POWER_METRIC_MEASURES: dict[str, Measure] = {
    "apparent power": APPARENT_POWER,
    "power factor": POWER_FACTOR,
    "freq": FREQUENCY,
}
_POWER_METRIC_PREFIXES: tuple[tuple[str, Measure], ...] = (
    ("voltage thd", PERCENT),
    ("voltage", VOLTAGE),
    ("amperage", CURRENT),
    ("power", POWER),
)

# Analog input types whose readings have a fixed unit whatever the installer typed.
_INPUT_TYPE_FREQUENCY = 2
_INPUT_TYPE_PULSE_COUNTER = 3


def unit_text_measure(text: str) -> Measure:
    """Return the measure for a channel's free-text unit; unknown texts stay the unit as typed."""
    cleaned = text.strip()
    if not cleaned:
        return UNITLESS
    return _UNIT_TEXTS.get(cleaned.lower(), Measure(None, cleaned))


def float_measure(field: Field, channel: Channel) -> Measure:
    """Return the device class and unit of a float32 metric."""
    match field.section:
        case "relays":
            return POWER if field.metric == "power" else CURRENT
        case "ds18b20":
            return TEMPERATURE
        case "power_metrics":
            metric = field.canonical_metric
            if (measure := _POWER_METRIC_MEASURES.get(metric)) is not None:
                return measure
            for prefix, measure in _POWER_METRIC_PREFIXES:
                if metric.startswith(prefix):
                    return measure
            return UNITLESS
        case "inputs":
            if channel.input_type == _INPUT_TYPE_FREQUENCY and not channel.unit.strip():
                return FREQUENCY
            if channel.input_type == _INPUT_TYPE_PULSE_COUNTER:
                return Measure(None, channel.unit.strip() or None)
            return unit_text_measure(channel.unit)
        case _:
            return UNITLESS


def metric_translation_key(field: Field) -> str:
    """Return the translation key that names a metric ("power factor" -> "power_factor").

    Every key returned exists in strings.json for the metric's platform; a metric without a
    name of its own is named "<channel> <metric>" through its platform's "other_metric".
    """
    metric = field.canonical_metric.strip().lower().replace(" ", "_")
    if field.section == "relays" and metric in _RELAY_METRIC_KEYS:
        return f"relay_{metric}"
    if field.section == "mfeeds":
        return f"feed_{metric}" if metric in _FEED_METRIC_KEYS else "other_metric"
    if field.kind is FieldKind.BIT:
        return metric  # an input's `state`, the one 1-bit metric outside relays and feeds
    return metric if metric in SENSOR_METRIC_KEYS else "other_metric"


# Metrics named after their relay or feed ("relay_fuse", "feed_value"): every one they offer.
_RELAY_METRIC_KEYS = readings.KNOWN_METRICS["relays"]
_FEED_METRIC_KEYS = readings.KNOWN_METRICS["mfeeds"]

# Every float32 metric name with a sensor translation of its own in strings.json.
SENSOR_METRIC_KEYS: frozenset[str] = frozenset(
    {
        "avg",
        "inst",
        "min",
        "max",
        "ripple",
        "power",
        "apparent_power",
        "power_factor",
        "freq",
        "power_inst",
        "power_avg",
        "power_min",
        "power_max",
        "voltage_inst",
        "voltage_avg",
        "voltage_min",
        "voltage_max",
        "voltage_thd_inst",
        "voltage_thd_avg",
        "amperage_inst",
        "amperage_avg",
        "amperage_min",
        "amperage_max",
    }
)


def channel_name(channel: Channel) -> str:
    """Return the name a channel shows: its label, else its section and number."""
    if channel.label.strip():
        return channel.label.strip()
    match channel.section:
        case "relays":
            return f"Relay {channel.key}"
        case "inputs":
            return f"Input {channel.key}"
        case "ds18b20":
            return f"Temperature sensor {int(channel.key) + 1}"
        case "power_metrics":
            return f"Power meter {int(channel.key) + 1}"
        case _:
            return f"Feed {int(channel.key) + 1}"


# A dry contact's true/false texts (`_t`/`_f`, typed by the installer) that match the states
# Home Assistant shows for a device class; compared case-insensitively. With a match the
# entity reads "Open"/"Closed" like the device's own UI rather than "On"/"Off".
_CONTACT_TEXTS: dict[tuple[str, str], BinarySensorDeviceClass] = {
    ("open", "closed"): BinarySensorDeviceClass.OPENING,
    ("opened", "closed"): BinarySensorDeviceClass.OPENING,
    ("problem", "ok"): BinarySensorDeviceClass.PROBLEM,
    ("alarm", "ok"): BinarySensorDeviceClass.PROBLEM,
    ("fault", "ok"): BinarySensorDeviceClass.PROBLEM,
    ("wet", "dry"): BinarySensorDeviceClass.MOISTURE,
    ("running", "not running"): BinarySensorDeviceClass.RUNNING,
    ("running", "stopped"): BinarySensorDeviceClass.RUNNING,
    ("detected", "clear"): BinarySensorDeviceClass.MOTION,
    ("unsafe", "safe"): BinarySensorDeviceClass.SAFETY,
    ("power", "no power"): BinarySensorDeviceClass.POWER,
}


def contact_device_class(
    true_text: str | None, false_text: str | None
) -> BinarySensorDeviceClass | None:
    """Return the device class whose states match a dry contact's texts, if one does."""
    if not true_text or not false_text:
        return None
    return _CONTACT_TEXTS.get((true_text.strip().lower(), false_text.strip().lower()))
