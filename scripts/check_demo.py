"""Check the demo end to end: a fresh `scripts/demo --headless`, judged through HA's REST API.

1. start the demo on a free port in its own state dir (a brand-new Home Assistant);
2. the simulated device's entities exist and have values;
3. sensor values change between two reads one upload interval apart;
4. switching a relay on (`switch.turn_on`) is pending at first, then the device reports it on
   after its next uploads (command executed, acknowledged, reported);
5. the switch never falls back to "off" on the way (every state it writes is watched);
6. a second simulated device that was never added is discovered (a flow waits for confirmation);
7. changing the upload interval (the device page's select) reaches the simulated device: it adopts
   the pushed config, uploads at the new interval, and HA shows the change as no longer pending;
8. Home Assistant logged no error from the integration.

Prints PASS/FAIL per check and a summary; exit code 0 only if every check passed.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
import contextlib
from dataclasses import dataclass
import json
import os
from pathlib import Path
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import aiohttp
from demo_ha import DEMO_UID, REPO, DemoState, HassClient

UPLOAD_INTERVAL = 10  # what scripts/demo gives the simulator


@dataclass
class Result:
    """One check's outcome."""

    name: str
    ok: bool
    detail: str


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Api:
    """Home Assistant's REST API with the demo's long-lived token."""

    def __init__(self, session: aiohttp.ClientSession, state: DemoState) -> None:
        self.session = session
        self.url = state.url
        self.headers = {"Authorization": f"Bearer {state.token}"}

    async def get(self, path: str) -> Any:  # noqa: ANN401 - decoded JSON
        async with self.session.get(self.url + path, headers=self.headers) as resp:
            resp.raise_for_status()
            return await resp.json()

    async def post(self, path: str, body: dict[str, Any]) -> Any:  # noqa: ANN401 - decoded JSON
        async with self.session.post(self.url + path, json=body, headers=self.headers) as resp:
            resp.raise_for_status()
            return (
                await resp.json() if resp.content_type == "application/json" else await resp.text()
            )

    async def our_states(self) -> dict[str, dict[str, Any]]:
        """Return {entity_id: state object} for the integration's entities."""
        rendered = await self.post(
            "/api/template", {"template": "{{ integration_entities('flexscada') | join(',') }}"}
        )
        ours = set(filter(None, str(rendered).split(",")))
        return {s["entity_id"]: s for s in await self.get("/api/states") if s["entity_id"] in ours}


async def wait_for[T](
    what: str, probe: Callable[[], Awaitable[T | None]], seconds: float, every: float = 1.0
) -> T:
    """Poll `probe` until it returns something other than None/False."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            result = await probe()
        except aiohttp.ClientError, OSError:
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {seconds:.0f}s waiting for {what}")
        await asyncio.sleep(every)


def numeric(states: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Return the sensors with a numeric state."""
    values = {}
    for entity_id, state in states.items():
        if entity_id.startswith("sensor."):
            try:
                values[entity_id] = float(state["state"])
            except ValueError:
                continue
    return values


def pick_relay_switch(states: dict[str, dict[str, Any]]) -> str | None:
    """Return a relay switch that is off (the demo's 'Generator Start' relay if present)."""
    off = [e for e, s in states.items() if e.startswith("switch.") and s["state"] == "off"]
    preferred = [e for e in off if "generator_start" in e]
    candidates = preferred or off
    return candidates[0] if candidates else None


def adopted_configs(simulator_log: Path, needle: str) -> list[str]:
    """Return the simulator's 'adopted a pushed config' log lines that contain `needle`."""
    return [
        line.split(" ", 1)[1]
        for line in simulator_log.read_text(errors="replace").splitlines()
        if "adopted a pushed config" in line and needle in line
    ]


async def check_interval_change(api: Api, results: list[Result], simulator_log: Path) -> None:
    """Change the upload interval from HA; it must reach the device and come back adopted."""
    states = await api.our_states()
    select = next((e for e in states if e.startswith("select.") and "upload_interval" in e), None)
    if select is None:
        results.append(Result("interval change reaches the device", False, "no interval select"))
        return
    started = time.monotonic()
    for option in ("1", str(UPLOAD_INTERVAL)):  # 1 s makes the round trip short; then back
        await api.post(
            "/api/services/select/select_option", {"entity_id": select, "option": option}
        )
        pending = (await api.get(f"/api/states/{select}"))["attributes"].get("pending")

        async def adopted(option: str = option) -> dict[str, Any] | None:
            current = await api.get(f"/api/states/{select}")
            done = current["state"] == option and current["attributes"].get("pending") is False
            return current if done else None

        await wait_for(f"{select} = {option} adopted", adopted, 3 * UPLOAD_INTERVAL + 10)
        lines = adopted_configs(simulator_log, f"uploads every {option}s")
        if not (pending and lines):
            results.append(
                Result(
                    "interval change reaches the device",
                    False,
                    f"{select} -> {option}: pending={pending}, simulator: "
                    + (lines[-1] if lines else "no adopted config"),
                )
            )
            return
    results.append(
        Result(
            "interval change reaches the device",
            True,
            f"{select}: 1 s and back to {UPLOAD_INTERVAL} s, each pending then adopted by the "
            f"device ({time.monotonic() - started:.0f}s); simulator: {lines[-1]}",
        )
    )


def executed_commands(simulator_log: Path, *needles: str) -> list[str]:
    """Return the simulator's 'command #N ...' log lines that contain every needle."""
    return [
        line.split(" ", 1)[1]
        for line in simulator_log.read_text(errors="replace").splitlines()
        if "command #" in line and all(needle in line for needle in needles)
    ]


async def run_checks(
    state: DemoState,
    results: list[Result],
    startup_seconds: float,
    simulator_log: Path,
    expect_ha_version: str | None = None,
) -> None:
    """Run the REST checks against a running demo."""
    async with aiohttp.ClientSession() as session:
        api = Api(session, state)
        if expect_ha_version is not None:
            running = (await api.get("/api/config"))["version"]
            results.append(
                Result(
                    "Home Assistant release",
                    running == expect_ha_version,
                    f"running {running}, expected {expect_ha_version}",
                )
            )

        async def entities_with_values() -> dict[str, dict[str, Any]] | None:
            states = await api.our_states()
            return states if len(numeric(states)) >= 5 else None

        first = await wait_for("the device's entities", entities_with_values, startup_seconds)
        kinds = sorted({e.split(".")[0] for e in first})
        results.append(
            Result("entities exist", True, f"{len(first)} entities ({', '.join(kinds)})")
        )

        before = numeric(first)
        await asyncio.sleep(2 * UPLOAD_INTERVAL + 2)
        after = numeric(await api.our_states())
        changed = [e for e in before if e in after and after[e] != before[e]]
        results.append(
            Result(
                "values change between reads",
                len(changed) >= 3,
                f"{len(changed)} of {len(before)} numeric sensors changed in "
                f"{2 * UPLOAD_INTERVAL + 2}s (e.g. {', '.join(sorted(changed)[:3])})",
            )
        )

        await check_discovery(session, state, results)

        switch = pick_relay_switch(await api.our_states())
        if switch is None:
            results.append(Result("relay switch follows", False, "no switch that is off"))
            return
        watcher = StateWatcher(session, state, switch)
        await watcher.start()
        await api.post("/api/services/switch/turn_on", {"entity_id": switch})
        requested = (await api.get(f"/api/states/{switch}"))["attributes"].get("pending")

        async def reported_on() -> dict[str, Any] | None:
            current = await api.get(f"/api/states/{switch}")
            done = current["state"] == "on" and not current["attributes"].get("pending")
            return current if done else None

        started = time.monotonic()
        await wait_for(f"{switch} reported on", reported_on, 4 * UPLOAD_INTERVAL + 10)
        executed = executed_commands(simulator_log, "set_relay", "'state': 1")
        results.append(
            Result(
                "relay switch follows",
                bool(executed),
                f"{switch}: turn_on queued (pending={requested}), device reported on after "
                f"{time.monotonic() - started:.0f}s; simulator: "
                + (executed[-1] if executed else "no set_relay executed"),
            )
        )
        await asyncio.sleep(UPLOAD_INTERVAL + 2)
        seen = await watcher.stop()
        plain = [entry.split()[0] for entry in seen]
        flicker = "on" in plain and "off" in plain[plain.index("on") :]
        results.append(
            Result(
                "switch does not flicker",
                not flicker,
                f"states written after turn_on: {' -> '.join(seen)}"
                + (
                    " (the switch fell back to the device's old report for a moment: HA "
                    "acknowledged the command before applying the upload's rows)"
                    if flicker
                    else ""
                ),
            )
        )
        await check_interval_change(api, results, simulator_log)


class StateWatcher:
    """Records every state written for one entity, through a websocket subscription."""

    def __init__(self, session: aiohttp.ClientSession, state: DemoState, entity_id: str) -> None:
        self.session = session
        self.state = state
        self.entity_id = entity_id
        self.states: list[str] = []
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        """Subscribe; return once the subscription is active."""
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._ready.wait(), timeout=30)

    async def stop(self) -> list[str]:
        """Stop watching; return the states seen (pending ones marked)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return self.states

    async def _run(self) -> None:
        async with self.session.ws_connect(self.state.url + "/api/websocket") as ws:
            await ws.receive_json()
            await ws.send_json({"type": "auth", "access_token": self.state.token})
            await ws.receive_json()
            await ws.send_json({"id": 1, "type": "subscribe_events", "event_type": "state_changed"})
            await ws.receive_json()
            self._ready.set()
            async for message in ws:
                event = json.loads(message.data).get("event", {})
                data = event.get("data", {})
                if data.get("entity_id") == self.entity_id and data.get("new_state"):
                    new = data["new_state"]
                    pending = new["attributes"].get("pending")
                    self.states.append(new["state"] + (" (pending)" if pending else ""))


async def check_discovery(
    session: aiohttp.ClientSession, state: DemoState, results: list[Result]
) -> None:
    """Check that the device the demo did not add shows up as a discovered flow."""
    hass = HassClient(session, state.url)
    hass.token = state.token
    unknown = str(DEMO_UID + 1)

    async def discovered() -> dict[str, Any] | None:
        flows = await hass.ws_command({"type": "config_entries/flow/progress"})
        ours = [f for f in flows if f["handler"] == "flexscada"]
        return next((f for f in ours if f["context"].get("unique_id") == unknown), None)

    try:
        what = f"a discovery flow for uid {unknown}"
        flow = await wait_for(what, discovered, 3 * UPLOAD_INTERVAL)
    except TimeoutError as err:
        results.append(Result("unknown device discovered", False, str(err)))
        return
    results.append(
        Result(
            "unknown device discovered",
            True,
            f"uid {unknown}: flow {flow['step_id']!r} from source {flow['context']['source']!r}",
        )
    )


def integration_errors(log: Path) -> list[str]:
    """Return ERROR lines of Home Assistant's log that come from our integration."""
    if not log.exists():
        return []
    pattern = re.compile(r"^\S+ \S+ (ERROR|CRITICAL) .*(flexscada|custom_components)", re.I)
    return [
        line.strip() for line in log.read_text(errors="replace").splitlines() if pattern.match(line)
    ]


def start_headless_demo(who: str, state_dir: Path, port: int) -> subprocess.Popen[bytes]:
    """Start a fresh `scripts/demo --headless` (one undiscovered Q5 too) in its own session."""
    shutil.rmtree(state_dir, ignore_errors=True)
    state_dir.mkdir(parents=True)
    demo_log = state_dir / "demo.log"
    print(f"{who}: starting scripts/demo --headless on port {port} (log: {demo_log})")
    with demo_log.open("wb") as log:
        return subprocess.Popen(
            [str(REPO / "scripts" / "demo"), "--headless", "--fresh", "--port", str(port),
             "--state-dir", str(state_dir), "--discover", "1"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def wait_for_demo(demo: subprocess.Popen[bytes], state_dir: Path, seconds: float) -> None:
    """Wait until the demo has onboarded HA (state.json) and started the simulator."""
    deadline = time.monotonic() + seconds
    while not (state_dir / "state.json").exists() or not (state_dir / "simulator.log").exists():
        if demo.poll() is not None:
            raise RuntimeError(f"scripts/demo exited with {demo.returncode}; see demo.log")
        if time.monotonic() > deadline:
            raise TimeoutError("the demo did not come up")
        time.sleep(1)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the demo (its trap stops Home Assistant and the simulator)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def main() -> int:
    """Run the demo and the checks; print the summary; return 0 on PASS."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, help="default: a free port")
    parser.add_argument("--state-dir", default=str(REPO / ".demo" / "check"))
    parser.add_argument("--timeout", type=float, default=300, help="start-up timeout (s)")
    parser.add_argument("--keep", action="store_true", help="keep the state dir afterwards")
    parser.add_argument(
        "--expect-ha-version", help="fail unless the demo's Home Assistant is this release"
    )
    args = parser.parse_args()

    port = args.port or free_port()
    state_dir = Path(args.state_dir)
    demo = start_headless_demo("check_demo", state_dir, port)
    results: list[Result] = []
    try:
        wait_for_demo(demo, state_dir, args.timeout)
        results.append(Result("demo starts", True, f"Home Assistant on port {port}, onboarded"))
        state = DemoState.load(state_dir / "state.json")
        asyncio.run(
            run_checks(
                state, results, args.timeout, state_dir / "simulator.log", args.expect_ha_version
            )
        )
    except (RuntimeError, TimeoutError, aiohttp.ClientError, OSError) as err:
        results.append(Result("demo run", False, str(err)))
    finally:
        stop(demo)
    errors = integration_errors(state_dir / "hass.log")
    results.append(
        Result(
            "no integration errors in the HA log",
            not errors,
            f"{len(errors)} error line(s)" + (f", first: {errors[0][:200]}" if errors else ""),
        )
    )

    print()
    for result in results:
        print(f"  {'PASS' if result.ok else 'FAIL'}  {result.name}: {result.detail}")
    passed = all(r.ok for r in results)
    print(f"\ncheck_demo: {'PASS' if passed else 'FAIL'} ({sum(r.ok for r in results)}/"
          f"{len(results)} checks passed; logs in {state_dir})")  # fmt: skip
    if passed and not args.keep:
        shutil.rmtree(state_dir / "config", ignore_errors=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
