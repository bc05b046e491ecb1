"""Fixtures for the protocol library tests: plain Python, no Home Assistant instance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from custom_components.flexscada.protocol import (
    DeviceConfig,
    Layout,
    compile_layout,
    key_from_passphrase,
    parse_config,
)

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLE_CONFIG = FIXTURES / "q5-example-config.json"
PASSPHRASE = "secret"
# printf %s 'secretFlexsQ5!' | sha256sum  (computed outside Python)
KEY_HEX = "f9889d2c5f03613bd9d55a5e746321cdb00faec87c1731b95b5562335014e6eb"
UID = 1535235511


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Override the package-wide fixture: these tests need no Home Assistant instance."""


@pytest.fixture
def key() -> bytes:
    """Return the key of the passphrase "secret"."""
    return key_from_passphrase(PASSPHRASE)


@pytest.fixture
def example_raw() -> dict[str, Any]:
    """Return the constructed example config as parsed JSON."""
    raw: dict[str, Any] = json.loads(EXAMPLE_CONFIG.read_text())
    return raw


@pytest.fixture
def example_config(example_raw: dict[str, Any]) -> DeviceConfig:
    """Return the parsed example config."""
    return parse_config(example_raw)


@pytest.fixture
def example_layout(example_config: DeviceConfig) -> Layout:
    """Return the example config's layout."""
    return compile_layout(example_config)
