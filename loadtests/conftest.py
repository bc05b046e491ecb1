"""Fixtures for the in-process benchmark (loadtests/bench_http.py), run by scripts/bench_http."""

from __future__ import annotations

import pytest

# Import our package before Home Assistant loads integrations: the harness ships its own
# testing_config/custom_components, which would otherwise shadow ours ("Integration not found").
import custom_components.flexscada  # noqa: F401


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/flexscada."""
