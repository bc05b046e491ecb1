"""Constants for the FlexSCADA Q5 integration."""

import logging
from typing import Final

DOMAIN: Final = "flexscada"
LOGGER = logging.getLogger(__package__)
