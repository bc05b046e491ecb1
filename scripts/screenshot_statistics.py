"""A statistics graph card of a backlog, from Home Assistant's own frontend.

Starts a fresh headless demo whose simulated Q5 comes back from a day offline: its first upload
carries 1,440 back-dated rows, one a minute. Waits until the integration has written those hours
into the battery sensor's hourly statistics (after Home Assistant's first compile of the sensor),
puts a Statistics graph card of it on the default dashboard and saves
docs/screenshots/statistics-backlog.png. Run through `scripts/screenshots` (chromium):
`scripts/screenshots --statistics`.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
import shutil
import subprocess
import sys
from typing import Any

import aiohttp
from check_demo import free_port, wait_for
from demo_ha import REPO, DemoState
from screenshots import (
    HEIGHT,
    JS_CONNECTED,
    WIDTH,
    logged_in_frontend,
    with_demo,
)

BATTERY = "sensor.example_repeater_site_battery_voltage_average"
BACKLOG_ROWS = 1440
DASHBOARD = "q5-statistics"
CARD: dict[str, Any] = {
    "type": "statistics-graph",
    "title": "Battery voltage: hourly mean, min and max of every row (a day's backlog)",
    "entities": [BATTERY],
    "stat_types": ["mean", "min", "max"],
    "chart_type": "line",
    "period": "hour",
    "days_to_show": 2,
}


def start_demo(state_dir: Path, port: int) -> subprocess.Popen[bytes]:
    """Start a fresh headless demo whose device starts with a day's backlog queued."""
    shutil.rmtree(state_dir, ignore_errors=True)
    state_dir.mkdir(parents=True)
    log = (state_dir / "demo.log").open("wb")
    return subprocess.Popen(
        [str(REPO / "scripts" / "demo"), "--headless", "--fresh", "--port", str(port),
         "--state-dir", str(state_dir), "--", "--offline-backlog", str(BACKLOG_ROWS),
         "--measurement-interval", "60"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def js_call_ws(message: dict[str, Any]) -> str:
    """Return JavaScript that sends a websocket command through the frontend's connection."""
    return (
        "document.querySelector('home-assistant').hass.callWS("
        f"{json.dumps(message)}).then(r => JSON.stringify(r))"
    )


async def take(state: DemoState, out: Path) -> None:
    """Wait for the backlog's statistics, add the card, take the screenshot."""
    async with (
        aiohttp.ClientSession() as session,
        logged_in_frontend(session, state, WIDTH, HEIGHT) as tools,
    ):
        await tools.goto(f"{state.url}/lovelace/0")
        await wait_for("the frontend to connect", lambda: tools.evaluate(JS_CONNECTED), 60)

        async def hours_written() -> int | None:
            result = json.loads(
                await tools.evaluate(
                    js_call_ws(
                        {
                            "type": "recorder/statistics_during_period",
                            "start_time": "2000-01-01T00:00:00Z",
                            "statistic_ids": [BATTERY],
                            "period": "hour",
                            "types": ["min", "max"],
                        }
                    )
                )
            )
            rows = result.get(BATTERY, [])
            # HA's own hours are flat (one state); the backlog's hours have a range.
            spread = [row for row in rows if row["max"] - row["min"] > 0.05]
            print(f"screenshots: {len(rows)} hourly rows, {len(spread)} from the rows")
            return len(spread) if len(spread) >= 20 else None

        await wait_for("the backlog's hourly statistics", hours_written, 900, every=20)
        # A dashboard of its own (the default overview is generated), one card in a panel.
        await tools.evaluate(
            js_call_ws(
                {
                    "type": "lovelace/dashboards/create",
                    "url_path": DASHBOARD,
                    "title": "Q5 statistics",
                    "mode": "storage",
                }
            )
        )
        view = {"title": "Q5", "panel": True, "cards": [CARD]}
        await tools.evaluate(
            js_call_ws(
                {
                    "type": "lovelace/config/save",
                    "url_path": DASHBOARD,
                    "config": {"views": [view]},
                }
            )
        )
        await tools.viewport(WIDTH, 700)
        await tools.goto(f"{state.url}/{DASHBOARD}/0")
        await wait_for("the frontend to connect", lambda: tools.evaluate(JS_CONNECTED), 60)
        await asyncio.sleep(8)
        await tools.screenshot(out)


def main() -> int:
    """Run a fresh demo with a backlog and take the statistics screenshot."""
    out = REPO / "docs" / "screenshots" / "statistics-backlog.png"
    state_dir = REPO / ".demo" / "screenshot-statistics"
    demo = start_demo(state_dir, free_port())
    return with_demo(demo, state_dir, lambda state: take(state, out))


if __name__ == "__main__":
    sys.exit(main())
