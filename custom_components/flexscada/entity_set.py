"""Which entities a Q5 has right now, following its device config without a reload.

The device runtime knows no entities: this set listens to it. When the device sends a new
config, the set adds the entities it brings (per platform, live), removes the registry entries
it no longer has, and hands the entities that stay their new spec (a relabelled channel, a new
unit). Each entity listens to the device's updates itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN
from .device import FlexscadaConfigEntry, Q5Device
from .entity_specs import Q5ChannelEntityDescription, build_entity_specs, is_config_unique_id

DATA_ENTITY_SETS: HassKey[dict[str, EntitySet]] = HassKey(f"{DOMAIN}_entity_sets")

#: Entities added in one go. The largest legal config (438 entities) held the event loop for
#: 165-310 ms when added at once; in batches of 50 its longest hold is ~35 ms (a loaded test
#: machine, tests/test_hostile_configs.py prints it; docs/load-and-attack.md).
ADD_BATCH = 50


async def _async_add_in_batches(
    async_add_entities: AddConfigEntryEntitiesCallback, entities: list[Entity]
) -> None:
    """Add entities a batch per loop turn."""
    for start in range(0, len(entities), ADD_BATCH):
        await asyncio.sleep(0)
        async_add_entities(entities[start : start + ADD_BATCH])


class SpecFollower(Protocol):
    """What the set needs of a live entity."""

    @callback
    def async_set_spec(self, spec: Q5ChannelEntityDescription) -> None:
        """Take a new spec after the device config changed (label, unit, ...)."""


class EntitySet:
    """The entities of one Q5: the specs its config calls for, and the live entities."""

    def __init__(self, hass: HomeAssistant, entry: FlexscadaConfigEntry) -> None:
        """Initialize from the loaded device of an entry."""
        self.hass = hass
        self.entry = entry
        self.device: Q5Device = entry.runtime_data
        self.specs: dict[str, Q5ChannelEntityDescription] = self._build_specs()
        self._live: dict[str, SpecFollower] = {}
        # One adder per description class (a platform may have several: metrics, energy).
        self._platform_adders: dict[
            type[Q5ChannelEntityDescription], Callable[[list[Q5ChannelEntityDescription]], None]
        ] = {}

    def _build_specs(self) -> dict[str, Q5ChannelEntityDescription]:
        return build_entity_specs(self.device.uid, self.device.config, self.device.layout)

    @callback
    def async_register_platform[D: Q5ChannelEntityDescription](
        self,
        description_type: type[D],
        async_add_entities: AddConfigEntryEntitiesCallback,
        make_entity: Callable[[Q5Device, D], Entity],
    ) -> None:
        """Let a platform add entities now and whenever the device config brings new ones."""

        @callback
        def add_entities(specs: list[Q5ChannelEntityDescription]) -> None:
            entities = [
                make_entity(self.device, spec)
                for spec in specs
                if isinstance(spec, description_type)
            ]
            if len(entities) <= ADD_BATCH:
                async_add_entities(entities)
                return
            self.entry.async_create_task(
                self.hass,
                _async_add_in_batches(async_add_entities, entities),
                f"{DOMAIN} add entities",
            )

        self._platform_adders[description_type] = add_entities
        add_entities(list(self.specs.values()))

    @callback
    def async_follow(self, unique_id: str, entity: SpecFollower) -> CALLBACK_TYPE:
        """Send new specs to a live entity until the returned callback is called."""
        self._live[unique_id] = entity

        @callback
        def unfollow() -> None:
            if self._live.get(unique_id) is entity:
                del self._live[unique_id]

        return unfollow

    @callback
    def async_remove_stale_entities(self) -> None:
        """Remove registry entries of this device that its current config no longer has."""
        registry = er.async_get(self.hass)
        for entry in er.async_entries_for_config_entry(registry, self.entry.entry_id):
            if entry.unique_id not in self.specs and is_config_unique_id(
                self.device.uid, entry.unique_id
            ):
                registry.async_remove(entry.entity_id)

    @callback
    def async_config_changed(self) -> None:
        """Bring the entities in line with a new device config, without a reload."""
        old_specs = self.specs
        self.specs = self._build_specs()
        self.async_remove_stale_entities()
        for description_type, add_entities in self._platform_adders.items():
            if new := [
                spec
                for spec in self.specs.values()
                if isinstance(spec, description_type) and spec.unique_id not in old_specs
            ]:
                add_entities(new)
        for unique_id, entity in list(self._live.items()):
            if (spec := self.specs.get(unique_id)) is not None:
                entity.async_set_spec(spec)


@callback
def async_setup_entity_set(hass: HomeAssistant, entry: FlexscadaConfigEntry) -> EntitySet:
    """Create the entity set of a loaded entry; it follows the device until the entry unloads."""
    entity_set = EntitySet(hass, entry)
    entity_set.async_remove_stale_entities()
    sets = hass.data.setdefault(DATA_ENTITY_SETS, {})
    sets[entry.entry_id] = entity_set
    entry.async_on_unload(
        entry.runtime_data.async_add_config_listener(entity_set.async_config_changed)
    )

    @callback
    def forget() -> None:
        del sets[entry.entry_id]

    entry.async_on_unload(forget)
    return entity_set


def entity_set_of(hass: HomeAssistant, entry: FlexscadaConfigEntry) -> EntitySet:
    """Return the entity set of a loaded entry."""
    return hass.data[DATA_ENTITY_SETS][entry.entry_id]


@callback
def async_add_platform_entities[D: Q5ChannelEntityDescription](
    hass: HomeAssistant,
    entry: FlexscadaConfigEntry,
    description_type: type[D],
    async_add_entities: AddConfigEntryEntitiesCallback,
    make_entity: Callable[[Q5Device, D], Entity],
) -> None:
    """Add a platform's entities now and whenever the device config brings new ones."""
    entity_set_of(hass, entry).async_register_platform(
        description_type, async_add_entities, make_entity
    )
