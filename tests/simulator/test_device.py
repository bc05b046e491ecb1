"""The simulated device's protocol behaviour, against a minimal in-process server."""

from __future__ import annotations

from collections.abc import Callable
import itertools
import math
from typing import Any

from custom_components.flexscada.protocol import (
    Command,
    PulseRelay,
    ResetRelay,
    SetFeed,
    SetRelay,
    build_reply,
)
from q5_simulator import SimulatedQ5, toggle_channel

from .conftest import KEY, UID, Clock
from .fakes import FakeSession, MiniServer, Post, config_of

type Make = Callable[..., tuple[SimulatedQ5, FakeSession]]


async def test_first_upload_sends_config_then_rows(make_device: Make, clock: Clock) -> None:
    server = MiniServer(KEY)
    device, session = make_device(server)
    for _ in range(3):
        await device.measure()
        clock.now += 60

    assert await device.upload() == 200

    assert [p.path for p in session.posts] == ["/Q5/m", f"/Q5/cfg/{UID}", "/Q5/m"]
    assert [e.status for e in device.exchanges] == [409, 200, 200]
    assert device.queue == ()
    assert device.acknowledged_count == 3
    # What the server decoded is exactly what the device acknowledged (float32 on both sides).
    assert server.rows == list(device.acknowledged)
    meta = server.packets[-1].meta
    assert meta.cfg_version == 42
    assert meta.measurement_count == 3
    assert meta.fw_version == device.fw_version


async def test_no_retry_after_config_when_disabled(make_device: Make) -> None:
    device, session = make_device(MiniServer(KEY), retry_after_config=False)
    await device.measure()
    assert await device.upload() == 409
    assert len(device.queue) == 1
    assert [p.path for p in session.posts] == ["/Q5/m", f"/Q5/cfg/{UID}"]
    assert await device.upload() == 200
    assert device.queue == ()


async def test_rows_kept_until_acknowledged(make_device: Make, clock: Clock) -> None:
    server = MiniServer(KEY)
    device, _ = make_device(server)
    await device.measure()
    await device.upload()
    server.fail_next = 1
    await device.measure()
    assert await device.upload() == 503
    assert len(device.queue) == 1

    def refuse(post: Post) -> tuple[int, bytes]:
        return -1, b""

    device.session = FakeSession(refuse)  # type: ignore[assignment]
    clock.now += 60
    await device.measure()
    assert await device.upload() == 0
    assert len(device.queue) == 2

    device.session = FakeSession(server)  # type: ignore[assignment]
    assert await device.upload() == 200
    assert device.queue == ()
    assert device.acknowledged_count == 3
    assert server.rows == list(device.acknowledged)


async def test_offline_device_keeps_measuring(make_device: Make, clock: Clock) -> None:
    server = MiniServer(KEY)
    device, session = make_device(server)
    device.online = False
    for _ in range(4):
        await device.measure()
        assert await device.upload() == 0
        clock.now += 60
    assert session.posts == []
    device.online = True
    assert await device.upload() == 200
    assert server.packets[-1].meta.measurement_count == 4


async def test_backlog_goes_out_as_one_upload(make_device: Make, clock: Clock) -> None:
    server = MiniServer(KEY)
    device, _session = make_device(server)
    await device.fill_backlog(50)
    stamps = [timestamp for timestamp, _ in device.queue]
    assert len(stamps) == 50
    assert stamps[-1] == int(clock.now)
    assert {b - a for a, b in itertools.pairwise(stamps)} == {60}

    assert await device.upload() == 200
    assert server.packets[-1].meta.measurement_count == 50
    assert [timestamp for timestamp, _ in server.rows] == stamps


async def test_max_batch_limits_rows_per_upload(make_device: Make) -> None:
    server = MiniServer(KEY)
    device, _ = make_device(server, max_batch=20)
    await device.fill_backlog(50)
    await device.upload()
    assert len(device.queue) == 30
    await device.upload()
    await device.upload()
    assert device.queue == ()
    assert server.rows == list(device.acknowledged)


async def test_commands_executed_once_in_order_and_acknowledged(make_device: Make) -> None:
    server = MiniServer(KEY)
    device, _ = make_device(server)
    await device.upload()  # config exchange
    device.trip("1", "fuse")
    server.pending = [
        Command(1, SetRelay(3, on=True)),
        Command(2, PulseRelay(2)),
        Command(3, SetFeed(1, 55.5)),
        Command(4, SetFeed(0, 1)),
        Command(5, ResetRelay(1)),
    ]

    await device.measure()
    await device.upload()

    assert [(c.id, c.cmd, c.ok) for c in device.executed] == [
        (1, "set_relay", True),
        (2, "pulse_relay", True),
        (3, "set_feed", True),
        (4, "set_feed", True),
        (5, "reset_relay", True),
    ]
    assert device.last_cmd_id_ack == 5
    assert device.relays["3"].commanded is True
    assert not device.relays["1"].tripped
    assert device.feeds[1].value == 55.5
    assert device.feeds[0].value == 1.0

    # The server has not seen the ack yet and sends them all again: nothing runs twice.
    server.resend, server.pending = server.pending, []
    await device.upload()
    assert len(device.executed) == 5
    # The next upload reports the ack, and the server drops what it covers.
    server.pending = [Command(5, SetRelay(3, on=False)), Command(6, SetRelay(3, on=False))]
    await device.upload()
    assert server.acks[-1] == 5
    assert [c.id for c in device.executed][-1] == 6
    assert device.relays["3"].commanded is False
    await device.upload()
    assert server.acks[-1] == 6
    assert server.pending == []


async def test_command_ids_below_ack_are_skipped(make_device: Make, clock: Clock) -> None:
    replies = [
        {"commands": [{"cmd": "set_relay", "ch": 2, "state": 0, "Id": 9, "id": 9}]},
        {
            "commands": [
                {"cmd": "set_relay", "ch": 2, "state": 1, "Id": 7, "id": 7},
                {"cmd": "set_relay", "ch": 3, "state": 1, "id": 10},
                {"cmd": "pulse_relay", "ch": 2, "Id": 8},
            ]
        },
    ]

    def handler(post: Post) -> tuple[int, bytes]:
        if post.path.startswith("/Q5/cfg"):
            return 200, b""
        reply = replies.pop(0) if replies else {}
        return 200, build_reply(KEY, commands=[]) if not reply else _seal(reply)

    device, _ = make_device(handler)
    await device.upload()
    await device.upload()
    assert [c.id for c in device.executed] == [9, 10]
    assert device.last_cmd_id_ack == 10
    assert device.relays["2"].commanded is False
    assert device.relays["3"].commanded is True


def _seal(reply: dict[str, Any]) -> bytes:
    import json

    from custom_components.flexscada.protocol.crypto import seal

    return seal(KEY, json.dumps(reply).encode())


async def test_bad_commands_are_refused_but_acknowledged(make_device: Make) -> None:
    reply = {
        "commands": [
            {"cmd": "self_destruct", "Id": 1, "id": 1},
            {"cmd": "set_relay", "ch": 99, "state": 1, "Id": 2, "id": 2},
            {"cmd": "set_feed", "feed": 7, "value": 1, "Id": 3, "id": 3},
            {"cmd": "set_relay", "ch": True, "state": 1, "Id": 4, "id": 4},
        ]
    }
    device, _ = make_device(lambda post: (200, _seal(reply)))
    await device.upload()
    assert [(c.id, c.ok) for c in device.executed] == [
        (1, False),
        (2, False),
        (3, False),
        (4, False),
    ]
    assert device.last_cmd_id_ack == 4


async def test_pulse_inverts_relay_for_a_few_seconds(make_device: Make, clock: Clock) -> None:
    reply = {"commands": [{"cmd": "pulse_relay", "ch": 1, "Id": 1, "id": 1}]}
    device, _ = make_device(lambda post: (200, _seal(reply)), pulse_seconds=5)
    assert device.relay_output("1", clock.now) is True  # relay 1 defaults on
    await device.upload()
    _, row = await device.measure()
    assert row["relays.1.state"] is False
    assert row["relays.1.amperage"] == 0.0
    clock.now += 6
    _, row = await device.measure()
    assert row["relays.1.state"] is True
    assert row["relays.1.amperage"] > 0


async def test_time_command_sets_device_clock(make_device: Make, clock: Clock) -> None:
    target = int(clock.now) + 3600
    device, _ = make_device(lambda post: (200, _seal({"t": target})), clock_offset=-500)
    timestamp, _ = await device.measure()
    assert timestamp == int(clock.now) - 500
    await device.upload()
    timestamp, _ = await device.measure()
    assert timestamp == target
    assert device.device_time() == target


async def test_config_push_is_adopted(make_device: Make, site: dict[str, Any]) -> None:
    pushed = dict(site, version=77, name="Pushed")
    pushed["relays"] = {k: v for k, v in site["relays"].items() if k != "4"}
    device, _ = make_device(lambda post: (200, _seal({"cfg": pushed})))
    device.relays["2"].commanded = False
    await device.upload()
    assert device.config_version == 77
    assert device.name == "Pushed"
    assert sorted(device.relays) == ["1", "2", "3"]
    assert device.relays["2"].commanded is False  # kept across the change

    bad = {"cfg": {"version": 1, "relays": 5}}
    device.session = FakeSession(lambda post: (200, _seal(bad)))  # type: ignore[assignment]
    await device.upload()
    assert device.config_version == 77
    assert device.config_pushes == [(77, True), (1, False)]


async def test_pushed_config_reported_and_packed_from_the_next_upload(
    make_device: Make, site: dict[str, Any]
) -> None:
    """After a push the device reports the pushed version and packs the pushed layout."""
    server = MiniServer(KEY)
    pushed = dict(site, version=43, upload_interval=60)
    pushed["ds18b20"] = [dict(site["ds18b20"][0], logging=["inst"]), *site["ds18b20"][1:]]
    device, _ = make_device(server)
    await device.measure()
    await device.upload()  # getcfg, config, rows
    server.extra_reply = {"config": pushed}
    await device.measure()
    await device.upload()  # 200 with the push
    assert device.upload_interval == 60
    await device.measure()
    await device.upload()
    assert server.packets[-1].meta.cfg_version == 43
    assert server.packets[-1].row_stride == 4 + config_of(pushed).payload_bytes
    assert server.config_version == 43  # the server asked for it: it is newer than its own


async def test_device_told_to_reject_configs_keeps_its_own(
    make_device: Make, site: dict[str, Any]
) -> None:
    pushed = dict(site, version=43, name="Pushed")
    device, _ = make_device(lambda post: (200, _seal({"cfg": pushed})), reject_configs=True)
    await device.upload()
    await device.upload()
    assert device.config_version == 42
    assert device.name == site["name"]
    assert device.config_pushes == [(43, False), (43, False)]


async def test_bump_uploads_config_before_rows(make_device: Make, clock: Clock) -> None:
    server = MiniServer(KEY)
    device, session = make_device(server)
    await device.measure()
    await device.upload()
    assert server.config_version == 42

    assert device.bump_config_version() == 43
    assert device.config_dirty
    await device.measure()
    session.posts.clear()
    assert await device.upload() == 200
    assert [p.path for p in session.posts] == [f"/Q5/cfg/{UID}", "/Q5/m"]
    assert server.config_version == 43
    assert server.packets[-1].meta.cfg_version == 43
    assert not device.config_dirty


async def test_bump_with_new_channel_reencodes_queued_rows(make_device: Make) -> None:
    server = MiniServer(KEY)
    device, _ = make_device(server)
    await device.upload()
    await device.measure()
    assert "inputs.5.avg" not in device.layout
    device.update_config(toggle_channel)
    assert "inputs.5.avg" in device.layout
    await device.measure()
    assert await device.upload() == 200
    old, new = server.rows[-2:]
    assert math.isnan(old[1]["inputs.5.avg"])
    assert 0 < new[1]["inputs.5.avg"] < 100
    device.update_config(toggle_channel)
    assert "inputs.5.avg" not in device.layout


async def test_undecryptable_reply_is_ignored(make_device: Make) -> None:
    device, _ = make_device(lambda post: (200, b"\x00" * 40))
    await device.measure()
    assert await device.upload() == 200
    assert device.queue == ()
    assert device.executed == []


async def test_exchange_log(make_device: Make) -> None:
    device, _ = make_device(MiniServer(KEY))
    await device.measure()
    await device.upload()
    first = device.exchanges[0]
    assert (first.path, first.status, first.rows, first.flushed) == ("/Q5/m", 409, 1, 0)
    assert first.reply == {"Cmd": "getcfg"}
    assert device.exchanges[-1].flushed == 1


async def test_history_bounds_memory_not_counts(make_device: Make) -> None:
    server = MiniServer(KEY)
    device, _ = make_device(server, history=10)
    await device.fill_backlog(25)
    await device.upload()
    assert device.acknowledged_count == 25
    assert list(device.acknowledged) == server.rows[-10:]
    for _ in range(12):
        await device.upload()
    assert len(device.exchanges) == 10


async def test_array_shaped_relays_keyed_like_the_protocol(
    make_device: Make, site: dict[str, Any]
) -> None:
    config = dict(site, relays=list(site["relays"].values()))
    reply = {"commands": [{"cmd": "set_relay", "ch": 2, "state": 1, "Id": 1, "id": 1}]}
    device, _ = make_device(lambda post: (200, _seal(reply)), config=config)
    assert sorted(device.relays) == ["0", "1", "2", "3"]
    assert device.relays["0"].commanded is True  # "default": 1
    await device.upload()
    _, row = await device.measure()
    assert row["relays.2.state"] is True  # relay index 2, "Generator Start"
