"""Fixtures for the statistics tests: a recorder set up before Home Assistant, a site on it."""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
import logging

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    RecorderInstanceGenerator,
)

from .harness import BLOCKED, T0, Site, settle


@pytest.fixture
def mock_recorder_before_hass(
    async_setup_recorder_instance: RecorderInstanceGenerator,
) -> None:
    """Make the hass fixture wait for the recorder (as Home Assistant core's recorder tests do)."""


@pytest.fixture(autouse=True)
def no_blocked_statistics(caplog: pytest.LogCaptureFixture) -> Generator[None]:
    """No test may make Home Assistant's own compile hit a row we imported (recorder study)."""
    yield
    records = caplog.get_records("setup") + caplog.get_records("call")
    assert not [r for r in records if BLOCKED in r.getMessage()]
    assert not [r for r in records if "UNIQUE constraint failed" in r.getMessage()]


@pytest.fixture
async def site(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_client_no_auth: ClientSessionGenerator,
    monkeypatch: pytest.MonkeyPatch,
) -> Site:
    """The device set up with its config, through the views; the clock just before 00:00 UTC."""
    await hass.config.async_set_time_zone("UTC")
    # aiohttp's access log cannot time a request under a frozen clock ("Error in logging").
    monkeypatch.setattr(logging.getLogger("aiohttp.access"), "disabled", True)
    freezer.move_to(T0 - timedelta(seconds=30))
    site = await Site.async_set_up(hass, hass_client_no_auth)
    await settle(hass)
    return site


@pytest.fixture
async def plain_site(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    caplog: pytest.LogCaptureFixture,
) -> Site:
    """The device on a Home Assistant without the recorder, at the real time."""
    caplog.set_level(logging.INFO)
    return await Site.async_set_up(hass, hass_client_no_auth)
