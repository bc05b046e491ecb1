"""Helpers shared by the Home Assistant tests: a device, its config, and its uploads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
import copy
from dataclasses import dataclass, field as dataclass_field
import json
from pathlib import Path
from typing import Any
from unittest.mock import patch

from aiohttp.test_utils import TestClient
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.storage import Store
from homeassistant.util.file import WriteError
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.flexscada.const import CONF_KEY, CONF_UID, DOMAIN
from custom_components.flexscada.protocol import (
    FieldKind,
    Layout,
    build_config_packet,
    build_measurement_packet,
    compile_layout,
    key_from_passphrase,
    open_reply,
    parse_config,
)

UID = 1535235511
PASSPHRASE = "correct horse battery"
KEY = key_from_passphrase(PASSPHRASE)
WRONG_KEY = key_from_passphrase("not the password")
DEVICE_EPOCH = 1_764_000_000

EXAMPLE_CONFIG: dict[str, Any] = json.loads(
    (Path(__file__).parent / "fixtures" / "example_config.json").read_text()
)


def example_config() -> dict[str, Any]:
    """Return a fresh copy of the example device config."""
    return copy.deepcopy(EXAMPLE_CONFIG)


def layout_of(config: Mapping[str, Any]) -> Layout:
    """Return the compiled layout of a raw config."""
    return compile_layout(parse_config(config))


def distinct_values(layout: Layout, seed: int = 0) -> dict[str, float | bool]:
    """Return a value per field, all different and exact in float32."""
    values: dict[str, float | bool] = {}
    for index, field in enumerate(layout.fields):
        if field.kind is FieldKind.BIT:
            values[field.key] = (index + seed) % 2 == 0
        else:
            values[field.key] = 0.25 + index * 1.5 + seed
    return values


def make_entry(uid: int = UID, key: bytes = KEY) -> MockConfigEntry:
    """Return a config entry for a device."""
    return MockConfigEntry(
        domain=DOMAIN,
        unique_id=str(uid),
        title=f"Q5 {uid}",
        data={CONF_UID: uid, CONF_KEY: key.hex()},
    )


def measurement_packet(
    config: Mapping[str, Any],
    rows: list[tuple[int, Mapping[str, float | bool]]],
    *,
    key: bytes = KEY,
    uid: int = UID,
    epoch: int | None = None,
    ack: int = 0,
    cfg_version: int | None = None,
) -> bytes:
    """Return a measurement upload as the device would send it."""
    return build_measurement_packet(
        key,
        uid,
        layout_of(config),
        rows,
        fw_version=517,
        cfg_version=cfg_version,
        epoch=epoch if epoch is not None else (rows[-1][0] if rows else DEVICE_EPOCH),
        last_cmd_id_ack=ack,
    )


async def post_measurement(client: TestClient, body: bytes) -> tuple[int, dict[str, Any]]:
    """POST a measurement upload; return the status and the opened reply."""
    response = await client.post("/Q5/m", data=body)
    payload = await response.read()
    return response.status, (open_reply(KEY, payload) if payload else {})


async def post_config(
    client: TestClient, config: Mapping[str, Any], *, key: bytes = KEY, uid: int = UID
) -> int:
    """POST a config upload; return the status."""
    response = await client.post(f"/Q5/cfg/{uid}", data=build_config_packet(key, dict(config)))
    return response.status


type Row = tuple[int, Mapping[str, float | bool]]


@dataclass
class Q5Uploads:
    """A Q5 as the tests drive it over HTTP: its config, and the uploads it posts."""

    client: TestClient
    config: dict[str, Any] = dataclass_field(default_factory=example_config)

    @property
    def layout(self) -> Layout:
        """Return the compiled layout of the current config."""
        return layout_of(self.config)

    def values(self, seed: int = 0) -> dict[str, float | bool]:
        """Return distinct readings for every field of the current config."""
        return distinct_values(self.layout, seed)

    async def send_config(self) -> int:
        """Post the current config; return the status."""
        return await post_config(self.client, self.config)

    async def upload(
        self, values: Mapping[str, float | bool] | None = None, *, epoch: int = DEVICE_EPOCH
    ) -> tuple[int, dict[str, Any]]:
        """Post one row (`values`, else `self.values()`) stamped `epoch`; return status, reply."""
        return await self.upload_rows([(epoch, self.values() if values is None else values)])

    async def upload_rows(self, rows: list[Row], **packet: Any) -> tuple[int, dict[str, Any]]:
        """Post these rows in one upload (`packet`: see `measurement_packet`)."""
        return await post_measurement(self.client, measurement_packet(self.config, rows, **packet))


def entity_id_of(hass: HomeAssistant, unique_id: str) -> str:
    """Return the entity id registered for one of our unique ids."""
    registry = er.async_get(hass)
    for platform in ("sensor", "binary_sensor", "switch", "number", "button", "select"):
        if entity_id := registry.async_get_entity_id(platform, DOMAIN, unique_id):
            return entity_id
    raise AssertionError(f"no entity with unique id {unique_id}")


type Writer = Callable[[Store[Any], dict[str, Any]], Awaitable[None]]


@contextmanager
def writer(replacement: Callable[[Writer], Writer]) -> Iterator[None]:
    """Replace Home Assistant's store writer (the test harness's) by `replacement(original)`."""
    original: Writer = Store._async_write_data  # type: ignore[assignment]
    with patch.object(Store, "_async_write_data", replacement(original)):
        yield


def failing(_original: Writer) -> Writer:
    """Return a writer that fails as Home Assistant's does on a full or read-only disk."""

    async def write(store: Store[Any], data: dict[str, Any]) -> None:
        raise WriteError(OSError(28, "No space left on device"))

    return write


def device_store_file(config: dict[str, Any] | None, **fields: Any) -> dict[str, Any]:
    """Return `.storage/flexscada.<UID>` as a device that never uploaded leaves it, with `config`
    and any other stored `fields` (for hass_storage)."""
    return {
        "version": 1,
        "minor_version": 1,
        "key": f"{DOMAIN}.{UID}",
        "data": {
            "config": config,
            "values": {},
            "latest_timestamp": None,
            "last_upload": None,
            "meta": None,
            "rows_in_last_upload": 0,
            "rows_total": 0,
            "commands": None,
            **fields,
        },
    }
