"""Config flow for FlexSCADA Q5: one entry per device, unique id = the device's uid.

The device cannot be asked anything: it only posts to us. So a key is checked against what the
device really sent, when we have it: the cached uploads of a not yet configured uid (user and
discovery steps), the newest failing uploads (reauth) or the newest uploads (reconfigure). A key
that opens any of them is right (garbage posted under the uid cannot veto it). With nothing to
check against, the key is taken as given, and a wrong one leads to reauth later.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, override

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.network import NoURLAvailableError, get_url
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
from homeassistant.helpers.typing import DiscoveryInfoType
from homeassistant.util import dt as dt_util
import probatio

from .const import (
    CONF_AVAILABILITY_FACTOR,
    CONF_CLOCK_SYNC,
    CONF_CLOCK_SYNC_THRESHOLD,
    CONF_COMMAND_EXPIRY,
    CONF_KEY,
    CONF_PASSPHRASE,
    CONF_UID,
    DEFAULT_AVAILABILITY_FACTOR,
    DEFAULT_CLOCK_SYNC,
    DEFAULT_CLOCK_SYNC_THRESHOLD,
    DEFAULT_COMMAND_EXPIRY,
    DOMAIN,
)
from .device import FlexscadaConfigEntry, loaded_device
from .discovery import async_cached_uploads
from .flow_inputs import FormError, async_validate_key, uid_from_input
from .issues import async_clear_issues
from .keys import CachedUpload

_SECRET_FIELDS = {
    probatio.Optional(CONF_PASSPHRASE): TextSelector(
        TextSelectorConfig(type=TextSelectorType.PASSWORD)
    ),
    probatio.Optional(CONF_KEY): TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD)),
}
USER_SCHEMA = probatio.Schema({probatio.Required(CONF_UID): TextSelector(), **_SECRET_FIELDS})
SECRET_SCHEMA = probatio.Schema(_SECRET_FIELDS)


def _seconds(minimum: int, maximum: int) -> probatio.All[int]:
    """Return a whole-seconds number field."""
    return probatio.All(
        NumberSelector(
            NumberSelectorConfig(
                min=minimum,
                max=maximum,
                step=1,
                unit_of_measurement="s",
                mode=NumberSelectorMode.BOX,
            )
        ),
        probatio.Coerce(int),
    )


OPTIONS_SCHEMA = probatio.Schema(
    {
        probatio.Required(
            CONF_AVAILABILITY_FACTOR, default=DEFAULT_AVAILABILITY_FACTOR
        ): NumberSelector(
            NumberSelectorConfig(min=1.1, max=20, step=0.1, mode=NumberSelectorMode.BOX)
        ),
        probatio.Required(CONF_CLOCK_SYNC, default=DEFAULT_CLOCK_SYNC): BooleanSelector(),
        probatio.Required(
            CONF_CLOCK_SYNC_THRESHOLD, default=DEFAULT_CLOCK_SYNC_THRESHOLD
        ): _seconds(1, 3600),
        probatio.Required(CONF_COMMAND_EXPIRY, default=DEFAULT_COMMAND_EXPIRY): _seconds(
            60, 30 * 86400
        ),
    }
)


class FlexscadaConfigFlow(ConfigFlow, domain=DOMAIN):
    """Handle a config flow for a FlexSCADA Q5 device."""

    VERSION = 1

    _uid: int

    @staticmethod
    @callback
    @override
    def async_get_options_flow(config_entry: FlexscadaConfigEntry) -> FlexscadaOptionsFlow:
        """Return the options flow."""
        return FlexscadaOptionsFlow()

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the device's uid and its password or key."""
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                self._uid = uid_from_input(user_input[CONF_UID])
                # A discovery flow for the same device may be waiting: the user's own flow
                # goes ahead, and creating the entry aborts that one.
                await self.async_set_unique_id(str(self._uid), raise_on_progress=False)
                self._abort_if_unique_id_configured()
                return await self._async_create_entry_from(user_input)
            except FormError as err:
                errors[err.field] = err.error
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(USER_SCHEMA, user_input),
            errors=errors,
            description_placeholders={"server_url": _server_url(self.hass)},
        )

    async def async_step_integration_discovery(
        self, discovery_info: DiscoveryInfoType
    ) -> ConfigFlowResult:
        """Start from an upload of an unknown uid (see discovery.async_unknown_upload)."""
        self._uid = int(discovery_info[CONF_UID])
        await self.async_set_unique_id(str(self._uid))
        self._abort_if_unique_id_configured()
        self.context["title_placeholders"] = {"name": f"Q5 {self._uid}"}
        return await self.async_step_discovery_confirm()

    async def async_step_discovery_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the password or key of the device that is sending data."""
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                return await self._async_create_entry_from(user_input)
            except FormError as err:
                errors[err.field] = err.error
        return self.async_show_form(
            step_id="discovery_confirm",
            data_schema=SECRET_SCHEMA,
            errors=errors,
            description_placeholders={"uid": str(self._uid)},
        )

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """Start when the device's uploads no longer open with the stored key."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the device's new password or key, checked against its newest failing uploads."""
        entry = self._get_reauth_entry()
        device = loaded_device(entry)
        # The failing uploads vouch for the new key however old they are.
        uploads = list(device.keys.failed_uploads) if device is not None else []
        return await self._async_step_new_key(
            entry, user_input, uploads, step_id="reauth_confirm", placeholders={"name": entry.title}
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the key of a configured device; the uid is the device and stays.

        A different uid is a different device, so there is no uid field: add that device instead.
        """
        entry = self._get_reconfigure_entry()
        device = loaded_device(entry)
        now = dt_util.utcnow()
        return await self._async_step_new_key(
            entry,
            user_input,
            device.keys.recent_uploads.recent(now) if device is not None else [],
            step_id="reconfigure",
            placeholders={"name": entry.title, "server_url": _server_url(self.hass)},
        )

    async def _async_step_new_key(
        self,
        entry: ConfigEntry,
        user_input: dict[str, Any] | None,
        uploads: Iterable[CachedUpload | None],
        *,
        step_id: str,
        placeholders: dict[str, str],
    ) -> ConfigFlowResult:
        """Ask for a new password or key of a configured device (reauth and reconfigure)."""
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                key, _name = await async_validate_key(self.hass, user_input, uploads)
                return self._async_update_key(entry, key)
            except FormError as err:
                errors[err.field] = err.error
        return self.async_show_form(
            step_id=step_id,
            data_schema=SECRET_SCHEMA,
            errors=errors,
            description_placeholders=placeholders,
        )

    async def _async_create_entry_from(self, user_input: dict[str, Any]) -> ConfigFlowResult:
        """Create the entry for `self._uid` if the form's key fits its cached uploads."""
        uploads = async_cached_uploads(self.hass, self._uid)
        key, name = await async_validate_key(self.hass, user_input, uploads)
        return self.async_create_entry(
            title=name or f"Q5 {self._uid}",
            data={CONF_UID: self._uid, CONF_KEY: key.hex()},
        )

    def _async_update_key(self, entry: ConfigEntry, key: bytes) -> ConfigFlowResult:
        """Store a new key, withdraw the device's issues and reload it."""
        async_clear_issues(self.hass, int(entry.data[CONF_UID]))
        return self.async_update_reload_and_abort(entry, data_updates={CONF_KEY: key.hex()})


class FlexscadaOptionsFlow(OptionsFlow):
    """Tune availability, clock sync and command expiry.

    No reload: the device reads every option where it uses it, so a change applies from the
    next upload on (the availability window also when its current timer runs out). A reload
    would re-create every entity and forget the integrity-failure streak for nothing.
    """

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Show and store the options."""
        if user_input is not None:
            return self.async_create_entry(data=user_input)
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(
                OPTIONS_SCHEMA, self.config_entry.options
            ),
        )


def _server_url(hass: HomeAssistant) -> str:
    """Return the URL the device should use as its server."""
    try:
        return get_url(hass, allow_ip=True, prefer_external=True)
    except NoURLAvailableError:
        return "http://<home-assistant>:8123"
