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
from homeassistant.helpers.icon import async_get_icons
from homeassistant.helpers.translation import async_get_translations
import pytest
import yaml

from custom_components.flexscada import config_flow, issues
from custom_components.flexscada.const import DOMAIN
from custom_components.flexscada.entity_specs import SpecKind, build_entity_specs
from custom_components.flexscada.metrics import metric_translation_key
from custom_components.flexscada.protocol import compile_layout, parse_config
from custom_components.flexscada.protocol.config_edit import EditProblem
from custom_components.flexscada.sensor import DIAGNOSTIC_SENSORS

from .common import UID, example_config

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
    """Return every `errors[...] = "<key>"` value of the config flow."""
    return {
        node.value.value
        for node in ast.walk(SOURCES["config_flow.py"])
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Subscript)
        and isinstance(node.targets[0].value, ast.Name)
        and node.targets[0].value.id == "errors"
        and isinstance(node.value, ast.Constant)
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
    assert flow_error_literals() <= set(STRINGS["config"]["error"])
    # Reasons raised by Home Assistant on our behalf, plus any the code names itself.
    reasons = {"already_configured", "already_in_progress", "reauth_successful"}
    reasons |= {"reconfigure_successful"} | keyword_literals("reason")
    assert reasons <= set(STRINGS["config"]["abort"])


def test_exception_and_issue_keys_have_strings() -> None:
    """Every literal translation_key is an exception, issue or entity key; issues all exist."""
    known = set(STRINGS["exceptions"]) | set(STRINGS["issues"])
    known |= {key for platform in STRINGS["entity"].values() for key in platform}
    assert keyword_literals("translation_key") <= known
    assert {
        issues.ISSUE_LAYOUT_MISMATCH,
        issues.ISSUE_WRONG_KEY,
        issues.ISSUE_CONFIG_REJECTED,
    } == set(STRINGS["issues"])
    # Raised with a computed key: why a config change was refused.
    assert {problem.value for problem in EditProblem} <= set(STRINGS["exceptions"])


def test_entity_translation_keys_exist() -> None:
    """Each entity of the example device names itself from an existing translation."""
    config = parse_config(example_config())
    entity = STRINGS["entity"]
    for spec in build_entity_specs(UID, config, compile_layout(config)).values():
        match spec.kind:
            case SpecKind.METRIC:
                assert spec.field is not None
                key = metric_translation_key(spec.field)
            case SpecKind.PULSE | SpecKind.RESET:
                key = f"relay_{spec.kind}"
            case SpecKind.SETTING:
                key = "relay_power_up" if spec.channel is not None else spec.key
            case _:
                if spec.platform is not Platform.SENSOR:
                    continue  # the connectivity sensor is named by its device class
                key = DIAGNOSTIC_SENSORS[spec.key].translation_key
        assert key in entity[spec.platform], (spec.platform, key)


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
