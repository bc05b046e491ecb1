"""Config flow for FlexSCADA Q5."""

from __future__ import annotations

from homeassistant.config_entries import ConfigFlow

from .const import DOMAIN


class FlexscadaConfigFlow(ConfigFlow, domain=DOMAIN):
    """Handle a config flow for a FlexSCADA Q5 device."""

    VERSION = 1
