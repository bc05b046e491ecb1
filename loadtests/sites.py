"""Device configs and keys shared by the fuzzer, the soak run and the benchmark."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from custom_components.flexscada.protocol import compile_layout, key_from_passphrase, parse_config
from custom_components.flexscada.protocol.model import Layout

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG_PATH = REPO / "tests" / "fixtures" / "example_config.json"

PASSPHRASE = "load-test-pass"
KEY = key_from_passphrase(PASSPHRASE)
WRONG_KEY = key_from_passphrase("not the password")
UID = 1535235511

_ANALOG = ["avg", "max", "min", "inst"]
_RELAY = ["amperage", "fuse", "hvd", "lvd", "power", "state"]
_POWER = [
    "apparent power",
    "freq",
    "power avg",
    "power factor",
    "voltage avg",
    "voltage max",
    "voltage min",
    "amperage avg",
    "amperage max",
    "amperage min",
]


def example_config() -> dict[str, Any]:
    """Return the 28-metric example site (tests/fixtures/example_config.json)."""
    config: dict[str, Any] = json.loads(EXAMPLE_CONFIG_PATH.read_text(encoding="utf-8"))
    return config


def big_config() -> dict[str, Any]:
    """Return a fully logged site of 110 metrics: a "typical upload" of a busy Q5.

    4 relays x 6 + 6 analog inputs x 4 + 6 DS18B20 x 4 + 3 power meters x 10 + 8 feeds.
    """
    config = example_config()
    config["version"] = 7
    config["name"] = "Busy site"
    for relay in config["relays"].values():
        relay["logging"] = list(_RELAY)
    for key, channel in config["inputs"].items():
        channel["enabled"] = True
        channel["type"] = 0
        channel["unit"] = "Volts"
        channel["label"] = f"Input {key}"
        channel["logging"] = list(_ANALOG)
    probe = config["ds18b20"][0]
    config["ds18b20"] = [
        {**copy.deepcopy(probe), "id": 142000 + i, "label": f"Probe {i}", "logging": list(_ANALOG)}
        for i in range(6)
    ]
    meter = config["power_metrics"][0]
    config["power_metrics"] = [
        {**copy.deepcopy(meter), "label": f"Meter {i}", "logging": list(_POWER)} for i in range(3)
    ]
    config["mfeeds"] = [
        {"label": f"Feed {i}", "type": 0 if i % 2 else 1001, "desc": ""} for i in range(8)
    ]
    return config


def layout_of(config: dict[str, Any]) -> Layout:
    """Return the compiled layout of a raw config."""
    return compile_layout(parse_config(config))
