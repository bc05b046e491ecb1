"""Fixtures for the in-process benchmark (loadtests/bench_http.py), run by scripts/bench_http."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

# Import our package before Home Assistant loads integrations: the harness ships its own
# testing_config/custom_components, which would otherwise shadow ours ("Integration not found").
import custom_components.flexscada  # noqa: F401


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/flexscada."""


@pytest.fixture
def hass_config_dir(tmp_path: Path) -> str:
    """Return a temporary config dir: the benchmark writes real `.storage` files there."""
    return str(tmp_path)


@pytest.fixture
def hass_storage() -> dict[str, Any]:
    """Do not mock storage: saving before acknowledging is part of the measured path."""
    return {}
