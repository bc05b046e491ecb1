"""The runtime of one Q5: its stored config, latest readings, availability and uploads.

The views hand every upload of a configured uid to `Q5Device`, which runs it through one
pipeline (open, freshness, decode, apply, reply) and then tells its listeners: "config changed"
and "updated". It knows no entity classes: the entity layer (entity_set.py, entity.py) and the
device registry (registry.py) listen to it. Persistence is in store.py, key health in keys.py,
availability in availability.py and what an upload is answered in replies.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from http import HTTPStatus

from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.util import dt as dt_util

from .availability import Availability, availability_window
from .commands import CommandQueue, QueuedCommand, QueueFullError
from .config_push import (
    ConfigPush,
    async_follow_config_push,
    async_judge_config_rejection,
    device_sent_config,
)
from .const import (
    DOMAIN,
    INLINE_DECODE_LIMIT,
    LOGGER,
    MANUFACTURER,
    MODEL,
)
from .freshness import ConfigReplays, Freshness, Verdict
from .issues import ISSUE_LAYOUT_MISMATCH, async_clear_issue, async_raise_layout_mismatch
from .keys import KeyHealth
from .listeners import Listeners
from .logs import ThrottledLogger
from .protocol import (
    DecodedRows,
    DeviceAction,
    DeviceConfig,
    IntegrityError,
    Layout,
    LayoutMismatchError,
    MeasurementMeta,
    MeasurementPacket,
    Q5ProtocolError,
    build_reply,
    compile_layout,
    decode_rows,
    open_config_packet,
    open_measurement_packet,
    readings,
)
from .replies import (
    UploadResponse,
    acknowledge_commands,
    clock_sync_time,
    rejection,
    reply_body,
)
from .statistics import DeviceStatistics
from .store import (
    DeviceStore,
    MeasuredValue,
    StoreClosedError,
    StoreWriteError,
    async_restore,
    to_stored,
)

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
        self._store = DeviceStore(hass, self.uid)
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
        self._upload_lock = asyncio.Lock()
        # Rows taken in memory (seen, counted) whose save failed: the device re-sends them.
        self._rows_unsaved = False
        self.keys = KeyHealth(hass, entry, self.uid, self.problems)
        self.availability = Availability(
            hass, self.uid, lambda: self.availability_window, self._async_notify_updated
        )
        self._updated = Listeners()
        self._config_changed = Listeners()
        self.statistics = DeviceStatistics(hass, self.uid)  # every row's hourly statistics

    # -- set-up, persistence and listeners ---------------------------------------------------

    async def async_load(self) -> None:
        """Restore what the device last told us, before any upload arrives."""
        await async_restore(self, self._store)
        self.availability.async_update(self.last_upload)

    async def async_shutdown(self) -> None:
        """Stop timers and write pending data; the entry is unloading.

        Awaited by the unload: a removal or the next runtime starts after this last write. The
        upload lock is held through it, so an upload in flight finishes (answered 503) first.
        """
        self._store.closed = True
        self.availability.async_stop()
        async with self._upload_lock:
            await self._store.async_save(to_stored(self))

    @callback
    def async_add_listener(self, on_update: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call `on_update` after new readings, commands or a change of availability."""
        return self._updated.async_add(on_update)

    @callback
    def async_add_config_listener(self, on_config: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call `on_config` when the device sent a new config (before the update that follows)."""
        return self._config_changed.async_add(on_config)

    @callback
    def _async_notify_updated(self) -> None:
        self._updated.async_notify()

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

    # -- uploads --------------------------------------------------------------------------------

    async def async_handle_config(self, body: bytes) -> UploadResponse:
        """Verify, validate and persist a config upload, then tell the listeners."""
        async with self._upload_lock:
            try:
                return await self._async_process_config(body)
            except (StoreWriteError, StoreClosedError) as err:
                return self._not_processed("config upload", err)

    async def async_handle_measurement(self, body: bytes) -> UploadResponse:
        """Process a measurement upload; 200 only once processed and stored."""
        async with self._upload_lock:
            try:
                return await self._async_process_measurement(body)
            except (StoreWriteError, StoreClosedError) as err:
                return self._not_processed("measurement upload", err)

    def _not_processed(self, upload: str, err: Exception) -> UploadResponse:
        """Answer 503 (the device re-sends) an upload that was not durably processed."""
        if isinstance(err, StoreClosedError):
            self.problems.report(
                ("unloading", upload), "Device %s: %s in an unload, 503", self.uid, upload
            )
        else:  # the store logged why (rate-limited)
            LOGGER.debug("Device %s: %s not saved (%s), 503", self.uid, upload, err)
        return UploadResponse(HTTPStatus.SERVICE_UNAVAILABLE)

    async def _async_process_config(self, body: bytes) -> UploadResponse:
        """Handle a config upload; the caller holds the upload lock."""
        try:
            config = await self._off_loop_if_large(len(body), open_config_packet, self.key, body)
            layout = compile_layout(config)
        except Q5ProtocolError as err:
            return self._rejected("config upload", err)
        self._store.raise_if_closed()
        if self.config_replays.is_replay(
            self.config.version if self.config else None, config.version
        ):
            # 200, not 409: a genuine device is not looped; nothing changes.
            LOGGER.debug("Device %s: ignored older config version %s", self.uid, config.version)
            return UploadResponse(HTTPStatus.OK)
        device_sent_config(self, config)  # the device's own config wins over a pending push
        await self.async_take_config(config, layout)
        return UploadResponse(HTTPStatus.OK)

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
            await self._store.async_save_now(lambda: to_stored(self))
        except StoreWriteError:
            self.config, self.layout, self.values = previous
            raise
        LOGGER.info("Device %s: stored config version %s", self.uid, config.version)
        self._config_changed.async_notify()
        self._async_notify_updated()

    async def _async_process_measurement(self, body: bytes) -> UploadResponse:
        """Open, decode, check freshness, apply, reply; the caller holds the upload lock."""
        # 1. open: the key health learns whether the key still opens the device's uploads.
        self._store.raise_if_closed()
        try:
            packet = await self._off_loop_if_large(
                len(body), open_measurement_packet, self.key, body
            )
        except Q5ProtocolError as err:
            if isinstance(err, IntegrityError):
                self.keys.async_failed(body, device_name=self.name, device_available=self.available)
            return self._rejected("measurement upload", err)
        self.keys.async_confirmed(body)

        # 2. acknowledgements only move forward, from any authentic upload (a stale one too).
        meta = packet.meta
        received = int(dt_util.utcnow().timestamp())
        commands_done = self._acknowledge_commands(meta.last_cmd_id_ack, trusted=False)
        # Only the device seals an upload: one reporting a pushed config's version adopted it.
        await async_follow_config_push(self, meta.cfg_version)
        if self.config is None or self.layout is None or self.config.version != meta.cfg_version:
            # New rows report this version: the device has it (rolled back?), no replay.
            judged = await self._off_loop_if_large(
                len(body), self.freshness.judge, packet, received
            )
            if judged.fresh:
                self.config_replays.reported = meta.cfg_version
            if commands_done:  # no readings to wait for: show the acknowledgement now
                self._async_notify_updated()
            LOGGER.info(
                "Device %s: asking for its config (have version %s, device has %s)",
                self.uid,
                self.config.version if self.config is not None else None,
                meta.cfg_version,
            )
            return UploadResponse(HTTPStatus.CONFLICT, build_reply(self.key, getcfg=True))

        # 3. decode against the device's config.
        try:
            rows = await self._off_loop_if_large(len(body), decode_rows, self.layout, packet)
        except LayoutMismatchError as err:
            async_raise_layout_mismatch(
                self.hass,
                self.uid,
                device=self.name,
                config_version=meta.cfg_version,
                needed_bits=self.layout.payload_bits,
                carried_bits=(packet.row_stride - readings.TIMESTAMP_SIZE) * 8,
            )
            if commands_done:
                self._async_notify_updated()
            return self._rejected("measurement upload", err)
        # Unconditional (a cheap lookup): an issue may predate this runtime (a reload).
        async_clear_issue(self.hass, ISSUE_LAYOUT_MISMATCH, self.uid)

        # 4. freshness, per row: rows seen before (a retransmission, a replay) are dropped.
        verdict = await self._off_loop_if_large(len(body), self.freshness.judge, packet, received)
        self._store.raise_if_closed()
        self.freshness.commit(verdict)
        if verdict.duplicate_count:
            LOGGER.debug(
                "Device %s: %d of %d rows seen before (a retransmission or replay), dropped",
                self.uid,
                verdict.duplicate_count,
                len(rows),
            )
        if not verdict.fresh:
            # Nothing new: answered as processed, but it changes nothing, not even the
            # device's availability.
            if commands_done:
                self._async_notify_updated()
            if self._rows_unsaved:  # the rows of an upload answered 503: saved before this 200
                await self.statistics.async_save_or_raise()
                await self._store.async_save_now(lambda: to_stored(self))
                self._rows_unsaved = False
            else:
                await self._store.async_save_soon(lambda: to_stored(self))
            return UploadResponse(
                HTTPStatus.OK, self._reply_body(meta.epoch, received, new_rows=False)
            )
        if readings.command_id_after(self.commands.last_ack, meta.last_cmd_id_ack):
            # The ack went back (a device reset): trusted from an upload with new rows.
            self._acknowledge_commands(meta.last_cmd_id_ack, trusted=True)
        async_judge_config_rejection(self, meta.cfg_version)  # a push it ignored: saved below

        # 5. apply, tell the listeners, persist.
        self._rows_unsaved = True  # until both stores hold them; a re-send is a duplicate
        self._apply_measurements(packet, rows, verdict, received)
        # Every new row into the hourly statistics and energy counters, saved before the 200.
        await self.statistics.async_add_rows(rows, new=verdict.new, timestamps=verdict.timestamps)
        self._store.raise_if_closed()
        self.availability.async_update(self.last_upload)
        self._async_notify_updated()
        reply = self._reply_body(meta.epoch, received, new_rows=True)  # may note a clock sync
        # Persist before acknowledging: a 200 makes the device delete these rows, so what they
        # changed (rows_total, the newest readings) must survive a crash right after it. The
        # write runs in the executor; the loop only serializes a few KB of JSON.
        await self._store.async_save_now(lambda: to_stored(self))
        self._rows_unsaved = False
        # 6. reply: commands to run, a clock sync.
        return UploadResponse(HTTPStatus.OK, reply)

    def _rejected(self, upload: str, err: Q5ProtocolError) -> UploadResponse:
        """Answer an upload the protocol refused, with one rate-limited log line."""
        status, kind, says = rejection(err)
        self.problems.report((kind, upload), "Device %s: %s %s: %s", self.uid, upload, says, err)
        return UploadResponse(status)

    def _apply_measurements(
        self, packet: MeasurementPacket, rows: DecodedRows, verdict: Verdict, received: int
    ) -> None:
        """Take the new rows' counts, the newest readings if newer, and the upload's meta."""
        self.last_upload = dt_util.utcnow()
        self.last_meta = packet.meta
        self.clock_offset = packet.meta.epoch - received
        self.rows_in_last_upload = verdict.new_count
        self.rows_total += verdict.new_count
        if verdict.live_row is not None:
            self.latest_timestamp = int(verdict.timestamps[verdict.live_row])
            self.values = rows.row(verdict.live_row)

    async def _off_loop_if_large[*Ts, R](
        self, size: int, func: Callable[[*Ts], R], *args: *Ts
    ) -> R:
        """Run protocol work on `size` bytes inline when small, in the executor when large."""
        if size <= INLINE_DECODE_LIMIT:
            return func(*args)
        result = await self.hass.async_add_executor_job(func, *args)
        self._store.raise_if_closed()
        return result

    # -- commands and replies -------------------------------------------------------------------

    def _acknowledge_commands(self, ack: int, *, trusted: bool) -> bool:
        """Drop what the device executed and what waited too long; return True if any went.

        The listeners are not told here: the same upload usually carries the readings that show
        the command's effect, and a switch told first would fall back to the old reading.
        """
        if acknowledge_commands(self.commands, ack, self.entry.options, self.uid, trusted=trusted):
            self._store.async_save_later(lambda: to_stored(self))
            return True
        return False

    async def async_queue_command(self, action: DeviceAction) -> QueuedCommand:
        """Queue a command for the reply to the device's next upload, durably."""
        pending = list(self.commands.pending)
        try:
            self._store.raise_if_closed()  # once queued here, the unload's last write takes it too
            command = self.commands.add(action, dt_util.utcnow().timestamp())
            # Saved before the action returns: a queued command survives a restart.
            await self._store.async_save_or_raise(to_stored(self))
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
        self._async_notify_updated()
        return command

    def _reply_body(self, epoch: int, received: int, *, new_rows: bool) -> bytes:
        """Return the sealed reply to a processed upload; empty when there is nothing to say."""
        if (sync_time := clock_sync_time(self.entry.options, epoch, received)) is not None:
            self.freshness.clock_synced(sync_time)
        config = self.config_push.to_send(counted=new_rows)  # a reply to a replay may be lost
        return reply_body(
            self.key, sync_time, self.commands, self.problems, self.uid, config=config
        )

    # -- what config_push.ConfigPushHost needs besides async_take_config ----------------------

    async def async_save(self) -> None:
        """Persist the device store now; a translated error if it cannot be."""
        try:
            await self._store.async_save_or_raise(to_stored(self))
        except (StoreWriteError, StoreClosedError) as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="config_not_saved",
                translation_placeholders={"device": self.name},
            ) from err

    @callback
    def async_notify_updated(self) -> None:
        """Tell the listeners that what they show may have changed (a pending config)."""
        self._async_notify_updated()
