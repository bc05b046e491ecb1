"""Drive the demo Home Assistant: prepare its config dir, onboard it, add the simulated Q5s.

Used by `scripts/demo`, `scripts/check_demo` and `scripts/screenshots`; everything goes through
Home Assistant's own public interfaces (onboarding REST API, login flow, websocket API, config
flow REST API), exactly as a user's browser would.

Subcommands:
  prepare  write <state-dir>/config (configuration.yaml, the HTTP port, the integration symlink)
  up       wait for Home Assistant, onboard it or log in, wait for RUNNING, add the devices,
           write <state-dir>/state.json (URL, long-lived token, entry ids)
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
import json
import logging
from pathlib import Path
import sys
import time
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parent.parent
DOMAIN = "flexscada"
DEMO_USER = "demo"
DEMO_PASSWORD = "demo-demo"
DEMO_PASSPHRASE = "demo-pass"
DEMO_UID = 1535235511
LLAT_CLIENT_NAME = "flexscada demo"

# An explicit, minimal configuration: `default_config:` partly fails on these machines (no go2rtc,
# ffmpeg or DNS) and an `http:` block would become a 5-minute *trial* config in Home Assistant
# 2026.10+, so the port goes into the HTTP config store instead (see write_http_store).
CONFIGURATION_YAML = """\
# Written by scripts/demo_ha.py for the FlexSCADA Q5 demo. Safe to edit; `scripts/demo --fresh`
# rewrites it.
homeassistant:
  name: FlexSCADA Q5 demo
  unit_system: metric
  time_zone: UTC

frontend:
config:
api:
history:
logbook:
person:
automation: []
# Listen on /Q5/ even before a first Q5 is added, so an unknown device is discovered.
flexscada:

logger:
  default: warning
  logs:
    custom_components.flexscada: debug
    homeassistant.components.http: info
"""

_LOGGER = logging.getLogger("demo_ha")


class DemoError(Exception):
    """Something the demo cannot recover from; the message says what to do."""


# ---------------------------------------------------------------------------------------------
# prepare: the config directory
# ---------------------------------------------------------------------------------------------


def write_http_store(config_dir: Path, port: int, listen: str) -> None:
    """Pin the HTTP server's port and address in Home Assistant's HTTP config store.

    Home Assistant 2026.10 keeps its HTTP settings in `.storage/http` (a confirmed `stable` slot
    and an unconfirmed `pending` one). Writing the stable slot directly, with the YAML migration
    marked done, starts the server on our port without the trial-and-revert of a YAML `http:`.
    """
    storage = config_dir / ".storage"
    storage.mkdir(parents=True, exist_ok=True)
    stable: dict[str, Any] = {
        "server_port": port,
        "cors_allowed_origins": ["https://cast.home-assistant.io"],
        "login_attempts_threshold": -1,
        "ip_ban_enabled": True,
        "ssl_profile": "modern",
        "use_x_frame_options": True,
        "created_at": "2026-01-01T00:00:00+00:00",
        "error": None,
        "error_message": None,
    }
    if listen:
        stable["server_host"] = [listen]
    document = {
        "version": 2,
        "minor_version": 2,
        "key": "http",
        "data": {"stable": stable, "pending": None, "yaml_migration_done": True},
    }
    (storage / "http").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def prepare_config_dir(config_dir: Path, port: int, listen: str) -> None:
    """Create (or refresh) the demo's Home Assistant config directory."""
    config_dir.mkdir(parents=True, exist_ok=True)
    configuration = config_dir / "configuration.yaml"
    if not configuration.exists():
        configuration.write_text(CONFIGURATION_YAML, encoding="utf-8")
    write_http_store(config_dir, port, listen)
    components = config_dir / "custom_components"
    components.mkdir(exist_ok=True)
    link = components / DOMAIN
    target = REPO / "custom_components" / DOMAIN
    if link.is_symlink() or link.exists():
        if link.is_symlink() and link.resolve() == target.resolve():
            return
        if not link.is_symlink():
            raise DemoError(f"{link} exists and is not our symlink; remove it or use --fresh")
        link.unlink()
    link.symlink_to(target, target_is_directory=True)


# ---------------------------------------------------------------------------------------------
# up: talking to Home Assistant
# ---------------------------------------------------------------------------------------------


@dataclass
class Tokens:
    """OAuth tokens as Home Assistant's /auth/token returns them."""

    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"

    def frontend_storage(self, base_url: str) -> dict[str, Any]:
        """Return the frontend's localStorage `hassTokens` value for these tokens."""
        return {
            "hassUrl": base_url,
            "clientId": client_id(base_url),
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_in": self.expires_in,
            "token_type": self.token_type,
            "expires": int(time.time() * 1000) + self.expires_in * 1000,
        }


@dataclass
class DemoState:
    """What `up` leaves in <state-dir>/state.json for the other scripts."""

    url: str
    token: str
    user: str
    password: str
    devices: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> DemoState:
        """Read a state file written by `up`."""
        return cls(**json.loads(path.read_text(encoding="utf-8")))

    def save(self, path: Path) -> None:
        """Write the state file (it holds a token: owner-only)."""
        path.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        path.chmod(0o600)


def client_id(base_url: str) -> str:
    """Return the OAuth client id the frontend uses for this base URL."""
    return base_url.rstrip("/") + "/"


class HassClient:
    """A small client for the parts of Home Assistant's API the demo needs."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.token: str | None = None

    # -- plumbing ------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def request(
        self, method: str, path: str, *, json_body: object = None, ok: tuple[int, ...] = (200,)
    ) -> Any:  # noqa: ANN401 - decoded JSON
        """Call the REST API; return the decoded JSON body (or None when empty)."""
        async with self.session.request(
            method, self.base_url + path, json=json_body, headers=self._headers()
        ) as resp:
            text = await resp.text()
            if resp.status not in ok:
                raise DemoError(f"{method} {path} -> HTTP {resp.status}: {text[:300]}")
            return json.loads(text) if text and resp.content_type == "application/json" else None

    async def ws_command(self, message: Mapping[str, Any]) -> Any:  # noqa: ANN401 - JSON
        """Send one command over the websocket API and return its result."""
        async with self.session.ws_connect(self.base_url + "/api/websocket") as ws:
            await ws.receive_json()  # auth_required
            await ws.send_json({"type": "auth", "access_token": self.token})
            auth = await ws.receive_json()
            if auth.get("type") != "auth_ok":
                raise DemoError(f"websocket authentication failed: {auth}")
            await ws.send_json({"id": 1, **message})
            while True:
                reply = await ws.receive_json()
                if reply.get("id") == 1 and reply.get("type") == "result":
                    break
            if not reply.get("success"):
                raise DemoError(f"websocket {message.get('type')} failed: {reply.get('error')}")
            return reply.get("result")

    # -- waiting -------------------------------------------------------------------------------

    async def wait_http(self, wait_seconds: float) -> None:
        """Wait until the HTTP server answers.

        `/auth/providers` needs no login; probing `/api/` without a token would work too, but
        Home Assistant logs each such 401 as a failed login and raises a notification.
        """
        deadline = time.monotonic() + wait_seconds
        last_error = "no answer"
        while time.monotonic() < deadline:
            try:
                async with self.session.get(
                    self.base_url + "/auth/providers", timeout=aiohttp.ClientTimeout(total=5)
                ) as resp:
                    # 400 "onboarding_required" before onboarding, 200 after: both mean "up".
                    if resp.status in {200, 400}:
                        return
                    last_error = f"HTTP {resp.status}"
            except (aiohttp.ClientError, TimeoutError) as err:
                last_error = str(err) or type(err).__name__
            await asyncio.sleep(1)
        raise DemoError(f"Home Assistant did not answer at {self.base_url} ({last_error})")

    async def wait_running(self, wait_seconds: float) -> None:
        """Wait for core state RUNNING: HTTP answers a few seconds before startup is done."""
        deadline = time.monotonic() + wait_seconds
        state = "?"
        while time.monotonic() < deadline:
            config = await self.request("GET", "/api/config")
            state = config.get("state", "?")
            if state == "RUNNING":
                return
            await asyncio.sleep(1)
        raise DemoError(f"Home Assistant did not reach RUNNING (still {state})")

    # -- onboarding and login ------------------------------------------------------------------

    async def onboarding_steps(self) -> dict[str, bool]:
        """Return {step: done} from the onboarding status."""
        # Once onboarding is complete, Home Assistant no longer registers its views at all.
        steps = await self.request("GET", "/api/onboarding", ok=(200, 404))
        if not isinstance(steps, list):
            return {}
        return {step["step"]: step["done"] for step in steps}

    async def exchange_code(self, code: str) -> Tokens:
        """Trade an authorization code for tokens."""
        async with self.session.post(
            self.base_url + "/auth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "client_id": client_id(self.base_url),
            },
        ) as resp:
            body = await resp.json()
            if resp.status != 200:
                raise DemoError(f"token exchange failed: HTTP {resp.status} {body}")
        return Tokens(body["access_token"], body["refresh_token"], int(body["expires_in"]))

    async def onboard(self, user: str, password: str) -> Tokens | None:
        """Finish whatever onboarding steps are open; return tokens if we created the user."""
        steps = await self.onboarding_steps()
        tokens: Tokens | None = None
        if not steps.get("user", True):
            _LOGGER.info("onboarding: creating user %s", user)
            body = await self.request(
                "POST",
                "/api/onboarding/users",
                json_body={
                    "client_id": client_id(self.base_url),
                    "name": "Demo",
                    "username": user,
                    "password": password,
                    "language": "en",
                },
            )
            tokens = await self.exchange_code(body["auth_code"])
            self.token = tokens.access_token
        if self.token is None:
            self.token = (await self.login(user, password)).access_token
        # core_config also sets up met/radio_browser/google_translate/shopping_list, which log
        # errors without internet; harmless, and it is what a user's first start does too.
        for step, path, body in (
            ("core_config", "/api/onboarding/core_config", None),
            ("analytics", "/api/onboarding/analytics", None),
            (
                "integration",
                "/api/onboarding/integration",
                {
                    "client_id": client_id(self.base_url),
                    "redirect_uri": client_id(self.base_url) + "?auth_callback=1",
                },
            ),
        ):
            if not steps.get(step, True):
                _LOGGER.info("onboarding: finishing step %s", step)
                await self.request("POST", path, json_body=body)
        return tokens

    async def login(self, user: str, password: str) -> Tokens:
        """Log in through the login flow, as the frontend does, for the frontend's client id."""
        cid = client_id(self.base_url)
        saved, self.token = self.token, None
        try:
            flow = await self.request(
                "POST",
                "/auth/login_flow",
                json_body={
                    "client_id": cid,
                    "handler": ["homeassistant", None],
                    "redirect_uri": cid + "?auth_callback=1",
                },
            )
            result = await self.request(
                "POST",
                f"/auth/login_flow/{flow['flow_id']}",
                json_body={"client_id": cid, "username": user, "password": password},
            )
        finally:
            self.token = saved
        if result.get("type") != "create_entry":
            raise DemoError(
                f"login as {user!r} failed ({result.get('errors') or result.get('type')}); "
                "was the demo config dir made with another password? Try `scripts/demo --fresh`."
            )
        return await self.exchange_code(result["result"])

    async def token_works(self, token: str) -> bool:
        """Return whether a stored token is still accepted."""
        async with self.session.get(
            self.base_url + "/api/", headers={"Authorization": f"Bearer {token}"}
        ) as resp:
            return resp.status == 200

    async def create_long_lived_token(self) -> str:
        """Create a long-lived access token for the scripts (unique client name per call)."""
        name = f"{LLAT_CLIENT_NAME} {time.strftime('%Y-%m-%d %H:%M:%S')}"
        result = await self.ws_command(
            {"type": "auth/long_lived_access_token", "client_name": name, "lifespan": 3650}
        )
        return str(result)

    # -- the integration -----------------------------------------------------------------------

    async def config_entries(self, domain: str) -> list[dict[str, Any]]:
        """Return the config entries of one domain."""
        entries = await self.request("GET", f"/api/config/config_entries/entry?domain={domain}")
        return list(entries)

    async def add_device(self, uid: int, passphrase: str) -> dict[str, Any]:
        """Add a Q5 through the config flow; a uid configured already is fine too."""
        flow = await self.request(
            "POST",
            "/api/config/config_entries/flow",
            json_body={"handler": DOMAIN, "show_advanced_options": False},
        )
        result = flow
        if flow.get("type") == "form":
            result = await self.request(
                "POST",
                f"/api/config/config_entries/flow/{flow['flow_id']}",
                json_body={"uid": str(uid), "passphrase": passphrase},
            )
        if result.get("type") == "abort" and result.get("reason") == "already_configured":
            # The entry list does not show unique ids; entries are titled after the uid or,
            # once the device sent its config, after the device's name.
            entries = await self.config_entries(DOMAIN)
            entry = next((e for e in entries if str(uid) in e["title"]), None)
            _LOGGER.info("device %s already configured", uid)
            return {
                "uid": uid,
                "entry_id": entry["entry_id"] if entry else None,
                "title": entry["title"] if entry else None,
            }
        if result.get("type") == "form" and result.get("errors"):
            raise DemoError(f"adding device {uid} failed: {result['errors']}")
        if result.get("type") != "create_entry":
            raise DemoError(f"adding device {uid}: unexpected flow result {result}")
        entry = result["result"]
        _LOGGER.info("device %s added (%s)", uid, entry.get("title"))
        return {"uid": uid, "entry_id": entry.get("entry_id"), "title": entry.get("title")}


async def bring_up(args: argparse.Namespace) -> DemoState:
    """Onboard or log in, wait for RUNNING, add the devices; return the state to save."""
    state_file = Path(args.state_dir) / "state.json"
    async with aiohttp.ClientSession() as session:
        hass = HassClient(session, args.url)
        await hass.wait_http(args.timeout)
        await hass.onboard(args.user, args.password)
        token: str | None = None
        if state_file.exists():
            previous = DemoState.load(state_file)
            if previous.url == hass.base_url and await hass.token_works(previous.token):
                token = previous.token
        if token is None:
            token = await hass.create_long_lived_token()
        hass.token = token
        await hass.wait_running(args.timeout)
        count = 0 if args.no_devices else args.devices
        devices = [await hass.add_device(args.uid + i, args.passphrase) for i in range(count)]
    state = DemoState(
        url=hass.base_url, token=token, user=args.user, password=args.password, devices=devices
    )
    state.save(state_file)
    return state


async def frontend_tokens(args: argparse.Namespace) -> dict[str, Any]:
    """Log in for the frontend's client id; return the localStorage `hassTokens` value."""
    async with aiohttp.ClientSession() as session:
        hass = HassClient(session, args.url)
        tokens = await hass.login(args.user, args.password)
    return tokens.frontend_storage(hass.base_url)


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    prepare = sub.add_parser("prepare", help="write the demo config directory")
    prepare.add_argument("--state-dir", default=str(REPO / ".demo"))
    prepare.add_argument("--port", type=int, default=8123)
    prepare.add_argument("--listen", default="127.0.0.1", help="address to bind ('' = all)")

    up = sub.add_parser("up", help="onboard, wait for RUNNING, add the devices")
    up.add_argument("--url", required=True)
    up.add_argument("--state-dir", default=str(REPO / ".demo"))
    up.add_argument("--user", default=DEMO_USER)
    up.add_argument("--password", default=DEMO_PASSWORD)
    up.add_argument("--uid", type=int, default=DEMO_UID)
    up.add_argument("--devices", type=int, default=1)
    up.add_argument("--passphrase", default=DEMO_PASSPHRASE)
    up.add_argument("--no-devices", action="store_true", help="onboard only")
    up.add_argument("--timeout", type=float, default=300)

    tokens = sub.add_parser("frontend-tokens", help="print a hassTokens value for a browser")
    tokens.add_argument("--url", required=True)
    tokens.add_argument("--user", default=DEMO_USER)
    tokens.add_argument("--password", default=DEMO_PASSWORD)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    """Run one subcommand; print a one-line error and return 1 on failure."""
    logging.basicConfig(level=logging.INFO, format="demo: %(message)s")
    args = parse_args(argv)
    try:
        if args.command == "prepare":
            prepare_config_dir(Path(args.state_dir) / "config", args.port, args.listen)
        elif args.command == "up":
            state = asyncio.run(bring_up(args))
            for device in state.devices:
                _LOGGER.info("device %s -> entry %s", device["uid"], device["entry_id"])
        elif args.command == "frontend-tokens":
            print(json.dumps(asyncio.run(frontend_tokens(args))))
    except DemoError as err:
        print(f"demo: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
