"""The command line runner: configs per device, signals' actions, a real HTTP round trip."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
import pytest

from q5_simulator import EXAMPLE_SITE, device_config, load_site, toggle_channel
from q5_simulator.runner import Fleet, build_devices, parse_args, run

from .conftest import KEY, UID
from .fakes import MiniServer, Post


def test_device_config_per_index(site: dict[str, Any]) -> None:
    first = device_config(site, 0, upload_interval=10, measurement_interval=5)
    second = device_config(site, 1)
    assert first["name"] == "Example Repeater Site"
    assert (first["upload_interval"], first["measurement_interval"]) == (10, 5)
    assert second["name"] == "Example Repeater Site #2"
    assert second["upload_interval"] == 300
    assert site["upload_interval"] == 300  # the site itself is untouched


def test_toggle_channel(site: dict[str, Any]) -> None:
    toggle_channel(site)
    assert site["inputs"]["5"]["logging"] == ["avg"]
    assert site["inputs"]["6"]["logging"] == ["avg"]  # disabled input untouched
    toggle_channel(site)
    assert site["inputs"]["5"]["logging"] == []
    empty: dict[str, Any] = {"inputs": []}
    toggle_channel(empty)
    assert empty == {"inputs": []}


def test_load_site_rejects_non_objects(tmp_path: Any) -> None:
    path = tmp_path / "bad.json"
    path.write_text("[1, 2]")
    with pytest.raises(TypeError):
        load_site(path)
    assert load_site(EXAMPLE_SITE)["version"] == 42


async def test_build_devices_uids_keys_and_names() -> None:
    args = parse_args(["--devices", "3", "--passphrase", "pw-{uid}", "--upload-interval", "7"])
    devices = build_devices(args, session=None)  # type: ignore[arg-type]
    assert [d.uid for d in devices] == [UID, UID + 1, UID + 2]
    assert len({d.key for d in devices}) == 3
    assert devices[2].name.endswith("#3")
    assert devices[0].upload_interval == 7
    args = parse_args(["--key", KEY.hex()])
    assert build_devices(args, session=None)[0].key == KEY  # type: ignore[arg-type]


async def test_cli_run_against_a_real_http_server(socket_enabled: None) -> None:
    """Two devices, one upload each, over real HTTP to an aiohttp server."""
    servers: dict[int, MiniServer] = {}

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        uid = int(request.match_info.get("uid") or int.from_bytes(body[:4], "little"))
        server = servers.setdefault(uid, MiniServer(KEY))
        status, reply = server(Post(request.path, body))
        return web.Response(status=status, body=reply)

    app = web.Application()
    app.router.add_post("/Q5/m", handle)
    app.router.add_post("/Q5/cfg/{uid}", handle)
    async with TestServer(app, host="127.0.0.1") as server:
        args = parse_args(
            [
                "--server", str(server.make_url("")),
                "--devices", "2",
                "--uploads", "1",
                "--offline-backlog", "5",
                "--upload-interval", "1",
            ]
        )  # fmt: skip
        assert await asyncio.wait_for(run(args), timeout=20) == 0
    assert sorted(servers) == [UID, UID + 1]
    assert all(len(s.rows) == 5 for s in servers.values())


async def test_cli_refuses_bad_config(tmp_path: Any) -> None:
    path = tmp_path / "cfg.json"
    path.write_text('{"version": 1, "relays": 3}')
    assert await run(parse_args(["--config", str(path)])) == 2


def test_parse_args_validation() -> None:
    with pytest.raises(SystemExit):
        parse_args(["--devices", "0"])


async def test_fleet_signal_actions() -> None:
    """SIGUSR1 saves every config with a new version; SIGUSR2 toggles offline/online."""
    args = parse_args(["--devices", "2", "--bump-toggles-channel"])
    fleet = Fleet(build_devices(args, session=None), args)  # type: ignore[arg-type]
    fleet.bump_all()
    assert [d.config_version for d in fleet.devices] == [43, 43]
    assert all(d.config_dirty for d in fleet.devices)
    assert all("inputs.5.avg" in d.layout for d in fleet.devices)
    fleet.toggle_online()
    assert not any(d.online for d in fleet.devices)
    fleet.toggle_online()
    assert all(d.online for d in fleet.devices)
