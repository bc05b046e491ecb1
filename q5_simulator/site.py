"""Plausible, smoothly varying readings for every metric a Q5 config logs.

Every analog quantity is a slow Ornstein-Uhlenbeck wander around a mean, plus an optional day
cycle, clamped to physical bounds: battery voltage drifts and charges in the afternoon, outdoor
temperature peaks mid-afternoon, the cabinet follows it warmer, AC mains sits near 120 V / 60 Hz,
tank pressure is noisy around 45 PSI. The door contact opens rarely and closes again after a few
minutes. Relay current and power follow the relay's state. Which profile a channel gets is read
from its config (section, `type`, `unit`, `label`), so any config produces sensible numbers.

Values are rounded to float32 here, so a row holds exactly what the wire carries and a test can
compare what Home Assistant recorded with what the device sent, bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
import math
import random
import struct
from typing import Any, Protocol

from custom_components.flexscada.protocol.model import Field, FieldKind, Layout

DAY = 86400.0
_F32 = struct.Struct("<f")

type Value = float | bool


def f32(value: float) -> float:
    """Return `value` rounded to the nearest IEEE-754 single, as the device would store it."""
    if math.isnan(value) or math.isinf(value):
        return value
    return float(_F32.unpack(_F32.pack(value))[0])


@dataclass(frozen=True, slots=True)
class Profile:
    """How one analog quantity behaves.

    `mean` plus a day cycle (`day_amplitude`, peaking at `peak_hour` UTC) plus a wander with
    standard deviation `sigma` and correlation time `tau` seconds, clamped to [`low`, `high`].
    Within one measurement interval the quantity swings by about `spread` (min/max) and an
    instantaneous sample is off the average by about `noise`.
    """

    mean: float
    sigma: float
    tau: float
    low: float
    high: float
    day_amplitude: float = 0.0
    peak_hour: float = 15.0
    spread: float = 0.0
    noise: float = 0.0


BATTERY = Profile(13.2, 0.15, 1800, 11.8, 14.6, 0.5, 13.0, spread=0.08, noise=0.02)
AC_VOLTS = Profile(120.0, 1.0, 300, 100, 135, 1.0, 19.0, spread=1.2, noise=0.3)
AC_AMPS = Profile(8.0, 1.5, 600, 0.0, 100, 3.0, 18.0, spread=0.8, noise=0.2)
PRESSURE = Profile(45.0, 2.0, 600, 0.0, 100, spread=1.5, noise=0.6)
PERCENT = Profile(60.0, 8.0, 3600, 0.0, 100, 10.0, 14.0, spread=1.0, noise=0.3)
OUTDOOR = Profile(12.0, 1.0, 3600, -40, 60, 7.0, 15.0, spread=0.3, noise=0.1)
CABINET = Profile(26.0, 0.6, 1800, -20, 70, 4.0, 16.0, spread=0.2, noise=0.06)
GENERIC = Profile(50.0, 5.0, 900, 0.0, 100, spread=1.0, noise=0.3)
FREQUENCY = Profile(60.0, 0.02, 60, 59.5, 60.5, spread=0.03, noise=0.005)
POWER_FACTOR = Profile(0.92, 0.02, 900, 0.6, 1.0, spread=0.01, noise=0.003)
THD = Profile(2.5, 0.4, 900, 0.5, 8.0, spread=0.3, noise=0.1)

#: Mean minutes the door stays closed, then open.
DOOR_CLOSED_MINUTES = 45.0
DOOR_OPEN_MINUTES = 3.0


class DeviceView(Protocol):
    """What the site model reads from the device it belongs to."""

    def relay_output(self, channel: str, now: float) -> bool:
        """Return whether relay `channel` conducts at `now`."""
        ...

    def relay_flag(self, channel: str, flag: str) -> bool:
        """Return a relay's fuse/hvd/lvd flag."""
        ...

    def feed_value(self, index: int) -> float:
        """Return manual feed `index`'s current value (0/1 for a BIT feed)."""
        ...


class Wander:
    """One quantity following a Profile through time (exact OU update for any time step)."""

    def __init__(self, profile: Profile, rng: random.Random) -> None:
        self.profile = profile
        self.rng = rng
        self.deviation = rng.gauss(0.0, profile.sigma)
        self.time: float | None = None

    def value(self, now: float) -> float:
        """Return the quantity's average at `now`, advancing the wander to `now`."""
        p = self.profile
        if self.time is not None and now > self.time:
            decay = math.exp(-(now - self.time) / p.tau)
            self.deviation = self.deviation * decay + p.sigma * math.sqrt(
                1 - decay * decay
            ) * self.rng.gauss(0.0, 1.0)
        if self.time is None or now > self.time:
            self.time = now
        hours = (now % DAY) / 3600.0
        cycle = p.day_amplitude * math.cos(2 * math.pi * (hours - p.peak_hour) / 24.0)
        return min(p.high, max(p.low, p.mean + cycle + self.deviation))

    def stats(self, now: float) -> dict[str, float]:
        """Return avg/inst/min/max/ripple for one measurement at `now`."""
        p = self.profile
        avg = self.value(now)
        swing_low = p.spread * self.rng.uniform(0.5, 1.5)
        swing_high = p.spread * self.rng.uniform(0.5, 1.5)
        inst = avg + self.rng.gauss(0.0, p.noise) if p.noise else avg
        return {
            "avg": avg,
            "inst": min(p.high, max(p.low, inst)),
            "min": max(p.low, avg - swing_low),
            "max": min(p.high, avg + swing_high),
            "ripple": abs(self.rng.gauss(p.spread / 4, p.spread / 10)) if p.spread else 0.0,
        }


class DoorContact:
    """A dry contact that opens rarely and closes again after a few minutes."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.open = False
        self.time: float | None = None

    def value(self, now: float) -> bool:
        """Return whether the contact is open (true) at `now`."""
        if self.time is not None and now > self.time:
            mean_minutes = DOOR_OPEN_MINUTES if self.open else DOOR_CLOSED_MINUTES
            if self.rng.random() < 1 - math.exp(-(now - self.time) / (mean_minutes * 60)):
                self.open = not self.open
        if self.time is None or now > self.time:
            self.time = now
        return self.open


def input_profile(channel: Mapping[str, Any]) -> Profile:
    """Pick a profile for an analog input from its unit, type, mode and label."""
    unit = str(channel.get("unit", "")).strip().lower()
    label = str(channel.get("label", "")).lower()
    rms = channel.get("type") == 5
    if "psi" in unit or "bar" in unit or "pressure" in label:
        return PRESSURE
    if unit in {"a", "amps", "amp", "ma"} or "current" in label or " ct" in f" {label}":
        return AC_AMPS
    if unit.startswith("v"):
        return AC_VOLTS if rms or "rms" in unit or "ac" in label.split() else BATTERY
    if "%" in unit:
        return PERCENT
    if unit in {"c", "°c", "degc", "f", "°f"} or "temp" in label:
        return OUTDOOR if "out" in label else CABINET
    return GENERIC


def sensor_profile(sensor: Mapping[str, Any]) -> Profile:
    """Pick a profile for a DS18B20 sensor: outdoor-like labels get the outdoor climate."""
    label = str(sensor.get("label", "")).lower()
    outdoor = any(word in label for word in ("out", "ambient", "air", "yard", "roof", "mast"))
    return OUTDOOR if outdoor else CABINET


def channel_config(config: Mapping[str, Any], section: str, key: str) -> Mapping[str, Any]:
    """Return one channel's config, whether its section is keyed by channel or an array."""
    value = config.get(section)
    if isinstance(value, Mapping):
        entry = value.get(key)
    elif isinstance(value, list) and key.isdecimal() and int(key) < len(value):
        entry = value[int(key)]
    else:
        entry = None
    return entry if isinstance(entry, Mapping) else {}


class SiteModel:
    """Generates one measurement row's values for a config's layout."""

    def __init__(self, config: Mapping[str, Any], seed: int, nan_rate: float = 0.0) -> None:
        self.config = config
        self.rng = random.Random(seed)  # noqa: S311 - a simulation, not cryptography
        self.nan_rate = nan_rate
        self._wanders: dict[tuple[str, str, str], Wander] = {}
        self._doors: dict[tuple[str, str], DoorContact] = {}
        self._relay_loads: dict[str, float] = {}
        self._stats_cache: dict[tuple[str, str], dict[str, float]] = {}

    def use_config(self, config: Mapping[str, Any]) -> None:
        """Follow a new config; channels that stay keep their state."""
        self.config = config

    # -- per-channel processes -------------------------------------------------------------

    def wander(self, section: str, key: str, quantity: str, profile: Profile) -> Wander:
        """Return (creating on first use) the wander of one quantity of one channel."""
        ident = (section, key, quantity)
        if (wander := self._wanders.get(ident)) is None or wander.profile != profile:
            wander = self._wanders[ident] = Wander(profile, self.rng)
        return wander

    def door(self, section: str, key: str) -> DoorContact:
        """Return (creating on first use) a channel's dry contact."""
        if (door := self._doors.get((section, key))) is None:
            door = self._doors[(section, key)] = DoorContact(self.rng)
        return door

    def relay_load(self, key: str) -> float:
        """Return the nominal current (A) of the load on relay `key`, below its fuse rating."""
        if (load := self._relay_loads.get(key)) is None:
            fuse = channel_config(self.config, "relays", key).get("fuse")
            amps = fuse.get("amps", 0) if isinstance(fuse, Mapping) else 0
            ceiling = 0.7 * amps if isinstance(amps, (int, float)) and amps > 0 else 2.5
            load = self._relay_loads[key] = self.rng.uniform(0.3, 1.0) * ceiling
        return load

    def battery_voltage(self, now: float, source: object = None) -> float:
        """Return the DC bus voltage: relay `vSrc`'s input if it measures volts, else a battery."""
        key = str(source) if isinstance(source, int) and source > 0 else None
        channel = channel_config(self.config, "inputs", key) if key else {}
        if channel and input_profile(channel) is BATTERY:
            return self.wander("inputs", key or "", "value", BATTERY).value(now)
        return self.wander("site", "battery", "value", BATTERY).value(now)

    # -- a row ------------------------------------------------------------------------------

    def sample(self, layout: Layout, now: float, device: DeviceView) -> dict[str, Value]:
        """Return {field key: value} for every field of `layout` at `now`."""
        samplers: dict[str, Callable[[Field, float, DeviceView], Value]] = {
            "relays": self._relay,
            "inputs": self._input,
            "ds18b20": self._sensor,
            "power_metrics": self._power,
            "mfeeds": self._feed,
        }
        self._stats_cache = {}
        row: dict[str, Value] = {}
        for field in layout.fields:
            sampler = samplers.get(field.section)
            value: Value = sampler(field, now, device) if sampler else 0.0
            if field.kind is FieldKind.BIT:
                row[field.key] = bool(value)
            elif self.nan_rate and self.rng.random() < self.nan_rate:
                row[field.key] = math.nan
            else:
                row[field.key] = f32(float(value))
        return row

    def _stats(self, section: str, key: str, profile: Profile, now: float) -> dict[str, float]:
        ident = (section, key)
        if ident not in self._stats_cache:
            self._stats_cache[ident] = self.wander(section, key, "value", profile).stats(now)
        return self._stats_cache[ident]

    def _relay(self, field: Field, now: float, device: DeviceView) -> Value:
        key, metric = field.channel_key, field.metric
        if metric in {"fuse", "hvd", "lvd"}:
            return device.relay_flag(key, metric)
        on = device.relay_output(key, now)
        if metric == "state":
            return on
        amps = 0.0
        if on:
            load = self.relay_load(key)
            amps = self.wander("relays", key, "load", _load_profile(load)).value(now)
        if metric == "amperage":
            return amps
        if metric == "power":
            source = channel_config(self.config, "relays", key).get("vSrc")
            return amps * self.battery_voltage(now, source)
        return 0.0

    def _input(self, field: Field, now: float, device: DeviceView) -> Value:
        channel = channel_config(self.config, "inputs", field.channel_key)
        if field.metric == "state":
            return self.door("inputs", field.channel_key).value(now)
        profile = input_profile(channel)
        stats = self._stats("inputs", field.channel_key, profile, now)
        if field.metric == "power":
            return stats["avg"] * stats["avg"] / 100.0
        return stats.get(field.metric, stats["avg"])

    def _sensor(self, field: Field, now: float, device: DeviceView) -> Value:
        sensor = channel_config(self.config, "ds18b20", field.channel_key)
        stats = self._stats("ds18b20", field.channel_key, sensor_profile(sensor), now)
        return stats.get(field.metric, stats["avg"])

    def _power(self, field: Field, now: float, device: DeviceView) -> Value:
        key = field.channel_key
        volts = self._stats("power_metrics", key, AC_VOLTS, now)
        amps = self._stats("power_metrics", key + ".amps", AC_AMPS, now)
        pf = self.wander("power_metrics", key, "pf", POWER_FACTOR).value(now)
        metric = field.canonical_metric
        if metric == "freq":
            return self.wander("power_metrics", key, "freq", FREQUENCY).stats(now)["inst"]
        if metric in {"power factor", "apparent power"}:
            return pf if metric == "power factor" else volts["avg"] * amps["avg"]
        quantity, _, stat = metric.rpartition(" ")
        per_stat: dict[str, dict[str, float]] = {
            "voltage": volts,
            "amperage": amps,
            "power": {name: volts["avg"] * value * pf for name, value in amps.items()},
            "voltage thd": self._stats("power_metrics", key + ".thd", THD, now),
        }
        stats = per_stat.get(quantity)
        return stats.get(stat, stats["avg"]) if stats else 0.0

    def _feed(self, field: Field, now: float, device: DeviceView) -> Value:
        value = device.feed_value(int(field.channel_key))
        return bool(value) if field.metric == "state" else value


def _load_profile(load: float) -> Profile:
    """Return the profile of a relay load's current: a few percent around its nominal value."""
    return Profile(load, load * 0.04, 300, 0.0, load * 1.5, spread=load * 0.02)
