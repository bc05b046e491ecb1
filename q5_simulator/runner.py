"""Run simulated Q5s on their own clocks: `python -m q5_simulator --server URL --passphrase P`.

Each device measures every measurement interval and uploads its queue every upload interval
(both from its config unless given on the command line; the config it uploads says the same).
Signals: SIGUSR1 saves every device's config with a new version (and, with
--bump-toggles-channel, a channel logged or not), SIGUSR2 takes the devices offline / back
online (they keep measuring and upload the backlog when back), SIGINT/SIGTERM stop.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Mapping, Sequence
import contextlib
import copy
import json
import logging
from pathlib import Path
import signal
import sys
import time
from typing import Any

import aiohttp

from custom_components.flexscada.protocol.crypto import key_from_hex, key_from_passphrase
from custom_components.flexscada.protocol.errors import Q5ProtocolError

from .device import FW_VERSION, PULSE_SECONDS, SimulatedQ5

_LOGGER = logging.getLogger(__package__)

EXAMPLE_SITE = Path(__file__).with_name("example_site.json")
DEFAULT_UID = 1535235511
#: Seconds between the start-ups of consecutive devices, so a fleet does not post in lockstep.
STAGGER_SECONDS = 0.37
#: Acknowledged rows and exchanges a command-line device remembers (it runs for days).
RUNNER_HISTORY = 1000


def load_site(path: str | Path | None = None) -> dict[str, Any]:
    """Read a device config JSON (default: the bundled example site)."""
    text = Path(path or EXAMPLE_SITE).read_text(encoding="utf-8")
    config = json.loads(text)
    if not isinstance(config, dict):
        raise TypeError(f"{path}: a device config is a JSON object")
    return config


def device_config(
    site: Mapping[str, Any],
    index: int,
    *,
    upload_interval: float | None = None,
    measurement_interval: float | None = None,
) -> dict[str, Any]:
    """Return device `index`'s config: the site's, renamed for index > 0, intervals overridden."""
    config = copy.deepcopy(dict(site))
    if index > 0:
        config["name"] = f"{config.get('name') or 'Q5'} #{index + 1}"
    if upload_interval is not None:
        config["upload_interval"] = int(upload_interval)
    if measurement_interval is not None:
        config["measurement_interval"] = int(measurement_interval)
    return config


def toggle_channel(config: dict[str, Any]) -> None:
    """Log `avg` on the last enabled input, or stop logging it: a config change with new fields."""
    inputs = config.get("inputs")
    if not isinstance(inputs, dict):
        return
    enabled = [key for key, value in inputs.items() if value.get("enabled", True)]
    if not enabled:
        return
    channel = inputs[max(enabled, key=int)]
    channel["logging"] = [] if channel.get("logging") else ["avg"]


class Fleet:
    """Several devices sharing one HTTP session, each on its own timer."""

    def __init__(self, devices: Sequence[SimulatedQ5], args: argparse.Namespace) -> None:
        self.devices = list(devices)
        self.args = args
        self.stop = asyncio.Event()

    def bump_all(self) -> None:
        """Save every device's config with a new version (SIGUSR1)."""
        for device in self.devices:
            device.update_config(toggle_channel if self.args.bump_toggles_channel else None)

    def toggle_online(self) -> None:
        """Take every device offline, or back online (SIGUSR2)."""
        for device in self.devices:
            device.online = not device.online
            _LOGGER.info(
                "%s is now %s (%d queued)",
                device.uid,
                "online" if device.online else "offline",
                len(device.queue),
            )

    async def run_device(self, device: SimulatedQ5, delay: float) -> None:
        """Measure and upload on the device's intervals until stopped."""
        await self._sleep(delay)
        now = time.time()
        if self.args.offline_backlog:
            await device.fill_backlog(self.args.offline_backlog, end=now)
            _LOGGER.info("%s was offline: %d rows queued", device.uid, len(device.queue))
            next_measure = now + device.measurement_interval
        else:
            next_measure = now
        next_upload = now
        uploads = 0
        while not self.stop.is_set():
            now = time.time()
            if now >= next_measure:
                await device.measure(now)
                next_measure = max(next_measure + device.measurement_interval, now + 0.1)
            if now >= next_upload:
                next_upload = max(next_upload + device.upload_interval, now + 0.1)
                if device.online:
                    await device.upload()
                    uploads += 1
                    every = self.args.bump_config_every
                    if every and uploads % every == 0:
                        device.update_config(
                            toggle_channel if self.args.bump_toggles_channel else None
                        )
                else:
                    _LOGGER.info("%s offline: %d rows queued", device.uid, len(device.queue))
                if self.args.uploads and uploads >= self.args.uploads:
                    return
            await self._sleep(min(next_measure, next_upload) - time.time())

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), timeout=max(0.0, seconds))

    async def run(self) -> None:
        """Run every device until stopped, --duration passes or --uploads are done."""
        tasks = [
            asyncio.create_task(self.run_device(device, index * STAGGER_SECONDS))
            for index, device in enumerate(self.devices)
        ]
        if self.args.duration:
            asyncio.get_running_loop().call_later(self.args.duration, self.stop.set)
        await asyncio.gather(*tasks)


def build_devices(args: argparse.Namespace, session: aiohttp.ClientSession) -> list[SimulatedQ5]:
    """Create the devices the command line asks for."""
    site = load_site(args.config)
    devices = []
    for index in range(args.devices):
        uid = args.uid + index
        if args.key:
            key = key_from_hex(args.key)
        else:
            key = key_from_passphrase(args.passphrase.replace("{uid}", str(uid)))
        config = device_config(
            site,
            index,
            upload_interval=args.upload_interval,
            measurement_interval=args.measurement_interval,
        )
        devices.append(
            SimulatedQ5(
                config,
                uid,
                key,
                args.server,
                session,
                seed=None if args.seed is None else args.seed + index,
                clock_offset=args.clock_skew,
                fw_version=args.fw_version,
                pulse_seconds=args.pulse_seconds,
                max_batch=args.max_batch,
                nan_rate=args.nan_rate,
                history=RUNNER_HISTORY,
                reject_configs=args.reject_configs,
            )
        )
        _LOGGER.info(
            "%s %r: config v%s, %d fields, measures every %gs, uploads every %gs to %s",
            uid,
            devices[-1].name,
            devices[-1].config_version,
            len(devices[-1].layout.fields),
            devices[-1].measurement_interval,
            devices[-1].upload_interval,
            args.server,
        )
    return devices


async def run(args: argparse.Namespace) -> int:
    """Run the fleet with signal handling; return an exit code."""
    async with aiohttp.ClientSession() as session:
        try:
            devices = build_devices(args, session)
        except (OSError, ValueError, TypeError, Q5ProtocolError) as err:
            _LOGGER.error("cannot start: %s", err)  # noqa: TRY400 - one line, no traceback
            return 2
        fleet = Fleet(devices, args)
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, fleet.stop.set)
        loop.add_signal_handler(signal.SIGTERM, fleet.stop.set)
        loop.add_signal_handler(signal.SIGUSR1, fleet.bump_all)
        loop.add_signal_handler(signal.SIGUSR2, fleet.toggle_online)
        await fleet.run()
    for device in devices:
        _LOGGER.info(
            "%s done: %d rows acknowledged, %d queued, %d commands executed (last ack %d)",
            device.uid,
            device.acknowledged_count,
            len(device.queue),
            len(device.executed),
            device.last_cmd_id_ack,
        )
    return 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m q5_simulator",
        description="Simulate FlexSCADA Flexs Q5 devices posting cloud-sync uploads to a server.",
        epilog="Signals: SIGUSR1 = save configs with a new version, SIGUSR2 = offline/online.",
    )
    add = parser.add_argument
    add("--server", default="http://127.0.0.1:8123", help="server base URL (Home Assistant)")
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument(
        "--passphrase", default="demo-pass", help="device password; '{uid}' is replaced by the uid"
    )
    secret.add_argument("--key", help="the 64-hex-digit AES key instead of a passphrase")
    add("--config", help="device config JSON (default: the bundled example site)")
    add("--uid", type=int, default=DEFAULT_UID, help="uid of the first device")
    add("--devices", type=int, default=1, help="number of devices (uids uid, uid+1, ...)")
    add("--upload-interval", type=float, help="seconds between uploads (default: config's)")
    add("--measurement-interval", type=float, help="seconds between measurements")
    add("--offline-backlog", type=int, default=0, help="start with N back-dated rows queued")
    add("--bump-config-every", type=int, default=0, help="new config version every N uploads")
    add(
        "--bump-toggles-channel",
        action="store_true",
        help="each config bump also starts/stops logging the last enabled input's avg",
    )
    add(
        "--reject-configs",
        action="store_true",
        help="ignore configs the server pushes (keep reporting the device's own version)",
    )
    add("--clock-skew", type=float, default=0.0, help="device clock offset in seconds")
    add("--nan-rate", type=float, default=0.0, help="probability a float reading is NaN")
    add("--max-batch", type=int, help="rows per upload at most (default: the whole queue)")
    add("--pulse-seconds", type=float, default=PULSE_SECONDS)
    add("--fw-version", type=int, default=FW_VERSION)
    add("--seed", type=int, help="random seed (default: the uid, so runs repeat)")
    add("--duration", type=float, help="stop after this many seconds")
    add("--uploads", type=int, default=0, help="stop each device after N uploads")
    add("-v", "--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    if args.devices < 1:
        parser.error("--devices must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m q5_simulator`."""
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stdout,
    )
    logging.getLogger("aiohttp").setLevel(logging.WARNING)
    return asyncio.run(run(args))
