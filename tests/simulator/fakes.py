"""A stand-in for aiohttp.ClientSession that hands each POST to a function."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import aiohttp

from custom_components.flexscada.protocol import Command, build_reply
from custom_components.flexscada.protocol.config import compile_layout, parse_config
from custom_components.flexscada.protocol.decoder import decode_rows
from custom_components.flexscada.protocol.model import Layout
from custom_components.flexscada.protocol.packets import (
    MeasurementPacket,
    open_config_packet,
    open_measurement_packet,
)


@dataclass
class Post:
    """One request the device made."""

    path: str
    body: bytes


type Handler = Callable[[Post], tuple[int, bytes]]


class _Response:
    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self._body = body

    async def read(self) -> bytes:
        return self._body

    async def __aenter__(self) -> _Response:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


class FakeSession:
    """Records every POST and answers it with `handler(post)` -> (status, body)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.posts: list[Post] = []

    def post(self, url: str, *, data: bytes, **_: Any) -> _Response:
        path = url.removeprefix("http://server")
        post = Post(path, data)
        self.posts.append(post)
        status, body = self.handler(post)
        if status < 0:
            raise aiohttp.ClientConnectionError("connection refused")
        return _Response(status, body)


@dataclass
class MiniServer:
    """A minimal server side: asks for the config, decodes rows, queues commands.

    Enough of the protocol's server role to drive the device through whole exchanges.
    """

    key: bytes
    config_version: int | None = None
    layout: Layout | None = None
    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    acks: list[int] = field(default_factory=list)
    pending: list[Command] = field(default_factory=list)
    extra_reply: dict[str, Any] = field(default_factory=dict)
    #: Commands sent once more whatever the ack says (a server that missed an ack).
    resend: list[Command] = field(default_factory=list)
    fail_next: int = 0
    packets: list[MeasurementPacket] = field(default_factory=list)

    def __call__(self, post: Post) -> tuple[int, bytes]:
        if post.path.startswith("/Q5/cfg/"):
            config = open_config_packet(self.key, post.body)
            self.config_version = config.version
            self.layout = compile_layout(config)
            return 200, b""
        if self.fail_next:
            self.fail_next -= 1
            return 503, b""
        packet = open_measurement_packet(self.key, post.body)
        self.packets.append(packet)
        meta = packet.meta
        if (
            self.layout is None
            or self.config_version is None
            or meta.cfg_version > self.config_version
        ):
            return 409, build_reply(self.key, getcfg=True)
        self.acks.append(meta.last_cmd_id_ack)
        decoded = decode_rows(self.layout, packet)
        self.rows.extend(decoded.rows())
        self.pending = [c for c in self.pending if c.id > meta.last_cmd_id_ack]
        commands = [*self.resend, *self.pending]
        body = build_reply(self.key, commands=commands, **self.extra_reply)
        self.extra_reply, self.resend = {}, []
        return 200, body


def config_of(raw: dict[str, Any]) -> Layout:
    """Return the layout of a raw config."""
    return compile_layout(parse_config(raw))
