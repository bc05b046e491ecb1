"""Tests that strings.json, translations/en.json and icons.json cover what the code uses."""

from __future__ import annotations

import ast
import json
from pathlib import Path
import re
import struct
from typing import Any

import homeassistant
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.icon import async_get_icons
from homeassistant.helpers.translation import async_get_translations
import pytest
import yaml

from custom_components.flexscada import config_flow, issues
from custom_components.flexscada.binary_sensor import DIAGNOSTIC_BINARY_SENSORS
from custom_components.flexscada.const import DOMAIN
from custom_components.flexscada.entity_specs import RELAY_POWER_UP_OPTIONS, build_entity_specs
from custom_components.flexscada.protocol import compile_layout, parse_config, readings
from custom_components.flexscada.protocol.config_edit import EditProblem
from custom_components.flexscada.select import INTERVAL_SELECTS
from custom_components.flexscada.sensor import DIAGNOSTIC_SENSORS

from .common import UID

PACKAGE = Path(__file__).parents[1] / "custom_components" / "flexscada"
STRINGS: dict[str, Any] = json.loads((PACKAGE / "strings.json").read_text())
ICONS: dict[str, Any] = json.loads((PACKAGE / "icons.json").read_text())
SOURCES = {path.name: ast.parse(path.read_text()) for path in PACKAGE.glob("*.py")}


def keyword_literals(name: str) -> set[str]:
    """Return every string literal passed as keyword `name` anywhere in the package."""
    return {
        node.value.value
        for tree in SOURCES.values()
        for node in ast.walk(tree)
        if isinstance(node, ast.keyword)
        and node.arg == name
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }


def flow_error_literals() -> set[str]:
    """Return every error key the config flow raises: `FormError(<field>, "<key>")`."""
    return {
        node.args[1].value
        for source in ("config_flow.py", "flow_inputs.py")
        for node in ast.walk(SOURCES[source])
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "FormError"
        and isinstance(node.args[1], ast.Constant)
    }


def test_english_translation_is_strings_json() -> None:
    """translations/en.json is strings.json, with no `[%key:...]` left to expand."""
    english = json.loads((PACKAGE / "translations" / "en.json").read_text())
    assert english == STRINGS
    assert "[%key:" not in json.dumps(STRINGS)


def test_flow_steps_errors_and_aborts_have_strings() -> None:
    """Every step, field, error and abort reason of the flows is translated."""
    steps = STRINGS["config"]["step"]
    assert keyword_literals("step_id") == set(steps) | set(STRINGS["options"]["step"])
    for step, schema in (
        ("user", config_flow.USER_SCHEMA),
        ("discovery_confirm", config_flow.SECRET_SCHEMA),
        ("reauth_confirm", config_flow.SECRET_SCHEMA),
        ("reconfigure", config_flow.SECRET_SCHEMA),
    ):
        fields = {str(key) for key in schema.schema}
        assert set(steps[step]["data"]) == fields
        assert set(steps[step]["data_description"]) == fields
    options = STRINGS["options"]["step"]["init"]
    assert set(options["data"]) == {str(key) for key in config_flow.OPTIONS_SCHEMA.schema}
    assert flow_error_literals() == set(STRINGS["config"]["error"])
    # Reasons raised by Home Assistant on our behalf, plus any the code names itself.
    reasons = {"already_configured", "already_in_progress", "reauth_successful"}
    reasons |= {"reconfigure_successful"} | keyword_literals("reason")
    assert reasons <= set(STRINGS["config"]["abort"])


def test_exception_and_issue_keys_have_strings_and_are_used() -> None:
    """Every literal translation_key has a string; every exception and issue string is used."""
    known = set(STRINGS["exceptions"]) | set(STRINGS["issues"])
    known |= {key for platform in STRINGS["entity"].values() for key in platform}
    assert keyword_literals("translation_key") <= known
    # Raised with a computed key: why a config change was refused.
    edit_problems = {problem.value for problem in EditProblem}
    assert edit_problems <= set(STRINGS["exceptions"])
    assert set(STRINGS["exceptions"]) <= keyword_literals("translation_key") | edit_problems
    assert {
        issues.ISSUE_LAYOUT_MISMATCH,
        issues.ISSUE_WRONG_KEY,
        issues.ISSUE_SHARED_KEY,
        issues.ISSUE_CONFIG_REJECTED,
    } == set(STRINGS["issues"])


def every_metric_name() -> list[str]:
    """Return metric names to log: each one strings.json names, legacy, odd and unknown ones."""
    names = {
        key.removeprefix("relay_").removeprefix("feed_").replace("_", " ")
        for platform in STRINGS["entity"].values()
        for key in platform
    }
    names |= set(readings.LEGACY_METRIC_NAMES) | {"value", "Weird Metric", "state"}
    names |= {metric for metrics in readings.BIT_METRICS.values() for metric in metrics}
    return sorted(names)


def every_kind_of_channel() -> dict[str, Any]:
    """Return a config whose every section logs every metric name, in each shape it can take.

    The names are spread over as many channels as the parser's caps per channel require.
    """
    metrics = every_metric_name()

    def spread(section: str) -> list[dict[str, Any]]:
        names = [m for m in metrics if m.replace(" ", "_") not in readings.RESERVED_METRIC_NAMES]
        size = readings.MAX_METRICS_PER_CHANNEL[section]
        return [{"logging": names[i : i + size]} for i in range(0, len(names), size)]

    def keyed(channels: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {str(number): channel for number, channel in enumerate(channels, start=1)}

    return {
        "version": 1,
        "relays": keyed([*spread("relays"), {"logging": ["state"]}]),
        "inputs": [*spread("inputs"), {"logging": ["state"], "_t": "Open", "_f": "Closed"}],
        "ds18b20": spread("ds18b20"),
        "power_metrics": keyed(spread("power_metrics")),
        "mfeeds": [
            {"type": 0},
            {"type": 1001},
            *({"type": 0, **channel} for channel in spread("mfeeds")),
        ],
    }


def produced_entity_keys() -> set[tuple[str, str]]:
    """Return (platform, translation key) of every entity the code can name, with placeholders."""
    config = parse_config(every_kind_of_channel())
    described: list[tuple[str, EntityDescription]] = [
        *((Platform.SENSOR, description) for description in DIAGNOSTIC_SENSORS),
        *((Platform.BINARY_SENSOR, description) for description in DIAGNOSTIC_BINARY_SENSORS),
        *((Platform.SELECT, description) for description in INTERVAL_SELECTS),
        *(
            (spec.platform, spec)
            for spec in build_entity_specs(UID, config, compile_layout(config)).values()
        ),
    ]
    produced = set()
    for platform, description in described:
        if description.translation_key is None:
            assert description.device_class is not None  # named by its device class
            continue
        names = STRINGS["entity"][platform].get(description.translation_key)
        assert names is not None, (platform, description.translation_key, description.key)
        placeholders = set(re.findall(r"{(\w+)}", names["name"]))
        assert placeholders <= set(description.translation_placeholders or {}), description.key
        produced.add((platform, description.translation_key))
    return produced


def test_every_entity_name_exists_and_every_entity_string_is_used() -> None:
    """Whatever a config logs, its entities name themselves from strings that exist.

    And each entity string in strings.json is used by some entity a config can call for.
    """
    strings = {(platform, key) for platform, keys in STRINGS["entity"].items() for key in keys}
    assert produced_entity_keys() == strings


def test_select_options_and_actions_have_strings() -> None:
    """Each select option has a state string and each state string is an option; the same for
    the actions in services.yaml and their fields."""
    selects = STRINGS["entity"]["select"]
    for description in INTERVAL_SELECTS:
        assert set(selects[description.translation_key]["state"]) == set(description.options or [])
    assert set(selects["relay_power_up"]["state"]) == set(RELAY_POWER_UP_OPTIONS.values())
    actions = yaml.safe_load((PACKAGE / "services.yaml").read_text())
    assert set(actions) == set(STRINGS["services"])
    for action, spec in actions.items():
        assert set(spec["fields"]) == set(STRINGS["services"][action]["fields"])


@pytest.mark.parametrize("platform", sorted(ICONS["entity"]))
def test_icons_belong_to_translated_entities(platform: str) -> None:
    """icons.json names only entity translation keys that exist, with mdi icons."""
    for key, icon in ICONS["entity"][platform].items():
        assert key in STRINGS["entity"][platform]
        assert re.fullmatch(r"mdi:[a-z0-9-]+", icon["default"])
        for state_icon in icon.get("state", {}).values():
            assert re.fullmatch(r"mdi:[a-z0-9-]+", state_icon)


def test_placeholders_are_balanced() -> None:
    """No translation has a stray brace (a placeholder typo shows raw in the UI)."""

    def walk(node: Any) -> list[str]:
        if isinstance(node, dict):
            return [text for value in node.values() for text in walk(value)]
        return [node]

    for text in walk(STRINGS):
        assert re.sub(r"{\w+}", "", text).count("{") == 0, text
        assert re.sub(r"{\w+}", "", text).count("}") == 0, text


def test_quality_scale_lists_every_rule() -> None:
    """quality_scale.yaml has every rule core has, each done/todo/exempt, every exempt explained."""
    core_file = Path(homeassistant.__file__).parent / "components/airgradient/quality_scale.yaml"
    core_rules = set(yaml.safe_load(core_file.read_text())["rules"])
    rules = yaml.safe_load((PACKAGE / "quality_scale.yaml").read_text())["rules"]
    assert set(rules) == core_rules
    for name, rule in rules.items():
        status = rule["status"] if isinstance(rule, dict) else rule
        assert status in {"done", "todo", "exempt"}, name
        if status != "done":
            assert rule["comment"].strip(), name


def test_brand_icon_is_a_256_px_png() -> None:
    """The brand icon is a 256x256 PNG."""
    data = (PACKAGE / "brand" / "icon.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == (256, 256)


async def test_home_assistant_loads_our_texts_and_icons(hass: HomeAssistant) -> None:
    """Home Assistant's own loaders read translations/en.json and icons.json."""
    issues_text = await async_get_translations(hass, "en", "issues", [DOMAIN])
    assert (
        issues_text[f"component.{DOMAIN}.issues.wrong_key.title"]
        == (STRINGS["issues"]["wrong_key"]["title"])
    )
    config_text = await async_get_translations(hass, "en", "config", [DOMAIN])
    assert (
        config_text[f"component.{DOMAIN}.config.error.invalid_auth"]
        == (STRINGS["config"]["error"]["invalid_auth"])
    )
    icons = await async_get_icons(hass, "entity", [DOMAIN])
    assert icons[DOMAIN]["switch"]["relay_state"]["default"] == "mdi:electric-switch"
