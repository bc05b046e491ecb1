"""One simulated Flexs Q5: measures, queues, uploads, and obeys the server's replies.

The device side of the cloud-sync protocol, built on the integration's own protocol library:

* `measure()` appends one row (device timestamp + a value per logged metric) to the queue;
* `upload()` POSTs the queue to `<server>/Q5/m`. HTTP 200 flushes the rows sent (they count as
  *acknowledged*); anything else keeps them for the next upload. The reply is opened and obeyed:
  `{"Cmd": "getcfg"}` makes the device POST its config to `<server>/Q5/cfg/<uid>` (and, after a
  409, retry the measurements once right away), `{"t": epoch}` sets its clock, `{"cfg": {...}}`
  replaces its config (its next upload reports the pushed version and packs the pushed layout;
  a device told to `reject_configs` ignores pushes and keeps reporting its own version), and
  `{"commands": [...]}` are executed in order, each at most once: a command runs only if its id
  comes after the last one acknowledged (ids wrap, see `readings.command_id_after`), and
  `lastCmdIdAck` in the next upload reports the id of the last one executed;
* `bump_config_version()` is "the user saved the config on the device": the version goes up and
  the device uploads its config before its next measurement upload;
* `fill_backlog(n)` queues n back-dated rows, as after an outage, to go out as one upload.

Everything a test or a soak run needs to compare with Home Assistant is kept: the rows HA
acknowledged, the commands executed, every exchange.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
import copy
from dataclasses import dataclass
import json
import logging
import math
import time
from typing import Any

import aiohttp

from custom_components.flexscada.protocol.commands import (
    DeviceAction,
    PulseRelay,
    ResetRelay,
    SetFeed,
    SetRelay,
    command_id,
    parse_action,
)
from custom_components.flexscada.protocol.config import compile_layout, parse_config
from custom_components.flexscada.protocol.errors import Q5ProtocolError
from custom_components.flexscada.protocol.model import DeviceConfig, FieldKind, Layout
from custom_components.flexscada.protocol.packets import (
    build_config_packet,
    build_measurement_packet,
)
from custom_components.flexscada.protocol.readings import COMMAND_ID_KEYS, command_id_after
from custom_components.flexscada.protocol.reply import open_reply

from .site import SiteModel, Value, channel_config

_LOGGER = logging.getLogger(__package__)

type Row = tuple[int, dict[str, Value]]

#: Firmware version the simulator reports (uint32; shown by HA as the device's sw version).
FW_VERSION = 10503
#: Seconds a pulse_relay command inverts the relay (the spec says a 5 s cycle).
PULSE_SECONDS = 5.0
#: Rows the device keeps at most; the oldest are dropped beyond this (the device's SD/RAM).
QUEUE_LIMIT = 20_000
#: HTTP status reported when the server could not be reached at all.
STATUS_UNREACHABLE = 0
RELAY_FLAGS = ("fuse", "hvd", "lvd")


@dataclass
class RelayState:
    """One relay: what it was told, its protection flags, and a running pulse."""

    commanded: bool
    fuse: bool = False
    hvd: bool = False
    lvd: bool = False
    pulse_until: float | None = None

    @property
    def tripped(self) -> bool:
        """Return whether a fuse, HVD or LVD trip holds the relay open."""
        return self.fuse or self.hvd or self.lvd

    def output(self, now: float) -> bool:
        """Return whether the relay conducts at `now` (a pulse inverts the commanded state)."""
        if self.tripped:
            return False
        pulsing = self.pulse_until is not None and now < self.pulse_until
        return self.commanded != pulsing


@dataclass(frozen=True, slots=True)
class ExecutedCommand:
    """A command the device ran (or refused: `ok` False, with the reason in `note`)."""

    id: int | None
    cmd: str
    args: dict[str, Any]
    time: float
    ok: bool = True
    note: str = ""


@dataclass(frozen=True, slots=True)
class Exchange:
    """One HTTP exchange with the server, for logs, tests and soak accounting."""

    time: float
    path: str
    status: int
    rows: int = 0
    flushed: int = 0
    cfg_version: int | None = None
    last_cmd_id_ack: int | None = None
    reply: dict[str, Any] | None = None
    note: str = ""


@dataclass
class Feed:
    """One manual feed (mfeed): a BIT feed holds 0/1, a FLOAT feed any number."""

    label: str
    is_bit: bool
    value: float = 0.0


def _missing(kind: FieldKind) -> Value:
    """Return what a row that predates a metric carries for it."""
    return False if kind is FieldKind.BIT else math.nan


class SimulatedQ5:
    """A simulated Q5 device talking to `server_url` through an aiohttp `session`."""

    def __init__(
        self,
        config: Mapping[str, Any],
        uid: int,
        key: bytes,
        server_url: str,
        session: aiohttp.ClientSession | None,
        *,
        seed: int | None = None,
        clock: Callable[[], float] = time.time,
        clock_offset: float = 0.0,
        fw_version: int = FW_VERSION,
        pulse_seconds: float = PULSE_SECONDS,
        max_batch: int | None = None,
        nan_rate: float = 0.0,
        retry_after_config: bool = True,
        history: int | None = None,
        reject_configs: bool = False,
    ) -> None:
        self.uid = uid
        self.key = key
        self.server_url = server_url.rstrip("/")
        self.session = session
        self.clock = clock
        self.clock_offset = clock_offset
        self.fw_version = fw_version
        self.pulse_seconds = pulse_seconds
        self.max_batch = max_batch
        self.retry_after_config = retry_after_config
        self.online = True
        self.flags = 0
        #: Ignore configs the server pushes (as a device that finds errors in them does).
        self.reject_configs = reject_configs
        #: Every pushed config received: (its version, whether the device adopted it).
        self.config_pushes: list[tuple[int | None, bool]] = []

        self._config: dict[str, Any] = {}
        self._parsed: DeviceConfig | None = None
        self._layout: Layout | None = None
        self.relays: dict[str, RelayState] = {}
        self.feeds: list[Feed] = []
        self.model = SiteModel(config, seed if seed is not None else uid, nan_rate)
        self._adopt_config(config)

        self._queue: deque[Row] = deque()
        self.dropped_rows = 0
        #: Acknowledged rows and exchanges kept (the newest `history`; None keeps all). The
        #: counts below never forget, so a long soak can bound memory and still compare totals.
        self.acknowledged: deque[Row] = deque(maxlen=history)
        self.acknowledged_count = 0
        self.last_cmd_id_ack = 0
        self.executed: list[ExecutedCommand] = []
        self.exchanges: deque[Exchange] = deque(maxlen=history)
        self.config_dirty = False

    # -- config ----------------------------------------------------------------------------

    @property
    def config(self) -> dict[str, Any]:
        """Return a copy of the device's current config JSON."""
        return copy.deepcopy(self._config)

    @property
    def config_version(self) -> int:
        """Return the version the device reports as cfg_version."""
        assert self._parsed is not None
        return self._parsed.version

    @property
    def layout(self) -> Layout:
        """Return the bit layout the device packs its rows with."""
        assert self._layout is not None
        return self._layout

    @property
    def name(self) -> str:
        """Return the device's configured name."""
        return str(self._config.get("name") or f"Q5 {self.uid}")

    @property
    def upload_interval(self) -> float:
        """Return the configured upload (cloud sync) interval in seconds."""
        assert self._parsed is not None
        return float(self._parsed.upload_interval or 300)

    @property
    def measurement_interval(self) -> float:
        """Return the configured measurement interval in seconds."""
        assert self._parsed is not None
        return float(self._parsed.measurement_interval or 60)

    def _adopt_config(self, config: Mapping[str, Any]) -> None:
        """Make `config` the device's config; relays and feeds that stay keep their state."""
        raw = copy.deepcopy(dict(config))
        parsed = parse_config(raw)
        layout = compile_layout(parsed)
        self._config, self._parsed, self._layout = raw, parsed, layout
        self.model.use_config(raw)

        # Relays keyed as the protocol keys their channels (and so their fields and commands).
        relays: dict[str, RelayState] = {}
        for channel in parsed.channels:
            if channel.section == "relays":
                default = channel_config(raw, "relays", channel.key).get("default", 0)
                relays[channel.key] = self.relays.get(channel.key) or RelayState(bool(default))
        self.relays = relays

        feeds: list[Feed] = []
        for index, feed in enumerate(raw.get("mfeeds") or []):
            logging_ = feed.get("logging") if isinstance(feed, Mapping) else None
            is_bit = ("state" in logging_) if isinstance(logging_, list) else feed.get("type") == 0
            old = self.feeds[index] if index < len(self.feeds) else None
            value = old.value if old is not None and old.is_bit == is_bit else 0.0
            feeds.append(Feed(str(feed.get("label", f"Feed {index}")), is_bit, value))
        self.feeds = feeds

    def update_config(self, mutate: Callable[[dict[str, Any]], None] | None = None) -> int:
        """Edit the config as a user saving it on the device would; the version goes up.

        `mutate` edits the config dict in place (None: save unchanged). The device uploads its
        config before its next measurement upload. Returns the new version.
        """
        config = self.config
        if mutate is not None:
            mutate(config)
        config["version"] = self.config_version + 1
        self._adopt_config(config)
        self.config_dirty = True
        _LOGGER.info("%s config saved on the device: version %s", self.uid, self.config_version)
        return self.config_version

    def bump_config_version(self) -> int:
        """Save the config unchanged: only its version goes up (and it is uploaded again)."""
        return self.update_config()

    # -- state a site model and tests read ---------------------------------------------------

    def device_time(self, now: float | None = None) -> int:
        """Return the device clock (real time plus the offset set by `t` commands)."""
        return int((self.clock() if now is None else now) + self.clock_offset)

    def relay_output(self, channel: str, now: float) -> bool:
        """Return whether relay `channel` conducts at `now`."""
        relay = self.relays.get(channel)
        return relay is not None and relay.output(now)

    def relay_flag(self, channel: str, flag: str) -> bool:
        """Return a relay's fuse/hvd/lvd flag."""
        relay = self.relays.get(channel)
        return relay is not None and bool(getattr(relay, flag))

    def feed_value(self, index: int) -> float:
        """Return manual feed `index`'s value."""
        return self.feeds[index].value if 0 <= index < len(self.feeds) else 0.0

    def trip(self, channel: str, flag: str) -> None:
        """Trip a relay's fuse, HVD or LVD (the relay opens until a reset_relay)."""
        if flag not in RELAY_FLAGS:
            raise ValueError(f"unknown relay flag {flag!r}")
        setattr(self.relays[channel], flag, True)

    @property
    def queue(self) -> tuple[Row, ...]:
        """Return the rows waiting to be acknowledged, oldest first."""
        return tuple(self._queue)

    # -- measuring ---------------------------------------------------------------------------

    async def measure(self, now: float | None = None) -> Row:
        """Take one measurement at `now` (real time) and queue it."""
        now = self.clock() if now is None else now
        row: Row = (self.device_time(now), self.model.sample(self.layout, now, self))
        self._queue.append(row)
        while len(self._queue) > QUEUE_LIMIT:
            self._queue.popleft()
            self.dropped_rows += 1
        return row

    async def fill_backlog(self, count: int, end: float | None = None) -> None:
        """Queue `count` rows one measurement interval apart, the last at `end`: an outage."""
        end = self.clock() if end is None else end
        step = self.measurement_interval
        for index in range(count):
            await self.measure(end - (count - 1 - index) * step)

    # -- talking to the server ----------------------------------------------------------------

    async def _post(self, path: str, body: bytes) -> tuple[int, bytes]:
        """POST `body`; return (status, reply body), status 0 if the server was unreachable."""
        if self.session is None:
            raise RuntimeError("this SimulatedQ5 has no HTTP session")
        try:
            async with self.session.post(
                self.server_url + path,
                data=body,
                headers={"Content-Type": "application/octet-stream"},
                timeout=aiohttp.ClientTimeout(total=30),
            ) as resp:
                return resp.status, await resp.read()
        except (aiohttp.ClientError, TimeoutError) as err:
            _LOGGER.warning("%s POST %s failed: %s", self.uid, path, err or type(err).__name__)
            return STATUS_UNREACHABLE, b""

    def _open_reply(self, body: bytes) -> dict[str, Any]:
        """Decrypt a reply; a body the device cannot open is ignored, as a device would."""
        if not body:
            return {}
        try:
            return open_reply(self.key, body)
        except Q5ProtocolError as err:
            _LOGGER.warning("%s cannot open the server's reply (%s); ignoring it", self.uid, err)
            return {}

    def encode_rows(self, rows: Sequence[Row]) -> list[tuple[int, dict[str, Value]]]:
        """Return rows keyed exactly by the current layout.

        Rows queued before a config change go out with the new layout: a metric the old config
        did not log is sent as NaN (float) or false (bit).
        """
        fields = self.layout.fields
        return [
            (timestamp, {f.key: values.get(f.key, _missing(f.kind)) for f in fields})
            for timestamp, values in rows
        ]

    async def upload_config(self, now: float | None = None) -> int:
        """POST the config to `/Q5/cfg/<uid>`; return the HTTP status."""
        now = self.clock() if now is None else now
        path = f"/Q5/cfg/{self.uid}"
        status, _ = await self._post(path, build_config_packet(self.key, self._config))
        if status == 200:
            self.config_dirty = False
        self._record(Exchange(now, path, status, cfg_version=self.config_version))
        return status

    async def upload(self, now: float | None = None) -> int:
        """Upload the queue to `/Q5/m`, obey the reply; return the measurement POST's status.

        An offline device (`online` False) reaches nobody: it returns 0 and keeps its queue.
        """
        now = self.clock() if now is None else now
        if not self.online:
            return STATUS_UNREACHABLE
        if self.config_dirty:
            await self.upload_config(now)
        status, reply = await self._upload_measurements(now)
        got_config = await self._obey(reply, now)
        if status == 409 and got_config and self.retry_after_config:
            # The server lacked our config and has it now: re-send at once rather than waiting
            # a whole upload interval (the spec leaves the timing to the device).
            status, reply = await self._upload_measurements(now)
            await self._obey(reply, now)
        return status

    async def _upload_measurements(self, now: float) -> tuple[int, dict[str, Any]]:
        """POST the queued rows once; flush them on 200. Returns (status, opened reply)."""
        rows = list(self._queue)[: self.max_batch] if self.max_batch else list(self._queue)
        ack = self.last_cmd_id_ack
        packet = build_measurement_packet(
            self.key,
            self.uid,
            self.layout,
            self.encode_rows(rows),
            flags=self.flags,
            fw_version=self.fw_version,
            cfg_version=self.config_version,
            epoch=self.device_time(now),
            last_cmd_id_ack=ack,
        )
        status, body = await self._post("/Q5/m", packet)
        reply = self._open_reply(body)
        flushed = 0
        if status == 200:
            for _ in rows:
                self.acknowledged.append(self._queue.popleft())
            flushed = len(rows)
            self.acknowledged_count += flushed
        self._record(
            Exchange(
                now,
                "/Q5/m",
                status,
                rows=len(rows),
                flushed=flushed,
                cfg_version=self.config_version,
                last_cmd_id_ack=ack,
                reply=reply or None,
            )
        )
        return status, reply

    def _record(self, exchange: Exchange) -> None:
        self.exchanges.append(exchange)
        if exchange.path == "/Q5/m":
            text = (
                f"{self.uid} /Q5/m {exchange.rows} row(s) cfg v{exchange.cfg_version} "
                f"ack {exchange.last_cmd_id_ack} -> {exchange.status or 'unreachable'}"
            )
            if exchange.rows and exchange.status != 200:
                text += f", kept {len(self._queue)} queued"
            if exchange.reply:
                text += f"; reply {json.dumps(exchange.reply, separators=(',', ':'))[:200]}"
        else:
            text = (
                f"{self.uid} {exchange.path} config v{exchange.cfg_version} "
                f"-> {exchange.status or 'unreachable'}"
            )
        _LOGGER.info("%s", text)

    # -- obeying the server ---------------------------------------------------------------------

    async def _obey(self, reply: Mapping[str, Any], now: float) -> bool:
        """Act on one reply; return whether a getcfg was answered with a successful upload."""
        if isinstance(cfg := reply.get("cfg"), Mapping):
            self._push_config(cfg)
        if isinstance(epoch := reply.get("t"), (int, float)) and not isinstance(epoch, bool):
            was = self.device_time(now) - int(now)
            self.clock_offset = epoch - now
            _LOGGER.info("%s clock set to %s (it was %+d s off)", self.uid, epoch, was)
        if isinstance(commands := reply.get("commands"), list):
            for command in commands:
                if isinstance(command, Mapping):
                    self._execute(command, now)
        if str(reply.get("Cmd", "")).lower() == "getcfg":
            return await self.upload_config(now) == 200
        return False

    def _push_config(self, cfg: Mapping[str, Any]) -> None:
        version = cfg.get("version")
        version = version if isinstance(version, int) else None
        if self.reject_configs:
            self.config_pushes.append((version, False))
            _LOGGER.info("%s rejects the pushed config version %s (as told)", self.uid, version)
            return
        try:
            self._adopt_config(cfg)
        except Q5ProtocolError as err:
            self.config_pushes.append((version, False))
            _LOGGER.warning("%s refuses the pushed config: %s", self.uid, err)
            return
        self.config_pushes.append((version, True))
        _LOGGER.info(
            "%s adopted a pushed config, version %s (uploads every %gs, measures every %gs)",
            self.uid,
            self.config_version,
            self.upload_interval,
            self.measurement_interval,
        )

    def _execute(self, command: Mapping[str, Any], now: float) -> None:
        """Run one command unless its id was executed already; then acknowledge its id."""
        number = command_id(command)
        if number is not None and not command_id_after(number, self.last_cmd_id_ack):
            _LOGGER.debug("%s skips command %s (already acknowledged)", self.uid, number)
            return
        name = str(command.get("cmd", ""))
        args = {k: v for k, v in command.items() if k not in {"cmd", *COMMAND_ID_KEYS}}
        note = ""
        try:
            note = self._run(parse_action(name, args), now)
            ok = True
        except (Q5ProtocolError, KeyError, IndexError) as err:
            ok, note = False, f"refused: {err}"
        self.executed.append(ExecutedCommand(number, name, args, now, ok, note))
        if number is not None:
            # A refused command is acknowledged too: resending it would not make it valid.
            self.last_cmd_id_ack = number
        _LOGGER.info("%s command #%s %s %s: %s", self.uid, number, name, args, note)

    def _run(self, action: DeviceAction, now: float) -> str:
        """Carry out one command; return a short note, raise KeyError/IndexError if it cannot."""
        match action:
            case SetRelay(ch=ch, on=on):
                relay = self.relays[str(ch)]
                relay.commanded = on
                relay.pulse_until = None
                return f"relay {ch} {'on' if on else 'off'}"
            case PulseRelay(ch=ch):
                relay = self.relays[str(ch)]
                relay.pulse_until = now + self.pulse_seconds
                return f"relay {ch} pulsed for {self.pulse_seconds:g} s"
            case ResetRelay(ch=ch):
                relay = self.relays[str(ch)]
                relay.fuse = relay.hvd = relay.lvd = False
                return f"relay {ch} fuse/hvd/lvd reset"
            case SetFeed(feed=index, value=value):
                feed = self.feeds[index]
                feed.value = float(bool(value)) if feed.is_bit else float(value)
                return f"feed {index} ({feed.label}) = {feed.value:g}"
