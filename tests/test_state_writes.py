"""Only entities whose shown state changed are written after an upload (a state write is costly)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from homeassistant.const import EVENT_STATE_REPORTED
from homeassistant.core import Event, EventStateReportedData, HomeAssistant, callback

from custom_components.flexscada.entity_specs import metric_unique_id
from custom_components.flexscada.protocol import FieldKind

from .common import (
    DEVICE_EPOCH,
    UID,
    Q5Uploads,
    entity_id_of,
)


async def test_unchanged_readings_are_not_rewritten(
    hass: HomeAssistant, reporting_q5: Q5Uploads
) -> None:
    """A repeat of the same readings writes only what changed (last upload); a new value writes."""
    values = reporting_q5.values()
    await hass.async_block_till_done()

    written: list[str] = []
    reported: list[str] = []
    hass.bus.async_listen("state_changed", lambda event: written.append(event.data["entity_id"]))

    def on_reported(event: Event[EventStateReportedData]) -> None:
        reported.append(event.data["entity_id"])

    hass.bus.async_listen(EVENT_STATE_REPORTED, on_reported, event_filter=callback(lambda _: True))
    status, _ = await reporting_q5.upload(values, epoch=DEVICE_EPOCH + 60)
    assert status == HTTPStatus.OK
    await hass.async_block_till_done()
    # Nothing was written unchanged (last_upload shows whole seconds: it may repeat). The new row
    # adds a minute of power to the energy counters: they changed.
    assert [e for e in reported if "last_upload" not in e] == []
    assert [e for e in written if "last_upload" not in e and not e.endswith("_energy")] == []

    float_field = next(f for f in reporting_q5.layout.fields if f.kind is FieldKind.FLOAT)
    changed = {**values, float_field.key: 1234.5}
    status, _ = await reporting_q5.upload(changed, epoch=DEVICE_EPOCH + 120)
    assert status == HTTPStatus.OK
    await hass.async_block_till_done()
    entity_id = entity_id_of(hass, metric_unique_id(UID, float_field))
    assert [e for e in written if "last_upload" not in e and not e.endswith("_energy")] == [
        entity_id
    ]
    state = hass.states.get(entity_id)
    assert state is not None
    assert float(state.state) == 1234.5


async def test_upload_is_persisted_before_it_is_acknowledged(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    configured_q5: Q5Uploads,
) -> None:
    """A 200 means the rows are on disk: a kill -9 right after it loses nothing acknowledged."""
    rows = [(DEVICE_EPOCH + 60 * i, configured_q5.values(i)) for i in range(3)]
    status, _ = await configured_q5.upload_rows(rows)
    assert status == HTTPStatus.OK
    # No time passes and no task runs: what the response promised is already stored.
    stored = hass_storage[f"flexscada.{UID}"]["data"]
    assert stored["rows_total"] == 3
    assert stored["latest_timestamp"] == DEVICE_EPOCH + 120
