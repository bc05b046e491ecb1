"""The runtime of one Q5: its stored config, latest readings, availability and uploads.

The views hand every upload of a configured uid to `Q5Device`, which runs it through one
pipeline (open, freshness, decode, apply, reply) and then tells its listeners: "config changed"
and "updated". It knows no entity classes: the entity layer (entity_set.py, entity.py) and the
device registry (registry.py) listen to it. Persistence is in store.py, key health in keys.py,
availability in availability.py and what an upload is answered in replies.py.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.util import dt as dt_util

from .availability import Availability, availability_window
from .checked_store import StoreClosedError, StoreWriteError
from .commands import CommandQueue, QueuedCommand, QueueFullError
from .const import (
    DOMAIN,
    LOGGER,
    MANUFACTURER,
    MODEL,
)
from .freshness import ConfigReplays, Freshness
from .keys import KeyHealth
from .listeners import Listeners
from .logs import ThrottledLogger
from .pending_config import ConfigPush
from .protocol import (
    DeviceAction,
    DeviceConfig,
    Layout,
    MeasurementMeta,
)
from .statistics import DeviceStatistics
from .store import DeviceStore, MeasuredValue, async_restore, to_stored

type FlexscadaConfigEntry = ConfigEntry[Q5Device]


def loaded_device(entry: ConfigEntry[Q5Device] | None) -> Q5Device | None:
    """Return the runtime of a loaded entry, None when there is none or it is not loaded."""
    if entry is None or entry.state is not ConfigEntryState.LOADED:
        return None
    return entry.runtime_data


class Q5Device:
    """One FlexSCADA Q5 known to Home Assistant."""

    def __init__(self, hass: HomeAssistant, entry: FlexscadaConfigEntry, key: bytes) -> None:
        """Initialize from the config entry and the device's AES key."""
        self.hass = hass
        self.entry = entry
        self.uid = int(entry.unique_id or 0)
        self.key = key
        self.problems = ThrottledLogger()
        self.store = DeviceStore(hass, self.uid)
        # What the device told us (persisted, see store.py).
        self.config: DeviceConfig | None = None
        self.layout: Layout | None = None
        self.values: dict[str, MeasuredValue] = {}
        self.latest_timestamp: int | None = None
        self.last_upload: datetime | None = None
        self.last_meta: MeasurementMeta | None = None
        self.rows_in_last_upload = 0
        self.rows_total = 0
        self.commands = CommandQueue(self.uid)
        self.config_push = ConfigPush(self.uid)  # a config change waiting for the device
        self.clock_offset: int | None = None
        # Which rows were seen (replay protection), and the duplicate counters.
        self.freshness = Freshness()
        self.config_replays = ConfigReplays()
        # Uploads of this device are processed one at a time, in arrival order: a backlog still
        # decoding must not land after a newer upload, nor a measurement after a new config.
        self.upload_lock = asyncio.Lock()
        # Rows taken in memory (seen, counted) whose save failed: the device re-sends them.
        self.rows_unsaved = False
        self.keys = KeyHealth(hass, entry, self.uid, self.problems)
        self.availability = Availability(
            hass, self.uid, lambda: self.availability_window, self.async_notify_updated
        )
        self._updated = Listeners()
        self._config_changed = Listeners()
        self.statistics = DeviceStatistics(hass, self.uid)  # every row's hourly statistics

    # -- set-up, persistence and listeners ---------------------------------------------------

    async def async_load(self) -> None:
        """Restore what the device last told us, before any upload arrives."""
        await async_restore(self, self.store)
        self.availability.async_update(self.last_upload)

    async def async_shutdown(self) -> None:
        """Stop timers and write pending data; the entry is unloading.

        Awaited by the unload: a removal or the next runtime starts after this last write. The
        upload lock is held through it, so an upload in flight finishes (answered 503) first.
        """
        self.store.closed = True
        self.availability.async_stop()
        async with self.upload_lock:
            await self.store.async_save(to_stored(self))

    @callback
    def async_add_listener(self, on_update: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call `on_update` after new readings, commands or a change of availability."""
        return self._updated.async_add(on_update)

    @callback
    def async_add_config_listener(self, on_config: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call `on_config` when the device sent a new config (before the update that follows)."""
        return self._config_changed.async_add(on_config)

    # -- what the device is --------------------------------------------------------------------

    @property
    def name(self) -> str:
        """Return the device's name from its config, else `Q5 <uid>`."""
        if self.config is not None and self.config.name:
            return self.config.name
        return f"Q5 {self.uid}"

    @property
    def firmware_version(self) -> str | None:
        """Return the firmware version the device last reported."""
        return str(self.last_meta.fw_version) if self.last_meta is not None else None

    @property
    def device_info(self) -> DeviceInfo:
        """Return the device registry entry shared by all this device's entities."""
        return DeviceInfo(
            identifiers={(DOMAIN, str(self.uid))},
            name=self.name,
            manufacturer=MANUFACTURER,
            model=MODEL,
            serial_number=str(self.uid),
            sw_version=self.firmware_version,
        )

    @property
    def available(self) -> bool:
        """Return True while the device keeps uploading."""
        return self.availability.available

    @property
    def availability_window(self) -> timedelta:
        """Return how long the device stays online after an upload."""
        return availability_window(self.config, self.entry.options)

    # -- what uploads change (uploads.py runs them) ------------------------------------------

    async def async_take_config(self, config: DeviceConfig, layout: Layout) -> None:
        """Make a config (sent by the device, or pushed and adopted) the device's; persist it."""
        previous = self.config, self.layout, self.values
        if self.config is not None and self.config.version != config.version:
            # Readings decoded with the old layout must not show under the new config's
            # channels (a swapped label); the device's next upload brings the new ones.
            self.values = {}
        self.config, self.layout = config, layout
        self.config_replays.reported = None
        # Persist before acknowledging: the device only re-sends its config when asked.
        try:
            await self.store.async_save_now(lambda: to_stored(self))
        except StoreWriteError:
            self.config, self.layout, self.values = previous
            raise
        LOGGER.info("Device %s: stored config version %s", self.uid, config.version)
        self._config_changed.async_notify()
        self.async_notify_updated()

    # -- commands and the config push ----------------------------------------------------------

    async def async_queue_command(self, action: DeviceAction) -> QueuedCommand:
        """Queue a command for the reply to the device's next upload, durably."""
        pending = list(self.commands.pending)
        try:
            self.store.raise_if_closed()  # once queued here, the unload's last write takes it too
            command = self.commands.add(action, dt_util.utcnow().timestamp())
            # Saved before the action returns: a queued command survives a restart.
            await self.store.async_save_or_raise(to_stored(self))
        except QueueFullError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="queue_full",
                translation_placeholders={"device": self.name},
            ) from err
        except (StoreWriteError, StoreClosedError) as err:
            self.commands.pending = pending
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="command_not_saved",
                translation_placeholders={"device": self.name},
            ) from err
        LOGGER.debug("Device %s: queued %s as id %s", self.uid, action, command.id)
        self.async_notify_updated()
        return command

    # -- what config_push.ConfigPushHost needs besides async_take_config ----------------------

    async def async_save(self) -> None:
        """Persist the device store now; a translated error if it cannot be."""
        try:
            self.store.raise_if_closed()
            await self.store.async_save_or_raise(to_stored(self))
        except (StoreWriteError, StoreClosedError) as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="config_not_saved",
                translation_placeholders={"device": self.name},
            ) from err

    @callback
    def async_notify_updated(self) -> None:
        """Tell the listeners that what they show (readings, a pending change) may have changed."""
        self._updated.async_notify()
