"""The runtime of one Q5: its stored config, latest readings, availability and uploads.

The views hand every upload of a configured uid to `Q5Device`; entities only read from it and
subscribe to it. Everything the device told us (its config, the newest readings, when it last
uploaded) is persisted, so entities exist with their last values straight after a restart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from http import HTTPStatus
import math
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

from homeassistant.const import Platform
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .commands import CommandQueue, QueuedCommand, QueueFullError, StoredQueue
from .const import (
    CONF_AVAILABILITY_FACTOR,
    CONF_CLOCK_SYNC,
    CONF_CLOCK_SYNC_THRESHOLD,
    CONF_COMMAND_EXPIRY,
    DEFAULT_AVAILABILITY_FACTOR,
    DEFAULT_CLOCK_SYNC,
    DEFAULT_CLOCK_SYNC_THRESHOLD,
    DEFAULT_COMMAND_EXPIRY,
    DEFAULT_UPLOAD_INTERVAL,
    DOMAIN,
    INLINE_DECODE_LIMIT,
    INTEGRITY_FAILURES_BEFORE_REAUTH,
    LOGGER,
    MANUFACTURER,
    MODEL,
    STORE_SAVE_DELAY,
)
from .discovery import CachedUpload, UploadKind
from .entity_specs import EntitySpec, build_entity_specs
from .issues import (
    ISSUE_LAYOUT_MISMATCH,
    ISSUE_WRONG_KEY,
    async_clear_issue,
    async_raise_layout_mismatch,
    async_raise_wrong_key,
)
from .logs import ThrottledLogger
from .protocol import (
    DecodedRows,
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
    parse_config,
    readings,
)
from .statistics import DeviceStatistics

if TYPE_CHECKING:
    from . import FlexscadaConfigEntry

STORAGE_VERSION = 1

type Reading = float | bool


def device_store(hass: HomeAssistant, uid: int) -> Store[StoredDevice]:
    """Return the store of one device (`.storage/flexscada.<uid>`)."""
    return Store(hass, STORAGE_VERSION, f"{DOMAIN}.{uid}")


class StoredDevice(TypedDict):
    """What is persisted per device (`.storage/flexscada.<uid>`)."""

    config: dict[str, Any] | None
    values: dict[str, Reading | None]
    latest_timestamp: int | None
    last_upload: str | None
    meta: dict[str, int] | None
    rows_in_last_upload: int
    rows_total: int
    commands: StoredQueue | None


@dataclass(frozen=True, slots=True)
class UploadResponse:
    """The HTTP answer to one upload: a status and an optional sealed reply body."""

    status: HTTPStatus
    body: bytes = b""


class DeviceEntity(Protocol):
    """What the device needs of a subscribed entity."""

    @callback
    def async_handle_device_update(self) -> None:
        """Write the entity's state after new readings or a change of availability."""

    @callback
    def async_set_spec(self, spec: EntitySpec) -> None:
        """Take a new spec after the device config changed (label, unit, ...)."""


class Q5Device:
    """One FlexSCADA Q5 known to Home Assistant."""

    def __init__(self, hass: HomeAssistant, entry: FlexscadaConfigEntry, key: bytes) -> None:
        """Initialize from the config entry and the device's AES key."""
        self.hass = hass
        self.entry = entry
        self.uid = int(entry.unique_id or 0)
        self.key = key
        self.problems = ThrottledLogger()
        self._store = device_store(hass, self.uid)
        self.config: DeviceConfig | None = None
        self.layout: Layout | None = None
        self.specs: dict[str, EntitySpec] = build_entity_specs(self.uid, None, None)
        self.values: dict[str, Reading] = {}
        self.latest_timestamp: int | None = None
        self.last_upload: datetime | None = None
        self.last_meta: MeasurementMeta | None = None
        self.clock_offset: int | None = None
        self.rows_in_last_upload = 0
        self.rows_total = 0
        self.available = False
        self._reported_offline = False
        self._entities: dict[str, DeviceEntity] = {}
        self._platform_adders: dict[Platform, Callable[[list[EntitySpec]], None]] = {}
        self._unavailable_timer: CALLBACK_TYPE | None = None
        self.commands = CommandQueue(self.uid)
        # Key health, for reauth and repairs: failures since the last good upload, and uploads
        # to check a new key against (the newest one, and the newest that failed).
        self.integrity_failures = 0
        self.newest_upload: CachedUpload | None = None
        self.last_failed_upload: CachedUpload | None = None
        self._reauth_requested = False
        # The time our last clock sync set the device to, until its next upload arrives.
        self._clock_synced_to: int | None = None
        # issue 13 hook (port onto the split runtime): every row's hourly statistics and energy.
        self.statistics = DeviceStatistics(hass, self.uid)

    # -- set-up and persistence ------------------------------------------------------------

    async def async_load(self) -> None:
        """Restore what the device last told us, before any upload arrives."""
        await self.statistics.async_load()  # issue 13 hook
        stored = await self._store.async_load()
        if stored is None:
            return
        if stored["config"] is not None:
            try:
                self._set_config(parse_config(stored["config"]))
            except Q5ProtocolError as err:  # a config we accepted once should parse again
                LOGGER.warning("Device %s: ignoring the stored config: %s", self.uid, err)
        self.values = {
            key: math.nan if value is None else value for key, value in stored["values"].items()
        }
        self.latest_timestamp = stored["latest_timestamp"]
        self.rows_in_last_upload = stored["rows_in_last_upload"]
        self.rows_total = stored["rows_total"]
        self.commands = CommandQueue.from_stored(self.uid, stored["commands"])
        if stored["meta"] is not None:
            self.last_meta = MeasurementMeta(**stored["meta"])
        if stored["last_upload"] is not None:
            self.last_upload = dt_util.parse_datetime(stored["last_upload"])
        self._update_availability()

    def _stored_data(self) -> StoredDevice:
        """Return the data to persist."""
        return {
            "config": dict(self.config.raw) if self.config is not None else None,
            "values": {
                key: None if isinstance(value, float) and not math.isfinite(value) else value
                for key, value in self.values.items()
            },
            "latest_timestamp": self.latest_timestamp,
            "last_upload": self.last_upload.isoformat() if self.last_upload else None,
            "meta": asdict(self.last_meta) if self.last_meta is not None else None,
            "rows_in_last_upload": self.rows_in_last_upload,
            "rows_total": self.rows_total,
            "commands": self.commands.as_stored(),
        }

    @callback
    def async_shutdown(self) -> None:
        """Stop timers and write pending data; the entry is unloading."""
        if self._unavailable_timer is not None:
            self._unavailable_timer()
            self._unavailable_timer = None
        self.statistics.async_stop()  # issue 13 hook
        self.hass.async_create_task(self._store.async_save(self._stored_data()))

    # -- entities ---------------------------------------------------------------------------

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
    def name(self) -> str:
        """Return the device's name from its config, else `Q5 <uid>`."""
        if self.config is not None and self.config.name:
            return self.config.name
        return f"Q5 {self.uid}"

    @property
    def firmware_version(self) -> str | None:
        """Return the firmware version the device last reported."""
        return str(self.last_meta.fw_version) if self.last_meta is not None else None

    @callback
    def async_register_platform(
        self,
        platform: Platform,
        async_add_entities: AddConfigEntryEntitiesCallback,
        make_entity: Callable[[Q5Device, EntitySpec], Entity],
    ) -> None:
        """Let a platform add entities now and whenever the device config brings new ones."""

        @callback
        def add_entities(specs: list[EntitySpec]) -> None:
            async_add_entities(make_entity(self, spec) for spec in specs)

        self._platform_adders[platform] = add_entities
        add_entities([spec for spec in self.specs.values() if spec.platform is platform])

    @callback
    def async_subscribe(self, unique_id: str, entity: DeviceEntity) -> CALLBACK_TYPE:
        """Send updates to an entity until the returned callback is called."""
        self._entities[unique_id] = entity

        @callback
        def unsubscribe() -> None:
            if self._entities.get(unique_id) is entity:
                del self._entities[unique_id]

        return unsubscribe

    @callback
    def async_remove_stale_entities(self) -> None:
        """Remove registry entries of this device that its current config no longer has."""
        registry = er.async_get(self.hass)
        for entry in er.async_entries_for_config_entry(registry, self.entry.entry_id):
            if entry.unique_id not in self.specs:
                registry.async_remove(entry.entity_id)

    @callback
    def _async_sync_entities(self) -> None:
        """Bring the entities in line with a new device config, without a reload."""
        old_specs = self.specs
        self.specs = build_entity_specs(self.uid, self.config, self.layout)
        self.async_remove_stale_entities()
        for platform, add_entities in self._platform_adders.items():
            if new := [
                spec
                for spec in self.specs.values()
                if spec.platform is platform and spec.unique_id not in old_specs
            ]:
                add_entities(new)
        for unique_id, entity in list(self._entities.items()):
            if (spec := self.specs.get(unique_id)) is not None:
                entity.async_set_spec(spec)

    @callback
    def _async_notify_entities(self) -> None:
        """Let every entity write its state."""
        for entity in list(self._entities.values()):
            entity.async_handle_device_update()

    @callback
    def _async_update_device_registry(self) -> None:
        """Follow the device's name and firmware in the device registry."""
        registry = dr.async_get(self.hass)
        device = registry.async_get_device_by_identifier(
            (DOMAIN, str(self.uid)), self.entry.entry_id
        )
        if device is None:
            return
        if device.name != self.name or device.sw_version != self.firmware_version:
            registry.async_update_device(
                device.id, name=self.name, sw_version=self.firmware_version
            )
        # The entry is named after the device once its name is known, unless the user renamed it.
        if self.entry.title == f"Q5 {self.uid}" != self.name:
            self.hass.config_entries.async_update_entry(self.entry, title=self.name)

    # -- availability -------------------------------------------------------------------------

    @property
    def availability_window(self) -> timedelta:
        """Return how long the device stays online after an upload."""
        interval = DEFAULT_UPLOAD_INTERVAL
        if self.config is not None and self.config.upload_interval:
            interval = self.config.upload_interval
        factor = self.entry.options.get(CONF_AVAILABILITY_FACTOR, DEFAULT_AVAILABILITY_FACTOR)
        return timedelta(seconds=interval * factor)

    @callback
    def _update_availability(self) -> None:
        """Derive availability from the last upload and schedule the moment it runs out."""
        if self._unavailable_timer is not None:
            self._unavailable_timer()
            self._unavailable_timer = None
        was_available = self.available
        remaining = (
            (self.last_upload + self.availability_window - dt_util.utcnow()).total_seconds()
            if self.last_upload is not None
            else 0.0
        )
        self.available = remaining > 0
        if self.available:
            self._unavailable_timer = async_call_later(
                self.hass, remaining, self._async_availability_expired
            )
            if self._reported_offline:
                self._reported_offline = False
                LOGGER.info("Device %s is sending uploads again", self.uid)
        elif was_available:
            self._reported_offline = True
            LOGGER.info(
                "Device %s has not uploaded since %s; its entities are unavailable",
                self.uid,
                self.last_upload,
            )

    @callback
    def _async_availability_expired(self, _now: datetime) -> None:
        """Mark the device unavailable: no upload arrived in time."""
        self._unavailable_timer = None
        self._update_availability()
        self._async_notify_entities()

    # -- uploads --------------------------------------------------------------------------------

    def _set_config(self, config: DeviceConfig) -> None:
        """Adopt a device config and its compiled layout."""
        layout = compile_layout(config)
        self.config = config
        self.layout = layout
        self.specs = build_entity_specs(self.uid, config, layout)
        self.statistics.async_set_sources(config, layout)  # issue 13 hook

    async def async_handle_config(self, body: bytes) -> UploadResponse:
        """Verify, validate and persist a config upload, then follow it with the entities."""
        try:
            config = await self._run(len(body), open_config_packet, self.key, body)
            layout = compile_layout(config)
        except IntegrityError:
            self.problems.report(
                "integrity", "Device %s: config upload failed the integrity check", self.uid
            )
            return UploadResponse(HTTPStatus.FORBIDDEN)
        except Q5ProtocolError as err:
            self.problems.report("config", "Device %s: rejected config upload: %s", self.uid, err)
            return UploadResponse(HTTPStatus.BAD_REQUEST)
        self.config, self.layout = config, layout
        self.statistics.async_set_sources(config, layout)  # issue 13 hook
        # Persist before acknowledging: the device only re-sends its config when asked.
        await self._store.async_save(self._stored_data())
        LOGGER.info("Device %s: stored config version %s", self.uid, config.version)
        self._async_sync_entities()
        self._async_update_device_registry()
        self._async_notify_entities()
        return UploadResponse(HTTPStatus.OK)

    async def async_handle_measurement(self, body: bytes) -> UploadResponse:
        """Decode a measurement upload and update the entities; 200 only once processed."""
        try:
            packet = await self._run(len(body), open_measurement_packet, self.key, body)
        except IntegrityError:
            self.problems.report(
                "integrity",
                "Device %s: upload failed the integrity check (wrong key or tampered)",
                self.uid,
            )
            self._async_integrity_failed(body)
            return UploadResponse(HTTPStatus.FORBIDDEN)
        except Q5ProtocolError as err:
            self.problems.report("malformed", "Device %s: malformed upload: %s", self.uid, err)
            return UploadResponse(HTTPStatus.BAD_REQUEST)
        self._async_key_confirmed(body)

        meta = packet.meta
        fresh = self._is_fresh(meta)
        commands_done = fresh and self._acknowledge_commands(meta.last_cmd_id_ack)
        if self.config is None or self.layout is None or self.config.version != meta.cfg_version:
            if commands_done:  # no readings to wait for: show the acknowledgement now
                self._async_notify_entities()
            LOGGER.info(
                "Device %s: asking for its config (have version %s, device has %s)",
                self.uid,
                self.config.version if self.config is not None else None,
                meta.cfg_version,
            )
            return UploadResponse(HTTPStatus.CONFLICT, build_reply(self.key, getcfg=True))

        try:
            rows = await self._run(len(body), decode_rows, self.layout, packet)
        except LayoutMismatchError as err:
            self.problems.report("layout", "Device %s: %s", self.uid, err)
            async_raise_layout_mismatch(
                self.hass,
                self.uid,
                device=self.name,
                config_version=meta.cfg_version,
                needed_bits=self.layout.payload_bits,
                carried_bits=(packet.row_stride - readings.TIMESTAMP_SIZE) * 8,
            )
            if commands_done:
                self._async_notify_entities()
            return UploadResponse(HTTPStatus.BAD_REQUEST)

        # Unconditional (a cheap lookup): an issue may predate this runtime (a reload).
        async_clear_issue(self.hass, ISSUE_LAYOUT_MISMATCH, self.uid)
        if not fresh:
            # A replay, or a retransmission of an upload already processed: answered as
            # processed, but it changes nothing, not even the device's availability.
            LOGGER.debug("Device %s: ignoring an upload not newer than the last one", self.uid)
            return UploadResponse(HTTPStatus.OK, self._reply_body())
        self._apply_measurements(packet, rows)
        # issue 13 hook: every row into the hourly aggregates, durable before the 200.
        await self.statistics.async_add_rows(rows)
        self._async_update_device_registry()
        self._update_availability()
        self._async_notify_entities()
        # Persist before acknowledging: a 200 makes the device delete these rows, so what they
        # changed (rows_total, the newest readings) must survive a crash right after it. The
        # write runs in the executor; the loop only serializes a few KB of JSON.
        await self._store.async_save(self._stored_data())
        return UploadResponse(HTTPStatus.OK, self._reply_body())

    def _is_fresh(self, meta: MeasurementMeta) -> bool:
        """Return True if an upload was sent after the last one we processed.

        The device stamps every upload with its clock (`epoch`), so a genuine new upload is
        newer than the last processed one; an old upload played back is not. Only our own clock
        sync moves the device's clock back, and then to the time we sent it: an upload stamped
        at or after that time is new too.
        """
        if self.last_meta is None or meta.epoch > self.last_meta.epoch:
            return True
        return self._clock_synced_to is not None and meta.epoch >= self._clock_synced_to

    @callback
    def _async_integrity_failed(self, body: bytes) -> None:
        """Count an upload the key cannot open; a streak of them means the key changed."""
        if (upload := CachedUpload.keep(UploadKind.MEASUREMENT, body)) is not None:
            self.newest_upload = self.last_failed_upload = upload
        self.integrity_failures += 1
        # The uid travels in clear, so anyone can post bad uploads under it. While the device's
        # own good uploads keep it available, failures are someone else's; only a device that
        # went silent with failing uploads has changed its password.
        if self.integrity_failures < INTEGRITY_FAILURES_BEFORE_REAUTH or self.available:
            return
        async_raise_wrong_key(self.hass, self.uid, self.name, self.integrity_failures)
        if not self._reauth_requested:
            self._reauth_requested = True
            # Rate-limited: anyone can post bad uploads under a device's (clear) uid, and each
            # good upload in between starts a new streak.
            self.problems.report(
                "reauth",
                "Device %s: its key opened none of its last %d uploads; "
                "asking for its new password",
                self.uid,
                self.integrity_failures,
            )
            self.entry.async_start_reauth(self.hass)

    @callback
    def _async_key_confirmed(self, body: bytes) -> None:
        """Note an upload the key opens: the streak of failures is over."""
        self.newest_upload = CachedUpload.keep(UploadKind.MEASUREMENT, body)
        async_clear_issue(self.hass, ISSUE_WRONG_KEY, self.uid)
        self.integrity_failures = 0
        self._reauth_requested = False

    async def _run[*Ts, R](self, size: int, func: Callable[[*Ts], R], *args: *Ts) -> R:
        """Run protocol work on `size` bytes inline when small, in the executor when large."""
        if size <= INLINE_DECODE_LIMIT:
            return func(*args)
        return await self.hass.async_add_executor_job(func, *args)

    def _apply_measurements(self, packet: MeasurementPacket, rows: DecodedRows) -> None:
        """Take the newest readings and the upload's meta fields."""
        now = dt_util.utcnow()
        self.last_upload = now
        self.last_meta = packet.meta
        self.clock_offset = packet.meta.epoch - int(now.timestamp())
        self.rows_in_last_upload = len(rows)
        self.rows_total += len(rows)
        self._clock_synced_to = None
        if len(rows):
            # Rows are oldest first: the newest is the live state.
            self.latest_timestamp = int(rows.timestamps[-1])
            self.values = rows.latest()

    def _acknowledge_commands(self, ack: int) -> bool:
        """Drop what the device executed and what waited too long; return True if any went.

        The entities are not told here: the same upload usually carries the readings that show
        the command's effect, and a switch told first would fall back to the old reading.
        """
        done = self.commands.acknowledge(ack)
        max_age = self.entry.options.get(CONF_COMMAND_EXPIRY, DEFAULT_COMMAND_EXPIRY)
        expired = self.commands.expire(dt_util.utcnow().timestamp(), max_age)
        for command in expired:
            LOGGER.warning(
                "Device %s: dropped command %s %s (id %s): not acknowledged within %s s",
                self.uid,
                command.cmd,
                command.params,
                command.id,
                max_age,
            )
        if done or expired:
            self._store.async_delay_save(self._stored_data, STORE_SAVE_DELAY)
            return True
        return False

    async def async_queue_command(self, cmd: str, params: dict[str, Any]) -> QueuedCommand:
        """Queue a command for the reply to the device's next upload, durably."""
        try:
            command = self.commands.add(cmd, params, dt_util.utcnow().timestamp())
        except QueueFullError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="queue_full",
                translation_placeholders={"device": self.name},
            ) from err
        # Saved before the action returns: a queued command survives a restart.
        await self._store.async_save(self._stored_data())
        LOGGER.debug("Device %s: queued %s %s as id %s", self.uid, cmd, params, command.id)
        self._async_notify_entities()
        return command

    def _reply_body(self) -> bytes:
        """Return the sealed reply to a processed upload; empty when there is nothing to say."""
        sync_time: int | None = None
        if (
            self.entry.options.get(CONF_CLOCK_SYNC, DEFAULT_CLOCK_SYNC)
            and self.clock_offset is not None
            and abs(self.clock_offset)
            > self.entry.options.get(CONF_CLOCK_SYNC_THRESHOLD, DEFAULT_CLOCK_SYNC_THRESHOLD)
        ):
            sync_time = int(dt_util.utcnow().timestamp())
            self._clock_synced_to = sync_time
        commands = self.commands.to_send()
        if sync_time is None and not commands:
            return b""
        return build_reply(self.key, time=sync_time, commands=commands)
