"""Soak, restart and attack run against a real Home Assistant (`scripts/soak`).

1. A fresh `hass` on 127.0.0.1 (own config dir, onboarded through the demo glue), N simulated Q5s
   added through the config flow REST API, all uploading concurrently (q5_simulator's Fleet).
2. During the soak: relays switched on/off through the REST API (commands flow back to the
   devices in the upload replies), VmRSS of the hass pid sampled, and an attack on a quiet
   "victim" device: a flood of bad uploads from the devices' own address (mutated, resealed,
   wrong-key, tampered, random), replays of its older upload, a 4 MiB+1 body, random unknown uids.
3. Restart: a relay command is queued and `hass` is SIGKILLed as soon as the service call
   returns; it is started again; the devices (which keep unacknowledged rows) re-send, and the
   device must execute the command.
   During the soak a config change is pushed from HA (`flexscada.update_device_config`) to two
   devices: one adopts it, the other is told to reject configs (a repair issue must follow).
4. Drain, clean stop, then accounting: per device, rows in 200-acknowledged uploads vs rows_total
   in `.storage/flexscada.<uid>`, the newest acknowledged row vs the entity states, the newest
   timestamp; 5xx answers; log lines; RSS figures and slope after warm-up.

Exit status 1 if any check fails. Everything is printed; docs/load-and-attack.md has a run.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from dataclasses import dataclass, field
import json
import logging
import math
from pathlib import Path
import random
import shutil
import sys
import time
from typing import Any

import aiohttp

from custom_components.flexscada.entity_specs import metric_platform, metric_unique_id
from custom_components.flexscada.protocol import (
    SetRelay,
    build_config_packet,
    build_measurement_packet,
    key_from_passphrase,
)
from custom_components.flexscada.protocol.model import FieldKind
from q5_simulator import SimulatedQ5, device_config, load_site
from q5_simulator.runner import Fleet

from .attacks import attack_bodies, oversized_body, still_valid
from .realhass import HassProcess, free_port, prepare
from .sites import REPO

UID_BASE = 1_700_000_000
MAX_UPLOAD_BYTES = 4 * 1024 * 1024
# Lines HA logs on these machines whatever the integration does (no internet, no DNS).
LOG_NOISE = (
    "[homeassistant.components.met",
    "radio_browser",
    "google_translate",
    "shopping_list",
    "go2rtc",
    "[haffmpeg",
    "turbojpeg",
    "No module named 'mutagen'",  # tts: HA installs it in the background on a first start
)


def passphrase_of(uid: int) -> str:
    """Return the passphrase of one simulated device."""
    return f"soak-{uid}"


@dataclass
class Checks:
    """Named pass/fail results, printed at the end."""

    results: list[tuple[str, bool, str]] = field(default_factory=list)

    def add(self, name: str, ok: bool, detail: str = "") -> None:
        """Record one check."""
        self.results.append((name, ok, detail))
        print(f"  [{'ok' if ok else 'FAIL'}] {name}{': ' + detail if detail else ''}", flush=True)

    @property
    def failed(self) -> list[str]:
        """Return the names of the failed checks."""
        return [name for name, ok, _ in self.results if not ok]


@dataclass
class CommandLog:
    """Relay commands sent through the REST API."""

    sent: list[tuple[float, int, str, bool, int]] = field(default_factory=list)
    # (time, uid, channel, state, HTTP status of the service call)


def log(message: str) -> None:
    """Print a progress line with the time."""
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


# ------------------------------------------------------------------------------------------------
# REST helpers
# ------------------------------------------------------------------------------------------------


async def entity_registry(client: Any) -> dict[str, str]:  # noqa: ANN401 - demo_ha.HassClient
    """Return unique_id -> entity_id of our entities."""
    entries = await client.ws_command({"type": "config/entity_registry/list"})
    return {e["unique_id"]: e["entity_id"] for e in entries if e.get("platform") == "flexscada"}


async def all_states(client: Any) -> dict[str, dict[str, Any]]:  # noqa: ANN401
    """Return entity_id -> state object of every entity."""
    states = await client.request("GET", "/api/states")
    return {s["entity_id"]: s for s in states}


async def switch_relay(client: Any, entity_id: str, on: bool) -> int:  # noqa: ANN401
    """Call switch.turn_on/off through the REST API; return the HTTP status."""
    service = "turn_on" if on else "turn_off"
    async with client.session.post(
        f"{client.base_url}/api/services/switch/{service}",
        json={"entity_id": entity_id},
        headers={"Authorization": f"Bearer {client.token}"},
    ) as resp:
        await resp.read()
        status: int = resp.status
        return status


# ------------------------------------------------------------------------------------------------
# the run
# ------------------------------------------------------------------------------------------------


class Soak:
    """State of one soak run."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.state_dir = Path(args.state_dir)
        self.checks = Checks()
        self.commands = CommandLog()
        self.hass = HassProcess(
            self.state_dir / "config", args.port or free_port(), self.state_dir / "hass.log"
        )
        self.devices: list[SimulatedQ5] = []
        self.fleet: Fleet | None = None
        self.registry: dict[str, str] = {}
        self.replayed_rows: Counter[int] = Counter()
        self.victim_rows = 0
        self.attack_statuses: Counter[tuple[str, int]] = Counter()
        self.rest_5xx = 0
        self.soak_window: tuple[float, float] = (0.0, 0.0)
        self.stop = asyncio.Event()
        #: Devices a config change was pushed to: uid -> (version expected at the end, adopts).
        self.pushed: dict[int, tuple[int, bool]] = {}

    # -- set-up ----------------------------------------------------------------------------------

    async def start_hass(self, session: aiohttp.ClientSession) -> Any:  # noqa: ANN401
        """Write a fresh config dir, start hass, onboard, add the devices and the victim."""
        if self.state_dir.exists():
            shutil.rmtree(self.state_dir)
        self.state_dir.mkdir(parents=True)
        prepare(self.hass.config_dir, self.hass.port)
        log(f"starting hass on {self.hass.url} (log {self.hass.log_path})")
        started = time.monotonic()
        self.hass.start()
        client = await self.hass.wait_up(session, first=True)
        log(f"hass RUNNING after {time.monotonic() - started:.0f} s, pid {self.hass.pid}")
        started = time.monotonic()
        for index in range(self.args.devices + 1):  # +1: the victim
            uid = UID_BASE + index
            await client.add_device(uid, passphrase_of(uid))
        log(
            f"{self.args.devices} devices + 1 victim added through the config flow in "
            f"{time.monotonic() - started:.0f} s"
        )
        return client

    def build_devices(self, session: aiohttp.ClientSession) -> None:
        """Create the simulated devices (they share one HTTP session)."""
        site = load_site()
        for index in range(self.args.devices):
            uid = UID_BASE + index
            config = device_config(
                site,
                index,
                upload_interval=self.args.upload_interval,
                measurement_interval=self.args.measurement_interval,
            )
            self.devices.append(
                SimulatedQ5(
                    config, uid, key_from_passphrase(passphrase_of(uid)), self.hass.url, session
                )
            )

    # -- config push -----------------------------------------------------------------------------

    async def push_configs(self, client: Any) -> None:  # noqa: ANN401 - demo_ha.HassClient
        """Push a config change from HA to two devices: the first adopts it, the last rejects."""
        if len(self.devices) < 2:
            return
        adopter, rejecter = self.devices[0], self.devices[-1]
        rejecter.reject_configs = True
        registry = await client.ws_command({"type": "config/device_registry/list"})
        device_ids = {
            int(identifier[1]): device["id"]
            for device in registry
            for identifier in device["identifiers"]
            if identifier[0] == "flexscada"
        }
        for device, adopts in ((adopter, True), (rejecter, False)):
            await client.request(
                "POST",
                "/api/services/flexscada/update_device_config",
                json_body={
                    "device_id": device_ids[device.uid],
                    "changes": {"inputs.1.desc": "changed from Home Assistant"},
                },
            )
            version = device.config_version + 1 if adopts else device.config_version
            self.pushed[device.uid] = (version, adopts)
        log(f"config change pushed to {adopter.uid} (adopts) and {rejecter.uid} (rejects)")

    async def check_config_pushes(self, client: Any) -> None:  # noqa: ANN401
        """Check the adopter runs the pushed config and the rejecter its own, with an issue."""
        if not self.pushed:
            return
        issues = await client.ws_command({"type": "repairs/list_issues"})
        raised = {i["issue_id"] for i in issues["issues"] if i["domain"] == "flexscada"}
        problems = []
        for device in self.devices:
            if device.uid not in self.pushed:
                continue
            version, adopts = self.pushed[device.uid]
            desc = device.config["inputs"]["1"].get("desc")
            if device.config_version != version:
                problems.append(f"{device.uid} runs config v{device.config_version}, not {version}")
            if adopts != (desc == "changed from Home Assistant"):
                problems.append(f"{device.uid}: inputs.1.desc is {desc!r}")
            if adopts == (f"config_rejected_{device.uid}" in raised):
                problems.append(f"{device.uid}: repair issue raised={not adopts} expected")
        pushes = {uid: d.config_pushes for d in self.devices if (uid := d.uid) in self.pushed}
        self.checks.add(
            "config push: adopted by one device, rejected by the other (repair issue)",
            not problems,
            "; ".join(problems) or f"deliveries seen by the devices: {pushes}",
        )

    # -- load ------------------------------------------------------------------------------------

    async def sample_rss(self) -> None:
        """Sample VmRSS of the hass pid every 2 s until stopped."""
        while not self.stop.is_set():
            self.hass.sample_rss()
            await asyncio.sleep(2)

    async def send_commands(self, client: Any, until: float) -> None:  # noqa: ANN401
        """Toggle a random relay of a random device every --command-every seconds."""
        rng = random.Random(11)
        while time.monotonic() < until and not self.stop.is_set():
            device = rng.choice(self.devices)
            channel = rng.choice(sorted(device.relays))
            entity_id = self.registry.get(f"{device.uid}_relays_{channel}_state")
            if entity_id is not None:
                on = not device.relays[channel].commanded
                status = await switch_relay(client, entity_id, on)
                self.rest_5xx += status >= 500
                self.commands.sent.append((time.monotonic(), device.uid, channel, on, status))
            await asyncio.sleep(self.args.command_every)

    async def wait_all_configured(self, wait: float) -> None:
        """Wait until every device has had a measurement upload acknowledged."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if all(d.acknowledged_count for d in self.devices):
                return
            await asyncio.sleep(1)
        missing = [d.uid for d in self.devices if not d.acknowledged_count]
        raise RuntimeError(f"devices without an acknowledged upload: {missing[:5]}...")

    # -- attack ----------------------------------------------------------------------------------

    async def attack(self, client: Any, session: aiohttp.ClientSession) -> None:  # noqa: ANN401
        """Flood, fuzz, tamper and replay against the quiet victim; check nothing moved."""
        uid = UID_BASE + self.args.devices
        key = key_from_passphrase(passphrase_of(uid))
        wrong_key = key_from_passphrase("not the password")
        config = device_config(load_site(), 1, upload_interval=3600, measurement_interval=600)
        config["name"] = "Victim"
        victim = SimulatedQ5(config, uid, key, self.hass.url, session)
        layout = victim.layout
        url = self.hass.url
        async with session.post(f"{url}/Q5/cfg/{uid}", data=build_config_packet(key, config)) as r:
            assert r.status == 200, r.status
        now = int(time.time())
        packets = []
        for step in range(3):
            # Each upload stamped with the device's clock when it was sent, as a Q5's are.
            sent = now - 600 + 200 * step
            await victim.measure(sent)
            rows = victim.encode_rows(victim.queue[-1:])
            packets.append(
                build_measurement_packet(
                    key, uid, layout, rows, fw_version=10503, epoch=sent, last_cmd_id_ack=0
                )
            )
        for packet in packets:  # all sent (captured), then the older ones are "replayed"
            async with session.post(f"{url}/Q5/m", data=packet) as r:
                assert r.status == 200, r.status
            self.victim_rows += 1
        await asyncio.sleep(1)
        self.registry = await entity_registry(client)
        victim_ids = sorted(e for u, e in self.registry.items() if u.startswith(f"{uid}_"))
        before = await all_states(client)
        before_victim = {e: before[e] for e in victim_ids if e in before}
        log_offset = self.hass.log_path.stat().st_size

        started = time.monotonic()
        rng = random.Random(21)
        # No "resealed" kind here: that is a device with the right key and a broken encoder
        # (tests/test_fuzz_views.py covers it); an attacker does not have the key.
        kinds = ("mutated", "wrong_key", "random", "tampered")
        bodies = [
            (kind, body)
            for kind, body in attack_bodies(
                rng, packets, key, wrong_key, self.args.flood, kinds=kinds
            )
            if not still_valid(body, key, uid, layout)
        ]
        semaphore = asyncio.Semaphore(8)

        async def post(kind: str, body: bytes, path: str = "/Q5/m") -> None:
            async with semaphore:
                try:
                    async with session.post(url + path, data=body) as resp:
                        await resp.read()
                        status = resp.status
                except aiohttp.ClientError:
                    status = 0  # e.g. the server closed the connection after a 413
                self.attack_statuses[kind, status] += 1

        await asyncio.gather(*(post(kind, body) for kind, body in bodies))
        # Replays of older uploads of the victim: acknowledged (200) but ignored: their rows were
        # all seen before, so they change no state and count no rows.
        for packet in (packets[0], packets[1], packets[0]):
            await post("replay", packet)
        await post("oversize", oversized_body(uid, MAX_UPLOAD_BYTES + 1))
        unknown = [
            rng.randrange(2**32).to_bytes(4, "little") + rng.randbytes(64) for _ in range(500)
        ]
        await asyncio.gather(*(post("unknown_uid", body) for body in unknown))
        seconds = time.monotonic() - started
        await asyncio.sleep(1)
        after = await all_states(client)

        total = sum(self.attack_statuses.values())
        by_kind: dict[str, Counter[int]] = {}
        for (kind, status), count in self.attack_statuses.items():
            by_kind.setdefault(kind, Counter())[status] = count
        log(f"attack: {total} requests in {seconds:.1f} s")
        for kind, statuses in sorted(by_kind.items()):
            print(f"    {kind:12} {dict(sorted(statuses.items()))}")
        bad = {
            k: c
            for k, c in self.attack_statuses.items()
            if k[0] not in ("replay",) and not 400 <= k[1] < 500
        }
        self.checks.add("attack: every bad upload answered 4xx", not bad, str(bad) if bad else "")
        replays_ok = by_kind.get("replay", Counter()) == Counter({200: 3})
        self.checks.add(
            "attack: replays acknowledged (200)", replays_ok, str(by_kind.get("replay"))
        )
        changed = [
            e
            for e, s in before_victim.items()
            if (after.get(e, {}).get("state"), after.get(e, {}).get("attributes"))
            != (s["state"], s["attributes"])
            and not e.endswith("_last_upload")
        ]
        self.checks.add(
            "attack: victim's entity states unchanged (replays did not move them back)",
            not changed and bool(before_victim),
            f"{len(before_victim)} entities compared"
            + (f", changed {changed[:5]}" if changed else ""),
        )
        with self.hass.log_path.open("rb") as handle:
            handle.seek(log_offset)
            attack_log = handle.read().decode(errors="replace").splitlines()
        ours = [line for line in attack_log if "custom_components.flexscada" in line]
        warnings = [line for line in ours if " WARNING " in line or " ERROR " in line]
        self.checks.add(
            "attack: log not flooded",
            len(warnings) <= 10 and not any("Traceback" in line for line in attack_log),
            f"{len(attack_log)} log lines in all, {len(warnings)} flexscada warnings "
            f"for {total} bad requests",
        )
        for line in warnings:
            print(f"      | {line[:160]}")
        banned = (self.hass.config_dir / "ip_bans.yaml").exists()
        login_lines = sum("Login attempt" in line for line in attack_log)
        self.checks.add(
            "attack: no ip ban, no failed-login reports",
            not banned and not login_lines,
            f"ip_bans.yaml {'exists' if banned else 'absent'}, {login_lines} login warnings, "
            f"threshold {5}",
        )

    # -- restart -----------------------------------------------------------------------------------

    async def restart(self, session: aiohttp.ClientSession, client: Any) -> Any:  # noqa: ANN401
        """Queue a command, kill -9 right after the call returns, restart, see it executed."""
        device = self.devices[0]
        channel = sorted(device.relays)[0]
        entity_id = self.registry[f"{device.uid}_relays_{channel}_state"]
        wanted = not device.relays[channel].commanded
        executed_before = len(device.executed)
        status = await switch_relay(client, entity_id, wanted)
        self.hass.kill9()
        killed_at = time.monotonic()
        self.commands.sent.append((killed_at, device.uid, channel, wanted, status))
        acked_at_kill = {d.uid: d.acknowledged_count for d in self.devices}
        log(f"restart: relay {channel} of {device.uid} -> {wanted} (HTTP {status}); kill -9 done")
        await asyncio.sleep(self.args.downtime)
        self.hass.start()
        client = await self.hass.wait_up(session, first=False)
        log(f"restart: hass RUNNING again {time.monotonic() - killed_at:.0f} s after the kill")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and device.relays[channel].commanded != wanted:  # noqa: ASYNC110
            await asyncio.sleep(0.5)
        delivered = device.relays[channel].commanded == wanted
        after = device.executed[executed_before:]
        self.checks.add(
            "restart: command queued before kill -9 delivered after the restart",
            delivered and status == 200,
            f"executed {[(c.id, c.cmd, c.args) for c in after][-3:]}, "
            f"{time.monotonic() - killed_at:.0f} s after the kill",
        )
        # Every device must get uploads acknowledged again (its backlog included).
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if all(d.acknowledged_count > acked_at_kill[d.uid] for d in self.devices):
                break
            await asyncio.sleep(1)
        resumed = sum(d.acknowledged_count > acked_at_kill[d.uid] for d in self.devices)
        # The rows each device re-sent: those in its first acknowledged upload after the kill.
        killed_wall = time.time() - (time.monotonic() - killed_at)
        resent = [
            next((e.flushed for e in d.exchanges if e.time > killed_wall and e.status == 200), 0)
            for d in self.devices
        ]
        failed = sum(
            1 for d in self.devices for e in d.exchanges if e.time > killed_wall and e.status != 200
        )
        print(
            f"  restart: {failed} uploads failed while hass was down or starting; the first "
            f"acknowledged upload after it carried {sum(resent)} rows in all "
            f"(up to {max(resent)} per device), re-sent from the devices' queues"
        )
        self.checks.add(
            "restart: every device acknowledged again",
            resumed == len(self.devices),
            f"{resumed}/{len(self.devices)}",
        )
        return client

    # -- accounting ----------------------------------------------------------------------------

    async def compare_states(self, client: Any) -> None:  # noqa: ANN401
        """Check that every device's newest acknowledged row is what HA shows."""
        states = await all_states(client)
        self.registry = await entity_registry(client)
        mismatches: list[str] = []
        compared = 0
        for device in self.devices:
            newest_ts, values = max(device.acknowledged, key=lambda row: row[0])
            for f in device.layout.fields:
                entity_id = self.registry.get(metric_unique_id(device.uid, f))
                if entity_id is None:
                    continue
                state = states.get(entity_id, {}).get("state")
                value = values.get(f.key)
                platform = metric_platform(f)
                if f.kind is FieldKind.BIT:
                    ok = state == ("on" if value else "off")
                elif value is None or (isinstance(value, float) and not math.isfinite(value)):
                    ok = state == "unknown"
                elif platform in ("sensor", "number"):
                    ok = state not in (None, "unknown", "unavailable") and math.isclose(
                        float(state), float(value), rel_tol=1e-6, abs_tol=1e-9
                    )
                else:
                    ok = state == ("on" if value else "off")
                compared += 1
                if not ok:
                    mismatches.append(f"{entity_id}={state} vs {value} ({newest_ts})")
        self.checks.add(
            "final: every entity shows the device's newest acknowledged row",
            not mismatches and compared > 0,
            f"{compared} entity states compared"
            + (f", {len(mismatches)} differ: {mismatches[:3]}" if mismatches else ""),
        )
        wrong_relays = []
        last: dict[tuple[int, str], bool] = {}
        for _, uid, channel, on, _status in self.commands.sent:
            last[uid, channel] = on
        by_uid = {d.uid: d for d in self.devices}
        for (uid, channel), on in last.items():
            device = by_uid[uid]
            entity_id = self.registry[f"{uid}_relays_{channel}_state"]
            shown = states.get(entity_id, {}).get("state")
            if device.relays[channel].commanded != on or shown != ("on" if on else "off"):
                wrong_relays.append(
                    f"{uid}/{channel}: wanted {on}, device "
                    f"{device.relays[channel].commanded}, HA {shown}"
                )
        executed = sum(
            1 for d in self.devices for c in d.executed if c.cmd == SetRelay.name and c.ok
        )
        self.checks.add(
            "final: relays as last commanded (device and HA agree)",
            not wrong_relays,
            f"{len(self.commands.sent)} commands sent, {executed} set_relay executed by devices, "
            f"{len(last)} relays checked"
            + (f"; wrong: {wrong_relays[:3]}" if wrong_relays else ""),
        )

    def compare_storage(self) -> None:
        """After a clean stop: rows_total and the newest timestamp per device, from .storage."""
        short: list[str] = []
        acknowledged = 0
        stored_total = 0
        for device in self.devices:
            path = self.hass.config_dir / ".storage" / f"flexscada.{device.uid}"
            data = json.loads(path.read_text(encoding="utf-8"))["data"]
            rows = device.acknowledged_count
            acknowledged += rows
            stored_total += data["rows_total"]
            newest = max(ts for ts, _ in device.acknowledged)
            if data["rows_total"] != rows or data["latest_timestamp"] != newest:
                short.append(
                    f"{device.uid}: acknowledged {rows} rows (newest {newest}), stored "
                    f"rows_total {data['rows_total']} (newest {data['latest_timestamp']})"
                )
        self.checks.add(
            "final: zero lost acknowledged rows (rows_total == rows in 200-acknowledged uploads)",
            not short,
            f"{acknowledged} rows acknowledged to {len(self.devices)} devices, "
            f"{stored_total} recorded"
            + (f"; {len(short)} devices differ: {short[:3]}" if short else ""),
        )
        if self.args.attack:  # without the attack the victim never uploads: it has no store
            victim = json.loads(
                (
                    self.hass.config_dir / ".storage" / f"flexscada.{UID_BASE + self.args.devices}"
                ).read_text(encoding="utf-8")
            )["data"]
            self.checks.add(
                "final: victim recorded only its real uploads",
                victim["rows_total"] == self.victim_rows,
                f"rows_total {victim['rows_total']}, expected {self.victim_rows} "
                "(its 3 uploads; no replay or bad upload counted)",
            )

    def report_statuses(self) -> None:
        """Count the devices' answers; 5xx anywhere fails."""
        statuses: Counter[int] = Counter()
        for device in self.devices:
            for exchange in device.exchanges:
                statuses[exchange.status] += 1
        server_errors = sum(c for s, c in statuses.items() if s >= 500)
        server_errors += sum(c for (_, s), c in self.attack_statuses.items() if s >= 500)
        server_errors += self.rest_5xx
        print(f"  device exchanges by status: {dict(sorted(statuses.items()))} (0 = unreachable)")
        self.checks.add("zero 5xx answers", server_errors == 0, f"{server_errors} seen")

    def report_rss(self) -> None:
        """Print RSS figures and the slope after warm-up, over the soak window."""
        start, end = self.soak_window
        warm = start + (end - start) * self.args.warmup_fraction
        samples = [(t, kib) for t, kib in self.hass.rss_samples if warm <= t <= end]
        if len(samples) < 3:
            self.checks.add("RSS sampled", False, "too few samples")
            return
        times = [(t - samples[0][0]) / 60 for t, _ in samples]
        values = [kib / 1024 for _, kib in samples]
        mean_t, mean_v = sum(times) / len(times), sum(values) / len(values)
        slope = sum((t - mean_t) * (v - mean_v) for t, v in zip(times, values, strict=True)) / sum(
            (t - mean_t) ** 2 for t in times
        )
        all_values = [kib / 1024 for t, kib in self.hass.rss_samples if start <= t <= end]
        minutes = times[-1]
        growth = slope * minutes
        print(
            f"  VmRSS (MiB) over the soak: start {all_values[0]:.0f}, after warm-up "
            f"{values[0]:.0f}, end {values[-1]:.0f}, min {min(values):.0f}, max {max(values):.0f}"
        )
        print(
            f"  VmRSS slope after warm-up: {slope:+.2f} MiB/min over {minutes:.1f} min "
            f"({len(samples)} samples) = {growth:+.1f} MiB ({100 * growth / mean_v:+.1f}% of mean)"
        )
        cpu = [(t, c) for t, c in self.hass.cpu_samples if start <= t <= end]
        if len(cpu) >= 2:
            busy = (cpu[-1][1] - cpu[0][1]) / (cpu[-1][0] - cpu[0][0])
            print(f"  hass CPU over the soak window: {100 * busy:.0f}% of one core")
        self.checks.add(
            "RSS flat after warm-up (fitted growth under 5% of RSS over the window)",
            abs(growth) < 0.05 * mean_v,
            f"{slope:+.2f} MiB/min",
        )

    def report_log(self) -> None:
        """Count errors and tracebacks in the whole hass log (known machine noise excluded)."""
        lines = self.hass.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        # Split into records: a record starts with "2026-11-25 13:12:11.652 LEVEL (...)"; the
        # lines after it (tracebacks) belong to it. A record is noise when any of its lines
        # names one of the machine's known failures.
        records: list[list[str]] = []
        for line in lines:
            if (line[:2] == "20" and " (" in line[:40]) or not records:
                records.append([line])
            else:
                records[-1].append(line)
        errors: list[str] = []
        tracebacks = noise_tracebacks = 0
        for record in records:
            has_traceback = any(line.startswith("Traceback") for line in record)
            is_error = any(f" {level} " in record[0] for level in ("ERROR", "CRITICAL"))
            noise = any(marker in line for line in record for marker in LOG_NOISE)
            tracebacks += has_traceback
            noise_tracebacks += has_traceback and noise
            if (is_error or has_traceback) and not noise:
                errors.append(record[0])
        ours = [line for line in lines if "[custom_components.flexscada" in line]
        ours_warn = [line for line in ours if " WARNING " in line or " ERROR " in line]
        print(
            f"  hass log: {len(lines)} lines, {len(ours)} from flexscada "
            f"({len(ours_warn)} warnings/errors), {tracebacks} tracebacks "
            f"({noise_tracebacks} known machine noise: no ffmpeg, libturbojpeg, internet), "
            f"{len(errors)} other errors"
        )
        for line in errors[:10]:
            print(f"      | {line[:200]}")
        self.checks.add(
            "no error or traceback in the hass log (machine noise excluded)",
            not errors,
            f"{len(errors)} found",
        )

    # -- main ----------------------------------------------------------------------------------

    async def run(self) -> int:
        """Run every phase; return the exit status."""
        args = self.args
        timeout = aiohttp.ClientTimeout(total=60)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0), timeout=timeout
            ) as device_session,
        ):
            client = await self.start_hass(session)
            self.build_devices(device_session)
            self.fleet = Fleet(
                self.devices,
                argparse.Namespace(
                    offline_backlog=0,
                    bump_config_every=0,
                    bump_toggles_channel=False,
                    uploads=0,
                    duration=None,
                ),
            )
            rss_task = asyncio.create_task(self.sample_rss())
            fleet_task = asyncio.create_task(self.fleet.run())
            log(
                f"soak: {args.devices} devices, upload every {args.upload_interval:g} s, "
                f"measure every {args.measurement_interval:g} s, {args.duration:g} s"
            )
            await self.wait_all_configured(120)
            self.registry = await entity_registry(client)
            soak_start = time.monotonic()
            soak_end = soak_start + args.duration
            command_task = asyncio.create_task(self.send_commands(client, soak_end))
            await self.push_configs(client)
            if args.attack:
                await asyncio.sleep(min(30.0, args.duration / 3))
                await self.attack(client, session)
            await asyncio.sleep(max(0.0, soak_end - time.monotonic()))
            await command_task
            self.soak_window = (soak_start, time.monotonic())
            seconds = self.soak_window[1] - self.soak_window[0]
            in_window = [
                e
                for d in self.devices
                for e in d.exchanges
                if e.path == "/Q5/m" and e.time >= time.time() - seconds
            ]
            rows = sum(e.flushed for e in in_window)
            log(
                f"soak done: {len(in_window)} measurement uploads in {seconds:.0f} s "
                f"({len(in_window) / seconds:.1f}/s, {rows / seconds:.0f} rows/s acknowledged), "
                f"{len(self.commands.sent)} relay commands"
            )
            if args.restart:
                client = await self.restart(session, client)
            # Drain: let pending commands go out and be acknowledged, then flush every queue.
            await asyncio.sleep(3 * args.upload_interval)
            self.fleet.stop.set()
            await fleet_task
            for device in self.devices:
                for _ in range(3):
                    if not device.queue:
                        break
                    await device.upload()
            queued = sum(len(d.queue) for d in self.devices)
            log(f"devices stopped; {queued} rows still queued on the devices")
            await asyncio.sleep(1)
            print("Results")
            await self.compare_states(client)
            await self.check_config_pushes(client)
            self.stop.set()
            await rss_task
            code = await self.hass.stop()
            self.checks.add("hass stopped cleanly", code == 0, f"exit code {code}")
            self.compare_storage()
            self.report_statuses()
            self.report_rss()
            self.report_log()
        failed = self.checks.failed
        print(
            f"SOAK {'PASSED' if not failed else 'FAILED'}: {len(self.checks.results)} checks"
            + (f", failed: {failed}" if failed else "")
        )
        return 1 if failed else 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--duration", type=float, default=240, help="seconds of steady soak (default 240)")
    add("--devices", type=int, default=50)
    add("--upload-interval", type=float, default=3.0)
    add("--measurement-interval", type=float, default=1.0)
    add("--command-every", type=float, default=2.0, help="seconds between relay commands")
    add("--flood", type=int, default=2000, help="bad uploads in the attack phase")
    add("--downtime", type=float, default=5.0, help="seconds hass stays dead after kill -9")
    add("--warmup-fraction", type=float, default=0.25)
    add("--port", type=int, default=0, help="HTTP port (default: a free one)")
    add("--state-dir", default=str(REPO / ".soak"))
    add("--no-restart", dest="restart", action="store_false")
    add("--no-attack", dest="attack", action="store_false")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    # The devices' own lines ("POST failed" while hass is down) are counted, not printed.
    logging.getLogger("q5_simulator").setLevel(logging.ERROR)
    soak = Soak(args)
    try:
        return asyncio.run(soak.run())
    finally:
        process = soak.hass.process
        if process is not None and process.poll() is None:
            process.kill()  # only the hass we started
            process.wait()


if __name__ == "__main__":
    sys.exit(main())
