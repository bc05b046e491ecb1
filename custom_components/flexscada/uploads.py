"""One Q5's uploads, through one pipeline: open, acknowledge, decode, freshness, apply, reply.

The device runtime (device.py) holds what the device told us; this is how an upload changes it.
A device's uploads run one at a time, in arrival order (its upload lock), so a backlog still
decoding never lands after a newer upload, nor a measurement after a new config. Only 200 means
"processed": it is answered once what the upload changed is on disk; an upload that could not be
stored, or that arrived while the entry unloaded, gets 503 and the device sends it again.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus

from homeassistant.util import dt as dt_util

from .checked_store import StoreClosedError, StoreWriteError
from .config_push import async_follow_config_push, async_judge_config_rejection, device_sent_config
from .const import INLINE_DECODE_LIMIT, LOGGER
from .device import Q5Device
from .freshness import Verdict
from .issues import ISSUE_LAYOUT_MISMATCH, async_clear_issue, async_raise_layout_mismatch
from .protocol import (
    DecodedRows,
    IntegrityError,
    LayoutMismatchError,
    MeasurementPacket,
    Q5ProtocolError,
    build_reply,
    compile_layout,
    decode_rows,
    open_config_packet,
    open_measurement_packet,
    readings,
)
from .replies import UploadResponse, acknowledge_commands, clock_sync_time, rejection, reply_body
from .store import to_stored

CONFIG_UPLOAD = "config upload"
MEASUREMENT_UPLOAD = "measurement upload"


class UploadPipeline:
    """Runs one device's uploads against its runtime."""

    def __init__(self, device: Q5Device) -> None:
        """Initialize for one device runtime."""
        self.device = device

    async def async_handle_config(self, body: bytes) -> UploadResponse:
        """Verify, validate and persist a config upload, then tell the listeners."""
        async with self.device.upload_lock:
            try:
                return await self._async_config(body)
            except (StoreWriteError, StoreClosedError) as err:
                return self._not_processed(CONFIG_UPLOAD, err)

    async def async_handle_measurement(self, body: bytes) -> UploadResponse:
        """Process a measurement upload; 200 only once processed and stored."""
        async with self.device.upload_lock:
            try:
                return await self._async_measurement(body)
            except (StoreWriteError, StoreClosedError) as err:
                return self._not_processed(MEASUREMENT_UPLOAD, err)

    # -- config uploads -------------------------------------------------------------------------

    async def _async_config(self, body: bytes) -> UploadResponse:
        """Open and compile a config; take it unless it is a replay of an older one."""
        device = self.device
        try:
            config = await self._off_loop_if_large(len(body), open_config_packet, device.key, body)
            layout = compile_layout(config)
        except Q5ProtocolError as err:
            return self._rejected(CONFIG_UPLOAD, err)
        device.store.raise_if_closed()
        if device.config_replays.is_replay(
            device.config.version if device.config else None, config.version
        ):
            # 200, not 409: a genuine device is not looped; nothing changes.
            LOGGER.debug("Device %s: ignored older config version %s", device.uid, config.version)
            return UploadResponse(HTTPStatus.OK)
        device_sent_config(device, config)  # the device's own config wins over a pending push
        await device.async_take_config(config, layout)
        return UploadResponse(HTTPStatus.OK)

    # -- measurement uploads --------------------------------------------------------------------

    async def _async_measurement(self, body: bytes) -> UploadResponse:
        """Open, acknowledge, judge freshness, decode, apply, reply."""
        device = self.device
        # 1. open: the key health learns whether the key still opens the device's uploads.
        device.store.raise_if_closed()
        try:
            packet = await self._off_loop_if_large(
                len(body), open_measurement_packet, device.key, body
            )
        except Q5ProtocolError as err:
            if isinstance(err, IntegrityError):
                device.keys.async_failed(
                    body, device_name=device.name, device_available=device.available
                )
            return self._rejected(MEASUREMENT_UPLOAD, err)
        device.keys.async_confirmed(body)

        # 2. acknowledgements only move forward, from any authentic upload (a stale one too).
        received = int(dt_util.utcnow().timestamp())
        commands_done = self._acknowledge_commands(packet.meta.last_cmd_id_ack, trusted=False)
        # Only the device seals an upload: one reporting a pushed config's version adopted it.
        await async_follow_config_push(device, packet.meta.cfg_version)
        if (
            device.config is None
            or device.layout is None
            or device.config.version != packet.meta.cfg_version
        ):
            return await self._async_ask_for_config(packet, len(body), received, commands_done)

        # 3. freshness, per row: rows seen before (a retransmission, a replay) are dropped, and an
        # upload with nothing new is answered without decoding it.
        verdict = await self._off_loop_if_large(len(body), device.freshness.judge, packet, received)
        if verdict.duplicate_count:
            LOGGER.debug(
                "Device %s: %d of %d rows seen before (a retransmission or replay), dropped",
                device.uid,
                verdict.duplicate_count,
                packet.meta.measurement_count,
            )
        if not verdict.fresh:
            device.freshness.commit(verdict)
            return await self._async_nothing_new(packet, received, commands_done)

        # 4. decode against the device's config.
        try:
            rows = await self._off_loop_if_large(len(body), decode_rows, device.layout, packet)
        except LayoutMismatchError as err:
            self._async_layout_mismatch(packet)
            if commands_done:
                device.async_notify_updated()
            return self._rejected(MEASUREMENT_UPLOAD, err)
        # Unconditional (a cheap lookup): an issue may predate this runtime (a reload).
        async_clear_issue(device.hass, ISSUE_LAYOUT_MISMATCH, device.uid)
        device.freshness.commit(verdict)

        # 5. apply, tell the listeners, persist; 6. reply.
        return await self._async_apply(packet, rows, verdict, received)

    async def _async_ask_for_config(
        self, packet: MeasurementPacket, size: int, received: int, commands_done: bool
    ) -> UploadResponse:
        """Answer 409 + getcfg: the upload reports a config version we do not hold."""
        device = self.device
        # New rows report this version: the device has it (rolled back?), no replay.
        judged = await self._off_loop_if_large(size, device.freshness.judge, packet, received)
        if judged.fresh:
            device.config_replays.reported = packet.meta.cfg_version
        if commands_done:  # no readings to wait for: show the acknowledgement now
            device.async_notify_updated()
        LOGGER.info(
            "Device %s: asking for its config (have version %s, device has %s)",
            device.uid,
            device.config.version if device.config is not None else None,
            packet.meta.cfg_version,
        )
        return UploadResponse(HTTPStatus.CONFLICT, build_reply(device.key, getcfg=True))

    def _async_layout_mismatch(self, packet: MeasurementPacket) -> None:
        """Raise the repair issue: the config needs more bits than the uploads carry."""
        device = self.device
        assert device.layout is not None
        async_raise_layout_mismatch(
            device.hass,
            device.uid,
            device=device.name,
            config_version=packet.meta.cfg_version,
            needed_bits=device.layout.payload_bits,
            carried_bits=(packet.row_stride - readings.TIMESTAMP_SIZE) * 8,
        )

    async def _async_nothing_new(
        self, packet: MeasurementPacket, received: int, commands_done: bool
    ) -> UploadResponse:
        """Answer an upload whose rows were all seen: processed, but it changes nothing.

        Not even the device's availability. Rows of an upload answered 503 were taken in memory
        then: re-sent, they are duplicates, and are saved before this 200.
        """
        device = self.device
        reply = self._reply_body(packet, received, new_rows=False)  # may note a clock sync
        if device.rows_unsaved:
            await device.statistics.async_save_or_raise()
            await device.store.async_save_now(lambda: to_stored(device))
            device.rows_unsaved = False
            # What the 503'd upload changed is on disk now: show it.
            device.availability.async_update(device.last_upload)
            commands_done = True
        else:
            await device.store.async_save_soon(lambda: to_stored(device))
        if commands_done:
            device.async_notify_updated()
        return UploadResponse(HTTPStatus.OK, reply)

    async def _async_apply(
        self, packet: MeasurementPacket, rows: DecodedRows, verdict: Verdict, received: int
    ) -> UploadResponse:
        """Take the new rows, save them, then answer 200 with the reply."""
        device = self.device
        meta = packet.meta
        if readings.command_id_after(device.commands.last_ack, meta.last_cmd_id_ack):
            # The ack went back (a device reset): trusted from an upload with new rows.
            self._acknowledge_commands(meta.last_cmd_id_ack, trusted=True)
        async_judge_config_rejection(device, meta.cfg_version)  # a push it ignored: saved below
        device.rows_unsaved = True  # until both stores hold them; a re-send is a duplicate
        device.last_upload = dt_util.utcnow()
        device.last_meta = meta
        device.clock_offset = meta.epoch - received
        device.rows_in_last_upload = verdict.new_count
        device.rows_total += verdict.new_count
        if verdict.live_row is not None:
            device.latest_timestamp = int(verdict.timestamps[verdict.live_row])
            device.values = rows.row(verdict.live_row)
        # Every new row into the hourly statistics and energy counters, saved before the 200.
        await device.statistics.async_add_rows(rows, new=verdict.new, timestamps=verdict.timestamps)
        device.store.raise_if_closed()
        device.availability.async_update(device.last_upload)
        device.async_notify_updated()
        reply = self._reply_body(packet, received, new_rows=True)  # may note a clock sync
        # Persist before acknowledging: a 200 makes the device delete these rows, so what they
        # changed (rows_total, the newest readings) must survive a crash right after it. The
        # write runs in the executor; the loop only serializes a few KB of JSON.
        await device.store.async_save_now(lambda: to_stored(device))
        device.rows_unsaved = False
        return UploadResponse(HTTPStatus.OK, reply)

    # -- answers ----------------------------------------------------------------------------------

    def _acknowledge_commands(self, ack: int, *, trusted: bool) -> bool:
        """Drop what the device executed and what waited too long; return True if any went.

        The listeners are not told here: the same upload usually carries the readings that show
        the command's effect, and a switch told first would fall back to the old reading.
        """
        device = self.device
        options = device.entry.options
        if acknowledge_commands(device.commands, ack, options, device.uid, trusted=trusted):
            device.store.async_save_later(lambda: to_stored(device))
            return True
        return False

    def _reply_body(self, packet: MeasurementPacket, received: int, *, new_rows: bool) -> bytes:
        """Return the sealed reply to a processed upload; empty when there is nothing to say."""
        device = self.device
        sync_time = clock_sync_time(device.entry.options, packet.meta.epoch, received)
        if sync_time is not None:
            device.freshness.clock_synced(sync_time)
        config = device.config_push.to_send(counted=new_rows)  # a reply to a replay may be lost
        return reply_body(
            device.key, sync_time, device.commands, device.problems, device.uid, config=config
        )

    def _rejected(self, upload: str, err: Q5ProtocolError) -> UploadResponse:
        """Answer an upload the protocol refused, with one rate-limited log line."""
        status, kind, says = rejection(err)
        self.device.problems.report(
            (kind, upload), "Device %s: %s %s: %s", self.device.uid, upload, says, err
        )
        return UploadResponse(status)

    def _not_processed(self, upload: str, err: Exception) -> UploadResponse:
        """Answer 503 (the device re-sends) an upload that was not durably processed."""
        uid = self.device.uid
        if isinstance(err, StoreClosedError):
            self.device.problems.report(
                ("unloading", upload), "Device %s: %s in an unload, 503", uid, upload
            )
        else:  # the store logged why (rate-limited)
            LOGGER.debug("Device %s: %s not saved (%s), 503", uid, upload, err)
        return UploadResponse(HTTPStatus.SERVICE_UNAVAILABLE)

    async def _off_loop_if_large[*Ts, R](
        self, size: int, func: Callable[[*Ts], R], *args: *Ts
    ) -> R:
        """Run protocol work on `size` bytes inline when small, in the executor when large."""
        if size <= INLINE_DECODE_LIMIT:
            return func(*args)
        result = await self.device.hass.async_add_executor_job(func, *args)
        self.device.store.raise_if_closed()
        return result
