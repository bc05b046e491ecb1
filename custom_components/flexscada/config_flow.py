"""Config flow for FlexSCADA Q5: one entry per device, unique id = the device's uid."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigFlow, ConfigFlowResult
from homeassistant.helpers.network import NoURLAvailableError, get_url
from homeassistant.helpers.selector import (
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import probatio

from .const import CONF_KEY, CONF_PASSPHRASE, CONF_UID, DOMAIN
from .protocol import InvalidKeyError, key_from_hex, key_from_passphrase

USER_SCHEMA = probatio.Schema(
    {
        probatio.Required(CONF_UID): TextSelector(),
        probatio.Optional(CONF_PASSPHRASE): TextSelector(
            TextSelectorConfig(type=TextSelectorType.PASSWORD)
        ),
        probatio.Optional(CONF_KEY): TextSelector(
            TextSelectorConfig(type=TextSelectorType.PASSWORD)
        ),
    }
)


class FlexscadaConfigFlow(ConfigFlow, domain=DOMAIN):
    """Handle a config flow for a FlexSCADA Q5 device."""

    VERSION = 1

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the device's uid and its password or key."""
        errors: dict[str, str] = {}
        if user_input is not None:
            uid = str(user_input[CONF_UID]).strip()
            if not uid.isdecimal():
                errors[CONF_UID] = "invalid_uid"
            else:
                await self.async_set_unique_id(str(int(uid)))
                self._abort_if_unique_id_configured()
                try:
                    key = _key_from_input(user_input)
                except InvalidKeyError:
                    errors[CONF_KEY] = "invalid_key"
                except ValueError:
                    errors["base"] = "missing_secret"
                else:
                    return self.async_create_entry(
                        title=f"Q5 {int(uid)}",
                        data={CONF_UID: int(uid), CONF_KEY: key.hex()},
                    )
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(USER_SCHEMA, user_input),
            errors=errors,
            description_placeholders={"server_url": self._server_url()},
        )

    def _server_url(self) -> str:
        """Return the URL the device should use as its server."""
        try:
            return get_url(self.hass, allow_ip=True, prefer_external=True)
        except NoURLAvailableError:
            return "http://<home-assistant>:8123"


def _key_from_input(user_input: dict[str, Any]) -> bytes:
    """Return the AES key from the form: the key if given, else derived from the password."""
    if key_text := str(user_input.get(CONF_KEY) or "").strip():
        return key_from_hex(key_text)
    if passphrase := str(user_input.get(CONF_PASSPHRASE) or ""):
        return key_from_passphrase(passphrase)
    raise ValueError("neither a key nor a passphrase")
