"""Screenshots of Home Assistant's own frontend showing the demo device (docs/screenshots/).

Starts a fresh headless demo, logs in as the demo user through the login flow, hands the tokens
to headless Chromium through localStorage (`hassTokens`, as the frontend stores them itself) and
drives Chromium over the DevTools protocol (a websocket, via aiohttp) to take:

  device.png          the device page with its entities
  relay-switched.png  the device page after a relay was switched on from Home Assistant
  relay-more-info.png the relay's more-info dialog (its state)
  upload-interval.png the upload interval's more-info dialog (details view, with attributes)
                      right after it was changed from Home Assistant: the new value, pending
                      until the device reports the pushed config
  discovered.png      Devices & services with a second Q5 discovered (it was never added)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
from collections.abc import AsyncIterator, Callable, Coroutine
import contextlib
import itertools
import json
from pathlib import Path
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

import aiohttp
from check_demo import (
    Api,
    free_port,
    numeric,
    pick_relay_switch,
    start_headless_demo,
    stop,
    wait_for,
    wait_for_demo,
)
from demo_ha import REPO, DemoState, HassClient

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-color-profile=srgb",
)
WIDTH, HEIGHT = 1440, 1000
#: The device page lists every entity: a viewport this tall renders them all, then it is cut to
#: the lowest card (the Configuration and Diagnostic sections come last).
DEVICE_PAGE_HEIGHT = 4000


class DevTools:
    """A minimal Chrome DevTools protocol client for one page."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:  # noqa: ANN401 - JSON
        """Send one command and return its result (events in between are skipped)."""
        message_id = next(self.ids)
        await self.ws.send_json({"id": message_id, "method": method, "params": params})
        while True:
            message = await self.ws.receive_json(timeout=60)
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result

    async def evaluate(self, expression: str) -> Any:  # noqa: ANN401 - a JavaScript value
        """Evaluate JavaScript in the page and return its (JSON) value."""
        result = await self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"JavaScript failed: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    async def goto(self, url: str) -> None:
        """Navigate and wait for the document to load."""
        await self.call("Page.navigate", url=url)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if await self.evaluate("document.readyState") == "complete":
                return
            await asyncio.sleep(0.3)

    async def viewport(self, width: int, height: int) -> None:
        """Set the page's viewport size."""
        await self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    async def screenshot(self, path: Path) -> None:
        """Save the viewport as a PNG."""
        result = await self.call("Page.captureScreenshot", format="png")
        await asyncio.to_thread(path.write_bytes, base64.b64decode(result["data"]))
        print(f"screenshots: wrote {path.relative_to(REPO)}")


# JavaScript probes of the frontend (its elements live in shadow roots).
JS_CONNECTED = """(() => {
  const ha = document.querySelector('home-assistant');
  return Boolean(ha && ha.hass && ha.hass.connected && Object.keys(ha.hass.states).length);
})()"""
JS_ON_LOGIN_PAGE = (
    "location.pathname.startsWith('/auth/') || Boolean(document.querySelector('ha-authorize'))"
)


def js_more_info(entity_id: str, view: str = "info") -> str:
    """Return JavaScript that opens an entity's more-info dialog (view "details": attributes)."""
    detail = json.dumps({"entityId": entity_id, "view": view})
    return f"""(() => {{
  const ha = document.querySelector('home-assistant');
  ha.dispatchEvent(new CustomEvent(
    'hass-more-info', {{detail: {detail}, bubbles: true, composed: true}}));
  return true;
}})()"""


#: The bottom edge of the lowest card on the page (cards live in shadow roots), in CSS pixels.
JS_LOWEST_CARD_BOTTOM = """(() => {
  let bottom = 0;
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.tagName === 'HA-CARD') bottom = Math.max(bottom, el.getBoundingClientRect().bottom);
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(document);
  return Math.ceil(bottom);
})()"""
#: The upload interval the picture shows being pushed (1 minute, slower than the demo's 10 s, so
#: the device reports the new version a minute after it adopts it: the change stays pending).
PUSHED_UPLOAD_INTERVAL = "60"


def launch_chromium(port: int, profile: str) -> subprocess.Popen[bytes]:
    """Start headless Chromium with remote debugging on `port` and the empty `profile` dir."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise RuntimeError("chromium is not installed (scripts/screenshots installs it)")
    return subprocess.Popen(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
         f"--remote-debugging-port={port}", f"--window-size={WIDTH},{HEIGHT}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip


async def page_websocket(session: aiohttp.ClientSession, port: int) -> str:
    """Return the DevTools websocket URL of Chromium's first page."""

    async def page_url() -> str | None:
        async with session.get(f"http://127.0.0.1:{port}/json/list") as resp:
            targets = await resp.json()
        pages = [t for t in targets if t.get("type") == "page"]
        return str(pages[0]["webSocketDebuggerUrl"]) if pages else None

    return await wait_for("Chromium's DevTools", page_url, 30, every=0.3)


@contextlib.asynccontextmanager
async def logged_in_frontend(
    session: aiohttp.ClientSession, state: DemoState, width: int, height: int
) -> AsyncIterator[DevTools]:
    """Yield headless Chromium's DevTools, logged in as the demo user, on the frontend's origin."""
    tokens = await HassClient(session, state.url).login(state.user, state.password)
    storage = json.dumps(json.dumps(tokens.frontend_storage(state.url)))
    devtools_port = free_port()
    profile = tempfile.mkdtemp(prefix="q5-chromium-")
    browser = await asyncio.to_thread(launch_chromium, devtools_port, profile)
    try:
        page_ws = await page_websocket(session, devtools_port)
        async with session.ws_connect(page_ws, max_msg_size=0) as ws:
            tools = DevTools(ws)
            await tools.call("Page.enable")
            await tools.viewport(width, height)
            # Same origin first (a static file that does not start the app), then tokens.
            await tools.goto(state.url + "/manifest.json")
            await tools.evaluate(f"localStorage.setItem('hassTokens', {storage}); true")
            await tools.evaluate("localStorage.setItem('dockedSidebar', '\"docked\"'); true")
            yield tools
    finally:
        await asyncio.to_thread(stop, browser)
        await asyncio.to_thread(shutil.rmtree, profile, ignore_errors=True)


async def device_id_of(api: Api, entity_id: str) -> str:
    """Return the device id of an entity (through the template API)."""
    rendered = await api.post("/api/template", {"template": f"{{{{ device_id('{entity_id}') }}}}"})
    return str(rendered).strip()


async def change_upload_interval(
    tools: DevTools, api: Api, url: str, device_id: str, out_dir: Path
) -> None:
    """Change the upload interval from HA and picture its more-info dialog while it is pending."""
    states = await api.our_states()
    select = next((e for e in states if e.startswith("select.") and "upload_interval" in e), None)
    if select is None:
        raise RuntimeError("no upload interval select")
    await tools.goto(f"{url}/config/devices/device/{device_id}")  # closes the relay's dialog
    await wait_for("the frontend to connect", lambda: tools.evaluate(JS_CONNECTED), 60)
    await asyncio.sleep(4)
    await api.post(
        "/api/services/select/select_option",
        {"entity_id": select, "option": PUSHED_UPLOAD_INTERVAL},
    )

    async def pending() -> bool:
        return bool((await api.get(f"/api/states/{select}"))["attributes"].get("pending"))

    await wait_for(f"{select} pending", pending, 10, every=0.3)
    await tools.evaluate(js_more_info(select, "details"))  # its attributes: pending
    await asyncio.sleep(3)
    await tools.screenshot(out_dir / "upload-interval.png")
    if not await pending():  # the picture must show what its caption says
        raise RuntimeError(f"{select} was adopted before the picture was taken; run again")


async def take(state: DemoState, out_dir: Path, simulator_log: Path) -> None:
    """Log in, then drive Chromium through the device page and the relay dialog."""
    async with aiohttp.ClientSession() as session:
        api = Api(session, state)

        async def ready() -> dict[str, Any] | None:
            states = await api.our_states()
            return states if len(numeric(states)) >= 10 else None

        states = await wait_for("the device's values", ready, 240)
        switch = pick_relay_switch(states)
        if switch is None:
            raise RuntimeError("no relay switch that is off")
        device_id = await device_id_of(api, switch)
        async with logged_in_frontend(session, state, WIDTH, DEVICE_PAGE_HEIGHT) as tools:
            await tools.goto(f"{state.url}/config/devices/device/{device_id}")
            await wait_for("the frontend to connect", lambda: tools.evaluate(JS_CONNECTED), 60)
            if await tools.evaluate(JS_ON_LOGIN_PAGE):
                raise RuntimeError("the frontend shows its login page: tokens not accepted")
            await asyncio.sleep(6)  # let cards render and the next upload arrive
            page_height = await tools.evaluate(JS_LOWEST_CARD_BOTTOM)
            await tools.viewport(WIDTH, min(DEVICE_PAGE_HEIGHT, int(page_height) + 24))
            await asyncio.sleep(1)
            await tools.screenshot(out_dir / "device.png")

            await api.post("/api/services/switch/turn_on", {"entity_id": switch})

            async def reported_on() -> bool:
                current = await api.get(f"/api/states/{switch}")
                return current["state"] == "on" and not current["attributes"].get("pending")

            await wait_for(f"{switch} reported on", reported_on, 60)
            await asyncio.sleep(2)
            await tools.screenshot(out_dir / "relay-switched.png")

            await tools.viewport(WIDTH, HEIGHT)
            await tools.evaluate(js_more_info(switch))
            await asyncio.sleep(4)
            await tools.screenshot(out_dir / "relay-more-info.png")

            await change_upload_interval(tools, api, state.url, device_id, out_dir)

            await tools.goto(f"{state.url}/config/integrations/dashboard")
            await wait_for("the frontend to connect", lambda: tools.evaluate(JS_CONNECTED), 60)
            await asyncio.sleep(5)
            await tools.screenshot(out_dir / "discovered.png")
    print(f"screenshots: relay {switch} switched on; simulator log: {simulator_log}")


def main() -> int:
    """Run a fresh demo and take the screenshots."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "screenshots"))
    parser.add_argument("--state-dir", default=str(REPO / ".demo" / "screenshots"))
    args = parser.parse_args()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    state_dir = Path(args.state_dir)
    port = free_port()
    demo = start_headless_demo("screenshots", state_dir, port)
    return with_demo(
        demo, state_dir, lambda state: take(state, out_dir, state_dir / "simulator.log")
    )


def with_demo(
    demo: subprocess.Popen[bytes],
    state_dir: Path,
    take: Callable[[DemoState], Coroutine[Any, Any, None]],
) -> int:
    """Wait for a started demo, run `take` against it, stop it; 0 if it worked, else 1."""
    try:
        wait_for_demo(demo, state_dir, 300)
        asyncio.run(take(DemoState.load(state_dir / "state.json")))
    except (RuntimeError, TimeoutError, aiohttp.ClientError, OSError) as err:
        print(f"screenshots: FAILED: {err}", file=sys.stderr)
        return 1
    finally:
        with contextlib.suppress(OSError):
            stop(demo)
    return 0


if __name__ == "__main__":
    sys.exit(main())
