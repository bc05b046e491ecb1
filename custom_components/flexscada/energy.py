"""Energy from the device's own power rows: which power metrics count, and their integration.

Every logged real-power metric (power_metrics `power avg`, else `power inst`; relay `power`;
input `power`) gets an energy counter in kWh. Each row's power covers the interval that ends at
the row's timestamp: the config's `measurement_interval`, or less when the previous row (of the
same upload, or the last one integrated before) is closer (rows never overlap). A gap longer
than the interval is not bridged: the device measured nothing there, so nothing is invented.
Energy is split at UTC hour boundaries, so each kWh lands in the hour it was used even when the
rows arrive days later.

Positive power feeds the energy counter, negative power (export) a second "returned energy"
counter. Both only ever grow, so Home Assistant never sees a meter reset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.const import UnitOfPower
import numpy as np
import numpy.typing as npt

from .metrics import channel_name, float_measure
from .protocol import DeviceConfig, Field, FieldKind, Layout

HOUR_SECONDS = 3600
#: The interval a row covers when the config does not say (the device's default).
DEFAULT_MEASUREMENT_INTERVAL = 60

# Seconds x native power unit -> kWh.
_KWH_PER_UNIT_SECOND: dict[str, float] = {
    UnitOfPower.WATT: 1 / 3_600_000,
    UnitOfPower.KILO_WATT: 1 / 3_600,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class EnergySensorSpec:
    """One energy counter the device config calls for."""

    unique_id: str
    power_key: str  # the field key of the power metric it integrates
    returned: bool  # True: counts negative power (energy returned to the grid)
    kwh_per_unit_second: float
    channel: tuple[str, str]  # (section, key) of the channel in the device config
    channel_label: str

    @property
    def translation_key(self) -> str:
        """Return the translation key naming the entity."""
        return "returned_energy" if self.returned else "energy"


def _power_fields(layout: Layout) -> list[Field]:
    """Return the fields that carry a channel's real power, one per channel."""
    by_channel: dict[tuple[str, str], list[Field]] = {}
    for field in layout.fields:
        if field.kind is FieldKind.FLOAT:
            by_channel.setdefault((field.section, field.channel_key), []).append(field)
    chosen: list[Field] = []
    for (section, _), fields in by_channel.items():
        metrics = {field.metric: field for field in fields}
        power: Field | None = None
        if section == "power_metrics":
            # The average covers the whole interval; the instantaneous value only its end.
            power = metrics.get("power avg") or metrics.get("power inst")
        elif section in ("relays", "inputs"):
            power = metrics.get("power")
        if power is not None:
            chosen.append(power)
    return chosen


def energy_sensor_specs(
    uid: int, config: DeviceConfig | None, layout: Layout | None
) -> list[EnergySensorSpec]:
    """Return the energy counters (and returned-energy counters) this device config calls for."""
    if config is None or layout is None:
        return []
    channels = {(channel.section, channel.key): channel for channel in config.channels}
    specs: list[EnergySensorSpec] = []
    for field in _power_fields(layout):
        channel = channels[field.section, field.channel_key]
        measure = float_measure(field, channel)
        factor = _KWH_PER_UNIT_SECOND.get(measure.unit or "")
        if measure.device_class is not SensorDeviceClass.POWER or factor is None:
            continue  # an input the installer labelled in another unit: not a power
        base = f"{uid}_{field.section}_{field.channel_key}"
        specs.extend(
            EnergySensorSpec(
                unique_id=f"{base}_{'returned_energy' if returned else 'energy'}",
                power_key=field.key,
                returned=returned,
                kwh_per_unit_second=factor,
                channel=(field.section, field.channel_key),
                channel_label=channel_name(channel),
            )
            for returned in (False, True)
        )
    return specs


def measurement_interval(config: DeviceConfig | None) -> int:
    """Return the seconds one row covers."""
    if config is not None and config.measurement_interval:
        return config.measurement_interval
    return DEFAULT_MEASUREMENT_INTERVAL


@dataclass(frozen=True, slots=True)
class HourlyEnergy:
    """Energy per UTC hour of one upload's rows, in kWh: used (positive) and returned."""

    hours: npt.NDArray[np.int64]  # unix start of each hour, ascending
    used: npt.NDArray[np.float64]
    returned: npt.NDArray[np.float64]


def covered_seconds(
    timestamps: npt.NDArray[np.int64], interval: int, previous: int | None = None
) -> npt.NDArray[np.int64]:
    """Return the seconds each row covers: the interval, cut short by a closer previous row.

    `previous` is the newest row integrated before (an earlier upload): the first row covers
    only the time since it, so a row of the same second (an alarm upload) adds nothing twice.
    """
    covered = np.full(len(timestamps), interval, dtype=np.int64)
    if len(timestamps) and previous is not None:
        covered[0] = min(max(int(timestamps[0]) - previous, 0), interval)
    if len(timestamps) > 1:
        covered[1:] = np.clip(np.diff(timestamps), 0, interval)
    return covered


def integrate_power(
    timestamps: npt.NDArray[np.int64],
    power: npt.NDArray[Any],
    interval: int,
    kwh_per_unit_second: float,
    previous: int | None = None,
) -> HourlyEnergy:
    """Integrate power rows (ascending timestamps) into energy per UTC hour.

    A row at `t` covering `d` seconds stands for [t - d, t]; the part before the hour `t` lies in
    goes to the previous hour. Non-finite power (a disconnected meter) counts as no energy.
    `previous`: the newest row integrated before, see `covered_seconds`.
    """
    covered = covered_seconds(timestamps, min(interval, HOUR_SECONDS), previous)
    values = np.where(np.isfinite(power), power, 0.0).astype(np.float64)
    hour_of_end = timestamps - timestamps % HOUR_SECONDS
    # Seconds of each row's interval that fall before its hour started.
    before = np.clip(hour_of_end - (timestamps - covered), 0, None)
    after = covered - before
    energy_after = values * after * kwh_per_unit_second
    energy_before = values * before * kwh_per_unit_second
    all_hours = np.concatenate((hour_of_end, hour_of_end[before > 0] - HOUR_SECONDS))
    all_energy = np.concatenate((energy_after, energy_before[before > 0]))
    hours, index = np.unique(all_hours, return_inverse=True)
    used = np.bincount(index, np.clip(all_energy, 0, None), len(hours)).astype(np.float64)
    returned = np.bincount(index, np.clip(-all_energy, 0, None), len(hours)).astype(np.float64)
    return HourlyEnergy(hours.astype(np.int64), used, returned)
