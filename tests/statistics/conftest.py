"""Fixtures for the statistics tests: a recorder set up before Home Assistant."""

from __future__ import annotations

import pytest
from pytest_homeassistant_custom_component.typing import RecorderInstanceGenerator


@pytest.fixture
def mock_recorder_before_hass(
    async_setup_recorder_instance: RecorderInstanceGenerator,
) -> None:
    """Make the hass fixture wait for the recorder (as Home Assistant core's recorder tests do)."""
