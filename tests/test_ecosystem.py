"""What the ecosystem's validators check, offline: hassfest, HACS, the requirements, the licence.

The real validators (`.github/workflows/validate.yml`) need GitHub; these tests mirror their
checks that matter for this repository so `scripts/test` catches the same mistakes.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import version as installed_version
import json
from pathlib import Path
import re
import string
import tomllib
from typing import Any
from unittest.mock import patch

from awesomeversion import AwesomeVersion
import homeassistant
from homeassistant.const import __version__ as HA_VERSION
from homeassistant.core import HomeAssistant
import homeassistant.helpers.config_validation as cv
from homeassistant.loader import async_get_custom_components
from homeassistant.requirements import async_process_requirements
from homeassistant.util import package as pkg_util
from packaging.requirements import Requirement
from packaging.version import Version
import pytest
import voluptuous as vol
import yaml

from custom_components.flexscada.const import DOMAIN

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "custom_components" / DOMAIN
MANIFEST: dict[str, Any] = json.loads((PACKAGE / "manifest.json").read_text())
HA_CONSTRAINTS = Path(homeassistant.__file__).parent / "package_constraints.txt"


def ha_pins() -> dict[str, Version]:
    """Return {package: version} of the exact pins in Home Assistant's package_constraints.txt."""
    pins: dict[str, Version] = {}
    for line in HA_CONSTRAINTS.read_text().splitlines():
        if (match := re.fullmatch(r"([A-Za-z0-9_.-]+)==([^\s;#]+)", line.strip())) is not None:
            pins[match[1].lower().replace("_", "-")] = Version(match[2])
    return pins


# -- manifest.json, as hassfest checks a custom integration's ------------------------------------


def test_manifest_keys_as_hassfest_wants_them() -> None:
    """domain and name first, then alphabetical; the keys a custom integration must have."""
    keys = list(MANIFEST)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])
    required = {"domain", "name", "codeowners", "documentation", "issue_tracker", "version"}
    required |= {"iot_class", "integration_type", "requirements", "dependencies", "config_flow"}
    assert required <= set(keys)
    assert MANIFEST["domain"] == PACKAGE.name == DOMAIN
    assert MANIFEST["iot_class"] == "local_push"
    assert AwesomeVersion(MANIFEST["version"]).valid
    for url_key in ("documentation", "issue_tracker"):
        assert MANIFEST[url_key].startswith("https://"), url_key
    assert all(re.fullmatch(r"@[\w-]+", owner) for owner in MANIFEST["codeowners"])
    components = Path(homeassistant.__file__).parent / "components"
    assert all((components / dependency).is_dir() for dependency in MANIFEST["dependencies"])


def test_integration_type_is_device() -> None:
    """One config entry is exactly one Q5: HA calls that a device integration, not a hub."""
    assert MANIFEST["integration_type"] == "device"


async def test_home_assistant_reads_the_manifest(hass: HomeAssistant) -> None:
    """Home Assistant's loader finds the custom integration with these manifest values."""
    integration = (await async_get_custom_components(hass))[DOMAIN]
    assert integration.integration_type == "device"
    assert integration.requirements == MANIFEST["requirements"]
    assert integration.version == AwesomeVersion(MANIFEST["version"])


# -- the requirements: lower bounds that Home Assistant's own pins satisfy -----------------------


def test_requirements_are_lower_bounds_met_by_home_assistant() -> None:
    """Each requirement only sets a minimum; the installed and HA-pinned versions meet it.

    Home Assistant installs a custom integration's requirements under its own
    package_constraints.txt. An exact pin fails setup as soon as HA pins another version.
    """
    pins = ha_pins()
    assert MANIFEST["requirements"]
    for text in MANIFEST["requirements"]:
        requirement = Requirement(text)
        assert requirement.specifier, f"{text}: no version bound at all"
        assert {spec.operator for spec in requirement.specifier} == {">="}, text
        assert requirement.specifier.contains(installed_version(requirement.name)), text
        if (pin := pins.get(requirement.name.lower())) is not None:
            assert requirement.specifier.contains(pin), (text, pin)


@pytest.mark.parametrize(
    ("requirement", "passes"),
    [("numpy>=2.0", True), ("numpy==2.3.2", False), ("numpy>=2.0,<2.4", False)],
)
def test_the_bound_check_tells_pins_from_bounds(requirement: str, passes: bool) -> None:
    """The check above rejects an exact pin and an upper bound (the test can fail)."""
    operators = {spec.operator for spec in Requirement(requirement).specifier}
    assert (operators == {">="}) is passes


async def test_setup_survives_a_newer_numpy(hass: HomeAssistant) -> None:
    """With a newer numpy installed (HA's next bump), HA accepts the requirement as installed.

    This goes through Home Assistant's requirements manager with pip enabled; an install attempt
    fails as it does when the version conflicts with HA's constraints. The manifest's old
    `numpy==2.3.2` raised RequirementsNotFound here.
    """
    real_version = pkg_util.version

    def newer_numpy(name: str) -> str | None:
        return "99.0.0" if name.lower() == "numpy" else real_version(name)

    hass.config.skip_pip = False
    with (
        patch.object(pkg_util, "version", newer_numpy),
        patch.object(pkg_util, "install_package", return_value=False) as install,
    ):
        await async_process_requirements(hass, DOMAIN, MANIFEST["requirements"], False)
    install.assert_not_called()


# -- hacs.json and the repository, as HACS checks them -------------------------------------------

HACS_KEYS = {
    "name",
    "content_in_root",
    "zip_release",
    "filename",
    "hide_default_branch",
    "country",
    "homeassistant",
    "persistent_directory",
    "render_readme",
    "hacs",
}


def test_hacs_json() -> None:
    """Only keys HACS knows; the minimum Home Assistant is one the suite really runs on."""
    hacs = json.loads((ROOT / "hacs.json").read_text())
    assert set(hacs) <= HACS_KEYS
    assert hacs["name"] == MANIFEST["name"]
    assert hacs.get("content_in_root", False) is False  # the integration is in custom_components/
    minimum = AwesomeVersion(hacs["homeassistant"])
    assert minimum.valid
    assert minimum <= AwesomeVersion(HA_VERSION)
    assert [p.name for p in (ROOT / "custom_components").iterdir() if p.is_dir()] == [DOMAIN]


def test_license_is_mit_and_pyproject_says_so() -> None:
    """HACS's `license` check wants a LICENSE file; pyproject.toml names the same licence."""
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 FlexSCADA Q5 for Home Assistant contributors" in text
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]


def test_workflows_run_hassfest_hacs_and_the_tests() -> None:
    """The GitHub workflows run hassfest, the HACS action for an integration and scripts/test."""
    steps = [
        step
        for path in sorted((ROOT / ".github" / "workflows").glob("*.yml"))
        for job in yaml.safe_load(path.read_text())["jobs"].values()
        for step in job["steps"]
    ]
    uses = {step.get("uses"): step for step in steps}
    assert "home-assistant/actions/hassfest@master" in uses
    assert uses["hacs/action@main"]["with"]["category"] == "integration"
    assert "ignore" not in uses["hacs/action@main"]["with"]
    assert any(step.get("run") == "scripts/test" for step in steps)
    assert (ROOT / ".ci" / "run").read_text().rstrip().endswith("exec scripts/test")


# -- strings.json, translations/en.json and icons.json, as hassfest checks them ------------------

_TRANSLATION_KEY = re.compile(r"^(?!.+[_-]{2})(?![_-])[a-z0-9-_]+(?<![_-])$")
_URL = re.compile(r"((https?|mqtts?|ftps?)://|www\.)\S+", re.IGNORECASE)


def _translation_key(value: str) -> str:
    if not _TRANSLATION_KEY.match(value):
        raise vol.Invalid(f"invalid translation key {value!r}")
    return value


def _text(*, placeholders: bool = True) -> Callable[[Any], str]:
    """Return hassfest's translation value rules: no HTML, URL, padding or odd placeholder."""

    def validate(value: Any) -> str:
        text = cv.string_with_no_html(value)
        if re.search(r"'{\w+}'", text):
            raise vol.Invalid("placeholder inside single quotes")
        for _, field, _, _ in string.Formatter().parse(text):
            if field and (not placeholders or not field.isidentifier()):
                raise vol.Invalid(f"placeholder {field!r} not allowed here")
        if text != text.strip():
            raise vol.Invalid("leading or trailing whitespace")
        if _URL.search(text):
            raise vol.Invalid("URL in a translation: use a placeholder")
        return text

    return validate


def _flow_schema() -> vol.Schema:
    text = _text()

    def descriptions_match_data(value: dict[str, Any]) -> dict[str, Any]:
        for step_id, step in value["step"].items():
            if not set(step.get("data_description", {})) <= set(step.get("data", {})):
                raise vol.Invalid(f"step {step_id}: data_description key not in data")
        return value

    return vol.All(
        vol.Schema(
            {
                vol.Optional("flow_title"): text,
                vol.Required("step"): {
                    str: {
                        vol.Optional("title"): text,
                        vol.Optional("description"): text,
                        vol.Optional("data"): {str: text},
                        vol.Optional("data_description"): {str: text},
                        vol.Optional("menu_options"): {str: text},
                        vol.Optional("submit"): text,
                    }
                },
                vol.Optional("error"): {str: text},
                vol.Optional("abort"): {str: text},
                vol.Optional("progress"): {str: text},
                vol.Optional("create_entry"): {str: text},
            }
        ),
        descriptions_match_data,
    )


def _slug_keys(value_schema: Any, key: Callable[[str], str] = _translation_key) -> Any:
    return cv.schema_with_slug_keys(value_schema, slug_validator=key)


STRINGS_SCHEMA = vol.Schema(
    {
        vol.Optional("config"): _flow_schema(),
        vol.Optional("options"): _flow_schema(),
        vol.Optional("entity"): _slug_keys(
            _slug_keys(
                {
                    vol.Optional("name"): _text(),
                    vol.Optional("state"): _slug_keys(_text(placeholders=False)),
                    vol.Optional("state_attributes"): _slug_keys(
                        {
                            vol.Optional("name"): _text(placeholders=False),
                            vol.Optional("state"): _slug_keys(_text(placeholders=False)),
                        }
                    ),
                    vol.Optional("unit_of_measurement"): _text(placeholders=False),
                }
            ),
            key=cv.slug,
        ),
        vol.Optional("exceptions"): _slug_keys({vol.Optional("message"): _text()}, key=cv.slug),
        vol.Optional("issues"): {
            str: {vol.Required("title"): _text(), vol.Required("description"): _text()}
        },
        vol.Optional("selector"): _slug_keys(
            {vol.Optional("options"): _slug_keys(_text())}, key=cv.slug
        ),
        vol.Optional("services"): _slug_keys(
            {
                vol.Required("name"): _text(),
                vol.Required("description"): _text(),
                vol.Optional("fields"): _slug_keys(
                    {
                        vol.Required("name"): str,
                        vol.Required("description"): _text(),
                        vol.Optional("example"): _text(),
                    }
                ),
            }
        ),
    }
)

_ICON = vol.All(str, vol.Match(r"^mdi:[a-z0-9]+(-[a-z0-9]+)*$"))
ICONS_SCHEMA = vol.Schema(
    {
        vol.Optional("entity"): _slug_keys(
            _slug_keys(
                {
                    vol.Required("default"): _ICON,
                    vol.Optional("state"): _slug_keys(_ICON),
                    vol.Optional("state_attributes"): _slug_keys(
                        {vol.Required("default"): _ICON, vol.Optional("state"): _slug_keys(_ICON)}
                    ),
                }
            ),
            key=cv.slug,
        ),
        vol.Optional("services"): _slug_keys({vol.Required("service"): _ICON}),
    }
)


@pytest.mark.parametrize("name", ["strings.json", "translations/en.json"])
def test_strings_pass_hassfest_rules(name: str) -> None:
    """The structure and texts follow hassfest's translation schema for a custom integration."""
    STRINGS_SCHEMA(json.loads((PACKAGE / name).read_text()))


def test_icons_pass_hassfest_rules() -> None:
    """icons.json follows hassfest's icon schema (mdi icons, translation-key keys)."""
    ICONS_SCHEMA(json.loads((PACKAGE / "icons.json").read_text()))


@pytest.mark.parametrize(
    "bad",
    [
        {"config": {"step": {"user": {"title": " padded"}}}},
        {"config": {"step": {"user": {"description": "Open http://example.com"}}}},
        {"config": {"step": {"user": {"description": "Uid '{uid}'"}}}},
        {"config": {"step": {"user": {"data": {}, "data_description": {"uid": "x"}}}}},
        {"entity": {"sensor": {"Bad_Key": {"name": "x"}}}},
        {"entity": {"sensor": {"key": {"state": {"on": "{placeholder}"}}}}},
        {"exceptions": {"full": {"message": "<b>full</b>"}}},
        {"services": {"do_it": {"name": "Do it"}}},
        {"services": {"do_it": {"name": "x", "description": "y", "fields": {"f": {"name": "z"}}}}},
        {"unknown_section": {}},
    ],
)
def test_the_strings_schema_rejects_what_hassfest_rejects(bad: dict[str, Any]) -> None:
    """Each rule above can fail."""
    with pytest.raises(vol.Invalid):
        STRINGS_SCHEMA(bad)


@pytest.mark.parametrize(
    "bad",
    [
        {"entity": {"sensor": {"key": {"default": "battery"}}}},
        {"entity": {"sensor": {"key": {"state": {"on": "mdi:flash"}}}}},
        {"entity": {"sensor": {"Key": {"default": "mdi:flash"}}}},
    ],
)
def test_the_icons_schema_rejects_what_hassfest_rejects(bad: dict[str, Any]) -> None:
    """Each icon rule above can fail."""
    with pytest.raises(vol.Invalid):
        ICONS_SCHEMA(bad)


# -- quality_scale.yaml --------------------------------------------------------------------------


def test_quality_scale_has_no_todo() -> None:
    """Every rule is decided: done, or exempt with the reason."""
    rules = yaml.safe_load((PACKAGE / "quality_scale.yaml").read_text())["rules"]
    statuses = {
        name: rule["status"] if isinstance(rule, dict) else rule for name, rule in rules.items()
    }
    assert [name for name, status in statuses.items() if status == "todo"] == []
    assert statuses["dependency-transparency"] == "done"
    assert "integration_discovery" in rules["discovery"]["comment"]
