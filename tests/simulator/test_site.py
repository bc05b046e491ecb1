"""Readings stay physically plausible, vary smoothly and follow the device's state."""

from __future__ import annotations

from collections.abc import Callable
import itertools
import math
import statistics
from typing import Any

import pytest

from q5_simulator import SimulatedQ5, SiteModel
from q5_simulator.site import BATTERY, Profile, Wander, f32, input_profile, sensor_profile

from .fakes import FakeSession

type Make = Callable[..., tuple[SimulatedQ5, FakeSession]]
DAY = 86400


def _offline(post: object) -> tuple[int, bytes]:
    return -1, b""


async def two_days(device: SimulatedQ5, start: float, step: float = 600) -> list[dict[str, Any]]:
    rows = []
    for index in range(int(2 * DAY / step)):
        _, row = await device.measure(start + index * step)
        rows.append(row)
    return rows


async def test_readings_within_bounds(make_device: Make, clock: Any) -> None:
    device, _ = make_device(_offline)
    rows = await two_days(device, clock.now)

    def column(key: str) -> list[float]:
        return [row[key] for row in rows]

    assert set(rows[0]) == set(device.layout.keys)
    for key, low, high in [
        ("inputs.1.avg", 11.8, 14.6),  # battery, volts DC
        ("inputs.2.avg", 0, 100),  # tank pressure, PSI
        ("inputs.4.avg", 100, 135),  # AC line, Vrms
        ("ds18b20.0.avg", -20, 70),
        ("ds18b20.1.inst", -40, 60),
        ("power_metrics.0.freq", 59.5, 60.5),
        ("power_metrics.0.power factor", 0.6, 1.0),
        ("power_metrics.0.voltage avg", 100, 135),
    ]:
        values = column(key)
        assert low <= min(values), key
        assert max(values) <= high, key
        assert statistics.pstdev(values) > 0, key
    assert statistics.mean(column("inputs.4.avg")) == pytest.approx(120, abs=3)
    assert statistics.mean(column("power_metrics.0.freq")) == pytest.approx(60, abs=0.05)
    for row in rows:
        assert row["inputs.1.min"] <= row["inputs.1.avg"] <= row["inputs.1.max"]
        assert row["ds18b20.0.min"] <= row["ds18b20.0.avg"] <= row["ds18b20.0.max"]
        # Every float is exactly a float32, as it travels.
        assert all(isinstance(v, bool) or f32(v) == v for v in row.values())


async def test_readings_vary_smoothly_with_a_day_cycle(make_device: Make, clock: Any) -> None:
    device, _ = make_device(_offline)
    rows = await two_days(device, clock.now)
    outdoor = [row["ds18b20.1.inst"] for row in rows]
    steps = [abs(b - a) for a, b in itertools.pairwise(outdoor)]
    assert max(steps) < 3.0  # ten minutes apart: no jumps
    assert max(outdoor) - min(outdoor) > 6  # but a real day/night swing
    battery = [row["inputs.1.avg"] for row in rows]
    assert max(abs(b - a) for a, b in itertools.pairwise(battery)) < 0.5


async def test_door_opens_rarely(make_device: Make, clock: Any) -> None:
    device, _ = make_device(_offline)
    rows = await two_days(device, clock.now, step=60)
    door = [row["inputs.3.state"] for row in rows]
    changes = sum(a != b for a, b in itertools.pairwise(door))
    assert 2 <= changes <= 200
    assert sum(door) < len(door) / 4  # mostly closed


async def test_relay_current_follows_state(make_device: Make, clock: Any) -> None:
    device, _ = make_device(_offline)
    _, on = await device.measure()
    assert on["relays.1.state"] is True
    assert 0 < on["relays.1.amperage"] < 3  # below relay 1's 3 A fuse
    battery = on["inputs.1.avg"]
    assert on["relays.1.power"] == pytest.approx(on["relays.1.amperage"] * battery, rel=1e-3)
    assert on["relays.3.state"] is False  # generator start defaults off

    device.relays["1"].commanded = False
    clock.now += 60
    _, off = await device.measure()
    assert off["relays.1.state"] is False
    assert off["relays.1.amperage"] == 0.0
    assert off["relays.1.power"] == 0.0

    device.relays["1"].commanded = True
    device.trip("2", "fuse")
    clock.now += 60
    _, tripped = await device.measure()
    assert tripped["relays.2.fuse"] is True
    assert tripped["relays.2.state"] is False
    with pytest.raises(ValueError, match="flag"):
        device.trip("2", "smoke")


async def test_feeds_reported(make_device: Make) -> None:
    device, _ = make_device(_offline)
    device.feeds[0].value = 1.0
    device.feeds[1].value = 42.5
    _, row = await device.measure()
    assert row["mfeeds.0.state"] is True
    assert row["mfeeds.1.value"] == 42.5


async def test_nan_rate(make_device: Make) -> None:
    device, _ = make_device(_offline, nan_rate=1.0)
    _, row = await device.measure()
    floats = [v for v in row.values() if not isinstance(v, bool)]
    assert floats
    assert all(math.isnan(v) for v in floats)


def test_profiles_chosen_from_config() -> None:
    assert input_profile({"unit": "Volts", "type": 0}) is BATTERY
    assert input_profile({"unit": "Vrms", "type": 5}).mean == 120
    assert input_profile({"unit": "PSI"}).mean == 45
    assert input_profile({"unit": "A"}).mean == 8
    assert input_profile({"unit": "%"}).high == 100
    assert input_profile({"unit": "", "label": "Outdoor temp"}) is sensor_profile({"label": "Out"})
    assert input_profile({"unit": "widgets"}).mean == 50
    assert sensor_profile({"label": "Cabinet"}).mean > sensor_profile({"label": "Outdoor"}).mean


def test_wander_clamped_and_seeded() -> None:
    import random

    profile = Profile(0.0, 100.0, 10, -1, 1)
    wander = Wander(profile, random.Random(3))
    values = [wander.value(t) for t in range(0, 10_000, 7)]
    assert min(values) >= -1
    assert max(values) <= 1
    assert wander.value(0) == values[-1]  # time never runs backwards
    a = SiteModel({}, seed=5).wander("x", "1", "v", profile).value(100)
    b = SiteModel({}, seed=5).wander("x", "1", "v", profile).value(100)
    assert a == b
    assert math.isnan(f32(math.nan))
