"""Fixtures for the simulator tests: plain asyncio, no Home Assistant instance needed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from custom_components.flexscada.protocol.crypto import key_from_passphrase
from q5_simulator import SimulatedQ5, load_site

from .fakes import FakeSession, Handler

UID = 1535235511
KEY = key_from_passphrase("demo-pass")


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Override the package-wide fixture: these tests start no Home Assistant."""


@pytest.fixture
def site() -> dict[str, Any]:
    """Return the bundled example site config."""
    return load_site()


class Clock:
    """A settable clock for the device."""

    def __init__(self, now: float = 1_764_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    """Return a fixed clock the test advances by hand."""
    return Clock()


@pytest.fixture
def make_device(
    site: dict[str, Any], clock: Clock
) -> Callable[..., tuple[SimulatedQ5, FakeSession]]:
    """Return a factory: (device, its fake session) answering with `handler`."""

    def make(handler: Handler, **kwargs: Any) -> tuple[SimulatedQ5, FakeSession]:
        session = FakeSession(handler)
        config = kwargs.pop("config", site)
        device = SimulatedQ5(
            config, UID, KEY, "http://server", session, clock=clock, seed=1, **kwargs
        )
        return device, session

    return make
