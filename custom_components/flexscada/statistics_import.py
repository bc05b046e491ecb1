"""Writing hours into the recorder: which statistics, with which metadata, and their rows.

The metadata is exactly what Home Assistant's sensor platform stored for the entity (its unit,
unit class and mean type; name None), so an imported hour and a compiled one are the same kind of
row. Energy rows follow `sum = state + offset`, the offset read from HA's newest 5-minute row:
HA's own compile continues from that row, so imported and compiled hours agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import logging

from homeassistant.components.recorder.models import StatisticData, StatisticMetaData
from homeassistant.components.recorder.statistics import (
    UNIT_CLASS_TO_UNIT_CONVERTER,
    get_last_short_term_statistics,
    get_metadata,
)
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .statistics_hours import HourlyAggregates, StatisticSources, counter_at_hour_ends

_LOGGER = logging.getLogger(__name__)


@dataclass(slots=True)
class Target:
    """A statistic to write in an import pass, with the metadata HA stored for it."""

    statistic_id: str
    metadata: StatisticMetaData
    convert: Callable[[float], float]
    rows: list[StatisticData]


async def async_import_targets(
    hass: HomeAssistant, sources: StatisticSources
) -> tuple[dict[str, Target], list[str]]:
    """Return the statistics HA knows, by unique id, and every enabled recorded sensor."""
    registry = er.async_get(hass)
    instance = get_instance(hass)
    entity_filter = instance.entity_filter
    native_units: dict[str, str | None] = {
        source.unique_id: source.unit for source in sources.means
    }
    native_units |= {spec.unique_id: "kWh" for spec in sources.energy}
    entity_ids: dict[str, str] = {}
    for unique_id in native_units:
        entity_id = registry.async_get_entity_id(Platform.SENSOR, DOMAIN, unique_id)
        if entity_id is None:
            continue
        entry = registry.async_get(entity_id)
        if entry is None or entry.disabled:
            continue  # disabled entities get no statistics
        if entity_filter is not None and not entity_filter(entity_id):
            continue  # excluded from the recorder
        entity_ids[unique_id] = entity_id
    if not entity_ids:
        return {}, []
    stored = await instance.async_add_executor_job(
        lambda: get_metadata(hass, statistic_ids=set(entity_ids.values()))
    )
    targets: dict[str, Target] = {}
    for unique_id, entity_id in entity_ids.items():
        if entity_id not in stored:
            continue  # HA has not compiled this entity yet: its unit is not settled
        meta = stored[entity_id][1]
        convert = _converter(native_units[unique_id], meta)
        if convert is None:
            continue
        # Exactly what the sensor platform writes; only the values are ours.
        metadata = StatisticMetaData(
            mean_type=meta["mean_type"],
            has_sum=meta["has_sum"],
            name=None,
            source="recorder",
            statistic_id=entity_id,
            unit_class=meta["unit_class"],
            unit_of_measurement=meta["unit_of_measurement"],
        )
        targets[unique_id] = Target(entity_id, metadata, convert, [])
    return targets, list(entity_ids)


async def async_energy_offsets(
    hass: HomeAssistant,
    sources: StatisticSources,
    targets: dict[str, Target],
    corrected: dict[str, float],
) -> dict[str, float]:
    """Return `sum - state` of HA's newest 5-minute row per energy statistic.

    HA's own compile continues from that row; rows written with the same offset agree with
    it. A counter that HA first saw above zero is moved so that sum equals the counter:
    hours before HA's first row then never get a negative sum. `corrected` (statistic id ->
    start of the corrected row) keeps a correction from being queued again while the same
    uncorrected row is read before the queued one ran.
    """
    instance = get_instance(hass)
    offsets: dict[str, float] = {}
    for spec in sources.energy:
        if (target := targets.get(spec.unique_id)) is None:
            continue
        statistic_id = target.statistic_id
        newest = await instance.async_add_executor_job(
            get_last_short_term_statistics, hass, 1, statistic_id, False, {"state", "sum"}
        )
        if not (rows := newest.get(statistic_id)):
            continue  # HA has not set its zero point yet: no energy rows this pass
        state, total = rows[0].get("state"), rows[0].get("sum")
        if state is None or total is None:
            continue
        offset = total - state
        if offset < 0:
            if corrected.get(statistic_id) != (start := rows[0]["start"]):
                corrected[statistic_id] = start
                instance.async_adjust_statistics(
                    statistic_id,
                    dt_util.utc_from_timestamp(0),
                    -offset,
                    target.metadata["unit_of_measurement"] or "kWh",
                )
            offset = 0.0
        offsets[spec.unique_id] = offset
    return offsets


def writable_ids(
    sources: StatisticSources, targets: dict[str, Target], offsets: dict[str, float]
) -> set[str]:
    """Return the targets that can be written: an energy counter needs its zero point."""
    energy_ids = {spec.unique_id for spec in sources.energy}
    return {uid for uid in targets if uid in offsets or uid not in energy_ids}


def build_rows(
    aggregates: HourlyAggregates,
    sources: StatisticSources,
    targets: dict[str, Target],
    offsets: dict[str, float],
    hours: dict[str, list[int]],
) -> list[Target]:
    """Fill each target's statistics rows for its hours (in the executor)."""
    built: list[Target] = []
    for source in sources.means:
        if (target := targets.get(source.unique_id)) is None:
            continue
        per_hour = aggregates.means.get(source.unique_id, {})
        convert = target.convert
        for hour in hours.get(source.unique_id, ()):
            if (aggregate := per_hour.get(hour)) is None:
                continue
            count, total, low, high = aggregate
            target.rows.append(
                StatisticData(
                    start=dt_util.utc_from_timestamp(hour),
                    mean=convert(total / count),
                    min=convert(low),
                    max=convert(high),
                )
            )
        if target.rows:
            built.append(target)
    for spec in sources.energy:
        target = targets.get(spec.unique_id)
        if target is None or (offset := offsets.get(spec.unique_id)) is None:
            continue
        per_hour_kwh = aggregates.energy.get(spec.unique_id, {})
        for hour, state in counter_at_hour_ends(
            per_hour_kwh, aggregates.totals.get(spec.unique_id, 0.0), hours.get(spec.unique_id, ())
        ):
            value = target.convert(state)
            target.rows.append(
                StatisticData(
                    start=dt_util.utc_from_timestamp(hour),
                    state=value,
                    sum=value + offset,
                )
            )
        if target.rows:
            built.append(target)
    return built


def _converter(native_unit: str | None, meta: StatisticMetaData) -> Callable[[float], float] | None:
    """Return how to turn native values into the unit HA stored, None if it cannot be done."""
    stored_unit = meta["unit_of_measurement"]
    if stored_unit == native_unit:
        return float
    converter = UNIT_CLASS_TO_UNIT_CONVERTER.get(meta["unit_class"])
    if (
        converter is None
        or native_unit not in converter.VALID_UNITS
        or stored_unit not in converter.VALID_UNITS
    ):
        _LOGGER.debug(
            "Statistic %s is stored in %s, rows are in %s: not imported",
            meta["statistic_id"],
            stored_unit,
            native_unit,
        )
        return None
    return converter.converter_factory(native_unit, stored_unit)
