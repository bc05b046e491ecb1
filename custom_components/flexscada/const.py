"""Constants for the FlexSCADA Q5 integration."""

from datetime import timedelta
import logging
from typing import Final

DOMAIN: Final = "flexscada"
LOGGER = logging.getLogger(__package__)

MANUFACTURER: Final = "FlexSCADA"
MODEL: Final = "Flexs Q5"

CONF_UID: Final = "uid"
CONF_PASSPHRASE: Final = "passphrase"  # noqa: S105 (a form field name, not a secret)
CONF_KEY: Final = "key"

# Options (see the options flow).
CONF_AVAILABILITY_FACTOR: Final = "availability_factor"
CONF_CLOCK_SYNC: Final = "clock_sync"
CONF_CLOCK_SYNC_THRESHOLD: Final = "clock_sync_threshold"
CONF_COMMAND_EXPIRY: Final = "command_expiry"

# A device counts as online while uploads keep arriving within this many upload intervals:
# one late upload (slow cellular link, a retry) must not flap every entity to unavailable.
DEFAULT_AVAILABILITY_FACTOR: Final = 2.5
DEFAULT_CLOCK_SYNC: Final = True
DEFAULT_CLOCK_SYNC_THRESHOLD: Final = 30
DEFAULT_COMMAND_EXPIRY: Final = 86400
# Used when the device config has no upload_interval (the vendor's default is 5 minutes).
DEFAULT_UPLOAD_INTERVAL: Final = 300
# Bounds of the availability window (upload interval x factor), whatever a config or a stored
# option says: a negative or zero window would leave the device unavailable forever, a huge one
# overflows the datetime arithmetic and the event loop's timer.
MIN_AVAILABILITY_WINDOW: Final = timedelta(seconds=10)
MAX_AVAILABILITY_WINDOW: Final = timedelta(days=365)

# A week of queued data at the vendor's defaults fits well under this; anything larger is refused
# with 413 before it is read into memory.
MAX_UPLOAD_BYTES: Final = 4 * 1024 * 1024
MAX_CONFIG_BYTES: Final = 256 * 1024
# Uploads larger than this are opened and decoded in the executor so the event loop never stalls.
INLINE_DECODE_LIMIT: Final = 16 * 1024

# This many measurement uploads in a row that fail the integrity check, with no good one in
# between, mean the device's password changed: one tampered or garbled upload must not.
INTEGRITY_FAILURES_BEFORE_REAUTH: Final = 3

# Repeated failures from the same device are logged at most once per this interval.
LOG_INTERVAL: Final = timedelta(minutes=10)
# The config and each measurement upload are saved before they are acknowledged; a command
# acknowledgement only within this many seconds (losing one just re-sends an executed id, which
# the device skips).
STORE_SAVE_DELAY: Final = 10
